"""Match provider charges against what Dynamics knows and what the customer was billed. Pure: takes
lists of models, returns findings and margin rows; loading and writing live elsewhere.

Findings (one list, each with a kind):
- quantity_mismatch: the seats Microsoft charges for at the end of its latest charge window (see
  seats_in_effect) differ from the Dynamics subscription quantity. Normal after a change past
  Microsoft's cut-off; the change logs explain it, so this reports, never fixes.
- billed_by_provider_not_to_customer: Microsoft charged us and no customer invoice line covers it
  (no Dynamics subscription at all, or one that no invoice line of the period references): margin leak.
- billed_to_customer_no_provider_line: a customer invoice line for a Partner Center subscription that
  has no provider line this period (billing something we were not charged for, or a missed charge).
- unmapped_tenant: provider charges for a tenant with no mapped provider account; blocks billing.
- usage_revised_after_billing: a usage summary the customer was invoiced on at other figures than
  Microsoft's current ones (revised after month-end, or billed figures replacing an estimate); the
  amount is the delta, which the next bill run trues up (billing.usage_rating.needs_true_up).

Margin per customer x product family x currency: revenue = invoice line base minus discount (before
tax), cost = provider Subtotal for license lines plus usage cost (net of PEC).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from billing.currency import RateTable
from billing.cycles import add_months
from billing.models import (
    TERM_MONTHS,
    ExchangeRate,
    Invoice,
    LineType,
    Provider,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
    UsageSource,
    UsageSummary,
)
from billing.usage_rating import billed_delta
from recon.invoice_file import ProviderLine
from shared.errors import ValidationError

ZERO = Decimal(0)
AZURE_FAMILY = "Azure"
OTHER_FAMILY = "Other"
_INACTIVE = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)
# Charge types that move money but not seats: a goodwill credit refunds part of a charge while the
# customer keeps every licence, so it must not lower the seat count.
_MONEY_ONLY_CHARGES = frozenset({"customercredit"})


class FindingKind(StrEnum):
    QUANTITY_MISMATCH = "quantity_mismatch"
    PROVIDER_NOT_BILLED = "billed_by_provider_not_to_customer"  # a leak
    BILLED_NO_PROVIDER_LINE = "billed_to_customer_no_provider_line"  # cost missing
    UNMAPPED_TENANT = "unmapped_tenant"
    MAPPED_NO_PROVIDER_LINES = "mapped_tenant_no_provider_lines"
    INVOICE_TOTAL_MISMATCH = "provider_invoice_total_mismatch"
    NO_EXCHANGE_RATE = "no_exchange_rate"
    USAGE_REVISED = "usage_revised_after_billing"


@dataclass(frozen=True)
class TenantAccount:
    """A Partner Center customer tenant and the Dynamics account it maps to (None = unmapped)."""

    tenant_id: str
    account_id: str | None
    name: str = ""


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    tenant_id: str
    account_id: str | None
    subscription_id: str        # provider subscription id ("" when not applicable)
    description: str
    currency: str
    amount: Decimal = ZERO      # provider cost, or customer revenue for billed_to_customer_no_provider_line
    provider_quantity: Decimal | None = None
    crm_quantity: Decimal | None = None
    customer: str = ""          # a name people know the customer by


@dataclass(frozen=True)
class ProviderInvoiceTotal:
    """A Microsoft invoice's total for one currency, and what its recon lines (licenses + billed
    usage) add up to."""

    invoice_id: str
    currency: str
    invoice_total: Decimal
    lines_total: Decimal


def invoice_checks(invoices: Iterable[tuple[str, str, Decimal]], lines: Sequence[ProviderLine],
                   billed_usage: Mapping[str, Decimal]) -> list[ProviderInvoiceTotal]:
    """Each Microsoft invoice (id, currency, totalCharges) against what its recon lines add up to: its
    license lines plus the billed usage of its currency (one invoice per currency and month)."""
    out = []
    for invoice_id, currency, total in invoices:
        licenses = sum((pl.total for pl in lines if pl.invoice_number == invoice_id), ZERO)
        out.append(ProviderInvoiceTotal(invoice_id, currency.upper(), total,
                                        licenses + billed_usage.get(currency.upper(), ZERO)))
    return out


@dataclass(frozen=True)
class MarginRow:
    account_id: str | None
    customer: str
    product_family: str
    currency: str               # the customer's billing currency: revenue and cost are both in it
    revenue: Decimal
    cost: Decimal
    # Microsoft's cost as charged, per currency, before conversion ("show both currencies").
    provider_cost: tuple[tuple[str, Decimal], ...] = ()
    # Revenue with no Microsoft cost this period (cost missing, or prepaid in an earlier month):
    # excluded from the margin percentage instead of counting as 100 % margin.
    revenue_without_cost: Decimal = ZERO
    # Cost nobody was billed for (a leak, an unmapped tenant): money at risk, reported as a finding,
    # and left out of the margin as well, so a margin is always revenue against the cost it recovers.
    cost_without_revenue: Decimal = ZERO

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.revenue_without_cost - (self.cost - self.cost_without_revenue)

    @property
    def margin_pct(self) -> Decimal | None:
        base = self.revenue - self.revenue_without_cost
        if not base or not self.cost - self.cost_without_revenue:
            return None
        return (self.margin * 100 / base).quantize(Decimal("0.01")) + 0  # + 0: never "-0.00"


@dataclass(frozen=True)
class UsageRevision:
    """A usage summary the customer was invoiced on at other figures than Microsoft's current ones:
    Microsoft revised the month after it closed, or its billed figures replaced an estimate."""

    customer: str
    tenant_id: str
    account_id: str | None
    subscription_id: str
    entitlement_id: str
    meter_category: str
    period: str
    currency: str               # Microsoft's billing currency; both costs are in it, before markup
    billed_cost: Decimal        # what the customer's invoice was based on
    cost: Decimal               # Microsoft's figures now
    estimate_now: bool = False  # still Microsoft's unbilled estimate: trued up once Microsoft bills

    @property
    def delta(self) -> Decimal:
        return self.cost - self.billed_cost


@dataclass
class ReconResult:
    findings: list[Finding] = field(default_factory=list)
    margin: list[MarginRow] = field(default_factory=list)
    revisions: list[UsageRevision] = field(default_factory=list)

    def count(self, kind: FindingKind) -> int:
        return sum(1 for f in self.findings if f.kind == kind)


def _norm(text: str | None) -> str:
    return (text or "").strip().lower()


def _overlaps(start: date | None, end: date | None, bounds: tuple[date, date] | None) -> bool:
    if bounds is None or start is None:
        return True
    return start <= bounds[1] and (end is None or end >= bounds[0])


def _charge_expected(sub: Subscription, line_start: date | None, line_end: date | None) -> bool:
    """Whether Microsoft charges this subscription in the window: monthly billing every month; a
    term billed annually (or once) only in the month it starts or renews, the rest is prepaid."""
    months = TERM_MONTHS.get(sub.billing_frequency, 1)
    if months <= 1 or sub.kind != SubscriptionKind.LICENSE:
        return True
    if sub.start_date is None or line_start is None:
        return True
    end = line_end or line_start
    k = 0
    while True:
        anniversary = add_months(sub.start_date, k * months)
        if anniversary > end:
            return False
        if anniversary >= line_start:
            return True
        k += 1


def reconcile(*, provider_lines: Sequence[ProviderLine], usage: Sequence[UsageSummary],
              subscriptions: Sequence[Subscription], invoices: Sequence[Invoice],
              tenants: Mapping[str, TenantAccount] | Iterable[TenantAccount], period: str = "",
              rates: RateTable | None = None, provider_invoices: Sequence[ProviderInvoiceTotal] = (),
              tolerance: Decimal = Decimal("0.05"), account_names: Mapping[str, str] | None = None) -> ReconResult:
    """`invoices` are the customer invoices of the reconciled period; `tenants` is keyed by tenant id.
    `period` (YYYY-MM) limits customer lines to the ones covering it; `rates` convert Microsoft's
    cost into the customer's currency (see month_rates); `provider_invoices` are checked against
    their lines within `tolerance` (in the invoice currency)."""
    tenant_map = _tenant_map(tenants)
    subs_by_provider_id = {_norm(s.provider_subscription_id): s for s in subscriptions}
    subs_by_id = {s.id: s for s in subscriptions if s.id}
    bounds = _period_bounds(period) if period else None
    rates = rates or RateTable()

    # What the customers were billed, and which provider subscriptions / usage keys that covers.
    billed_sub_ids: set[str] = set()
    billed_usage_keys: set[str] = set()
    for inv in invoices:
        for line in inv.lines:
            if line.subscription_id:
                billed_sub_ids.add(line.subscription_id)
            billed_usage_keys.update(line.usage_summary_keys)

    # Azure plans are billed to the customer through their usage summaries, not a license line.
    usage_billed_subs = {_norm(s.subscription_id) for s in usage
                         if s.billed or s.invoice_id is not None or s.summary_key in billed_usage_keys}

    result = ReconResult()
    names = {t: a.name for t, a in tenant_map.items() if a.name}
    by_sub: dict[str, list[ProviderLine]] = defaultdict(list)
    for pl in provider_lines:
        by_sub[_norm(pl.subscription_id)].append(pl)
        names.setdefault(_norm(pl.customer_id), pl.customer_name)

    def mapped(tenant_id: str) -> TenantAccount | None:
        account = tenant_map.get(_norm(tenant_id))
        return account if account is not None and account.account_id is not None else None

    def finding(kind: FindingKind, tenant_id: str, account: TenantAccount | None, sub_id: str, text: str,
                currency: str, amount: Decimal = ZERO, pq: Decimal | None = None,
                cq: Decimal | None = None) -> None:
        result.findings.append(Finding(kind, tenant_id, _acct(account), sub_id, text, currency, amount, pq, cq,
                                       names.get(_norm(tenant_id), "") or tenant_id))

    unmapped_cost: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    leaked: set[str] = set()  # provider subscription ids and usage summary keys no customer was billed for
    for key, lines in sorted(by_sub.items()):
        first = lines[0]
        currency = first.currency
        cost = sum((pl.subtotal for pl in lines), ZERO)
        qty = sum((pl.billable_quantity for pl in lines), ZERO)
        account = mapped(first.customer_id)
        if account is None:
            # One finding per tenant says it all: nothing of theirs can be billed until it is mapped.
            unmapped_cost[(first.customer_id, currency)] += cost
            continue
        sub = subs_by_provider_id.get(key)
        label = first.product_name or first.sku_name or first.product_id
        if sub is None:
            if cost:
                leaked.add(key)
                finding(FindingKind.PROVIDER_NOT_BILLED, first.customer_id, account, first.subscription_id,
                        f"{label}: charged by Microsoft, no subscription in Dynamics", currency, cost, qty)
            continue
        crm_qty = Decimal(0 if sub.status in _INACTIVE else sub.quantity)
        # Seats only: usage-based lines carry consumed units in BillableQuantity, not seats.
        if sub.kind == SubscriptionKind.LICENSE:
            seats = seats_in_effect(lines, period_months=TERM_MONTHS.get(sub.billing_frequency, 1))
            if seats != crm_qty:
                finding(FindingKind.QUANTITY_MISMATCH, first.customer_id, account, first.subscription_id,
                        f"{label}: Microsoft charges for {seats} seats, Dynamics has {crm_qty}", currency, cost,
                        seats, crm_qty)
        if cost and sub.id not in billed_sub_ids and key not in usage_billed_subs:
            leaked.add(key)
            finding(FindingKind.PROVIDER_NOT_BILLED, first.customer_id, account, first.subscription_id,
                    f"{label}: charged by Microsoft, not on any customer invoice this period", currency, cost, qty,
                    crm_qty)

    usage_subs: set[str] = set()
    for s in usage:
        usage_subs.add(_norm(s.subscription_id))
        account = mapped(s.customer_id)
        if account is None:
            unmapped_cost[(s.customer_id, s.currency)] += s.cost
            continue
        sub = subs_by_provider_id.get(_norm(s.subscription_id))
        covered = (s.billed or s.invoice_id is not None or s.summary_key in billed_usage_keys
                   or (sub is not None and sub.id in billed_sub_ids))
        if s.cost and not covered:
            leaked.add(s.summary_key)
            finding(FindingKind.PROVIDER_NOT_BILLED, s.customer_id, account, s.subscription_id,
                    f"Azure usage {s.meter_category} {s.period}: not on any customer invoice", s.currency, s.cost)
        delta = billed_delta(s)
        if delta is not None and (s.billed or s.invoice_id is not None):
            estimate = s.source is UsageSource.UNBILLED
            revision = UsageRevision(names.get(_norm(s.customer_id), "") or s.customer_id, s.customer_id,
                                     _acct(account), s.subscription_id, s.entitlement_id, s.meter_category, s.period,
                                     s.currency, s.billed_cost or ZERO, s.cost, estimate)
            result.revisions.append(revision)
            then = ("trued up once Microsoft bills the month" if estimate else
                    "the next invoice trues it up" if delta > 0 else "the next invoice credits it")
            finding(FindingKind.USAGE_REVISED, s.customer_id, account, s.subscription_id,
                    f"Azure usage {s.meter_category} {s.period}: invoiced on {s.billed_cost} {s.currency}, "
                    f"Microsoft's {'estimate' if estimate else 'figures'} now {s.cost} ({delta:+}); {then}",
                    s.currency, delta)

    for (tenant_id, currency), cost in sorted(unmapped_cost.items()):
        if cost:
            finding(FindingKind.UNMAPPED_TENANT, tenant_id, None, "",
                    f"{names.get(_norm(tenant_id)) or tenant_id} has Microsoft charges but no mapped account in "
                    "Dynamics: nothing of theirs can be billed", currency, cost)

    if provider_lines or usage:
        seen = {_norm(pl.customer_id) for pl in provider_lines} | {_norm(s.customer_id) for s in usage}
        for tenant_id, account in sorted(tenant_map.items()):
            if account.account_id and tenant_id not in seen:
                finding(FindingKind.MAPPED_NO_PROVIDER_LINES, account.tenant_id, account, "",
                        f"{account.name or tenant_id}: mapped, and no Microsoft charges this period (check: "
                        "lapsed, moved to another partner, or charges on a later invoice)", "", ZERO)

    for inv in invoices:
        for line in inv.lines:
            sub = subs_by_id.get(line.subscription_id) if line.subscription_id else None
            if sub is None or sub.provider != Provider.PARTNER_CENTER:
                continue
            key = _norm(sub.provider_subscription_id)
            if key in by_sub or key in usage_subs:
                continue
            amount = line.base_amount - line.discount
            if (line.line_type in (LineType.LICENSE, LineType.PRORATION, LineType.USAGE) and amount
                    and _overlaps(line.period_start, line.period_end, bounds)
                    and _charge_expected(sub, line.period_start, line.period_end)):
                account = next((t for t in tenant_map.values() if t.account_id == inv.account_id), None)
                result.findings.append(Finding(
                    FindingKind.BILLED_NO_PROVIDER_LINE, account.tenant_id if account else "", inv.account_id,
                    sub.provider_subscription_id,
                    f"{line.description}: billed to the customer, Microsoft's cost is missing this period",
                    inv.currency, amount, None, Decimal(sub.quantity), account.name if account else ""))

    for pit in provider_invoices:
        if abs(pit.invoice_total - pit.lines_total) > tolerance:
            result.findings.append(Finding(
                FindingKind.INVOICE_TOTAL_MISMATCH, "", None, "",
                f"Microsoft invoice {pit.invoice_id}: total {pit.invoice_total} {pit.currency}, its recon lines add up "
                f"to {pit.lines_total}", pit.currency, pit.invoice_total - pit.lines_total, customer="Microsoft"))

    result.revisions.sort(key=lambda r: (r.customer, r.subscription_id, r.meter_category, r.period, r.entitlement_id))
    result.margin = margin_rows(provider_lines=provider_lines, usage=usage, subs_by_provider_id=subs_by_provider_id,
                                subs_by_id=subs_by_id, invoices=invoices, tenant_map=tenant_map, bounds=bounds,
                                rates=rates, period=period, findings=result.findings, account_names=account_names,
                                leaked=leaked)
    return result


# Charges that renew a term already in force: the customer was billed for the whole month.
_RECURRING_CHARGES = frozenset({"renew", "cyclecharge", "cyclefee", "recurring"})


def period_share(pl: ProviderLine, bounds: tuple[date, date] | None) -> Decimal:
    """The part of a charge that pays for the reconciled month, so cost and revenue cover the same days.

    A renewal or recurring charge pays for the whole month: for at most a month it is the month's
    cost as it is (a cycle from the 15th to the 14th stands for the month it is invoiced in); an
    annual term charged up front pays for twelve months, so one month's worth by day counts here and
    the rest is prepaid for the months after it. A purchase or a seat change starts mid-month, and
    the customer is billed from that day: it pays for the days of its window inside the month."""
    window = _window_days(pl)
    if bounds is None or window is None:
        return pl.subtotal
    month_days = (bounds[1] - bounds[0]).days + 1
    if _norm(pl.charge_type).replace(" ", "") in _RECURRING_CHARGES:
        return pl.subtotal if window <= month_days else pl.subtotal * month_days / window
    assert pl.charge_start is not None and pl.charge_end is not None  # _window_days checked them
    inside = (min(pl.charge_end, bounds[1]) - max(pl.charge_start, bounds[0])).days + 1
    if inside <= 0 or inside >= window:
        return pl.subtotal  # outside the month, or all in it: this invoice's cost as it is
    return pl.subtotal * inside / window


def _period_bounds(period: str) -> tuple[date, date]:
    year, month = (int(p) for p in period.split("-"))
    start = date(year, month, 1)
    return start, add_months(start, 1) - timedelta(days=1)


def month_rates(provider_lines: Sequence[ProviderLine], extra: Iterable[ExchangeRate] = ()) -> RateTable:
    """The month's rates: the ones given (the rate table / --rates; Dataverse's transactioncurrency
    rates come in as month "*"), plus Microsoft's own PCToBCExchangeRate on the recon lines, keyed by
    the month of PCToBCExchangeRateDate (a given rate for the same month and pair wins)."""
    rates: dict[tuple[str, str, str], ExchangeRate] = {}
    for pl in provider_lines:
        if pl.exchange_rate and pl.pricing_currency and pl.pricing_currency != pl.currency and pl.exchange_rate_date:
            month = pl.exchange_rate_date.strftime("%Y-%m")
            rates[(month, pl.pricing_currency, pl.currency)] = ExchangeRate(month, pl.pricing_currency, pl.currency,
                                                                            pl.exchange_rate)
    for r in extra:
        rates[(r.month, r.from_currency.upper(), r.to_currency.upper())] = r
    return RateTable(rates.values())


def convert(rates: RateTable, amount: Decimal, src: str, dst: str, month: str) -> Decimal | None:
    """`amount` in `dst`, directly or across USD; None when no rate is known."""
    if src == dst:
        return amount
    try:
        return rates.convert(amount, src, dst, month)
    except ValidationError:
        pass
    try:
        return rates.convert(rates.convert(amount, src, "USD", month), "USD", dst, month)
    except ValidationError:
        return None


def seats_in_effect(lines: Sequence[ProviderLine], *, period_months: int = 1) -> Decimal:
    """Seats Microsoft charges for at the end of the latest charge window of one subscription's lines.

    BillableQuantity is the charged quantity: for a change inside a billing period (new seats,
    removed seats, a refund) Microsoft charges only the days from the change to the period end, so
    BillableQuantity = Quantity x window days / period days (3 seats added with 10 of 31 days left
    bill 0.967742). Summing it would make every mid-period change look like a fractional seat
    count. Instead each line is scaled back to whole seats over its period, and only the lines whose
    window ends on the latest ChargeEndDate are netted: those are co-terminous with the period now in
    force, while a line ending earlier belongs to a period the later charge has already replaced.
    Credits and refunds carry negative quantities over the same windows, so they net out.
    ChargeStartDate/ChargeEndDate/BillableQuantity:
    learn.microsoft.com/partner-center/billing/modern-invoice-reconciliation-file.
    """
    seat_lines = [pl for pl in lines if _norm(pl.charge_type) not in _MONEY_ONLY_CHARGES]
    latest = max((pl.charge_end for pl in seat_lines if pl.charge_end is not None), default=None)
    current = [pl for pl in seat_lines if latest is None or pl.charge_end is None or pl.charge_end == latest]
    # A full-period charge in the same period fixes its length better than calendar arithmetic (an
    # anniversary on the 29th-31st has periods longer than the calendar month they end in).
    longest = max((_window_days(pl) or 0 for pl in current), default=0)
    period = max(_period_days(latest, period_months), longest) if latest is not None else 0
    return sum((_full_period_seats(pl, period) for pl in current), ZERO)


def _window_days(pl: ProviderLine) -> int | None:
    if pl.charge_start is None or pl.charge_end is None or pl.charge_end < pl.charge_start:
        return None
    return (pl.charge_end - pl.charge_start).days + 1


def _period_days(end: date, months: int) -> int:
    """Length of the billing period of `months` months that ends on `end` (inclusive)."""
    after = end + timedelta(days=1)
    return (after - add_months(after, -months)).days


def _full_period_seats(pl: ProviderLine, period_days: int) -> Decimal:
    window = _window_days(pl)
    if window is None or window >= period_days:
        return pl.billable_quantity
    # Microsoft rounds the prorated quantity to 6 places; seats are whole, so round back to them.
    return (pl.billable_quantity * period_days / window).quantize(Decimal(1), ROUND_HALF_UP)


def _tenant_map(tenants: Mapping[str, TenantAccount] | Iterable[TenantAccount]) -> dict[str, TenantAccount]:
    values = tenants.values() if isinstance(tenants, Mapping) else tenants
    return {_norm(t.tenant_id): t for t in values}


def _acct(account: TenantAccount | None) -> str | None:
    return account.account_id if account else None


def margin_rows(*, provider_lines: Sequence[ProviderLine], usage: Sequence[UsageSummary],
                subs_by_provider_id: Mapping[str, Subscription], subs_by_id: Mapping[str, Subscription],
                invoices: Sequence[Invoice], tenant_map: Mapping[str, TenantAccount],
                bounds: tuple[date, date] | None = None, rates: RateTable | None = None, period: str = "",
                findings: list[Finding] | None = None,
                account_names: Mapping[str, str] | None = None,
                leaked: set[str] | frozenset[str] = frozenset()) -> list[MarginRow]:
    """Revenue and cost per customer x product family, both in the customer's billing currency.

    Microsoft's cost is converted into the currency the customer is billed in for that subscription
    (or, failing that, the customer's invoice currency): with the line's own PCToBCExchangeRate when
    the customer pays in Microsoft's pricing currency, else with the month's rates. A cost no rate
    converts stays in its own currency and is reported as no_exchange_rate."""
    rates = rates or RateTable()
    revenue: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    uncovered: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    cost: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    unrecovered: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    provider_cost: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    names: dict[str, str] = {}
    account_ids: dict[str, str | None] = {}
    category = {_norm(pl.subscription_id): pl.product_category for pl in provider_lines if pl.product_category}
    product_category = {_norm(pl.product_id): pl.product_category for pl in provider_lines if pl.product_category}
    charged = {_norm(pl.subscription_id) for pl in provider_lines} | {_norm(s.subscription_id) for s in usage}
    missing_rate: set[tuple[str, str, str]] = set()

    def customer_key(account_id: str | None, tenant_id: str, name: str) -> str:
        # Unmapped tenants still get a row, keyed by tenant, so their cost is visible.
        key = f"account:{account_id}" if account_id else f"tenant:{tenant_id}"
        account_ids[key] = account_id
        if name and key not in names:
            names[key] = name
        return key

    for t in tenant_map.values():
        if t.account_id and t.name:
            names.setdefault(f"account:{t.account_id}", t.name)
    for account_id, name in (account_names or {}).items():
        if name:
            names.setdefault(f"account:{account_id}", name)

    def family_of(sub: Subscription | None, psid: str, fallback: str) -> str:
        if sub is not None and sub.kind in (SubscriptionKind.AZURE_PLAN, SubscriptionKind.AZURE_ENTITLEMENT):
            return AZURE_FAMILY
        return ((sub.product_family if sub else "") or category.get(_norm(psid), "")
                or (product_category.get(_norm(sub.provider_product_id), "") if sub else "")
                or (sub.name if sub else "") or fallback or OTHER_FAMILY)

    sub_currency: dict[str, str] = {}
    summary_currency: dict[str, str] = {}
    account_currencies: dict[str, set[str]] = defaultdict(set)
    for inv in invoices:
        key = customer_key(inv.account_id, "", "")
        if inv.account_id:
            account_currencies[inv.account_id].add(inv.currency)
        for line in inv.lines:
            for summary_key in line.usage_summary_keys:
                summary_currency[summary_key] = inv.currency
            if not _overlaps(line.period_start, line.period_end, bounds):
                continue
            sub = subs_by_id.get(line.subscription_id) if line.subscription_id else None
            if sub is not None:
                sub_currency[_norm(sub.provider_subscription_id)] = inv.currency
                family = family_of(sub, sub.provider_subscription_id, "")
            elif line.line_type == LineType.USAGE:
                family = AZURE_FAMILY
            else:
                family = OTHER_FAMILY
            amount = line.base_amount - line.discount
            revenue[(key, family, inv.currency)] += amount
            if sub is not None and _norm(sub.provider_subscription_id) not in charged and \
                    line.line_type != LineType.USAGE:
                uncovered[(key, family, inv.currency)] += amount

    def add_cost(key: str, family: str, psid: str, account_id: str | None, amount: Decimal, src: str,
                 pricing_currency: str = "", line_rate: Decimal | None = None, summary_key: str = "",
                 unbilled: bool = False) -> None:
        # Where the customer is billed for it: that subscription's invoice line (or usage summary), else
        # the currency Dynamics bills the subscription in, else the customer's only invoice currency.
        sub = subs_by_provider_id.get(_norm(psid))
        only = account_currencies.get(account_id or "", set())
        target = (sub_currency.get(_norm(psid)) or summary_currency.get(summary_key)
                  or (sub.currency.upper() if sub is not None and sub.currency else "")
                  or (next(iter(only)) if len(only) == 1 else "") or src)
        if target == src:
            converted: Decimal | None = amount
        elif pricing_currency == target and line_rate:
            converted = amount / line_rate  # Microsoft's own rate for this line
        else:
            converted = convert(rates, amount, src, target, period)
        if converted is None:
            missing_rate.add((key, src, target))
            target, converted = src, amount
        cost[(key, family, target)] += converted
        if unbilled:
            unrecovered[(key, family, target)] += converted
        provider_cost[(key, family, target)][src] += amount

    for pl in provider_lines:
        account = tenant_map.get(_norm(pl.customer_id))
        key = customer_key(account.account_id if account else None, pl.customer_id,
                           (account.name if account else "") or pl.customer_name)
        sub = subs_by_provider_id.get(_norm(pl.subscription_id))
        add_cost(key, family_of(sub, pl.subscription_id, pl.product_name), pl.subscription_id,
                 account.account_id if account else None, period_share(pl, bounds), pl.currency,
                 pl.pricing_currency, pl.exchange_rate,
                 unbilled=account is None or account.account_id is None or _norm(pl.subscription_id) in leaked)

    for s in usage:
        account = tenant_map.get(_norm(s.customer_id))
        key = customer_key(account.account_id if account else None, s.customer_id, account.name if account else "")
        sub = subs_by_provider_id.get(_norm(s.subscription_id))
        add_cost(key, AZURE_FAMILY, s.subscription_id, account.account_id if account else None, s.cost, s.currency,
                 summary_key=s.summary_key,
                 unbilled=account is None or account.account_id is None or s.summary_key in leaked)

    if findings is not None:
        for key, src, target in sorted(missing_rate):
            findings.append(Finding(FindingKind.NO_EXCHANGE_RATE, "", account_ids.get(key), "",
                                    f"no {src}->{target} rate for {period or 'the period'}: cost left in {src}",
                                    src, ZERO, customer=names.get(key, key.split(":", 1)[1])))

    rows = []
    # By name, not by key: account ids are GUIDs, and a report must read the same on every run.
    for k in sorted(set(revenue) | set(cost), key=lambda k: (names.get(k[0], k[0].split(":", 1)[1]), k[1], k[2], k[0])):
        key, family, currency = k
        rows.append(MarginRow(account_ids.get(key), names.get(key, key.split(":", 1)[1]), family, currency,
                              revenue.get(k, ZERO), cost.get(k, ZERO),
                              tuple(sorted(provider_cost[k].items())) if k in provider_cost else (),
                              uncovered.get(k, ZERO), unrecovered.get(k, ZERO)))
    return rows
