"""Tax on invoice lines, pure.

Each product has a tax category (standard, reduced, exempt); the tax rate table holds the rate of
each category per jurisdiction (a Dataverse table, read by dataverse/map_billing.py). Tax is computed per line from the
line's net amount (base - discount) and rounded once to the currency's minor unit, so the invoice
total is still the plain sum of its lines and the breakdown (Invoice.tax_breakdown) adds up.

A TaxCalculator is asked once per invoice with every line, the way a tax engine such as Avalara
AvaTax (CreateTransaction: one document, many lines) wants it; the built-in TableTaxCalculator
reads the rate table. A contract with no jurisdiction, or a jurisdiction with no row for a
category, keeps the contract's own tax rate % (exempt lines are never taxed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from billing.models import BillingContract, Invoice, Subscription, TaxCategory, TaxRate
from billing.money import round_money

HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True)
class TaxableLine:
    key: str
    net: Decimal  # base - discount, already rounded
    category: TaxCategory
    product_id: str | None = None


@dataclass(frozen=True)
class LineTax:
    rate_pct: Decimal
    amount: Decimal  # rounded to the currency's minor unit
    name: str = ""


class TaxCalculator(Protocol):
    def calculate(self, contract: BillingContract, currency: str, invoice_date: date,
                  lines: Sequence[TaxableLine]) -> Mapping[str, LineTax]:
        """Tax per line key, for every line given."""
        ...


def _label(rate: Decimal) -> str:
    return f"{rate.normalize():f}%"


class TableTaxCalculator:
    """The built-in calculator: the rate table per jurisdiction and category."""

    def __init__(self, rates: Iterable[TaxRate] = ()) -> None:
        self._rates = {(r.jurisdiction.upper(), r.category): r for r in rates}

    def quote(self, contract: BillingContract, category: TaxCategory) -> tuple[Decimal, str]:
        row = self._rates.get((contract.tax_jurisdiction.upper(), category)) if contract.tax_jurisdiction else None
        if row is not None:
            return row.rate_pct, row.name or _label(row.rate_pct)
        if category is TaxCategory.EXEMPT:
            return ZERO, ""
        rate = contract.tax_rate_pct
        return rate, (_label(rate) if rate else "")

    def calculate(self, contract: BillingContract, currency: str, invoice_date: date,
                  lines: Sequence[TaxableLine]) -> dict[str, LineTax]:
        out = {}
        for line in lines:
            rate, name = self.quote(contract, line.category)
            out[line.key] = LineTax(rate, round_money(line.net * rate / HUNDRED, currency), name)
        return out


def categories(subs: Iterable[Subscription]) -> dict[str, TaxCategory]:
    return {s.id: s.tax_category for s in subs if s.id}


def apply_tax(invoice: Invoice, contract: BillingContract, subs: Iterable[Subscription],
              calculator: TaxCalculator) -> Invoice:
    """The invoice with each line's tax, rate and tax name set by the calculator. Lines of no
    subscription (usage, minimum commitment) are in the standard category."""
    category = categories(subs)
    taxable = [TaxableLine(ln.key, ln.base_amount - ln.discount,
                           category.get(ln.subscription_id or "", TaxCategory.STANDARD), ln.product_id)
               for ln in invoice.lines]
    quotes = calculator.calculate(contract, invoice.currency, invoice.invoice_date, taxable)
    lines = []
    for ln in invoice.lines:
        q = quotes.get(ln.key)
        lines.append(ln if q is None else replace(ln, tax=q.amount, tax_rate_pct=q.rate_pct, tax_name=q.name))
    return replace(invoice, lines=tuple(lines))


def due_date(contract: BillingContract, issued: date) -> date:
    """Payment due: the issue date plus the contract's payment terms (net days)."""
    return issued + timedelta(days=max(0, contract.payment_terms_days))
