"""Bulk writes to Dataverse: UpsertMultiple (parallel up to x-ms-dop-hint) and $batch of PATCH
upserts, against the baseline of one PATCH per record, on the loopback sandbox with latency added
to every HTTP request (the sandbox's FaultInjector), as a real org's round trip would.

    python -m bench.bench_dataverse_bulk                      # 10,000 records, 20 ms latency
    python -m bench.bench_dataverse_bulk --records 2000 --naive-sample 200

The naive baseline runs on a sample (--naive-sample) and is extrapolated linearly to --records,
because at 20 ms a round trip it would take minutes; the output says when it did that.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ENTITY_SET, LOGICAL, KEY = "cspb_subscriptions", "cspb_subscription", "cspb_providersubscriptionid"


def records(prefix: str, n: int) -> list[dict]:
    return [{KEY: f"{prefix}-{i:07d}", "cspb_quantity": i % 50 + 1, "cspb_unitprice": Decimal("12.3400"),
             "cspb_term": "P1Y", "cspb_status": 1} for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--naive-sample", type=int, default=300, help="records the one-PATCH-each baseline sends")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--dop", type=int, default=4, help="x-ms-dop-hint the sandbox announces")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from dataverse.client import DataverseClient
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app
    from shared.http import RetryPolicy

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp))
        app.api.dop_hint = args.dop
        app.faults.set(latency_ms=args.latency_ms)
        with RunningServer(app) as server:
            def client() -> DataverseClient:
                return DataverseClient(server.url, lambda: "bench", retry=RetryPolicy(max_attempts=3))

            results = []

            def run(name: str, fn, n: int) -> None:
                c = client()
                start = time.perf_counter()
                written = fn(c)
                elapsed = time.perf_counter() - start
                assert written == n, (name, written, n)
                results.append((name, n, c.http.request_count, elapsed))

            n = args.records
            run("UpsertMultiple (parallel)", lambda c: c.bulk_upsert(
                ENTITY_SET, LOGICAL, [KEY], records("um", n), batch_size=args.batch_size), n)

            app.api.multiple_unsupported.add(LOGICAL)
            run("$batch of PATCH (parallel)", lambda c: c.bulk_upsert(
                ENTITY_SET, LOGICAL, [KEY], records("bt", n), batch_size=args.batch_size), n)
            app.api.multiple_unsupported.discard(LOGICAL)

            sample = min(n, args.naive_sample)

            def naive(c: DataverseClient) -> int:
                for rec in tqdm(records("nv", sample), desc="one PATCH per record", unit="rec", leave=False):
                    c.upsert(ENTITY_SET, {KEY: rec[KEY]}, {k: v for k, v in rec.items() if k != KEY})
                return sample

            run("one PATCH per record", naive, sample)
            stored = app.api.store.count(LOGICAL)
        app.close()

    print(f"\nDataverse bulk upsert: {n:,} records, {args.latency_ms:g} ms latency per request, "
          f"dop hint {args.dop}, batch size {args.batch_size}")
    print(f"{'method':<30}{'records':>10}{'requests':>10}{'seconds':>10}{'rec/s':>10}")
    for name, count, reqs, secs in results:
        print(f"{name:<30}{count:>10,}{reqs:>10,}{secs:>10.2f}{count / secs:>10,.0f}")
    name, count, reqs, secs = results[-1]
    naive_secs = secs * n / count
    naive_reqs = reqs * n // count
    if count < n:
        print(f"(baseline measured on {count:,} records and extrapolated linearly to {n:,}: "
              f"~{naive_reqs:,} requests, ~{naive_secs:.0f} s)")
    for name, _count, reqs, secs in results[:2]:
        print(f"{name}: {naive_secs / secs:.1f}x faster than one PATCH per record, "
              f"{naive_reqs / reqs:.0f}x fewer requests")
    print(f"rows in the sandbox afterwards: {stored:,}")


if __name__ == "__main__":
    main()
