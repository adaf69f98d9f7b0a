"""Price sheet -> catalog prices, pure: markup rules, currency fallback, and the diff against
what Dynamics already holds.

Price sheet rows use the column names of Partner Center's license-based price sheet
(`GET /v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value`,
learn.microsoft.com/partner-center/developer/get-a-price-sheet): ProductId, SkuId, ProductTitle,
SkuTitle, Publisher, TermDuration, BillingPlan, Currency, UnitPrice, Segment, Tags.
UnitPrice is the price per license per billing period (an annual term billed monthly is a
monthly amount), so one Dynamics unit per term + billing frequency carries exactly that amount.

Existing prices are never overwritten: a changed price becomes a pending price change for a
person to review, and subscriptions keep their price until renewal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billing.money import ALL_PRICING_CURRENCIES, parse_decimal, round_money

FALLBACK_CURRENCY = "USD"
UNIT_GROUP_NAME = "CSP Subscriptions"
BASE_UNIT_NAME = "P1M monthly"
# Months covered by one billing period, i.e. the uom.quantity relative to the monthly base unit.
BILLING_MONTHS: dict[str, int] = {"monthly": 1, "annual": 12, "triennial": 36, "onetime": 1, "none": 1}


def pricing_currency(currency: str) -> str:
    """The currency whose Microsoft prices a price list in `currency` uses (USD when Microsoft doesn't price in it)."""
    code = (currency or "").upper()
    return code if code in ALL_PRICING_CURRENCIES else FALLBACK_CURRENCY


def unit_name(term: str, billing_plan: str) -> str:
    return f"{term} {billing_plan.lower()}"


def product_number(product_id: str, sku_id: str) -> str:
    return f"{product_id}:{sku_id}"


def price_list_name(currency: str) -> str:
    return f"CSP {currency.upper()}"


def price_key(price_list: str, productnumber: str, unit: str) -> str:
    return f"{price_list}|{productnumber}|{unit}"


@dataclass(frozen=True)
class SheetPrice:
    product_id: str
    sku_id: str
    title: str
    family: str
    term: str
    billing_plan: str
    currency: str
    cost: Decimal

    @property
    def productnumber(self) -> str:
        return product_number(self.product_id, self.sku_id)

    @property
    def unit(self) -> str:
        return unit_name(self.term, self.billing_plan)


def family_of(row: Mapping[str, Any]) -> str:
    """Markup rules are per product family. The sheet has no family column; the product title
    before the SKU detail (e.g. "Microsoft 365") groups SKUs the way partners price them."""
    explicit = row.get("ProductFamily") or row.get("productFamily")
    if explicit:
        return str(explicit)
    title = str(row.get("ProductTitle") or "")
    for word in (" E3", " E5", " Business", " Basic", " Standard", " Premium", " Plan", " F1", " F3"):
        if word in title:
            return title.split(word)[0].strip()
    return title.strip()


def parse_sheet_row(row: Mapping[str, Any]) -> SheetPrice:
    return SheetPrice(
        product_id=str(row["ProductId"]),
        sku_id=str(row["SkuId"]),
        title=f"{row.get('ProductTitle') or ''} {row.get('SkuTitle') or ''}".strip() or str(row["ProductId"]),
        family=family_of(row),
        term=str(row.get("TermDuration") or "P1M"),
        billing_plan=str(row.get("BillingPlan") or "Monthly").lower(),
        currency=str(row.get("Currency") or FALLBACK_CURRENCY).upper(),
        cost=parse_decimal(row["UnitPrice"], "UnitPrice"),
    )


@dataclass(frozen=True)
class MarkupRule:
    key: str
    family: str              # "" = default for every family
    markup_pct: Decimal | None
    fixed_price: Decimal | None
    currency: str | None     # None = any currency
    price_list: str | None = None  # price list name the rule is limited to, None = all


def _rule_rank(rule: MarkupRule, family: str, currency: str, price_list: str) -> int | None:
    if rule.family and rule.family.lower() != family.lower():
        return None
    if rule.currency and rule.currency.upper() != currency:
        return None
    if rule.price_list and rule.price_list != price_list:
        return None
    # The more a rule names, the more it wins: family beats default, then currency, then price list.
    return (4 if rule.family else 0) + (2 if rule.currency else 0) + (1 if rule.price_list else 0)


def select_rule(rules: Iterable[MarkupRule], family: str, currency: str, price_list: str) -> MarkupRule | None:
    best: tuple[int, str, MarkupRule] | None = None
    for rule in rules:
        rank = _rule_rank(rule, family, currency, price_list)
        if rank is None:
            continue
        if best is None or (rank, rule.key) > (best[0], best[1]):
            best = (rank, rule.key, rule)
    return best[2] if best else None


def sell_price(cost: Decimal, currency: str, rule: MarkupRule | None) -> Decimal:
    """Customer price for one unit. A fixed price overrides any markup."""
    if rule is not None and rule.fixed_price is not None:
        return round_money(rule.fixed_price, currency)
    pct = rule.markup_pct if rule is not None and rule.markup_pct is not None else Decimal(0)
    return round_money(cost * (Decimal(100) + pct) / Decimal(100), currency)


@dataclass(frozen=True)
class DesiredPrice:
    key: str
    price_list: str
    currency: str
    productnumber: str
    unit: str
    cost: Decimal
    amount: Decimal


@dataclass(frozen=True)
class ExistingPrice:
    key: str
    amount: Decimal
    cost: Decimal | None
    pending_amount: Decimal | None = None  # new amount of an open PendingReview price change, if any


@dataclass
class PriceDiff:
    create: list[DesiredPrice] = field(default_factory=list)
    review: list[tuple[ExistingPrice, DesiredPrice]] = field(default_factory=list)
    cost_only: list[DesiredPrice] = field(default_factory=list)  # our cost moved, the customer price did not
    unchanged: int = 0


def desired_prices(rows: Iterable[SheetPrice], currencies: Iterable[str], rules: list[MarkupRule],
                   ) -> tuple[list[DesiredPrice], dict[str, str]]:
    """Every (price list, product, unit) price wanted. Returns the prices and, per requested
    currency, the currency whose sheet fed it (so fallbacks can be reported)."""
    by_currency: dict[str, list[SheetPrice]] = {}
    for row in rows:
        by_currency.setdefault(row.currency, []).append(row)
    sources: dict[str, str] = {}
    wanted: list[DesiredPrice] = []
    for currency in dict.fromkeys(c.upper() for c in currencies):
        source = currency if currency in by_currency else FALLBACK_CURRENCY
        sources[currency] = source
        price_list = price_list_name(currency)
        for row in by_currency.get(source, []):
            rule = select_rule(rules, row.family, currency, price_list)
            # A USD cost shown in a fallback price list is still the USD amount: we never invent an FX rate here.
            wanted.append(DesiredPrice(
                key=price_key(price_list, row.productnumber, row.unit), price_list=price_list, currency=currency,
                productnumber=row.productnumber, unit=row.unit, cost=round_money(row.cost, source),
                amount=sell_price(row.cost, source, rule),
            ))
    return wanted, sources


def diff_prices(wanted: Iterable[DesiredPrice], existing: Mapping[str, ExistingPrice]) -> PriceDiff:
    out = PriceDiff()
    for want in wanted:
        have = existing.get(want.key)
        if have is None:
            out.create.append(want)
        elif have.amount == want.amount or have.pending_amount == want.amount:
            if have.cost is not None and have.cost != want.cost and have.pending_amount is None:
                out.cost_only.append(want)
            else:
                out.unchanged += 1
        else:
            out.review.append((have, want))
    return out
