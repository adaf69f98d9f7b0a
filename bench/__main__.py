"""`python -m bench` (make bench): run every benchmark at its full, issue-sized default.

`python -m bench NAME [args]` runs one (names: dataverse, seed, sync, billing, recon, catalog, portal), passing the
arguments on. Each prints its own ratios against the baseline it measures in the same run.
"""

from __future__ import annotations

import importlib
import os
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
        names, rest = [argv[0]], argv[1:]
    elif argv:
        print(f"unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    else:
        names, rest = list(BENCHES), []
    for name in names:
        print(f"\n===== bench {name} =====", flush=True)
        started = time.perf_counter()
        result = importlib.import_module(BENCHES[name]).main(rest)
        print(f"(bench {name} took {time.perf_counter() - started:.1f} s)", flush=True)
        if isinstance(result, int) and result != 0:
            return result
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
