"""The fast path for JSON lines (plain or gzip'd): polars parses 4 MB blocks of whole lines while
ISA-L (or a plain read) fills the next block on another thread.

Why blocks and not `pl.scan_ndjson(path)`: polars maps the whole file into memory, so its RSS
grows with the file (1M rows, 242 MB gzip'd: 324 MB, of which 55 MB heap). Fed 4 MB blocks, the
same work peaks at ~160 MB and ran faster (1M rows: 10.0 s against 13.8 s under load 8; DuckDB's
JSON reader on our strict path is slower still, bench recon). JSON lines have no ragged rows (a
line is an object or it is invalid), so no structural check is lost by leaving DuckDB; a line
can hold no raw newline, so a block cut after a newline never splits a record.

What the block aggregation returns is what `_fast_sql`'s `sub` relation holds (raw key values,
exact DECIMAL(38,10) sums, rows whose amounts did not parse), so recon.aggregate checks and
normalises the groups with the same SQL as every other format. It refuses (returns None, and the
exact DuckDB path reads the file and explains it) rather than differ from DuckDB:
- a malformed line, a line that is not an object, a corrupt gzip: polars raises;
- an amount with more than 10 decimal places or an exponent: polars rounds those half-even at the
  10th place, DuckDB half away from zero (`0.00000000005` -> 0 vs 1E-10), so such a row counts as
  unparsed and sends the file to the exact path;
- an amount with blanks around it: polars does not parse it (DuckDB does).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from recon.sources import SourceInfo
from recon.usage_blocks import line_blocks

if TYPE_CHECKING:
    import pyarrow

BLOCK = 4 << 20
# Fold the per-block groups together every few blocks, so what is held stays a few blocks' groups.
FOLD_EVERY = 8
SUMMED = ("Quantity", "BillingPreTaxTotal", "PricingPreTaxTotal")
SUMS = ("qty", "cost", "ptotal")
# Group keys, as the `sub` relation of recon.aggregate._fast_sql names them.
KEYS = ("CustomerId", "SubscriptionId", "EntitlementId", "MeterCategory", "BillingCurrency", "PricingCurrency",
        "day_key", "UnitPrice", "PCToBCExchangeRate", "PartnerEarnedCreditPercentage")
# More than 10 decimals, or an exponent: parsed differently by polars and DuckDB (module docstring).
_NOT_PLAIN = r"\.\d{11}|[eE]"


def available() -> bool:
    try:
        import polars  # noqa: F401
    except ImportError:
        return False
    return True


def subgroups(info: SourceInfo, cols: dict[str, str | None]) -> pyarrow.Table | None:
    """The file's sub-groups (see module docstring) as an Arrow table, or None when polars refused it."""
    import polars as pl

    present = {c: actual for c in (*KEYS, "UsageDate", "CustomerName", *SUMMED)
               if c != "day_key" and (actual := cols.get(c))}
    schema = {actual: pl.String for actual in dict.fromkeys(present.values())}

    def col(name: str) -> pl.Expr:
        return pl.col(present[name]) if name in present else pl.lit(None, dtype=pl.String)

    decimal = pl.Decimal(38, 10)
    parsed = {c: col(c).cast(decimal, strict=False) for c in SUMMED}
    unparsed = pl.any_horizontal(*(parsed[c].is_null() | col(c).str.contains(_NOT_PLAIN).fill_null(False)
                                   for c in SUMMED))
    usage = col("UsageDate")
    # ISO UsageDate: group on its month text; anything else on the whole value (as _fast_sql does).
    day_key = pl.when(usage.str.slice(4, 1) == "-").then(usage.str.slice(0, 7)).otherwise(usage)
    per_block = [(day_key if k == "day_key" else col(k)).alias(k) for k in KEYS]
    agg_block = [col("CustomerName").max().alias("name"), unparsed.sum().cast(pl.Int64).alias("bad_rows"),
                 *(parsed[c].sum().alias(s) for c, s in zip(SUMMED, SUMS, strict=True)),
                 pl.len().cast(pl.Int64).alias("n")]
    refold = [pl.col("name").max(), *(pl.col(c).sum() for c in ("bad_rows", *SUMS, "n"))]

    def fold(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames).group_by(KEYS).agg(refold)

    failed: list[BaseException] = []
    stop = threading.Event()
    parts: list[pl.DataFrame] = []
    try:
        for block in line_blocks(info, failed, stop, BLOCK):
            frame = pl.read_ndjson(block, schema=schema)
            parts.append(frame.lazy().group_by(per_block).agg(agg_block).collect())
            if len(parts) >= FOLD_EVERY:
                parts = [fold(parts)]
    except (Exception, pl.exceptions.PanicException):  # noqa: BLE001 - polars refused the file: the exact
        return None  # path reads and explains it
    if failed:
        return None  # e.g. a corrupt gzip: the exact path reports it
    if not parts:
        return None
    return fold(parts).to_arrow()
