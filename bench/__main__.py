"""`python -m bench` (make bench): run every benchmark at its full, issue-sized default.

Each runs in its own process (peak RSS is per process), and a missed target does not stop the rest.
`python -m bench NAME [args]` runs one (names: dataverse, seed, sync, billing, recon, catalog, portal), passing the
arguments on. Each prints its own ratios against the baseline it measures in the same run.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time

# Benches run against the loopback sandboxes only.
os.environ.setdefault("CSPB_MODE", "sandbox")

BENCHES = {
    "dataverse": "bench.bench_dataverse_bulk",
    "seed": "bench.bench_seed",
    "sync": "bench.bench_sync",
    "billing": "bench.bench_billing",
    "recon": "bench.bench_recon",
    "catalog": "bench.bench_catalog",
    "portal": "bench.bench_portal",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in BENCHES:
        name, rest = argv[0], argv[1:]
        print(f"\n===== bench {name} =====", flush=True)
        started = time.perf_counter()
        result = importlib.import_module(BENCHES[name]).main(rest)
        print(f"(bench {name} took {time.perf_counter() - started:.1f} s)", flush=True)
        return result if isinstance(result, int) else 0
    if argv:
        print(f"unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    # Each bench in its own process: peak RSS is a per-process high-water mark, so one bench's
    # sandboxes would otherwise count against the next bench's memory target. A miss does not stop
    # the others; the exit status says whether any missed.
    missed = []
    for name in BENCHES:
        if subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode != 0:
            missed.append(name)
    if missed:
        print(f"\nbenches with a MISSED target or a failure: {', '.join(missed)}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
