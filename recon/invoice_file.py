"""Read a new commerce invoice recon file (CSV from the portal, or the Graph export's JSON lines)
into ProviderLine models, streaming: scan_invoice_file hands each line to a callback and writes
bad rows to the quarantine file as it meets them, so memory stays flat at any size (a large
partner's file runs to millions of lines). read_invoice_file collects the lines for callers that
reconcile them. Bad rows are quarantined with their line number like usage rows.

Columns: learn.microsoft.com/partner-center/billing/modern-invoice-reconciliation-file.
Reconcile on BillableQuantity, not Quantity (same page).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing.money import MINOR_UNITS, parse_decimal
from recon.aggregate import check_counts
from recon.columns import INVOICE_OPTIONAL, INVOICE_REQUIRED, resolve
from recon.quarantine import QuarantineRow, QuarantineWriter
from recon.sources import inspect
from shared.dates import parse_date
from shared.errors import ValidationError


@dataclass(frozen=True)
class ProviderLine:
    line: int
    customer_id: str
    customer_name: str
    invoice_number: str
    subscription_id: str
    product_id: str
    sku_id: str
    product_name: str
    sku_name: str
    charge_type: str
    billable_quantity: Decimal
    unit_price: Decimal
    subtotal: Decimal
    total: Decimal
    currency: str
    charge_start: date | None
    charge_end: date | None
    # Microsoft prices in PricingCurrency and bills in Currency: Subtotal = pricing amount x rate.
    pricing_currency: str = ""
    exchange_rate: Decimal | None = None  # PCToBCExchangeRate
    exchange_rate_date: date | None = None  # PCToBCExchangeRateDate
    product_category: str = ""  # ProductCategory: the product family


@dataclass
class InvoiceFileResult:
    source: Path
    lines: list[ProviderLine] = field(default_factory=list)
    rows_read: int = 0
    rows_quarantined: int = 0
    quarantine_path: Path | None = None
    quarantine_sample: list[QuarantineRow] = field(default_factory=list)
    rows_aggregated: int = 0  # good lines (handed to the callback, or collected in `lines`)


def _records(path: Path, fmt: str, gzipped: bool) -> Iterator[tuple[int, dict[str, str] | None, Any]]:
    """(line number, record or None when unparsable, the raw row: text or the CSV values)."""
    raw = gzip.open(path, "rb") if gzipped else path.open("rb")
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        if fmt == "jsonl":
            for n, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text, parse_float=str, parse_int=str)
                except ValueError:
                    yield n, None, text.rstrip("\r\n")
                    continue
                yield n, ({k: "" if v is None else str(v) for k, v in obj.items()} if isinstance(obj, dict)
                          else None), text.rstrip("\r\n")
            return
        reader = csv.reader(fh)
        header = next(reader, None) or []
        width = len(header)
        for values in reader:
            n = reader.line_num
            if not values:
                continue
            if len(values) != width:
                yield n, {"__width__": str(len(values)), "__expected__": str(width)}, values
                continue
            yield n, dict(zip(header, values, strict=True)), values


def _raw_text(raw: Any) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)


class _LazyQuarantine:
    """The quarantine file, opened at the first bad row (a clean file leaves none behind)."""

    def __init__(self, target: Path, source: str) -> None:
        self.target, self.source = target, source
        self.writer: QuarantineWriter | None = None
        self.sample: list[QuarantineRow] = []
        self.count = 0

    def write(self, row: QuarantineRow) -> None:
        if self.writer is None:
            self.writer = QuarantineWriter(self.target, source=self.source).__enter__()
        self.writer.write(row)
        self.count += 1
        if len(self.sample) < 20:
            self.sample.append(row)

    def close(self) -> Path | None:
        if self.writer is None:
            return None
        self.writer.__exit__(None, None, None)
        return self.target


def scan_invoice_file(path: str | Path, on_line: Callable[[ProviderLine], None], *,
                      quarantine_path: str | Path | None = None) -> InvoiceFileResult:
    """Stream the file: every good line goes to `on_line`, every bad one to the quarantine file."""
    info = inspect(Path(path))
    cols = resolve(info.header, INVOICE_REQUIRED, INVOICE_OPTIONAL, what=f"{info.path.name} (invoice recon)")
    result = InvoiceFileResult(source=info.path)
    target = Path(quarantine_path) if quarantine_path else info.path.with_name(info.path.name + ".quarantine.jsonl")
    bad = _LazyQuarantine(target, info.path.name)
    try:
        for n, rec, raw in _records(info.path, info.fmt, info.gzipped):
            result.rows_read += 1
            if rec is None:
                bad.write(QuarantineRow(n, "invalid JSON", _raw_text(raw)))
                continue
            if "__width__" in rec:
                bad.write(QuarantineRow(n, f"wrong number of columns: {rec['__width__']}, "
                                           f"expected {rec['__expected__']}", _raw_text(raw)))
                continue
            try:
                line = _line(n, rec, cols)
            except (ValidationError, ValueError) as exc:
                bad.write(QuarantineRow(n, getattr(exc, "message", None) or str(exc), _raw_text(raw)))
                continue
            result.rows_aggregated += 1
            on_line(line)
    except (EOFError, OSError, zlib.error) as exc:
        bad.close()
        raise ValidationError(f"{info.path.name}: corrupt or truncated gzip ({exc})", code="CorruptFile") from None
    except csv.Error as exc:
        bad.close()
        raise ValidationError(f"{info.path.name}: malformed CSV ({exc})", code="CorruptFile") from None
    result.rows_quarantined = bad.count
    result.quarantine_path = bad.close()
    result.quarantine_sample = bad.sample
    check_counts(result.rows_read, result.rows_aggregated, result.rows_quarantined, info.path.name)
    return result


def read_invoice_file(path: str | Path, *, quarantine_path: str | Path | None = None) -> InvoiceFileResult:
    """Every good line in memory (for reconciling one invoice); prefer scan_invoice_file for big files."""
    lines: list[ProviderLine] = []
    result = scan_invoice_file(path, lines.append, quarantine_path=quarantine_path)
    result.lines = lines
    return result


def _line(n: int, rec: dict[str, str], cols: dict[str, str | None]) -> ProviderLine:
    def get(name: str) -> str:
        actual = cols.get(name)
        return (rec.get(actual) or "").strip() if actual else ""

    for name in ("CustomerId", "SubscriptionId", "ProductId"):
        if not get(name):
            raise ValidationError(f"missing {name}")

    def dec(name: str) -> Decimal:
        text = get(name)
        if not text:
            raise ValidationError(f"bad decimal in {name}: <empty>")
        try:
            return parse_decimal(text, name)
        except ValidationError:
            raise ValidationError(f"bad decimal in {name}: {text}") from None

    currency = get("Currency").upper()
    if currency not in MINOR_UNITS:
        raise ValidationError(f"unknown currency in Currency: {get('Currency') or '<missing>'}")
    try:
        start, end = parse_date(get("ChargeStartDate")), parse_date(get("ChargeEndDate"))
    except ValueError as exc:
        raise ValidationError(f"bad charge date: {exc}") from None
    return ProviderLine(
        line=n, customer_id=get("CustomerId"), customer_name=get("CustomerName"),
        invoice_number=get("InvoiceNumber"), subscription_id=get("SubscriptionId"),
        product_id=get("ProductId"), sku_id=get("SkuId"), product_name=get("ProductName"),
        sku_name=get("SkuName"), charge_type=get("ChargeType"), billable_quantity=dec("BillableQuantity"),
        unit_price=dec("UnitPrice"), subtotal=dec("Subtotal"), total=dec("Total"), currency=currency,
        charge_start=start, charge_end=end, pricing_currency=get("PricingCurrency").upper(),
        exchange_rate=_optional_decimal(get("PCToBCExchangeRate")), exchange_rate_date=_optional_date(
            get("PCToBCExchangeRateDate")), product_category=get("ProductCategory"))


def _optional_decimal(text: str) -> Decimal | None:
    try:
        value = parse_decimal(text, "PCToBCExchangeRate") if text else None
    except ValidationError:
        return None
    return value if value is not None and value > 0 else None


def _optional_date(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None
