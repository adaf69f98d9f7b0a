"""Deferred revenue: a prepaid quarterly, annual or triennial invoice is recognised straight-line,
month by month, over the months its recurring lines cover.

Each recurring line (license, proration, credit; net of discount, tax excluded) is split evenly
over its months: every month gets the amount divided by the month count, rounded toward zero to
the minor unit, and the remaining minor units go one each to the earliest months. So a line's
months sum exactly to the line, and the schedule sums exactly to the invoice's recurring net.
One-time and usage lines are earned when billed and are not deferred.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_DOWN, Decimal

from billing.models import Frequency, Invoice, InvoiceLine, LineType, Policy, RevenueScheduleEntry
from billing.money import quantum

RECURRING = (LineType.LICENSE, LineType.PRORATION, LineType.CREDIT)
DEFERRED_FREQUENCIES = (Frequency.QUARTERLY, Frequency.ANNUAL, Frequency.TRIENNIAL)


def needs_schedule(frequency: Frequency, policy: Policy) -> bool:
    return policy is Policy.ADVANCE and frequency in DEFERRED_FREQUENCIES


def months_between(first: date, last: date) -> list[str]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def split_evenly(amount: Decimal, parts: int, currency: str) -> list[Decimal]:
    unit = quantum(currency)
    base = (amount / parts).quantize(unit, rounding=ROUND_DOWN)
    remainder_units = int((amount - base * parts) / unit)
    step = unit if remainder_units >= 0 else -unit
    return [base + (step if i < abs(remainder_units) else 0) for i in range(parts)]


def _line_months(line: InvoiceLine, invoice: Invoice) -> list[str]:
    return months_between(line.period_start or invoice.period_start, line.period_end or invoice.period_end)


def schedule(invoice: Invoice) -> list[RevenueScheduleEntry]:
    per_month: dict[str, Decimal] = defaultdict(Decimal)
    for line in invoice.lines:
        if line.line_type not in RECURRING:
            continue
        months = _line_months(line, invoice)
        for month, part in zip(months, split_evenly(line.base_amount - line.discount, len(months),
                                                    invoice.currency), strict=True):
            per_month[month] += part
    return [
        RevenueScheduleEntry(
            key=f"{invoice.key}|{month}", invoice_key=invoice.key, month=month, amount=amount,
            currency=invoice.currency, invoice_id=invoice.id, contract_id=invoice.contract_id,
        )
        for month, amount in sorted(per_month.items())
    ]


def to_csv(entries: Iterable[RevenueScheduleEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["schedule_key", "invoice_key", "month", "amount", "currency", "exported"])
    for e in sorted(entries, key=lambda e: (e.invoice_key, e.month)):
        writer.writerow([e.key, e.invoice_key, e.month, f"{e.amount}", e.currency, "1" if e.exported else "0"])
    return out.getvalue()
