"""Price sheet -> catalog prices, pure: markup rules, currency fallback, volume tiers, effective
dates, and the diff against what Dynamics already holds.

Price sheet rows use the column names of Partner Center's license-based price sheet
(`GET https://api.partner.microsoft.com/v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value`,
learn.microsoft.com/partner-center/developer/get-a-price-sheet): ProductTitle, ProductId, SkuId,
SkuTitle, Publisher, SkuDescription, UnitOfMeasure, TermDuration, BillingPlan, Market, Currency,
UnitPrice, PricingTierRangeMin, PricingTierRangeMax, EffectiveStartDate, EffectiveEndDate, Tags,
ERP Price (and Segment in newer files).
UnitPrice is the price per license per billing period (an annual term billed monthly is a
monthly amount), so one Dynamics unit per term + billing frequency carries exactly that amount.

One price list item is one (price list, product:SKU, term + billing plan). Several sheet rows can
share that key, and none of them may simply "win":
- tier rows (PricingTierRangeMin/Max) are the item's volume pricing; tier 1 is the list price;
- a row whose EffectiveStartDate is still ahead is a scheduled price change, never today's price.

Existing prices are never overwritten by a surprise: a price already in force that differs becomes
a pending review; a change announced ahead is applied on its date unless a reviewer rejected it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from billing.money import ALL_PRICING_CURRENCIES, parse_decimal, round_money
from shared.dates import parse_date
from shared.errors import ValidationError

FALLBACK_CURRENCY = "USD"
UNIT_GROUP_NAME = "CSP Subscriptions"
BASE_UNIT_NAME = "P1M monthly"
# Months covered by one billing period, i.e. the uom.quantity relative to the monthly base unit.
BILLING_MONTHS: dict[str, int] = {"monthly": 1, "annual": 12, "triennial": 36, "onetime": 1, "none": 1}
# Every unit new commerce license terms can produce, created once before markets are synced in parallel.
STANDARD_UNITS: tuple[tuple[str, str], ...] = (
    ("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual"), ("P3Y", "monthly"), ("P3Y", "annual"),
    ("P3Y", "triennial"),
)

# A price change's status (dataverse.tables.PriceChangeStatus mirrors these; billing must not import it)
CHANGE_PENDING, CHANGE_APPROVED, CHANGE_REJECTED, CHANGE_APPLIED = 1, 2, 3, 4


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


def change_key(item_key: str, effective: date | None) -> str:
    """One price change per item and effective date (reruns find it again instead of adding one)."""
    return item_key if effective is None else f"{item_key}|{effective.isoformat()}"


def parse_sheet_date(text: Any, what: str = "date") -> date | None:
    """The sheet's dates: "2/1/2019 12:00:00 AM" (the CSV Microsoft serves), or ISO 8601; empty is None."""
    raw = str(text or "").strip()
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError:
        raise ValidationError(f"bad {what}: {raw!r} is not a date") from None


def _tier_bound(text: Any, what: str) -> int | None:
    raw = str(text or "").strip()
    if not raw:
        return None
    value = parse_decimal(raw, what)
    if value < 0 or value != value.to_integral_value():
        raise ValidationError(f"bad {what}: {raw!r} is not a whole number of licenses")
    return int(value)


@dataclass(frozen=True, slots=True)
class SheetPrice:
    product_id: str
    sku_id: str
    title: str
    family: str
    term: str
    billing_plan: str
    currency: str
    cost: Decimal
    publisher: str = ""
    tier_min: int | None = None
    tier_max: int | None = None
    effective_start: date | None = None
    effective_end: date | None = None

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


def _title(product: str, sku: str) -> str:
    """The SKU's name as people say it: its SKU title, prefixed with the product's when that adds something."""
    product, sku = product.strip(), sku.strip()
    if not sku or sku == product:
        return product
    if sku.lower().startswith(product.lower()) or not product:
        return sku
    return f"{product} {sku}"


def parse_sheet_row(row: Mapping[str, Any]) -> SheetPrice:
    for name in ("ProductId", "SkuId", "UnitPrice"):
        if not str(row.get(name) or "").strip():
            raise ValidationError(f"price sheet row lacks {name}")
    return SheetPrice(
        product_id=str(row["ProductId"]),
        sku_id=str(row["SkuId"]),
        title=_title(str(row.get("ProductTitle") or ""), str(row.get("SkuTitle") or "")) or str(row["ProductId"]),
        family=family_of(row),
        term=str(row.get("TermDuration") or "P1M"),
        billing_plan=str(row.get("BillingPlan") or "Monthly").lower(),
        currency=str(row.get("Currency") or FALLBACK_CURRENCY).upper(),
        cost=parse_decimal(row["UnitPrice"], "UnitPrice"),
        publisher=str(row.get("Publisher") or ""),
        tier_min=_tier_bound(row.get("PricingTierRangeMin"), "PricingTierRangeMin"),
        tier_max=_tier_bound(row.get("PricingTierRangeMax"), "PricingTierRangeMax"),
        effective_start=parse_sheet_date(row.get("EffectiveStartDate"), "EffectiveStartDate"),
        effective_end=parse_sheet_date(row.get("EffectiveEndDate"), "EffectiveEndDate"),
    )


# ---------------------------------------------------------------- volume tiers

@dataclass(frozen=True, slots=True)
class Tier:
    min: int
    max: int | None  # None: no upper bound
    cost: Decimal
    amount: Decimal | None = None  # the customer price for a license in this tier

    def holds(self, quantity: Decimal | int) -> bool:
        return self.min <= quantity and (self.max is None or quantity <= self.max)


def tier_for(tiers: Sequence[Tier], quantity: Decimal | int) -> Tier:
    """Volume pricing: every license is priced at the tier the whole quantity falls in. Below the
    first tier is tier 1; beyond the last bounded tier is the last tier."""
    if not tiers:
        raise ValidationError("no price tiers to price a quantity with")
    ordered = sorted(tiers, key=lambda t: t.min)
    for tier in ordered:
        if tier.holds(quantity):
            return tier
    return ordered[0] if quantity < ordered[0].min else ordered[-1]


def unit_price_for_quantity(list_price: Decimal, tiers: Sequence[Tier] | str | None,
                            quantity: Decimal | int) -> Decimal:
    """The customer unit price for `quantity` licenses: the tier's price when the item is tiered,
    else the list price. `tiers` may be the stored text (tiers_text)."""
    parsed = parse_tiers(tiers) if isinstance(tiers, str) else tuple(tiers or ())
    if not parsed:
        return list_price
    tier = tier_for(parsed, quantity)
    return tier.amount if tier.amount is not None else list_price


def tiers_text(tiers: Sequence[Tier]) -> str | None:
    """The stored form (the price list item's tiers column): canonical JSON, so an unchanged sheet
    compares equal as text. A single tier is no volume pricing and stores nothing."""
    if len(tiers) < 2:
        return None
    return json.dumps([{"min": t.min, "max": t.max, "cost": str(t.cost),
                        "price": None if t.amount is None else str(t.amount)} for t in tiers],
                      separators=(",", ":"))


def parse_tiers(text: str | None) -> tuple[Tier, ...]:
    if not text:
        return ()
    try:
        raw = json.loads(text)
        return tuple(Tier(int(t["min"]), None if t.get("max") is None else int(t["max"]), Decimal(t["cost"]),
                          None if t.get("price") is None else Decimal(t["price"])) for t in raw)
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise ValidationError(f"unreadable price tiers {text[:80]!r}") from None


# ---------------------------------------------------------------- markup rules

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


# ---------------------------------------------------------------- sheet rows -> items

ItemKey = tuple[str, str, str]  # (sheet currency, productnumber, unit)


@dataclass(frozen=True, slots=True)
class ProductInfo:
    product_id: str
    sku_id: str
    title: str
    family: str
    publisher: str


@dataclass(frozen=True, slots=True)
class PricePeriod:
    start: date | None
    end: date | None
    tiers: tuple[Tier, ...]  # ordered by min; tiers[0] is the list price

    @property
    def cost(self) -> Decimal:
        return self.tiers[0].cost


class SheetItems:
    """Sheet rows folded into items while the sheet streams past. Per row it keeps one small tuple
    (dates as ordinals, tier bounds, the price as text), its strings shared with the other rows of
    the same product, so memory stays well under a kilobyte a row."""

    def __init__(self) -> None:
        self._rows: dict[ItemKey, Any] = {}  # one row's tuple, or a list of them
        self.products: dict[str, ProductInfo] = {}
        self._strings: dict[str, str] = {}
        self.rows = 0

    def _shared(self, text: str) -> str:
        return self._strings.setdefault(text, text)

    def add(self, row: SheetPrice) -> None:
        self.rows += 1
        number = row.productnumber
        info = self.products.get(number)
        if info is None:
            info = self.products[number] = ProductInfo(row.product_id, row.sku_id, row.title, row.family,
                                                       row.publisher)
            number = self._shared(number)
        else:
            number = product_number(info.product_id, info.sku_id)
            number = self._strings[number]
        start = row.effective_start.toordinal() if row.effective_start else 0
        end = row.effective_end.toordinal() if row.effective_end else 0
        entry = (start, end, row.tier_min or 0, -1 if row.tier_max is None else row.tier_max, str(row.cost))
        key = (self._shared(row.currency), number, self._shared(row.unit))
        have = self._rows.get(key)
        if have is None:
            self._rows[key] = entry
        elif isinstance(have, list):
            have.append(entry)
        else:
            self._rows[key] = [have, entry]

    def forget(self, key: ItemKey) -> None:
        self._rows[key] = None  # the key stays (keys() is being walked); its rows go

    def drop_rows(self) -> None:
        """Forget the rows once every price list they feed is planned (products stay, for names)."""
        self._rows = {}

    def currencies(self) -> set[str]:
        return {k[0] for k in self._rows}

    def keys(self, currency: str | None = None) -> list[ItemKey]:
        return [k for k in self._rows if currency is None or k[0] == currency]

    def periods(self, key: ItemKey) -> list[PricePeriod]:
        found = self._rows.get(key)
        entries = found if isinstance(found, list) else [found] if found else []
        by_start: dict[int, dict[int, tuple[int, str, int]]] = {}
        for start, end, tmin, tmax, cost in entries:
            by_start.setdefault(start, {})[tmin] = (tmax, cost, end)
        out = []
        for start in sorted(by_start):
            tiers = by_start[start]
            ends = [e for _mx, _c, e in tiers.values()]
            out.append(PricePeriod(
                date.fromordinal(start) if start else None,
                None if not all(ends) else date.fromordinal(max(ends)),
                tuple(Tier(max(tmin, 1) if i == 0 else tmin, None if tmax < 0 else tmax, Decimal(cost))
                      for i, (tmin, (tmax, cost, _e)) in enumerate(sorted(tiers.items())))))
        return out


def split_periods(periods: Sequence[PricePeriod], today: date) -> tuple[PricePeriod | None, list[PricePeriod]]:
    """(the period in force today, the periods still ahead). A period that started but whose end
    passed is kept only if nothing newer started: the sheet still lists the item."""
    started = [p for p in periods if p.start is None or p.start <= today]
    ahead = [p for p in periods if p.start is not None and p.start > today]
    live = [p for p in started if p.end is None or p.end >= today]
    pool = live or started
    return (pool[-1] if pool else None), ahead


@dataclass(frozen=True, slots=True)
class DesiredPrice:
    key: str
    price_list: str
    currency: str
    productnumber: str
    unit: str
    cost: Decimal
    amount: Decimal
    tiers: tuple[Tier, ...] = ()
    effective: date | None = None

    @property
    def tiers_text(self) -> str | None:
        return tiers_text(self.tiers)


@dataclass(frozen=True, slots=True)
class ScheduledPrice:
    """A price Microsoft has announced for a later date."""

    want: DesiredPrice  # the price from `want.effective` on
    old_cost: Decimal | None  # what is in force until then (None: a new item)
    old_amount: Decimal | None

    @property
    def key(self) -> str:
        return change_key(self.want.key, self.want.effective)


@dataclass
class PricePlan:
    wanted: list[DesiredPrice] = field(default_factory=list)
    scheduled: list[ScheduledPrice] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    not_yet_effective: int = 0  # items only announced ahead: no price today


def _priced(period: PricePeriod, rule: MarkupRule | None, source: str) -> tuple[Tier, ...]:
    # A USD cost shown in a fallback price list is still the USD amount: we never invent an FX rate here.
    return tuple(replace(t, cost=round_money(t.cost, source), amount=sell_price(t.cost, source, rule))
                 for t in period.tiers)


def _desired(key: str, price_list: str, currency: str, source: str, number: str, unit: str, period: PricePeriod,
             rule: MarkupRule | None) -> DesiredPrice:
    if len(period.tiers) == 1:
        cost = period.tiers[0].cost
        return DesiredPrice(key, price_list, currency, number, unit, round_money(cost, source),
                            sell_price(cost, source, rule), (), period.start)
    tiers = _priced(period, rule, source)
    return DesiredPrice(key, price_list, currency, number, unit, tiers[0].cost, tiers[0].amount or Decimal(0),
                        tiers, period.start)


def plan_prices(items: SheetItems, currencies: Iterable[str], rules: list[MarkupRule], today: date,
                selected: Any = None, *, consume: bool = False) -> PricePlan:
    """Every (price list, product, unit) price in force today, and every price announced ahead.
    `selected(ProductInfo) -> bool` limits the products (default: all). `consume` lets each item's
    rows go as soon as it is planned (the last price list a sheet feeds), so the rows and the plan
    are never both whole in memory."""
    plan = PricePlan()
    have = items.currencies()
    for currency in dict.fromkeys(c.upper() for c in currencies):
        source = currency if currency in have else FALLBACK_CURRENCY
        plan.sources[currency] = source
        price_list = price_list_name(currency)
        for key in items.keys(source):
            _cur, number, unit = key
            info = items.products[number]
            if selected is not None and not selected(info):
                continue
            rule = select_rule(rules, info.family, currency, price_list)
            current, ahead = split_periods(items.periods(key), today)
            if consume:
                items.forget(key)

            pk = price_key(price_list, number, unit)
            previous = _desired(pk, price_list, currency, source, number, unit, current, rule) if current is not None else None
            if previous is not None:
                plan.wanted.append(previous)
            else:
                plan.not_yet_effective += 1
            for period in ahead:
                nxt = _desired(pk, price_list, currency, source, number, unit, period, rule)
                if previous is None or (nxt.amount, nxt.cost, nxt.tiers_text) != (
                        previous.amount, previous.cost, previous.tiers_text):
                    plan.scheduled.append(ScheduledPrice(nxt, previous.cost if previous else None,
                                                         previous.amount if previous else None))
                previous = nxt
    return plan


def desired_prices(rows: Iterable[SheetPrice], currencies: Iterable[str], rules: list[MarkupRule],
                   today: date | None = None) -> tuple[list[DesiredPrice], dict[str, str]]:
    """Every (price list, product, unit) price in force `today`. Returns the prices and, per requested
    currency, the currency whose sheet fed it (so fallbacks can be reported)."""
    items = SheetItems()
    for row in rows:
        items.add(row)
    plan = plan_prices(items, currencies, rules, today or date.today())
    return plan.wanted, plan.sources


# ---------------------------------------------------------------- diff against Dynamics

@dataclass(frozen=True, slots=True)
class ExistingPrice:
    key: str
    amount: Decimal
    cost: Decimal | None
    pending_amount: Decimal | None = None  # new amount of an open PendingReview price change, if any
    tiers_text: str | None = None


@dataclass(frozen=True, slots=True)
class ExistingChange:
    key: str  # change_key(item key, effective)
    status: int
    new_amount: Decimal | None
    new_cost: Decimal | None
    scheduled: bool  # announced ahead of its date (applied on the date unless rejected)
    effective: date | None = None


@dataclass
class PriceDiff:
    create: list[DesiredPrice] = field(default_factory=list)
    review: list[tuple[ExistingPrice, DesiredPrice]] = field(default_factory=list)
    cost_only: list[DesiredPrice] = field(default_factory=list)  # our cost (or tiers) moved, the list price did not
    apply: list[tuple[ExistingPrice, DesiredPrice]] = field(default_factory=list)  # approved or due: write it
    settle: list[str] = field(default_factory=list)  # change keys now in force: mark Applied
    schedule: list[ScheduledPrice] = field(default_factory=list)  # announcements new or changed
    unchanged: int = 0

    def merge(self, other: PriceDiff) -> None:
        """Add a part's diff (a page of existing items compared on its own) to this one."""
        self.create += other.create
        self.review += other.review
        self.cost_only += other.cost_only
        self.apply += other.apply
        self.settle += other.settle
        self.schedule += other.schedule
        self.unchanged += other.unchanged


def diff_prices(wanted: Iterable[DesiredPrice], existing: Mapping[str, ExistingPrice],
                changes: Mapping[str, ExistingChange] | None = None,
                scheduled: Iterable[ScheduledPrice] = (), today: date | None = None) -> PriceDiff:
    """What to write so Dynamics holds `wanted`. An unchanged sheet gives an empty diff."""
    changes = changes or {}
    today = today or date.today()
    out = PriceDiff()
    for want in wanted:
        have = existing.get(want.key)
        change = changes.get(change_key(want.key, want.effective))
        open_change = change is not None and change.status in (CHANGE_PENDING, CHANGE_APPROVED)
        if have is None:
            out.create.append(want)
            if open_change:
                out.settle.append(change.key)  # type: ignore[union-attr]
            continue
        if have.amount == want.amount:
            if have.cost != want.cost or have.tiers_text != want.tiers_text:
                out.cost_only.append(want)
            else:
                out.unchanged += 1
            if open_change and change.new_amount == want.amount:  # type: ignore[union-attr]
                out.settle.append(change.key)  # type: ignore[union-attr]
            continue
        if change is None:
            if have.pending_amount == want.amount:
                out.unchanged += 1
            else:
                out.review.append((have, want))
        elif change.status == CHANGE_REJECTED:
            # The partner keeps its price and absorbs Microsoft's: only our cost follows the sheet.
            if have.cost != want.cost:
                out.cost_only.append(replace(want, amount=have.amount, tiers=parse_tiers(have.tiers_text)))
            else:
                out.unchanged += 1
        elif change.status == CHANGE_APPROVED or (
                change.status == CHANGE_PENDING and change.scheduled
                and (change.effective is None or change.effective <= today)):
            out.apply.append((have, want))
            out.settle.append(change.key)
        elif change.status == CHANGE_PENDING and change.new_amount != want.amount:
            out.review.append((have, want))  # Microsoft moved the price again before anyone looked
        else:
            out.unchanged += 1
    for ahead in scheduled:
        change = changes.get(ahead.key)
        if change is not None and (change.new_amount, change.new_cost) == (ahead.want.amount, ahead.want.cost):
            out.unchanged += 1
        elif change is not None and change.status != CHANGE_PENDING:
            out.unchanged += 1  # already decided; a reviewer's decision is not reopened by a rerun
        else:
            out.schedule.append(ahead)
    return out


def margin_change(seats: Decimal | int, old_cost: Decimal | None, new_cost: Decimal, currency: str) -> Decimal:
    """Per billing period, what a cost change does to the margin of subscriptions that keep their
    price until renewal: seats x (old cost - new cost)."""
    if old_cost is None:
        return Decimal(0)
    return round_money(Decimal(seats) * (old_cost - new_cost), currency)


def subscription_price_key(currency: str, product_id: str, sku_id: str, term: str, billing_frequency: str,
                           ) -> str | None:
    """The price list item a subscription is priced from: its currency's price list, its product:SKU,
    and the unit of its term + billing frequency (P1M|P1Y|P3Y, as a subscription's billing frequency holds it)."""
    from billing.newcommerce import FREQUENCY_TO_BILLING_CYCLE

    if not currency or not product_id or not sku_id:
        return None
    return price_key(price_list_name(currency), product_number(product_id, sku_id),
                     unit_name(term or billing_frequency, FREQUENCY_TO_BILLING_CYCLE.get(billing_frequency, "monthly")))
