"""Bulk writes to Dataverse: UpsertMultiple (parallel up to x-ms-dop-hint) and $batch of PATCH
upserts, against the baseline a competent engineer would write without them: one PATCH per record
from a pool of 4 and of 16 threads (Dataverse's recommended parallelism range), on the loopback
sandbox with latency added to every HTTP request (the sandbox's FaultInjector), as a real org's
round trip would.

    python -m bench.bench_dataverse_bulk                      # 10,000 records, 20 ms latency
    python -m bench.bench_dataverse_bulk --records 2000 --naive-sample 500

The PATCH baselines run on a sample (--naive-sample) and are extrapolated linearly to --records;
the output says when it did that.
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
    parser.add_argument("--naive-sample", type=int, default=1000, help="records each one-PATCH-each baseline sends")
    parser.add_argument("--threads", default="4,16", help="thread pools for the one-PATCH-each baselines")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--dop", type=int, default=4, help="x-ms-dop-hint the sandbox announces")
    args = parser.parse_args(argv)

    from concurrent.futures import ThreadPoolExecutor

    from bench._common import load_average, stamp
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

            def naive(threads: int):  # type: ignore[no-untyped-def]
                def send(c: DataverseClient) -> int:
                    def one(rec: dict) -> None:
                        c.upsert(ENTITY_SET, {KEY: rec[KEY]}, {k: v for k, v in rec.items() if k != KEY})

                    with ThreadPoolExecutor(max_workers=threads) as pool:
                        list(pool.map(one, records(f"nv{threads}", sample)))
                    return sample
                return send

            thread_counts = [int(t) for t in args.threads.split(",") if t]
            for threads in thread_counts:
                run(f"one PATCH per record, {threads} thr", naive(threads), sample)
            stored = app.api.store.count(LOGICAL)
        app.close()

    print(f"\nDataverse bulk upsert: {n:,} records, {args.latency_ms:g} ms latency per request, "
          f"dop hint {args.dop}, batch size {args.batch_size}; {stamp()}")
    print(f"{'method':<32}{'records':>10}{'requests':>10}{'seconds':>10}{'rec/s':>10}")
    for name, count, reqs, secs in results:
        print(f"{name:<32}{count:>10,}{reqs:>10,}{secs:>10.2f}{count / secs:>10,.0f}")
    baselines = results[2:]
    for name, count, reqs, secs in baselines:
        naive_secs, naive_reqs = secs * n / count, reqs * n // count
        if count < n:
            print(f"({name}: measured on {count:,} records, extrapolated linearly to {n:,}: "
                  f"~{naive_reqs:,} requests, ~{naive_secs:.1f} s)")
        for ours, _count, ours_reqs, ours_secs in results[:2]:
            print(f"{ours}: {naive_secs / ours_secs:.1f}x faster than {name}, "
                  f"{naive_reqs / ours_reqs:.0f}x fewer requests   [{load_average()}]")
    print(f"rows in the sandbox afterwards: {stored:,}")


if __name__ == "__main__":
    main()
