"""Provider account + subscription sync at partner scale, against the naive one-request-per-record sync.

Both sandboxes run on loopback with latency added to every request and every Nth request
throttled (429 + Retry-After), as real Partner Center and Dataverse would. The optimised sync
reads each tenant's subscriptions in one call, compares with Dynamics in one call, and writes
only the differences in bulk, with `--workers` threads standing in for Function instances
draining the fan-out queue. The naive baseline does, per record: read it from Dynamics, then
upsert it (and one Partner Center list per tenant, which is the finest Partner Center allows).

    python -m bench.bench_sync                                  # 2,000 customers (~20,000 subscriptions)
    python -m bench.bench_sync --customers 200 --naive-sample 20

The naive baseline runs on --naive-sample customers and is extrapolated linearly (by
subscriptions) to the full partner; the output says so.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def _naive(dv: Any, pc: Any, companies: list[Any]) -> tuple[int, int]:
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
    return records, len(companies)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--throttle-every", type=int, default=50, help="every Nth request answers 429")
    parser.add_argument("--retry-after", type=float, default=0.2, help="seconds the 429s ask to wait")
    parser.add_argument("--workers", type=int, default=16, help="concurrent queue consumers (Function instances)")
    parser.add_argument("--naive-sample", type=int, default=40, help="customers the naive baseline syncs")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from dataverse.client import DataverseClient
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app as build_dv
    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.partnercenter.server import build_app as build_pc
    from shared.http import RetryPolicy
    from sync.provider_accounts import run_provider_account_sync
    from sync.subscription_sync import run_subscription_sync

    def retry() -> RetryPolicy:
        return RetryPolicy(max_attempts=8, base_seconds=0.05, cap_seconds=1.0, max_retry_after=5.0)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        seeded = seed_to_dir(Path(tmp) / "pc", customers=args.customers, seed=args.seed, usage_rows=0)
        print(f"seeded {seeded['customers']} customers, {seeded['subscriptions']} subscriptions "
              f"in {time.perf_counter() - started:.1f}s")
        pc_app, dv_app = build_pc(Path(tmp) / "pc"), build_dv(Path(tmp) / "dv")
        naive_dv_app = build_dv(Path(tmp) / "dv-naive")
        faults = {"latency_ms": args.latency_ms, "throttle_every": args.throttle_every,
                  "retry_after_seconds": args.retry_after}
        for app in (pc_app, dv_app, naive_dv_app):
            app.faults.set(**faults)
        with RunningServer(pc_app) as pc_srv, RunningServer(dv_app) as dv_srv, \
                RunningServer(naive_dv_app) as naive_srv:
            pc = PartnerCenterAdapter(pc_srv.url, lambda: "bench", retry=retry(), timeout=60)
            dv = DataverseClient(dv_srv.url, lambda: "bench", retry=retry(), timeout=60)

            def measure(label: str, fn: Any) -> tuple[float, int, Any]:
                pc_before, dv_before = pc.http.request_count, dv.http.request_count
                t0 = time.perf_counter()
                out = fn()
                elapsed = time.perf_counter() - t0
                requests = pc.http.request_count - pc_before + dv.http.request_count - dv_before
                print(f"{label:34} {requests:>8} requests {elapsed:>8.1f} s")
                return elapsed, requests, out

            t_acc, r_acc, _ = measure("accounts sync", lambda: run_provider_account_sync(dv, {1: pc}))
            t_sub, r_sub, first = measure(f"subscription sync ({args.workers} workers)",
                                          lambda: run_subscription_sync(dv, {1: pc}, workers=args.workers))
            subs = first["counts"].get("seen", 0)
            t_re, r_re, again = measure("rerun, nothing changed", lambda: (
                run_provider_account_sync(dv, {1: pc}), run_subscription_sync(dv, {1: pc}, workers=args.workers)))
            written_again = again[1]["counts"].get("created", 0) + again[1]["counts"].get("updated", 0)

            naive_dv = DataverseClient(naive_srv.url, lambda: "bench", retry=retry(), timeout=60)
            sample = list(pc.list_companies())[: args.naive_sample]
            pc_before = pc.http.request_count
            t0 = time.perf_counter()
            naive_records, _ = _naive(naive_dv, pc, sample)
            t_naive = time.perf_counter() - t0
            r_naive = naive_dv.http.request_count + pc.http.request_count - pc_before
            scale = (subs / naive_records) if naive_records else 0
            print(f"{'naive sample':34} {r_naive:>8} requests {t_naive:>8.1f} s "
                  f"({len(sample)} customers, {naive_records} subscriptions)")

        ours_requests, ours_time = r_acc + r_sub, t_acc + t_sub
        naive_requests, naive_time = r_naive * scale, t_naive * scale
        print()
        from bench._common import load_average, stamp

        print(f"recorded {stamp()}")
        print(f"partner: {args.customers} customers, {subs} subscriptions; latency {args.latency_ms:.0f} ms, "
              f"every {args.throttle_every}th request throttled (Retry-After {args.retry_after}s)")
        print(f"optimised: {ours_requests} requests, {ours_time:.1f} s wall "
              f"({args.workers} concurrent consumers)")
        print(f"rerun with no changes: {r_re} requests, {t_re:.1f} s, {written_again} rows written")
        print(f"naive (extrapolated from {len(sample)} customers x{scale:.1f}): {naive_requests:,.0f} requests, "
              f"{naive_time:,.0f} s wall, one request at a time")
        if ours_requests and ours_time:
            print(f"ratio: {naive_requests / ours_requests:.1f}x fewer requests, "
                  f"{naive_time / ours_time:.1f}x less wall time   [{load_average()}]")


if __name__ == "__main__":
    main()
