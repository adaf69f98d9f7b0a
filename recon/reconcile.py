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

from billing.cycles import add_months
from billing.models import (
    TERM_MONTHS,
    Invoice,
    LineType,
    Provider,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
    UsageSummary,
)
from recon.invoice_file import ProviderLine

ZERO = Decimal(0)
AZURE_FAMILY = "Azure"
OTHER_FAMILY = "Other"
_INACTIVE = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)
# Charge types that move money but not seats: a goodwill credit refunds part of a charge while the
# customer keeps every licence, so it must not lower the seat count.
_MONEY_ONLY_CHARGES = frozenset({"customercredit"})


class FindingKind(StrEnum):
    QUANTITY_MISMATCH = "quantity_mismatch"
    PROVIDER_NOT_BILLED = "billed_by_provider_not_to_customer"
    BILLED_NO_PROVIDER_LINE = "billed_to_customer_no_provider_line"
    UNMAPPED_TENANT = "unmapped_tenant"


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


@dataclass(frozen=True)
class MarginRow:
    account_id: str | None
    customer: str
    product_family: str
    currency: str
    revenue: Decimal
    cost: Decimal

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_pct(self) -> Decimal | None:
        if not self.revenue:
            return None
        return (self.margin * 100 / self.revenue).quantize(Decimal("0.01"))


@dataclass
class ReconResult:
    findings: list[Finding] = field(default_factory=list)
    margin: list[MarginRow] = field(default_factory=list)

    def count(self, kind: FindingKind) -> int:
        return sum(1 for f in self.findings if f.kind == kind)


def _norm(text: str | None) -> str:
    return (text or "").strip().lower()


def reconcile(*, provider_lines: Sequence[ProviderLine], usage: Sequence[UsageSummary],
              subscriptions: Sequence[Subscription], invoices: Sequence[Invoice],
              tenants: Mapping[str, TenantAccount] | Iterable[TenantAccount]) -> ReconResult:
    """`invoices` are the customer invoices of the reconciled period; `tenants` is keyed by tenant id."""
    tenant_map = _tenant_map(tenants)
    subs_by_provider_id = {_norm(s.provider_subscription_id): s for s in subscriptions}
    subs_by_id = {s.id: s for s in subscriptions if s.id}

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
    by_sub: dict[str, list[ProviderLine]] = defaultdict(list)
    for pl in provider_lines:
        by_sub[_norm(pl.subscription_id)].append(pl)

    unmapped_cost: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for key, lines in sorted(by_sub.items()):
        first = lines[0]
        currency = first.currency
        cost = sum((pl.subtotal for pl in lines), ZERO)
        qty = sum((pl.billable_quantity for pl in lines), ZERO)
        account = tenant_map.get(_norm(first.customer_id))
        if account is None or account.account_id is None:
            unmapped_cost[(first.customer_id, currency)] += cost
        sub = subs_by_provider_id.get(key)
        label = first.product_name or first.sku_name or first.product_id
        if sub is None:
            if cost:
                result.findings.append(Finding(
                    FindingKind.PROVIDER_NOT_BILLED, first.customer_id, _acct(account), first.subscription_id,
                    f"{label}: charged by Microsoft, no subscription in Dynamics", currency, cost, qty, None))
            continue
        crm_qty = Decimal(0 if sub.status in _INACTIVE else sub.quantity)
        # Seats only: usage-based lines carry consumed units in BillableQuantity, not seats.
        if sub.kind == SubscriptionKind.LICENSE:
            seats = seats_in_effect(lines, period_months=TERM_MONTHS.get(sub.billing_frequency, 1))
            if seats != crm_qty:
                result.findings.append(Finding(
                    FindingKind.QUANTITY_MISMATCH, first.customer_id, _acct(account), first.subscription_id,
                    f"{label}: Microsoft charges for {seats} seats, Dynamics has {crm_qty}", currency, cost,
                    seats, crm_qty))
        if cost and sub.id not in billed_sub_ids and key not in usage_billed_subs:
            result.findings.append(Finding(
                FindingKind.PROVIDER_NOT_BILLED, first.customer_id, _acct(account), first.subscription_id,
                f"{label}: charged by Microsoft, not on any customer invoice this period", currency, cost, qty,
                crm_qty))

    usage_subs: set[str] = set()
    for s in usage:
        usage_subs.add(_norm(s.subscription_id))
        account = tenant_map.get(_norm(s.customer_id))
        if account is None or account.account_id is None:
            unmapped_cost[(s.customer_id, s.currency)] += s.cost
        sub = subs_by_provider_id.get(_norm(s.subscription_id))
        covered = (s.billed or s.invoice_id is not None or s.summary_key in billed_usage_keys
                   or (sub is not None and sub.id in billed_sub_ids))
        if s.cost and not covered:
            result.findings.append(Finding(
                FindingKind.PROVIDER_NOT_BILLED, s.customer_id, _acct(account), s.subscription_id,
                f"Azure usage {s.meter_category} {s.period}: not on any customer invoice", s.currency, s.cost))

    for (tenant_id, currency), cost in sorted(unmapped_cost.items()):
        result.findings.append(Finding(
            FindingKind.UNMAPPED_TENANT, tenant_id, None, "",
            f"tenant {tenant_id} has provider charges but no mapped provider account", currency, cost))

    for inv in invoices:
        for line in inv.lines:
            sub = subs_by_id.get(line.subscription_id) if line.subscription_id else None
            if sub is None or sub.provider != Provider.PARTNER_CENTER:
                continue
            key = _norm(sub.provider_subscription_id)
            if key in by_sub or key in usage_subs:
                continue
            if line.line_type in (LineType.LICENSE, LineType.PRORATION, LineType.USAGE):
                result.findings.append(Finding(
                    FindingKind.BILLED_NO_PROVIDER_LINE, "", inv.account_id, sub.provider_subscription_id,
                    f"{line.description}: billed to the customer, no Microsoft charge this period",
                    inv.currency, line.base_amount - line.discount, None, Decimal(sub.quantity)))

    result.margin = margin_rows(provider_lines=provider_lines, usage=usage, subs_by_provider_id=subs_by_provider_id,
                                subs_by_id=subs_by_id, invoices=invoices, tenant_map=tenant_map)
    return result


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
                invoices: Sequence[Invoice], tenant_map: Mapping[str, TenantAccount]) -> list[MarginRow]:
    revenue: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    cost: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    names: dict[str, str] = {}
    account_ids: dict[str, str | None] = {}

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

    for inv in invoices:
        key = customer_key(inv.account_id, "", "")
        for line in inv.lines:
            sub = subs_by_id.get(line.subscription_id) if line.subscription_id else None
            if sub is not None and sub.product_family:
                family = sub.product_family
            elif line.line_type == LineType.USAGE:
                family = AZURE_FAMILY
            else:
                family = OTHER_FAMILY
            revenue[(key, family, inv.currency)] += line.base_amount - line.discount

    for pl in provider_lines:
        account = tenant_map.get(_norm(pl.customer_id))
        key = customer_key(account.account_id if account else None, pl.customer_id,
                           (account.name if account else "") or pl.customer_name)
        sub = subs_by_provider_id.get(_norm(pl.subscription_id))
        family = (sub.product_family if sub and sub.product_family else "") or pl.product_name or OTHER_FAMILY
        cost[(key, family, pl.currency)] += pl.subtotal

    for s in usage:
        account = tenant_map.get(_norm(s.customer_id))
        key = customer_key(account.account_id if account else None, s.customer_id, account.name if account else "")
        sub = subs_by_provider_id.get(_norm(s.subscription_id))
        family = sub.product_family if sub and sub.product_family else AZURE_FAMILY
        cost[(key, family, s.currency)] += s.cost

    rows = []
    for k in sorted(set(revenue) | set(cost)):
        key, family, currency = k
        rows.append(MarginRow(account_ids.get(key), names.get(key, key.split(":", 1)[1]), family, currency,
                              revenue.get(k, ZERO), cost.get(k, ZERO)))
    return rows
