"""Building one invoice line: the only place amounts are rounded.

Base, discount and tax are each computed from the exact (unrounded) amount and rounded once to
the currency's minor unit; the line amount is base - discount + tax of those rounded parts, so
the invoice total (a plain sum of line amounts) never needs another rounding. Rounding is half
away from zero, so a charge and the matching credit cancel exactly.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing.models import InvoiceLine, LineType
from billing.money import round_money

HUNDRED = Decimal(100)
ZERO = Decimal(0)


def make_line(
    *,
    key: str,
    line_type: LineType,
    description: str,
    quantity: Decimal | int,
    unit_price: Decimal,
    exact_amount: Decimal,
    currency: str,
    discount_pct: Decimal = ZERO,
    tax_pct: Decimal = ZERO,
    period_start: date | None = None,
    period_end: date | None = None,
    subscription_id: str | None = None,
    change_log_id: str | None = None,
    product_id: str | None = None,
    usage_summary_keys: tuple[str, ...] = (),
    conversion: tuple[str, Decimal, str] | None = None,
) -> InvoiceLine:
    """`conversion` = (source currency, rate, month) when the amount was converted into `currency`."""
    exact_discount = exact_amount * discount_pct / HUNDRED
    exact_tax = (exact_amount - exact_discount) * tax_pct / HUNDRED
    return InvoiceLine(
        key=key,
        line_type=line_type,
        description=description,
        quantity=Decimal(quantity),
        unit_price=unit_price,
        base_amount=round_money(exact_amount, currency),
        discount=round_money(exact_discount, currency),
        tax=round_money(exact_tax, currency),
        period_start=period_start,
        period_end=period_end,
        subscription_id=subscription_id,
        change_log_id=change_log_id,
        product_id=product_id,
        usage_summary_keys=usage_summary_keys,
        tax_rate_pct=tax_pct,
        source_currency=conversion[0] if conversion else "",
        exchange_rate=conversion[1] if conversion else None,
        rate_month=conversion[2] if conversion else "",
    )
