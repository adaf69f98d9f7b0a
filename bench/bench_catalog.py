"""The catalog at the size of Microsoft's real price sheet, and the recon invoice import at partner scale.

    python -m bench catalog                              # 17 markets x 50,000 rows, recon at 500k and 2M lines
    python -m bench catalog --markets 3 --rows 5000 --recon-lines 50000    # quick

The Partner Center sandbox is seeded with real-shaped sheets (`seed --price-rows`: tier rows, rows
announcing next month's prices, empty optional fields, items missing per market). The sandboxes run
in this process; every measured job runs in a child process, so its peak RSS (VmHWM) is its own.

Printed:
- catalog sync, selection off ("everything"): peak RSS, RSS after each market, Dataverse requests
  per 1,000 sheet rows (UpsertMultiple), rows written;
- the same unchanged sheets again: rows written (0);
- items whose price is not the current tier-1 price of the sheet, checked by an independent reader
  of the CSV files (0), next to what "the last row wins" would have given;
- items imported with the default selection (in use + allow-list) against everything;
- the $batch fallback's requests per 1,000 sheet rows (tables without UpsertMultiple);
- baseline: the sheets held in memory the old way (one invocation, every row a dict);
- the recon invoice import's peak RSS at each size (streamed), and the old in-memory reader's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._common import load_average, stamp

TODAY = datetime.now(UTC).date()


# ---------------------------------------------------------------- child processes

def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _clients(spec: dict[str, Any]) -> tuple[Any, Any]:
    from dataverse.client import DataverseClient
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.http import RetryPolicy

    retry = RetryPolicy(max_attempts=8, base_seconds=0.05, cap_seconds=1.0, max_retry_after=5.0)
    dv = DataverseClient(spec["dv"], lambda: "bench", retry=retry, timeout=600)
    pc = PartnerCenterAdapter(spec["pc"], lambda: "bench", retry=retry, timeout=600)
    return dv, pc


def _worker_sync(spec: dict[str, Any]) -> dict[str, Any]:
    import sync.catalog_sync  # noqa: F401 - loaded before `idle`, so code is not counted as per-row memory
    from jobs import sync as jobs

    dv, pc = _clients(spec)
    idle = _rss_mb()
    per_market: list[float] = []
    started = time.perf_counter()
    result = jobs.catalog(dv, pc, currencies=spec["currencies"], everything=spec["everything"],
                          today=date.fromisoformat(spec["today"]), progress=lambda _n: per_market.append(_rss_mb()))
    return {"seconds": time.perf_counter() - started, "dv_requests": dv.http.request_count,
            "idle_mb": idle, "peak_mb": _rss_mb("VmHWM"), "per_market_mb": per_market,
            "written": result["written"], "counts": result["counts"], "status": result["status"],
            "errors": result.get("errors", [])[:5]}


def _worker_hold_all(spec: dict[str, Any]) -> dict[str, Any]:
    """The old way: every market's sheet read into one list of row dicts, then parsed, in one call."""
    from billing.catalog_pricing import parse_sheet_row
    from jobs.sync import price_sheet_rows

    _dv, pc = _clients(spec)
    idle = _rss_mb()
    rows = price_sheet_rows(pc, spec["currencies"])
    parsed = [parse_sheet_row(r) for r in rows]
    return {"idle_mb": idle, "peak_mb": _rss_mb("VmHWM"), "rows": len(rows), "parsed": len(parsed)}


def _worker_recon(spec: dict[str, Any]) -> dict[str, Any]:
    from recon.import_csv import import_file
    from recon.invoice_file import read_invoice_file
    from shared.blobstore import LocalBlobStore

    idle = _rss_mb()
    started = time.perf_counter()
    if spec["mode"] == "stream":
        result = import_file(spec["path"], store=LocalBlobStore(Path(spec["blobs"])), period="2026-10")
        lines = result.provider_line_count
    else:
        lines = len(read_invoice_file(spec["path"]).lines)
    return {"idle_mb": idle, "peak_mb": _rss_mb("VmHWM"), "lines": lines, "seconds": time.perf_counter() - started}


WORKERS = {"sync": _worker_sync, "hold_all": _worker_hold_all, "recon": _worker_recon}


def _child(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.bench_catalog", "--worker", kind, json.dumps(spec)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the independent price check

def _sheet_truth(path: Path, today: date) -> tuple[dict[tuple[str, str, str], Decimal], dict[tuple[str, str, str], Decimal]]:
    """Straight from the CSV: per (product:sku, unit, currency), the tier-1 price of the newest row in
    force today, and what the last row sent would have set."""
    best: dict[tuple[str, str, str], tuple[date, int, Decimal]] = {}
    last: dict[tuple[str, str, str], Decimal] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            key = (f"{r['ProductId']}:{r['SkuId']}", f"{r['TermDuration']} {r['BillingPlan'].lower()}",
                   r["Currency"].upper())
            price = Decimal(r["UnitPrice"])
            last[key] = price
            m, d, y = r["EffectiveStartDate"].split(" ")[0].split("/")
            start = date(int(y), int(m), int(d))
            if start > today:
                continue
            if r["EffectiveEndDate"]:
                m, d, y = r["EffectiveEndDate"].split(" ")[0].split("/")
                if date(int(y), int(m), int(d)) < today:
                    continue
            tier = int(r["PricingTierRangeMin"] or 0)
            have = best.get(key)
            if have is None or (start, -tier) > (have[0], -have[1]):
                best[key] = (start, tier, price)
    return {k: v[2] for k, v in best.items()}, last


def _check_prices(dv: Any, sheets: dict[str, Path], currency_of: dict[str, str]) -> tuple[int, int, int, int]:
    """(items checked, items not at the current tier-1 price, items 'last row wins' would get wrong, missing)."""
    stored = {i["cspb_pricekey"]: Decimal(str(i["cspb_cost"])) for i in dv.list(
        "productpricelevels", select=["cspb_pricekey", "cspb_cost"], filter="cspb_pricekey ne null", page_size=5000)}
    checked = wrong = naive_wrong = missing = 0
    for market, path in sheets.items():
        truth, last = _sheet_truth(path, TODAY)
        for (number, unit, currency), price in truth.items():
            key = f"CSP {currency_of[market]}|{number}|{unit}"
            if key not in stored:
                missing += 1
                continue
            checked += 1
            wrong += stored[key] != price
            naive_wrong += last[(number, unit, currency)] != price
    return checked, wrong, naive_wrong, missing


# ---------------------------------------------------------------- recon files

def write_invoice_recon(path: Path, lines: int, seed: int = 1) -> Path:
    """A new commerce invoice recon CSV of `lines` lines (Microsoft's columns), written streaming."""
    from sandbox.partnercenter.catalog import LICENSE_SKUS
    from sandbox.partnercenter.seed import INVOICE_RECON_COLUMNS

    rng = random.Random(seed)
    customers = [(str(uuid.UUID(int=rng.getrandbits(128))), f"Customer {i:05d}") for i in range(2000)]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(INVOICE_RECON_COLUMNS)
        index = {c: i for i, c in enumerate(INVOICE_RECON_COLUMNS)}
        blank = [""] * len(INVOICE_RECON_COLUMNS)
        for n in range(lines):
            cid, name = customers[n % len(customers)]
            sku = LICENSE_SKUS[n % len(LICENSE_SKUS)]
            qty = 1 + n % 40
            price = Decimal(sku[6])
            row = list(blank)
            for col, value in (("PartnerId", "0e195b37-4574-4539-bc42-0e539b9684c0"), ("CustomerId", cid),
                               ("CustomerName", name), ("CustomerDomainName", f"c{n % 2000}.example"),
                               ("CustomerCountry", "US"), ("InvoiceNumber", "G000012345"), ("MpnId", "1234567"),
                               ("OrderId", f"O{n:09d}"), ("OrderDate", "10/1/2026"), ("ProductId", sku[0]),
                               ("SkuId", sku[1]), ("AvailabilityId", sku[2]), ("SkuName", sku[4]),
                               ("ProductName", sku[3]), ("ChargeType", "cycleCharge"), ("UnitPrice", str(price)),
                               ("Quantity", str(qty)), ("Subtotal", str(price * qty)), ("TaxTotal", "0"),
                               ("Total", str(price * qty)), ("Currency", "USD"), ("PublisherName", "Microsoft"),
                               ("SubscriptionId", f"{n // 3:08d}-0000-4000-8000-000000000000"),
                               ("SubscriptionDescription", sku[4]), ("ChargeStartDate", "10/1/2026"),
                               ("ChargeEndDate", "10/31/2026"), ("TermAndBillingCycle", "1 Year Monthly"),
                               ("EffectiveUnitPrice", str(price)), ("UnitType", "Licenses"),
                               ("BillableQuantity", str(qty)), ("BillingFrequency", "Monthly"),
                               ("PricingCurrency", "USD"), ("PCToBCExchangeRate", "1"),
                               ("PCToBCExchangeRateDate", "9/30/2026"), ("ProductCategory", "License")):
                row[index[col]] = value
            writer.writerow(row)
    return path


# ---------------------------------------------------------------- the run

def _per_k(requests: int, rows: int) -> float:
    return requests * 1000 / rows if rows else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markets", type=int, default=17, help="markets (one per pricing currency, at most 17)")
    parser.add_argument("--rows", type=int, default=50_000, help="price sheet rows per market")
    parser.add_argument("--batch-markets", type=int, default=2, help="markets the $batch fallback is measured on")
    parser.add_argument("--recon-lines", default="500000,2000000", help="invoice recon sizes, comma separated")
    parser.add_argument("--baseline-recon-max", type=int, default=500_000,
                        help="largest size the old in-memory recon reader is measured at (it holds every line)")
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="keep the sandbox state here instead of a temporary folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("CSPB_MODE", "sandbox")  # the sandboxes below, whatever the shell says

    from billing.currency import MARKET_FOR_CURRENCY
    from dataverse.client import DataverseClient
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app as build_dv
    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.partnercenter.server import build_app as build_pc
    from sync.provider_accounts import run_provider_account_sync
    from sync.subscription_sync import run_subscription_sync

    currencies = list(MARKET_FOR_CURRENCY)[: args.markets]
    markets = [MARKET_FOR_CURRENCY[c] for c in currencies]
    currency_of = {MARKET_FOR_CURRENCY[c]: c for c in currencies}
    print(f"bench catalog: {len(markets)} markets x {args.rows:,} rows; {stamp()}", flush=True)
    root = args.keep or Path(tempfile.mkdtemp(prefix="cspb-bench-catalog-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    as_of = date(TODAY.year, TODAY.month, 1)
    seed_to_dir(root / "pc", customers=args.customers, seed=3, usage_rows=0, as_of=as_of, price_rows=args.rows)
    sheets = {m: root / "pc" / "pricesheets" / f"{m}.csv" for m in markets}
    sheet_rows = sum(sum(1 for _ in open(p, "rb")) - 1 for p in sheets.values())
    size_mb = sum(p.stat().st_size for p in sheets.values()) / 1e6
    print(f"seeded {sheet_rows:,} sheet rows ({size_mb:,.0f} MB) in {time.perf_counter() - t0:.0f} s", flush=True)

    pc_app = build_pc(root / "pc")
    dv_all, dv_sel, dv_batch = build_dv(root / "dv-all"), build_dv(root / "dv-selection"), build_dv(root / "dv-batch")
    dv_batch.api.multiple_unsupported.update({"product", "productpricelevel", "cspb_pricechange", "cspb_subscription"})
    results: dict[str, Any] = {}
    with RunningServer(pc_app) as pc_srv, RunningServer(dv_all) as all_srv, RunningServer(dv_sel) as sel_srv, \
            RunningServer(dv_batch) as batch_srv:
        spec = {"pc": pc_srv.url, "currencies": currencies, "today": TODAY.isoformat()}
        results["first"] = first = _child("sync", {**spec, "dv": all_srv.url, "everything": True})
        print(f"selection off, first sync: {first['seconds']:.0f} s, status {first['status']} {first['errors']}",
              flush=True)
        results["rerun"] = rerun = _child("sync", {**spec, "dv": all_srv.url, "everything": True})
        print(f"unchanged rerun: {rerun['seconds']:.0f} s", flush=True)
        checked, wrong, naive_wrong, missing = _check_prices(
            DataverseClient(all_srv.url, lambda: "bench", timeout=600), sheets, currency_of)

        sel_dv = DataverseClient(sel_srv.url, lambda: "bench", timeout=600)
        sel_pc = PartnerCenterAdapter(pc_srv.url, lambda: "bench", timeout=600)
        run_provider_account_sync(sel_dv, {1: sel_pc})
        run_subscription_sync(sel_dv, {1: sel_pc})
        sel_dv.upsert("cspb_catalogselections", {"cspb_selectionkey": "product|cfq7ttc00001"},
                      {"cspb_name": "Product: CFQ7TTC00001", "cspb_kind": 1, "cspb_value": "CFQ7TTC00001"})
        results["selection"] = selected = _child("sync", {**spec, "dv": sel_srv.url, "everything": False})
        print(f"selection on: {selected['seconds']:.0f} s", flush=True)
        batch_currencies = currencies[: args.batch_markets]
        batch_rows = sum(sum(1 for _ in open(sheets[MARKET_FOR_CURRENCY[c]], "rb")) - 1 for c in batch_currencies)
        results["batch"] = batch = _child("sync", {**spec, "dv": batch_srv.url, "everything": True,
                                                    "currencies": batch_currencies})
        print(f"$batch fallback on {len(batch_currencies)} markets: {batch['seconds']:.0f} s", flush=True)
        results["hold_all"] = hold = _child("hold_all", {**spec, "dv": all_srv.url})

    recon_sizes = [int(s) for s in args.recon_lines.split(",") if s.strip()]
    recon: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []
    for lines in recon_sizes:
        path = write_invoice_recon(root / f"invoice-{lines}.csv", lines)
        streamed = _child("recon", {"path": str(path), "mode": "stream", "blobs": str(root / f"blobs-{lines}")})
        old = _child("recon", {"path": str(path), "mode": "list"}) if lines <= args.baseline_recon_max else None
        recon.append((lines, streamed, old))
        path.unlink()
        print(f"recon {lines:,} lines: {streamed['seconds']:.0f} s", flush=True)

    items_all = first["counts"].get("itemsSelected", 0)  # summed over the price lists
    written_first = sum(first["written"].values())
    written_rerun = sum(rerun["written"].values())
    per_row_kb = (first["peak_mb"] - first["idle_mb"]) * 1024 / args.rows
    print()
    print(f"== catalog: {len(markets)} markets x {args.rows:,} rows = {sheet_rows:,} sheet rows, "
          f"{size_mb:,.0f} MB of CSV ==   [{load_average()}]")
    print(f"{'':44} {'result':>16}   baseline / budget")
    print(f"{'peak RSS, sync of every market (MB)':44} {first['peak_mb']:>16.0f}   "
          f"all sheets held in one call: {hold['peak_mb']:.0f} MB ({hold['peak_mb'] / first['peak_mb']:.1f}x)")
    print(f"{'RSS after each market (MB)':44} {', '.join(f'{m:.0f}' for m in first['per_market_mb'])}")
    print(f"{'memory per sheet row (peak - loaded) / rows':44} {per_row_kb * 1024:>14.0f} B   budget 1 KB; "
          f"held in one call: {(hold['peak_mb'] - hold['idle_mb']) * 1024 * 1024 / max(hold['rows'], 1):.0f} B")
    print(f"{'Dataverse requests, first sync':44} {first['dv_requests']:>16,}   "
          f"{_per_k(first['dv_requests'], sheet_rows):.2f} per 1,000 sheet rows (budget 5)")
    print(f"{'  $batch fallback (' + str(len(batch_currencies)) + ' markets)':44} {batch['dv_requests']:>16,}   "
          f"{_per_k(batch['dv_requests'], batch_rows):.2f} per 1,000 sheet rows")
    print(f"{'rows written, first sync':44} {written_first:>16,}   {first['written']}")
    print(f"{'rows written, unchanged rerun':44} {written_rerun:>16,}   "
          f"({rerun['dv_requests']:,} requests, {_per_k(rerun['dv_requests'], sheet_rows):.2f} per 1,000 rows; "
          f"reviews {rerun['counts'].get('pricesForReview', 0)})")
    print(f"{'items not at the current tier-1 price':44} {wrong:>16,}   of {checked:,} checked from the CSV "
          f"({missing} missing); last-row-wins would get {naive_wrong:,} wrong "
          f"({naive_wrong * 100 / max(checked, 1):.1f}%)")
    print(f"{'items imported, selection off (everything)':44} {items_all:>16,}   "
          f"products {first['written'].get('products', 0):,}")
    print(f"{'items imported, selection on (default)':44} {selected['counts'].get('itemsSelected', 0):>16,}   "
          f"products {selected['written'].get('products', 0):,}; in use + 1 allow-listed product")
    print(f"{'scheduled changes (announced for next month)':44} {first['counts'].get('pricesScheduled', 0):>16,}")
    print()
    print(f"== recon invoice import (streamed) ==   [{load_average()}]")
    for lines, streamed, old in recon:
        base = f"in-memory reader: {old['peak_mb']:.0f} MB ({old['peak_mb'] / streamed['peak_mb']:.1f}x)" if old \
            else "in-memory reader not run at this size"
        print(f"{lines:>10,} lines: peak RSS {streamed['peak_mb']:>6.0f} MB, {streamed['seconds']:.0f} s   {base}")
    (root / "bench-catalog.json").write_text(json.dumps({**results, "recon": recon}, default=str, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0 if written_rerun == 0 and wrong == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        os.environ.setdefault("CSPB_LOG_LEVEL", "WARNING")
        os.environ.setdefault("CSPB_MODE", "sandbox")
        print(json.dumps(WORKERS[sys.argv[2]](json.loads(sys.argv[3])), default=str))
        sys.exit(0)
    sys.exit(main())
