"""Provider account + subscription sync at partner scale: Dataverse requests of the Azure path
(timer -> queue -> worker processes, each with its own per-process catalog cache) against the
in-process path (CLI/demo), at several partner sizes, with the issue's budgets.

Both sandboxes run on loopback with latency added to every request. The Azure path is simulated
faithfully: `fan_out` fills a queue, `--processes` worker "processes" (each its own Dataverse
client and its own sync.reference_cache.ReferenceCache, as separate Function instances would
have) drain it with `--workers` concurrent messages in all, every message through the same
`handle_message` the Service Bus trigger calls.

    python -m bench.bench_sync                                  # 200, 2,000 and 5,000 customers
    python -m bench.bench_sync --customers 200 --naive-sample 20

Requests are counted where Dataverse counts them, at the sandbox (the requests it served; a 429
or a retried attempt the server never saw is not one), so client retries under load do not blur
the Azure <= in-process comparison. The client's attempts are printed beside them.

Budgets (issue 15): at 2,000 customers (~21k subscriptions) a full sync in <= 6,000 Dataverse
requests and an unchanged re-sync in <= 1,000, and the Azure path no more than the in-process one.
The optional naive baseline (--naive-sample N customers: one GET + one PATCH per record) is
extrapolated linearly by subscriptions; the output says so.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

FULL_BUDGET, RESYNC_BUDGET, BUDGET_AT = 6000, 1000, 2000


def _naive(dv: Any, pc: Any, companies: list[Any]) -> int:
    """One Dataverse GET + one PATCH per provider account and per subscription, sequentially."""
    records = 0
    for company in companies:
        key = {"cspb_provider": 1, "cspb_externalid": company.id}
        dv.get_by_key("cspb_provideraccounts", key, select=["cspb_provideraccountid"])
        account = dv.upsert("cspb_provideraccounts", key, {"cspb_name": company.name[:100],
                                                            "cspb_domain": company.domain})
        for sub in pc.list_subscriptions(company.id):
            sub_key = {"cspb_providersubscriptionid": sub.id}
            dv.get_by_key("cspb_subscriptions", sub_key, select=["cspb_quantity", "cspb_status"])
            dv.upsert("cspb_subscriptions", sub_key, {
                "cspb_quantity": sub.quantity, "cspb_term": sub.commitment_term or sub.billing_term,
                "cspb_billingfrequency": sub.billing_term,
                "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account.id})"})
            records += 1
    return records


def served(app: Any) -> int:
    """Requests the Dataverse sandbox `app` has served (answered past authentication and service
    protection): the server-side count, immune to client retries."""
    return int(app.api.stats["requests"])


def _azure_path(make_dv: Any, pc: Any, processes: int, workers: int, app: Any) -> tuple[int, int, dict[str, Any], int]:
    """Timer (fan_out) then `processes` worker processes draining the queue. Returns (Dataverse
    requests served, client attempts, run counts, catalog loads)."""
    import threading
    from itertools import count

    from shared.queue import InProcessQueue, drain
    from sync import runs
    from sync.provider_accounts import run_provider_account_sync
    from sync.reference_cache import ReferenceCache
    from sync.subscription_sync import fan_out, handle_message

    before = served(app)
    timer_dv = make_dv()
    run_provider_account_sync(timer_dv, {1: pc})
    queue = InProcessQueue("bench-subscription-sync")
    run = runs.start(timer_dv, "subscriptions")
    fan_out(timer_dv, queue, run=run)
    instances = [(make_dv(), ReferenceCache()) for _ in range(processes)]
    turn, lock = count(), threading.Lock()

    def handle(message: Any) -> None:
        dv, cache = instances[next(turn) % processes]
        outcome = handle_message(message.body, dv=dv, adapters={1: pc}, cache=cache)
        with lock:
            for name, value in (outcome.counts() if outcome else {}).items():
                run.bump(name, value)

    drain(queue, handle, workers=workers)
    runs.finish(run)
    attempts = timer_dv.http.request_count + sum(dv.http.request_count for dv, _ in instances)
    return served(app) - before, attempts, run.counts, sum(cache.loads for _, cache in instances)


def _product_rows(dv: Any) -> Any:
    from dataverse.catalog_repo import product_ids

    return product_ids(dv)


def _price_rows(dv: Any) -> Any:
    from dataverse.catalog_repo import price_items

    return price_items(dv)


def _in_process(dv: Any, pc: Any, workers: int, app: Any) -> tuple[int, int, dict[str, Any]]:
    """Returns (Dataverse requests served, client attempts, run counts)."""
    from sync.provider_accounts import run_provider_account_sync
    from sync.subscription_sync import run_subscription_sync

    before, attempts = served(app), dv.http.request_count
    run_provider_account_sync(dv, {1: pc})
    result = run_subscription_sync(dv, {1: pc}, workers=workers)
    return served(app) - before, dv.http.request_count - attempts, result["counts"]


def one_size(customers: int, args: argparse.Namespace) -> dict[str, Any]:
    from dataverse.client import DataverseClient
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app as build_dv
    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.partnercenter.server import build_app as build_pc
    from shared.http import RetryPolicy
    from sync.reference_cache import PROCESS_CACHE, ReferenceCache

    def retry() -> RetryPolicy:
        return RetryPolicy(max_attempts=8, base_seconds=0.05, cap_seconds=1.0, max_retry_after=5.0)

    out: dict[str, Any] = {"customers": customers}
    with tempfile.TemporaryDirectory() as tmp:
        seeded = seed_to_dir(Path(tmp) / "pc", customers=customers, seed=args.seed, usage_rows=0)
        out["subscriptions"] = seeded["subscriptions"]
        pc_app, inproc_app, azure_app = build_pc(Path(tmp) / "pc"), build_dv(Path(tmp) / "dv-a"), \
            build_dv(Path(tmp) / "dv-b")
        for app in (pc_app, inproc_app, azure_app):
            app.faults.set(latency_ms=args.latency_ms)
        from sandbox.dataverse.service_protection import Limits, ServiceProtection

        limits = Limits.parse(args.protection)
        for app in (inproc_app, azure_app):
            app.protection = ServiceProtection(limits) if limits else None
        with RunningServer(pc_app) as pc_srv, RunningServer(inproc_app) as a_srv, RunningServer(azure_app) as b_srv:
            pc = PartnerCenterAdapter(pc_srv.url, lambda: "bench", retry=retry(), timeout=60)

            def client(url: str) -> DataverseClient:
                return DataverseClient(url, lambda: "bench", retry=retry(), timeout=60,
                                       requests_per_second=args.client_rate or None)

            from jobs.sync import price_sheet_rows
            from sync.catalog_sync import run_catalog_sync

            # A real catalog and price list, so the workers' catalog loads cost what they would.
            sheet = price_sheet_rows(pc, ("USD", "EUR"))
            for url in (a_srv.url, b_srv.url):
                run_catalog_sync(client(url), sheet, currencies=("USD", "EUR"), everything=True)
            out["catalog_rows"] = len(sheet)
            inproc_dv = client(a_srv.url)
            for label in ("full", "resync"):
                PROCESS_CACHE.clear()
                t0 = time.perf_counter()
                out[f"inproc_{label}"], out[f"inproc_{label}_attempts"], counts = _in_process(
                    inproc_dv, pc, args.workers, inproc_app)
                out[f"inproc_{label}_s"] = time.perf_counter() - t0
                if label == "full":
                    out["seen"] = counts.get("seen", 0)
                t0 = time.perf_counter()
                (out[f"azure_{label}"], out[f"azure_{label}_attempts"], counts,
                 out[f"azure_{label}_loads"]) = _azure_path(lambda: client(b_srv.url), pc, args.processes,
                                                            args.workers, azure_app)
                out[f"azure_{label}_s"] = time.perf_counter() - t0
                out[f"azure_{label}_written"] = counts.get("created", 0) + counts.get("updated", 0)
            # Nothing lost: every subscription found has its initial change log, in both orgs.
            for name, url in (("inproc", a_srv.url), ("azure", b_srv.url)):
                d = client(url)
                subs = sum(1 for r in d.list("cspb_subscriptions", select=["cspb_kind"]) if r.get("cspb_kind") != 3)
                logs = sum(1 for _ in d.list("cspb_licensechangelogs", select=["cspb_changekey"]))
                out[f"{name}_lost_logs"] = subs - logs
            for name, app in (("inproc", inproc_app), ("azure", azure_app)):
                prot = app.protection
                out[f"{name}_429"] = prot.refused_total if prot else 0
                out[f"{name}_admitted"] = prot.admitted if prot else 0
            # What one catalog load costs, to tell the extra worker processes' loads from the rest.
            probe, before = client(b_srv.url), served(azure_app)
            ReferenceCache().get(probe, "probe", products=lambda d: _product_rows(d), prices=_price_rows)
            out["load_requests"] = served(azure_app) - before
            if args.naive_sample:
                naive_app = build_dv(Path(tmp) / "dv-naive")
                naive_app.faults.set(latency_ms=args.latency_ms)
                with RunningServer(naive_app) as n_srv:
                    naive_dv = client(n_srv.url)
                    sample = list(pc.list_companies())[: args.naive_sample]
                    t0 = time.perf_counter()
                    records = _naive(naive_dv, pc, sample)
                    scale = out["seen"] / records if records else 0
                    out["naive"] = served(naive_app) * scale
                    out["naive_s"] = (time.perf_counter() - t0) * scale
                    out["naive_from"] = len(sample)
                naive_app.close()
        inproc_app.close()
        azure_app.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", default="200,2000,5000", help="comma-separated partner sizes")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=16, help="messages handled concurrently in all")
    parser.add_argument("--processes", type=int, default=4, help="worker processes (Function instances)")
    parser.add_argument("--naive-sample", type=int, default=0, help="customers the naive baseline syncs (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protection", default="on",
                        help="Dataverse service protection in the sandbox: on (Microsoft's limits), off, or "
                             "scaled, e.g. requests=100,window=10,concurrent=52")
    parser.add_argument("--client-rate", type=float, default=0.0,
                        help="requests per second the client's per-process token bucket allows (0: no bucket)")
    parser.add_argument("--batch", type=int, default=0, help="accounts per queue message (0: the setting, 50)")
    args = parser.parse_args(argv)
    if args.batch:
        import os

        from shared.config import reset_settings

        os.environ["CSPB_SUBSCRIPTION_SYNC_BATCH"] = str(args.batch)
        reset_settings()

    from bench._common import load_average, stamp
    from sync.subscription_sync import batch_size

    sizes = [int(c) for c in args.customers.split(",") if c]
    print(f"subscription sync (provider accounts + subscriptions), Dataverse requests; {stamp()}; "
          f"service protection {args.protection}; client bucket {args.client_rate or 'off'} req/s; "
          f"latency {args.latency_ms:g} ms, "
          f"{args.workers} concurrent messages over {args.processes} worker processes, "
          f"{batch_size()} accounts per message; requests as the Dataverse sandbox served them")
    head = (f"{'customers':>9} {'subs':>7} | {'in-process':>10} {'/cust':>6} {'re-sync':>8} | {'Azure path':>10} "
            f"{'/cust':>6} {'re-sync':>8} {'/cust':>6} {'loads':>5} | {'full s':>7} {'re-sync s':>9}")
    print(head)
    ok = True
    rows = []
    for customers in sizes:
        r = one_size(customers, args)
        rows.append(r)
        c = r["customers"]
        print(f"{c:>9,} {r['seen']:>7,} | {r['inproc_full']:>10,} {r['inproc_full'] / c:>6.2f} "
              f"{r['inproc_resync']:>8,} | {r['azure_full']:>10,} {r['azure_full'] / c:>6.2f} "
              f"{r['azure_resync']:>8,} {r['azure_resync'] / c:>6.2f} {r['azure_full_loads']:>5} | "
              f"{r['azure_full_s']:>7.1f} {r['azure_resync_s']:>9.1f}   [{load_average()}]", flush=True)
        # Each extra worker process loads the catalog once (the in-process runner is one process);
        # apart from those loads the Azure path must make no more requests than the in-process one.
        for label in ("full", "resync"):
            extra = (r[f"azure_{label}_loads"] - 1) * r["load_requests"]
            beyond = r[f"azure_{label}"] - extra - r[f"inproc_{label}"]
            verdict = "OK" if beyond <= 0 else "MISSED"
            ok &= verdict == "OK"
            print(f"  {label:<6}: Azure path {r[f'azure_{label}']:,} = in-process {r[f'inproc_{label}']:,} "
                  f"{'+' if beyond >= 0 else '-'} {abs(beyond):,} + {extra:,} for "
                  f"{r[f'azure_{label}_loads'] - 1} extra process catalog load(s) of {r['load_requests']} "
                  f"requests  {verdict}   (client attempts: Azure path {r[f'azure_{label}_attempts']:,}, "
                  f"in-process {r[f'inproc_{label}_attempts']:,})")
        for name in ("inproc", "azure"):
            answered = r[f"{name}_admitted"] + r[f"{name}_429"]
            share = r[f"{name}_429"] / answered if answered else 0.0
            verdict = "OK" if share < 0.02 and r[f"{name}_lost_logs"] == 0 else "MISSED"
            ok &= verdict == "OK"
            print(f"  {name:<6}: {r[f'{name}_429']:,} of {answered:,} Dataverse requests answered 429 "
                  f"({share:.1%}, target < 2%), {r[f'{name}_lost_logs']} change logs lost  {verdict}")
        if r.get("azure_resync_written"):
            ok = False
            print(f"  MISSED: the unchanged re-sync wrote {r['azure_resync_written']} rows")
        if "naive" in r:
            print(f"  naive (one GET + one PATCH per record, extrapolated from {r['naive_from']} customers): "
                  f"~{r['naive']:,.0f} requests, ~{r['naive_s']:,.0f} s -> {r['naive'] / r['azure_full']:.1f}x "
                  f"the requests of the Azure path")
    for r in rows:
        if r["customers"] == BUDGET_AT:
            for label, key, budget in (("full sync", "azure_full", FULL_BUDGET),
                                       ("unchanged re-sync", "azure_resync", RESYNC_BUDGET)):
                verdict = "OK" if r[key] <= budget else "MISSED"
                ok &= verdict == "OK"
                print(f"{BUDGET_AT:,} customers, {label}: {r[key]:,} Dataverse requests (budget {budget:,})  "
                      f"{verdict}   [{load_average()}]")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
