"""Recon aggregation benchmark: our DuckDB engine against pandas, polars, pure-Python csv/json and
the `gzip -dc | wc -l` I/O floor, on one generated daily-rated usage file per format.

    python -m bench.bench_recon              # 2,000,000 rows (takes a few minutes)
    python -m bench.bench_recon --rows 200000

Every engine runs in its own subprocess so its peak RSS (ru_maxrss, the larger of the process and its children) is its own. The task is the
same everywhere: sum quantity and cost per customer x subscription x meter category x month.
Ours also validates every row, quarantines bad ones and sums exact Decimals; the baselines use
floats and validate nothing, so the comparison favours them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ["CustomerId", "SubscriptionId", "MeterCategory"]
TARGET_RSS_MB = 300


# ---- engines (each runs inside a child process) -----------------------------------------------

def engine_ours(path: Path) -> int:
    from recon.aggregate import aggregate_usage

    result = aggregate_usage(path, quarantine_path=Path(tempfile.gettempdir()) / "bench_recon_q.jsonl")
    assert result.rows_quarantined == 0, result.quarantine_sample[:3]
    return len(result.groups)


def _case_map(columns: list[str]) -> dict[str, str]:
    wanted = KEYS + ["UsageDate", "Quantity", "BillingPreTaxTotal"]
    lower = {c.lower(): c for c in columns}
    return {w: lower[w.lower()] for w in wanted}


def engine_pandas(path: Path) -> int:
    import pandas as pd

    if ".jsonl" in path.name or ".json." in path.name:
        parts = []
        for chunk in pd.read_json(path, lines=True, compression="infer", chunksize=200_000, dtype=False):
            names = _case_map(list(chunk.columns))
            chunk = chunk.rename(columns={v: k for k, v in names.items()})
            chunk["month"] = chunk["UsageDate"].astype(str).str[:7]
            parts.append(chunk.groupby(KEYS + ["month"])[["Quantity", "BillingPreTaxTotal"]].sum())
        frame = pd.concat(parts).groupby(level=[0, 1, 2, 3]).sum()
        return len(frame)
    header = pd.read_csv(path, nrows=0).columns
    names = _case_map(list(header))
    df = pd.read_csv(path, usecols=list(names.values()),
                     dtype={names[k]: "string" for k in KEYS} | {names["UsageDate"]: "string"})
    df = df.rename(columns={v: k for k, v in names.items()})
    df["month"] = df["UsageDate"].str[:7]
    return len(df.groupby(KEYS + ["month"])[["Quantity", "BillingPreTaxTotal"]].sum())


def engine_polars(path: Path) -> int:
    import polars as pl

    if ".jsonl" in path.name or ".json." in path.name:
        lf = pl.read_ndjson(path).lazy()  # polars cannot stream gzip'd NDJSON lazily
    elif path.name.endswith(".gz"):
        lf = pl.read_csv(path, infer_schema=False).lazy()  # nor gzip'd CSV
    else:
        lf = pl.scan_csv(path, infer_schema=False)
    names = _case_map(lf.collect_schema().names())
    out = (lf.select([pl.col(v).alias(k) for k, v in names.items()])
           .with_columns(pl.col("UsageDate").str.slice(0, 7).alias("month"),
                         pl.col("Quantity").cast(pl.Float64), pl.col("BillingPreTaxTotal").cast(pl.Float64))
           .group_by(KEYS + ["month"]).agg(pl.col("Quantity").sum(), pl.col("BillingPreTaxTotal").sum())
           .collect(engine="streaming"))
    return out.height


def engine_python(path: Path) -> int:
    import csv
    import gzip
    from decimal import Decimal

    opener = gzip.open if path.name.endswith(".gz") else open
    sums: dict[tuple[str, ...], list[Decimal]] = {}
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
        if ".jsonl" in path.name or ".json." in path.name:
            rows = (json.loads(line) for line in fh if line.strip())
        else:
            rows = csv.DictReader(fh)
        names: dict[str, str] | None = None
        for row in rows:
            if names is None:
                names = _case_map(list(row))
            key = (row[names["CustomerId"]], row[names["SubscriptionId"]], row[names["MeterCategory"]],
                   str(row[names["UsageDate"]])[:7])
            acc = sums.get(key)
            if acc is None:
                acc = sums[key] = [Decimal(0), Decimal(0)]
            acc[0] += Decimal(str(row[names["Quantity"]]))
            acc[1] += Decimal(str(row[names["BillingPreTaxTotal"]]))
    return len(sums)


ENGINES = {"ours": engine_ours, "pandas": engine_pandas, "polars": engine_polars, "python": engine_python}


def child(engine: str, path: str) -> None:
    start = time.perf_counter()
    groups = ENGINES[engine](Path(path))
    seconds = time.perf_counter() - start
    # Children too: our gzip'd CSV path inflates in a helper process, which counts against us.
    rss_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps({"seconds": seconds, "groups": groups, "rss_mb": rss_mb}))


# ---- driver -----------------------------------------------------------------------------------

def run_engine(engine: str, path: Path, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_recon", "--child", engine, str(path)]
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f}s"}
    except subprocess.CalledProcessError as exc:
        return {"error": (exc.stderr or "").strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def io_floor(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(f"gzip -dc '{path}' | wc -l", shell=True, check=True, capture_output=True)
    return time.perf_counter() - start


def make_files(rows: int, workdir: Path) -> dict[str, Path]:
    try:
        from sandbox.partnercenter.usage_file import write_usage_file

        def write(p: Path, fmt: str) -> None:
            write_usage_file(p, rows, seed=7, fmt=fmt)
        source = "sandbox.partnercenter.usage_file"
    except ImportError:
        from bench.recon_data import write_usage_file as write_local

        def write(p: Path, fmt: str) -> None:
            write_local(p, rows, seed=7, fmt=fmt)
        source = "bench.recon_data"
    files = {}
    for fmt in ("csv", "csv.gz", "jsonl.gz"):
        path = workdir / f"usage-{rows}.{fmt}"
        if not path.exists():
            t = time.perf_counter()
            write(path, fmt)
            print(f"  generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s"
                  f" with {source}", flush=True)
        files[fmt] = path
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cspb-bench-recon")
    parser.add_argument("--engines", default="ours,pandas,polars,python")
    parser.add_argument("--formats", default="csv,csv.gz,jsonl.gz")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Runs per engine; the fastest counts (the machine is shared, so noise is one-sided).")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"recon aggregation benchmark: {args.rows:,} rows, cpus={os.cpu_count()}")
    files = {f: p for f, p in make_files(args.rows, args.workdir).items() if f in args.formats.split(",")}
    engines = [e for e in args.engines.split(",") if e]
    results: dict[tuple[str, str], dict] = {}
    print(f"\n{'format':<9} {'engine':<8} {'seconds':>8} {'rows/s':>12} {'peak RSS MB':>12} {'groups':>8}")
    for fmt, path in files.items():
        # Rounds, not one engine after the other: the machine is shared and its speed drifts, so the
        # engines being compared take turns and each round sees the same conditions.
        all_runs: dict[str, list[dict]] = {e: [] for e in engines}
        for _ in range(max(1, args.repeat)):
            for engine in engines:
                all_runs[engine].append(run_engine(engine, path, args.timeout))
        for engine in engines:
            runs = all_runs[engine]
            good = [x for x in runs if "error" not in x]
            r = results[(fmt, engine)] = (min(good, key=lambda x: x["seconds"]) | {
                "rss_mb": max(x["rss_mb"] for x in good)} if good else runs[-1])
            if "error" in r:
                print(f"{fmt:<9} {engine:<8} {'-':>8} {'-':>12} {'-':>12}  {r['error']}")
            else:
                print(f"{fmt:<9} {engine:<8} {r['seconds']:>8.2f} {args.rows / r['seconds']:>12,.0f} "
                      f"{r['rss_mb']:>12.0f} {r['groups']:>8}", flush=True)
        if fmt.endswith(".gz"):
            floor = results[(fmt, "gzip|wc")] = {"seconds": min(io_floor(path) for _ in range(max(1, args.repeat)))}
            print(f"{fmt:<9} {'gzip|wc':<8} {floor['seconds']:>8.2f} {args.rows / floor['seconds']:>12,.0f}")

    def ratio(fmt: str, baseline: str) -> float | None:
        ours, base = results.get((fmt, "ours"), {}), results.get((fmt, baseline), {})
        if "seconds" not in ours or "seconds" not in base:
            return None
        return base["seconds"] / ours["seconds"]

    print("\nratios (baseline seconds / ours; > 1 means ours is faster)")
    checks = [("csv", "pandas", 2.0), ("csv.gz", "pandas", 2.0), ("jsonl.gz", "pandas", 5.0),
              ("csv.gz", "gzip|wc", 1.0), ("jsonl.gz", "gzip|wc", 1.0)]
    ok = True
    for fmt in files:
        for baseline in engines[1:] + (["gzip|wc"] if fmt.endswith(".gz") else []):
            r = ratio(fmt, baseline)
            target = next((t for f, b, t in checks if f == fmt and b == baseline), None)
            verdict = "" if target is None or r is None else ("  OK" if r >= target else f"  MISSED (target {target}x)")
            if target is not None and (r is None or r < target):
                ok = False
            print(f"  {fmt:<9} vs {baseline:<8} {'n/a' if r is None else f'{r:5.2f}x'}{verdict}")
    peak = max((r.get("rss_mb", 0) for (f, e), r in results.items() if e == "ours"), default=0)
    print(f"  ours peak RSS {peak:.0f} MB (target < {TARGET_RSS_MB} MB){'  OK' if peak < TARGET_RSS_MB else '  MISSED'}")
    return 0 if ok and peak < TARGET_RSS_MB else 1


if __name__ == "__main__":
    sys.exit(main())
