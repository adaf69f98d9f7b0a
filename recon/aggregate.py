"""Streaming aggregation of daily-rated usage recon files (the hot path).

Groups usage by customer x subscription x entitlement x meter category x month x currency, in
bounded memory whatever the file size. Three readers, tried in this order:
- CSV and JSON lines, plain or gzip'd: the compiled scanner (recon/usage_scan.py, recon/usage_scan.c).
  It checks every CSV record's field count, so a ragged row still fails loudly, which polars cannot do
  (it stops at the last column a query uses and pads short rows), and every JSON line's grammar; it is
  faster than DuckDB's strict readers, which parse every field. It gives up on anything it would have
  to interpret, and DuckDB reads the file.
- DuckDB's readers: the fast path below, then the exact path for files with bad rows. Gzip'd CSV is
  inflated by a child process with ISA-L into FIFOs (two cores, faster inflater). JSON lines may
  take polars fed 4 MB blocks (recon/jsonl_fast.py, `jsonl_engine="polars"`); DuckDB is the default.
Tuning of the DuckDB paths tried and measured as noise at 2M rows: threads 3, preserve_insertion_order
off, DECIMAL/UUID types in the reader, one hashed group key, count() instead of FILTER, a plain
left(UsageDate, 7) month key.

DuckDB's two paths, both one scan:
- fast (clean files, the normal case): group on the raw key values plus UnitPrice / rate / PEC %,
  count rows whose amounts don't parse, and check keys per group. Parallel; no per-row strings.
- exact (only when the fast path saw anything wrong): validate each row, number it, and make every
  bad row its own group keyed by record number, so the quarantine file gets line numbers and
  reasons without a second pass or holding the file in memory.

Money: every amount is read as text and cast to DECIMAL(38,10), summed as DECIMAL, and fetched
as Python Decimal; PEC is computed from exact sums in Python by billing/pec.py (billing's rounding).
Values with more than 10 decimal places are rounded at the 10th place (the scanner leaves those to
DuckDB). JSON numbers go through the JSON parser's double, which is exact up to 15 significant digits
(far beyond what Microsoft's files carry). The scanner sums in 128-bit integers of 1E-10.

Invariant: rows_read == rows_aggregated + rows_quarantined, checked after every run
(ReconCountMismatch is a FatalError: something was silently dropped, so nothing is written).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing.money import MINOR_UNITS
from billing.pec import cost_before_pec, pec_earned
from recon import jsonl_fast, usage_scan
from recon.columns import USAGE_OPTIONAL, USAGE_REQUIRED, resolve
from recon.quarantine import QuarantineRow, write_quarantine
from recon.sources import SourceInfo, inspect
from shared.errors import FatalError, ValidationError

log = logging.getLogger(__name__)

DECIMAL_TYPE = "DECIMAL(38,10)"
# DuckDB CSV read buffer. A quarter of its default (32 MB): 16 MB measured faster than 32 on a file and
# on the FIFOs alike (2M rows: plain 1.76 s -> 1.64 s; gzip'd 3.25 s -> 3.05 s with 4 MB before), 8 MB
# the same CPU as 16 (1M rows: 1.8-1.9 s) with less held in flight.
CSV_BUFFER = 8 << 20
# DuckDB's memory limit. Groups are few (thousands), so the limit mostly caps read buffers in flight:
# at 256 MB a 1M-row plain CSV peaked at 299-321 MB RSS (target < 300); at 160 MB with 8 MB buffers
# 200-214 MB at the same CPU (issue 15). The exact path spills to temp_dir if a file is mostly bad rows.
MEMORY_LIMIT = "160MB"
ZERO = Decimal(0)
ZERO_10 = Decimal("0E-10")
# Columns that must parse as decimals, in the order the reasons are checked.
_DECIMAL_COLUMNS = ("Quantity", "UnitPrice", "BillingPreTaxTotal", "PricingPreTaxTotal", "PCToBCExchangeRate")
_ID_COLUMNS = ("CustomerId", "SubscriptionId", "MeterCategory")
_READ_COLUMNS = USAGE_REQUIRED + USAGE_OPTIONAL + ("PartnerEarnedCreditPercentage",)


class ReconCountMismatch(FatalError):
    """rows read != rows aggregated + rows quarantined: a row went missing."""


@dataclass(frozen=True)
class UsageGroup:
    customer_id: str
    customer_name: str
    subscription_id: str
    entitlement_id: str
    meter_category: str
    period: str            # YYYY-MM of UsageDate
    currency: str          # BillingCurrency
    pricing_currency: str
    quantity: Decimal
    cost_before_pec: Decimal
    pec_amount: Decimal
    cost: Decimal          # BillingPreTaxTotal: what Microsoft charges, net of PEC
    pricing_total: Decimal  # PricingPreTaxTotal, in the pricing currency
    row_count: int

    @property
    def key(self) -> str:
        return "|".join((self.customer_id, self.subscription_id, self.entitlement_id, self.meter_category,
                         self.period, self.currency))


@dataclass
class AggregateResult:
    source: Path
    groups: list[UsageGroup] = field(default_factory=list)
    rows_read: int = 0
    rows_aggregated: int = 0
    rows_quarantined: int = 0
    quarantine_path: Path | None = None
    quarantine_sample: list[QuarantineRow] = field(default_factory=list)

    def totals_by_currency(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for g in self.groups:
            out[g.currency] = out.get(g.currency, ZERO) + g.cost
        return out


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _csv_source(info: SourceInfo, cols: dict[str, str | None], exact: bool, location: str, options: str) -> str:
    """Every column as text (we validate ourselves); structurally broken lines go to the rejects table.

    `exact` numbers the records (row_number over an unordered window streams in file order, but it
    serialises the scan, so the fast path leaves it out)."""
    columns = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in dict.fromkeys(info.header)) + "}"
    reader = (f"read_csv({location}, header=true, auto_detect=false, columns={columns}, "
              f"delim=',', quote='\"', escape='\"', {options}"
              # Fast path: a broken line raises (then the exact path runs); keeping rejects costs ~15 %.
              + (", store_rejects=true, rejects_table='recon_rejects', rejects_scan='recon_scans')" if exact else ")"))
    picks = ", ".join(f"{_q(actual) if (actual := cols.get(c)) else 'NULL'} AS {_q(c)}" for c in _READ_COLUMNS)
    rec_no = "row_number() OVER ()" if exact else "0"
    return f"SELECT {rec_no} AS rec_no, TRUE AS json_ok, NULL AS raw_line, {picks} FROM {reader}"


def _jsonl_source(info: SourceInfo, cols: dict[str, str | None], exact: bool, location: str,
                  options: str) -> str:
    """Fast path: DuckDB's JSON reader, which fails on a malformed line. Exact path: each line read as one
    text column (\\x01 cannot occur unescaped in JSON) and parsed here, so a malformed line is quarantined
    with its line number instead of failing the whole file."""
    if not exact:
        present: dict[str, str] = {c: actual for c in _READ_COLUMNS if (actual := cols.get(c))}
        spec = "{" + ", ".join(f"{_lit(k)}: 'VARCHAR'" for k in dict.fromkeys(present.values())) + "}"
        reader = (f"read_json({location}, format='newline_delimited', columns={spec}, "
                  f"{options}, maximum_object_size=16777216)")
        picks = ", ".join(f"{_q(present[c]) if c in present else 'NULL'} AS {_q(c)}" for c in _READ_COLUMNS)
        return f"SELECT 0 AS rec_no, TRUE AS json_ok, NULL AS raw_line, {picks} FROM {reader}"
    reader = (f"read_csv({location}, header=false, auto_detect=false, columns={{'line': 'VARCHAR'}}, "
              f"delim='\\x01', quote='', escape='', {options})")
    paths = "[" + ", ".join(_lit("$." + json.dumps(actual) if (actual := cols.get(c)) else "$.__absent__")
                            for c in _READ_COLUMNS) + "]"
    picks = ", ".join(f"f[{i + 1}] AS {_q(c)}" for i, c in enumerate(_READ_COLUMNS))
    return (f"SELECT rec_no, json_ok, line AS raw_line, {picks} FROM ("
            f"  SELECT rec_no, json_ok, line, CASE WHEN json_ok THEN json_extract_string(line, {paths}) END AS f FROM ("
            f"    SELECT rec_no, line, json_valid(line) AND starts_with(ltrim(line), '{{') AS json_ok FROM ("
            f"      SELECT row_number() OVER () AS rec_no, line FROM {reader}) WHERE trim(coalesce(line, '')) <> ''))")


def _reason_sql(currencies: Iterable[str]) -> str:
    """First failing check wins; NULL means the row is good. Runs over the `typed` projection."""
    checks = ["WHEN NOT json_ok THEN 'invalid JSON'"]
    for c in _ID_COLUMNS:
        checks.append(f"WHEN coalesce(trim({_q(c)}), '') = '' THEN 'missing {c}'")
    for c in _DECIMAL_COLUMNS:
        checks.append(f"WHEN {_q('d_' + c)} IS NULL THEN 'bad decimal in {c}: ' || coalesce({_q(c)}, '<missing>')")
    checks.append("WHEN d_PEC IS NULL THEN 'bad decimal in PartnerEarnedCreditPercentage: ' "
                  "|| PartnerEarnedCreditPercentage")
    known = ", ".join(_lit(c) for c in sorted(currencies))
    checks.append(f"WHEN bill_cur NOT IN ({known}) "
                  "THEN 'unknown currency in BillingCurrency: ' || coalesce(BillingCurrency, '<missing>')")
    checks.append(f"WHEN price_cur NOT IN ({known}) "
                  "THEN 'unknown currency in PricingCurrency: ' || coalesce(PricingCurrency, '<missing>')")
    checks.append("WHEN usage_day IS NULL THEN 'bad UsageDate: ' || coalesce(UsageDate, '<missing>')")
    return "CASE " + " ".join(checks) + " END"


# ISO dates (Graph export) or M/D/YYYY (portal CSV); the time part is irrelevant for the month.
_USAGE_DAY = ("coalesce(TRY_CAST(left(UsageDate, 10) AS DATE), "
              "TRY_STRPTIME(split_part(trim(UsageDate), ' ', 1), '%m/%d/%Y'))")


def _aggregate_sql(source_sql: str, reason_sql: str) -> str:
    """Exact path: every row validated, bad rows become one-row groups keyed by record number.

    Good rows are grouped per key and per (UnitPrice, rate, PEC %) so PEC can be computed in Python
    from exact sums (billing/pec.py) the same way on both paths."""
    d = DECIMAL_TYPE
    # DuckDB's decimal cast ignores surrounding blanks itself, so no trim() here (it is the hot loop).
    casts = ", ".join(f"TRY_CAST({_q(c)} AS {d}) AS {_q('d_' + c)}" for c in _DECIMAL_COLUMNS)
    pec_pct = (f"CASE WHEN coalesce(trim(PartnerEarnedCreditPercentage), '') = '' THEN CAST(0 AS {d}) "
               f"ELSE TRY_CAST(PartnerEarnedCreditPercentage AS {d}) END")
    good = "reason IS NULL"
    keys = ("CustomerId", "SubscriptionId", "EntitlementId", "MeterCategory", "period", "currency",
            "pricing_currency", "unit_price", "rate", "pec_pct")
    exprs = ("trim(CustomerId)", "trim(SubscriptionId)", "coalesce(trim(EntitlementId), '')", "trim(MeterCategory)",
             "strftime(usage_day, '%Y-%m')", "bill_cur", "price_cur", "d_UnitPrice", "d_PCToBCExchangeRate", "d_PEC")
    raw = "json_object(" + ", ".join(f"{_lit(c)}, {_q(c)}" for c in _READ_COLUMNS) + ")"
    return f"""
WITH src AS ({source_sql}),
typed AS (SELECT *, {casts}, {pec_pct} AS d_PEC, {_USAGE_DAY} AS usage_day,
                 upper(trim(coalesce(BillingCurrency, ''))) AS bill_cur,
                 upper(trim(coalesce(PricingCurrency, ''))) AS price_cur FROM src),
checked AS (SELECT *, {reason_sql} AS reason FROM typed)
SELECT
  CASE WHEN {good} THEN NULL ELSE rec_no END AS bad_rec,
  any_value(reason) AS reason,
  any_value(CASE WHEN NOT {good} THEN coalesce(raw_line, CAST({raw} AS VARCHAR)) END) AS raw,
  {', '.join(f"CASE WHEN {good} THEN {e} END AS {_q(k)}" for k, e in zip(keys, exprs, strict=True))},
  max(CASE WHEN {good} THEN coalesce(CustomerName, '') END) AS customer_name,
  sum(CASE WHEN {good} THEN d_Quantity END) AS quantity,
  sum(CASE WHEN {good} THEN d_BillingPreTaxTotal END) AS cost,
  sum(CASE WHEN {good} THEN d_PricingPreTaxTotal END) AS pricing_total,
  count(*) AS row_count
FROM checked
GROUP BY ALL
"""


def _fast_sql(source_sql: str) -> str:
    """Clean-file path: group on the raw key values and count rows whose amounts don't parse.

    Everything that is a group key (ids, currencies, the month, UnitPrice, rate, PEC %) is checked
    and normalised per group afterwards, in SQL over a few thousand groups or in Python, instead of
    per row. Any failed check sends the file to the exact path, which finds the rows and lines."""
    d = DECIMAL_TYPE
    # ISO UsageDate: group on its month text; anything else on the whole value, parsed per group.
    day_key = "CASE WHEN substr(UsageDate, 5, 1) = '-' THEN left(UsageDate, 7) ELSE UsageDate END"
    row_bad = " OR ".join(f"{_q('d_' + c)} IS NULL" for c in ("Quantity", "BillingPreTaxTotal", "PricingPreTaxTotal"))
    keys = "CustomerId, SubscriptionId, EntitlementId, MeterCategory, BillingCurrency, PricingCurrency"
    return f"""
WITH src AS ({source_sql}),
sub AS (
  SELECT {keys}, {day_key} AS day_key, UnitPrice, PCToBCExchangeRate, PartnerEarnedCreditPercentage,
         max(CustomerName) AS name, count(*) FILTER (WHERE {row_bad}) AS bad_rows,
         sum(d_Quantity) AS qty, sum(d_BillingPreTaxTotal) AS cost, sum(d_PricingPreTaxTotal) AS ptotal,
         count(*) AS n
  FROM (SELECT *, {", ".join(f"TRY_CAST({_q(c)} AS {d}) AS {_q('d_' + c)}"
                             for c in ("Quantity", "BillingPreTaxTotal", "PricingPreTaxTotal"))} FROM src)
  GROUP BY ALL)
{_checked_groups_sql("sub")}"""


def _checked_groups_sql(sub: str) -> str:
    """Sub-groups (raw keys, exact sums, unparsed-row counts) -> the rows `_fold` takes. One home for
    the per-group checks, whoever built the sub-groups (DuckDB's readers or recon.jsonl_fast)."""
    d = DECIMAL_TYPE
    month = ("CASE WHEN length(day_key) = 7 THEN TRY_CAST(day_key || '-01' AS DATE) ELSE "
             + _USAGE_DAY.replace("UsageDate", "day_key") + " END")
    pec_pct = (f"CASE WHEN coalesce(trim(PartnerEarnedCreditPercentage), '') = '' THEN CAST(0 AS {d}) "
               f"ELSE TRY_CAST(PartnerEarnedCreditPercentage AS {d}) END")
    return f"""SELECT NULL, CASE WHEN bad_rows > 0 OR up IS NULL OR rate IS NULL OR pec IS NULL OR month IS NULL
                  THEN 'bad' END, NULL,
       CustomerId, SubscriptionId, EntitlementId, MeterCategory, strftime(month, '%Y-%m'), BillingCurrency,
       PricingCurrency, up, rate, pec, name, qty, cost, ptotal, n
FROM (SELECT *, {month} AS month, TRY_CAST(UnitPrice AS {d}) AS up,
             TRY_CAST(PCToBCExchangeRate AS {d}) AS rate, {pec_pct} AS pec FROM {sub})
"""


def _fold(rows: list[tuple[Any, ...]], *, strict: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
    """Sub-groups -> (good groups, bad rows). Good group: (key tuple, name, qty, pec, cost, ptotal, count).

    strict (fast path): keys are raw values, so normalise them and return None at the first sign of
    a bad row; the caller then takes the exact path."""
    merged: dict[tuple[str, ...], list[Any]] = {}
    bad: list[tuple[Any, ...]] = []
    for (bad_rec, reason, raw, cust, sub, ent, cat, period, cur, pcur, up, rate, pec, name, qty, cost, ptotal,
         count) in rows:
        if reason is not None:
            if strict:
                return None
            bad.append((bad_rec, reason, raw, count))
            continue
        key = ((cust or "").strip(), (sub or "").strip(), (ent or "").strip(), (cat or "").strip(), period or "",
               (cur or "").strip().upper(), (pcur or "").strip().upper())
        if strict and (not all(key[i] for i in (0, 1, 3, 4)) or key[5] not in MINOR_UNITS
                       or key[6] not in MINOR_UNITS):
            return None
        pec_amount = pec_earned(up, qty, rate, pec)
        acc = merged.get(key)
        if acc is None:
            merged[key] = [name or "", qty, pec_amount, cost, ptotal, count]
        else:
            acc[0] = max(acc[0], name or "")
            for i, v in enumerate((qty, pec_amount, cost, ptotal, count), start=1):
                acc[i] += v
    return [(k, *acc) for k, acc in merged.items()], bad


def aggregate_usage(path: str | Path, *, quarantine_path: str | Path | None = None,
                    memory_limit: str = MEMORY_LIMIT, threads: int | None = None,
                    temp_dir: str | Path | None = None, sample_size: int = 20,
                    jsonl_engine: str = "duckdb", scanner: bool = True) -> AggregateResult:
    """Aggregate one daily-rated usage file (CSV, CSV.gz or JSON lines, optionally gzip'd).

    `jsonl_engine="polars"` sends clean JSON lines through recon/jsonl_fast.py. It is not the
    default: on an idle 2-core machine it was slower than DuckDB's reader (2M rows: 13.7 s against
    9.2-9.8 s, 2026-12-01 18:25) though it won under heavy load; the exact path is DuckDB either way.

    Raises ValidationError for a file that cannot be read at all (wrong header, corrupt gzip),
    ReconCountMismatch if the row counts do not add up. Bad rows are written to `quarantine_path`
    (default: next to the source, `<name>.quarantine.jsonl`) with line number and reason."""
    import duckdb

    info = inspect(Path(path))
    cols = resolve(info.header, USAGE_REQUIRED, USAGE_OPTIONAL + ("PartnerEarnedCreditPercentage",),
                   what=f"{info.path.name} (daily-rated usage)")
    reasons = _reason_sql(MINOR_UNITS)

    def run(exact: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        # The exact path numbers records in file order, so it reads one stream; the fast path deals
        # records out to one stream per thread.
        parts = 1 if exact else max(2, threads or os.cpu_count() or 2)
        with _readable(info, Path(temp_dir or tempfile.gettempdir()), parts) as (location, options, finished):
            make = _csv_source if info.fmt == "csv" else _jsonl_source
            source = make(info, cols, exact, location, options)
            con = duckdb.connect(config={"memory_limit": memory_limit,
                                         "temp_directory": str(temp_dir or tempfile.gettempdir())})
            try:
                con.execute("SET enable_progress_bar = false")
                if threads:
                    con.execute(f"SET threads = {int(threads)}")
                try:
                    sql = _aggregate_sql(source, reasons) if exact else _fast_sql(source)
                    rows = con.execute(sql).fetchall()
                except duckdb.Error:
                    finished()  # a corrupt gzip is the better explanation, when it is one
                    raise
                rejects = con.execute(
                    "SELECT line, min(error_type), min(error_message), min(csv_line) FROM recon_rejects "
                    "GROUP BY line ORDER BY line").fetchall() if info.fmt == "csv" and exact else []
            finally:
                con.close()
            finished()
            return rows, rejects

    # Clean files (the normal case) take the parallel fast path. Anything wrong, and we read again
    # with record numbers so every quarantined row carries its line.
    folded: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None
    # An explicit jsonl_engine="polars" is a request for polars (tests, the bench).
    use_scanner = scanner and not (info.fmt == "jsonl" and jsonl_engine == "polars")
    outcome = usage_scan.scan(info, cols, threads) if use_scanner else None
    if outcome is not None and outcome.table is not None:
        folded = _fold(_checked_columns(outcome.table, memory_limit), strict=True)
    elif info.fmt == "jsonl" and jsonl_engine == "polars" and jsonl_fast.available():
        sub = jsonl_fast.subgroups(info, cols)  # None: polars refused the file, so it has a problem
        folded = None if sub is None else _fold(_checked_groups(sub, memory_limit), strict=True)
    else:
        if outcome is not None:
            log.info("recon: %s read by DuckDB (the scanner gave up: %s)", info.path.name, outcome.reason)
        try:
            folded = _fold(run(exact=False)[0], strict=True)
        except duckdb.Error:
            folded = None
    rejects: list[tuple[Any, ...]] = []
    if folded is None:
        try:
            rows, rejects = run(exact=True)
        except duckdb.Error as exc:
            raise ValidationError(f"{info.path.name}: cannot read file: {_short(exc)}", code="CorruptFile") from None
        folded = _fold(rows, strict=False)
        assert folded is not None
    good, bad_rows = folded

    result = AggregateResult(source=info.path)
    bad: list[tuple[int, str, str]] = []
    for bad_rec, reason, raw, count in bad_rows:
        result.rows_read += count
        bad.append((bad_rec, reason, raw))
    for (cust, sub, ent, cat, period, cur, pcur), name, qty, pec, cost, ptotal, count in good:
        result.rows_read += count
        result.rows_aggregated += count
        result.groups.append(UsageGroup(
            customer_id=cust, customer_name=name, subscription_id=sub, entitlement_id=ent,
            meter_category=cat, period=period, currency=cur, pricing_currency=pcur,
            quantity=qty, cost_before_pec=cost_before_pec(cost, pec), pec_amount=pec, cost=cost, pricing_total=ptotal,
            row_count=count))
    result.groups.sort(key=lambda g: g.key)

    quarantined = _quarantine_rows(info, bad, rejects)
    result.rows_read += len(rejects)
    result.rows_quarantined = len(quarantined)
    result.quarantine_path = write_quarantine(quarantined, info.path, quarantine_path)
    result.quarantine_sample = quarantined[:sample_size]
    check_counts(result.rows_read, result.rows_aggregated, result.rows_quarantined, info.path.name)
    return result


def _checked_columns(columns: dict[str, list[Any]], memory_limit: str) -> list[tuple[Any, ...]]:
    """recon.usage_scan's sub-groups (columns of Python values) through the same per-group checks as
    DuckDB's: passed as lists and unnested, amounts as decimal text cast to DECIMAL(38,10)."""
    import duckdb

    names = list(columns)
    picks = ", ".join(
        (f"CAST(unnest(${i + 1}::VARCHAR[]) AS {DECIMAL_TYPE})" if name in ("qty", "cost", "ptotal")
         else f"unnest(${i + 1}::BIGINT[])" if name in ("bad_rows", "n") else f"unnest(${i + 1}::VARCHAR[])")
        + f" AS {_q(name)}" for i, name in enumerate(names))
    con = duckdb.connect(config={"memory_limit": memory_limit})
    try:
        return con.execute(_checked_groups_sql(f"(SELECT {picks}) AS scanned"), [columns[n] for n in names]).fetchall()
    finally:
        con.close()


def _checked_groups(sub: Any, memory_limit: str) -> list[tuple[Any, ...]]:
    """recon.jsonl_fast's sub-groups (an Arrow table) through the same per-group checks as DuckDB's."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": memory_limit})
    try:
        con.register("jsonl_sub", sub)
        return con.execute(_checked_groups_sql("jsonl_sub")).fetchall()
    finally:
        con.close()


def _isal_available() -> bool:
    try:
        import isal  # noqa: F401
    except ImportError:
        return False
    return hasattr(os, "mkfifo")


@contextmanager
def _readable(info: SourceInfo, tmp: Path, parts: int = 1) -> Iterator[tuple[str, str, Callable[[], None]]]:
    """(SQL file expression for DuckDB, reader options, a check to call once DuckDB is done).

    Gzip'd CSV is inflated by a child process (recon._gunzip, ISA-L) into FIFOs that DuckDB reads as
    plain text: with `parts` > 1 the records are dealt out over several FIFOs so DuckDB parses on
    several threads while the child inflates. The check raises CorruptFile when the child failed
    (e.g. a truncated file), because DuckDB alone would only see a short file."""
    if not info.gzipped or info.fmt != "csv" or not _isal_available():
        # JSON lines stay with DuckDB's own reader: measured ~2x slower on a FIFO.
        options = f"compression={_lit('gzip' if info.gzipped else 'none')}"
        if info.fmt == "csv" and not info.gzipped:
            options += f", buffer_size={CSV_BUFFER}"
        yield _lit(str(info.path)), options, lambda: None
        return
    tmp.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex
    fifos = [tmp / f"recon-{tag}-{i}.fifo" for i in range(max(1, parts))]
    for fifo in fifos:
        os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "recon._gunzip", str(info.path), *map(str, fifos)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=str(Path(__file__).resolve().parents[1]))
    err_text: list[bytes] = []

    def watch() -> None:
        # When the child is gone, no FIFO may be left without a writer: a reader blocked in open()
        # is released (it then reads EOF) and a later open() fails, instead of waiting forever.
        err_text.append(proc.communicate()[1] or b"")
        for fifo in fifos:
            try:
                fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
            except FileNotFoundError:
                continue
            fifo.unlink(missing_ok=True)
            os.close(fd)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def finished() -> None:
        watcher.join(timeout=120)
        if proc.returncode == 1:
            lines = (err_text[0] if err_text else b"").decode("utf-8", "replace").strip().splitlines()
            raise ValidationError(f"{info.path.name}: corrupt or truncated gzip ({(lines or ['unknown error'])[-1]})",
                                  code="CorruptFile")

    try:
        # See CSV_BUFFER (measured on the FIFOs too).
        yield "[" + ", ".join(_lit(str(f)) for f in fifos) + "]", f"compression='none', buffer_size={CSV_BUFFER}", finished
    finally:
        if proc.poll() is None:
            # DuckDB stopped reading (an error) or never opened a FIFO: don't leave the writer blocked.
            proc.kill()
        watcher.join(timeout=120)
        for fifo in fifos:
            fifo.unlink(missing_ok=True)


def check_counts(read: int, aggregated: int, quarantined: int, what: str) -> None:
    if read != aggregated + quarantined:
        raise ReconCountMismatch(
            f"{what}: rows read ({read}) != rows aggregated ({aggregated}) + rows quarantined ({quarantined})",
            code="CountMismatch")


def _quarantine_rows(info: SourceInfo, bad: list[tuple[int, str, str]],
                     rejects: list[tuple[int, str, str, str]]) -> list[QuarantineRow]:
    """Turn record numbers into file line numbers.

    JSON lines: the record number is the line number. CSV: record n is on line n + 1 (header), shifted
    down by every structurally rejected line before it (DuckDB reports those with their own line)."""
    out = [QuarantineRow(line=int(line), reason=f"{etype.lower().replace('_', ' ')}: {msg}", raw=raw or "")
           for line, etype, msg, raw in rejects]
    reject_lines = sorted(int(r[0]) for r in rejects)
    for rec_no, reason, raw in sorted(bad):
        line = int(rec_no)
        if info.fmt == "csv":
            line += 1
            for rl in reject_lines:
                if rl <= line:
                    line += 1
        out.append(QuarantineRow(line=line, reason=reason, raw=raw or ""))
    out.sort(key=lambda r: r.line)
    return out


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
