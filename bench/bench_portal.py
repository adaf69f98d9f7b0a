"""Portal pages at Dataverse latency: p50/p95 per page and Dataverse round trips per page.

The Dataverse sandbox runs on loopback with `--latency-ms` (20) added to every request. The same
portal app serves the same pages for the same signed-in administrator over two repositories:
- batched (portal/dataverse_repo.py over dataverse/stores/portal_pages.py): each page's reads in
  one `$batch` (the shop: two requests, its offers depend on the contract chosen);
- baseline (bench/portal_baseline.py): one read per object, as before issue 15.
Pages are requested alternately, `--iterations` times each after `--warmup`; round trips are the
sandbox's HTTP request count for one request of the page. Targets (issue 15): at most 2 round
trips per page, home p50 under 50 ms at 20 ms latency.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PAGES = ["home", "subscriptions", "subscription", "invoices", "invoice", "shop", "agreement", "payment"]
HOME_P50_TARGET_MS = 50.0
MAX_ROUND_TRIPS = 2


class _Browser:
    def __init__(self, app: Any, contact_id: str) -> None:
        from werkzeug.test import Client

        self.client = Client(app)
        html = self.client.get("/portal/signin", follow_redirects=True).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token, "no CSRF token on the sign-in page"
        signed = self.client.post("/portal/signin", data={"contact_id": contact_id, "csrf_token": token.group(1)})
        assert signed.status_code == 302, signed.status_code

    def get(self, path: str) -> Any:
        response = self.client.get("/portal" + path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        return response


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--iterations", type=int, default=40, help="timed requests per page and repository")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    from bench._common import load_average, stamp
    from bench.portal_baseline import OneReadPerObjectRepository
    from dataverse.client import DataverseClient
    from dataverse.tables import EntitySet
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.dataverse_seed import seed_dataverse
    from portal.session_store import InMemorySessionStore
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app
    from shared.config import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        sandbox = build_app(Path(tmp) / "dv", service_protection=None)
        with RunningServer(sandbox) as server:
            dv = DataverseClient(server.url, lambda: "bench", timeout=60)
            ids = seed_dataverse(dv)
            # The demo's Contoso has accepted the MCA, so the shop shows its buy buttons.
            dv.update(EntitySet.PROVIDER_ACCOUNTS, ids["pa-acc-contoso"], {"cspb_mcaattested": True})
            sandbox.faults.set(latency_ms=args.latency_ms)
            paths = {"home": "/", "subscriptions": "/subscriptions", "subscription": f"/subscriptions/{ids['s-teams']}",
                     "invoices": "/invoices", "invoice": f"/invoices/{ids['i-1']}", "shop": "/shop",
                     "agreement": "/agreement", "payment": "/payment"}
            browsers = {}
            for name, repo in (("batched", DataverseRepository(dv)), ("baseline", OneReadPerObjectRepository(dv))):
                app = create_app(get_settings(), repo, mount="/portal", session_store=InMemorySessionStore())
                browsers[name] = _Browser(app, ids["c-admin"])
            trips: dict[tuple[str, str], int] = {}
            times: dict[tuple[str, str], list[float]] = {(r, p): [] for r in browsers for p in PAGES}
            for name, browser in browsers.items():
                for page in PAGES:
                    before = sandbox.api.stats["requests"]
                    browser.get(paths[page])
                    trips[(name, page)] = sandbox.api.stats["requests"] - before
            for n in range(args.warmup + args.iterations):
                for page in PAGES:
                    for name, browser in browsers.items():
                        started = time.perf_counter()
                        browser.get(paths[page])
                        if n >= args.warmup:
                            times[(name, page)].append((time.perf_counter() - started) * 1000)
        sandbox.close()

    print(f"portal pages over Dataverse, {args.latency_ms:g} ms latency per request, {args.iterations} requests "
          f"per page each; {stamp()}")
    print(f"{'page':<13} | {'trips':>5} {'p50 ms':>7} {'p95 ms':>7} | {'baseline trips':>14} {'p50 ms':>7} "
          f"{'p95 ms':>7} | {'p50 ratio':>9}")
    for page in PAGES:
        b, o = times[("batched", page)], times[("baseline", page)]
        print(f"{page:<13} | {trips[('batched', page)]:>5} {statistics.median(b):>7.1f} {_percentile(b, 0.95):>7.1f} | "
              f"{trips[('baseline', page)]:>14} {statistics.median(o):>7.1f} {_percentile(o, 0.95):>7.1f} | "
              f"{statistics.median(o) / statistics.median(b):>8.2f}x")
    worst = max(trips[("batched", p)] for p in PAGES)
    home = statistics.median(times[("batched", "home")])
    home_base = statistics.median(times[("baseline", "home")])
    print(f"round trips per page: at most {worst} (target <= {MAX_ROUND_TRIPS}; baseline at most "
          f"{max(trips[('baseline', p)] for p in PAGES)}): {'PASS' if worst <= MAX_ROUND_TRIPS else 'MISSED'}")
    print(f"home p50 {home:.1f} ms (target < {HOME_P50_TARGET_MS:g} ms; baseline {home_base:.1f} ms, "
          f"{home_base / home:.2f}x): {'PASS' if home < HOME_P50_TARGET_MS else 'MISSED'}   [{load_average()}]")
    return 0
