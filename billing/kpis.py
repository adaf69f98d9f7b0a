"""CSP-business KPIs for the partner's assessment, pure maths over small fact records.

Conventions (stated here because every KPI depends on them):
- Money KPIs are per currency; currencies are never added together (no FX guess).
- A subscription's unit price and cost are per billing cycle (the price-list unit "P1Y monthly"
  is a monthly amount; "P1Y annual" a yearly one), so the monthly value is price / months in the
  billing frequency.
- MRR counts recurring licenses only: kind License and status Active. Usage (Azure plan,
  marketplace usage), one-time items and trials are excluded, as in Work 365's MRR definition.
- Churn, contraction, expansion and new MRR come from the change logs whose effective date falls
  in the window (as_of - window_days, as_of] and that actually happened (Provisioned or
  NotApplicable, not archived). Rates divide by the MRR at the window start, rebuilt from today's
  MRR by undoing those changes.
- DSO = open receivables / invoiced in the trailing window x window days.
- Touchless share = provisioned changes with no error and not on the manual provider, over all
  changes that finished provisioning (Provisioned or Failed) in the window.
- Unbilled-seat leakage = seats the provider bills us for but no invoice of ours charges, valued
  at the subscription's monthly price. Recon leakage = the reconciliation's
  "billed_by_provider_not_to_customer" findings (recon/reconcile.py): provider cost with no
  customer invoice line, and its seats. The report's other money findings count per currency too:
  cost missing (revenue billed with no Microsoft cost), unmapped-tenant cost, and the net usage
  revision the next invoices true up; per customer, the ten with the most money at risk.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing.models import (
    TERM_MONTHS,
    ChangeType,
    Provider,
    ProvisioningStatus,
    SubscriptionKind,
    SubscriptionStatus,
)
from billing.money import round_money

ZERO = Decimal(0)
RECON_CUSTOMERS = 10
HAPPENED = {ProvisioningStatus.PROVISIONED, ProvisioningStatus.NOT_APPLICABLE}
FINISHED = {ProvisioningStatus.PROVISIONED, ProvisioningStatus.FAILED}


@dataclass(frozen=True)
class SubscriptionFact:
    id: str
    currency: str
    quantity: int
    unit_price: Decimal
    unit_cost: Decimal
    billing_frequency: str = "P1M"
    kind: int = SubscriptionKind.LICENSE
    status: int = SubscriptionStatus.ACTIVE
    provider: int = Provider.PARTNER_CENTER

    @property
    def recurring(self) -> bool:
        return self.kind == SubscriptionKind.LICENSE and self.status == SubscriptionStatus.ACTIVE

    def monthly(self, amount: Decimal) -> Decimal:
        return amount / TERM_MONTHS.get(self.billing_frequency, 1)


@dataclass(frozen=True)
class ChangeFact:
    subscription_id: str
    change_type: int
    old_quantity: int
    new_quantity: int
    effective: datetime | date
    status: int
    error: str = ""
    archived: bool = False


@dataclass(frozen=True)
class InvoiceFact:
    currency: str
    total: Decimal
    balance: Decimal
    issued: date


@dataclass(frozen=True)
class SeatBillingFact:
    """For one subscription and period: seats the provider billed vs seats our invoices charged."""

    subscription_id: str
    provider_quantity: int
    invoiced_quantity: int


# Recon finding kinds (recon/reconcile.py FindingKind values; billing sits below recon, so by name).
RECON_LEAK = "billed_by_provider_not_to_customer"
RECON_COST_MISSING = "billed_to_customer_no_provider_line"
RECON_UNMAPPED = "unmapped_tenant"
RECON_SEATS = "quantity_mismatch"
RECON_USAGE_REVISED = "usage_revised_after_billing"


@dataclass(frozen=True)
class ReconLeakFact:
    """One recon finding (recon/reconcile.py): by default a leak, where the provider charged us and
    no customer invoice line covers it. `amount` is in `currency`; for a revision it is the delta."""

    currency: str
    amount: Decimal
    provider_quantity: Decimal | None = None
    kind: str = RECON_LEAK
    customer: str = ""


@dataclass
class CustomerReconKpis:
    """One customer's recon findings of the latest report, per currency: what to chase first."""

    customer: str
    currency: str
    leaked_cost: Decimal = ZERO          # charged by Microsoft, billed to nobody
    cost_missing_revenue: Decimal = ZERO  # billed to the customer, Microsoft's cost missing
    unmapped_cost: Decimal = ZERO         # charges of a tenant with no CRM account
    usage_revised: Decimal = ZERO         # net delta the next invoice trues up
    seat_mismatches: int = 0

    @property
    def at_risk(self) -> Decimal:
        return self.leaked_cost + self.cost_missing_revenue + self.unmapped_cost + abs(self.usage_revised)


@dataclass
class CurrencyKpis:
    currency: str
    mrr: Decimal = ZERO
    arr: Decimal = ZERO
    mrc: Decimal = ZERO
    gross_margin_pct: Decimal | None = None
    seats: int = 0
    new_mrr: Decimal = ZERO
    expansion_mrr: Decimal = ZERO
    contraction_mrr: Decimal = ZERO
    churned_mrr: Decimal = ZERO
    start_mrr: Decimal = ZERO
    churn_rate_pct: Decimal | None = None
    contraction_rate_pct: Decimal | None = None
    receivables: Decimal = ZERO
    invoiced_in_window: Decimal = ZERO
    dso_days: Decimal | None = None
    leaked_seats: int = 0
    leakage_mrr: Decimal = ZERO
    recon_unbilled_seats: int = 0
    recon_unbilled_cost: Decimal = ZERO
    recon_cost_missing: Decimal = ZERO
    recon_unmapped_cost: Decimal = ZERO
    recon_usage_revised: Decimal = ZERO


@dataclass
class KpiReport:
    as_of: date
    window_days: int
    currencies: dict[str, CurrencyKpis] = field(default_factory=dict)
    seats: int = 0
    active_subscriptions: int = 0
    changes_finished: int = 0
    changes_touchless: int = 0
    touchless_pct: Decimal | None = None
    leaked_seats: int = 0
    # Per currency, the customers with the most money at risk in the latest recon report (top RECON_CUSTOMERS).
    recon_customers: list[CustomerReconKpis] = field(default_factory=list)

    def primary_currency(self) -> str | None:
        """The currency with the most MRR: the one a single trend line follows."""
        if not self.currencies:
            return None
        return max(self.currencies.values(), key=lambda k: (k.mrr, k.currency)).currency

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    if whole == 0:
        return None
    value = (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    # A tiny negative rounds to -0.0, which reads as a real (negative) figure on a report.
    return value + 0 if value.is_zero() else value


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def compute(*, as_of: date, subscriptions: list[SubscriptionFact], changes: list[ChangeFact],
            invoices: list[InvoiceFact], seat_billing: list[SeatBillingFact] = (),  # type: ignore[assignment]
            recon_leaks: list[ReconLeakFact] = (),  # type: ignore[assignment]
            window_days: int = 30, dso_window_days: int = 90) -> KpiReport:
    report = KpiReport(as_of=as_of, window_days=window_days)
    by_id = {s.id: s for s in subscriptions}
    per: dict[str, CurrencyKpis] = {}

    def bucket(currency: str) -> CurrencyKpis:
        if currency not in per:
            per[currency] = CurrencyKpis(currency=currency)
        return per[currency]

    for fact in subscriptions:
        if not fact.recurring:
            continue
        k = bucket(fact.currency)
        k.mrr += fact.monthly(fact.unit_price) * fact.quantity
        k.mrc += fact.monthly(fact.unit_cost) * fact.quantity
        k.seats += fact.quantity
        report.active_subscriptions += 1

    window_start = as_of - timedelta(days=window_days)
    for change in changes:
        if change.archived or not window_start < _day(change.effective) <= as_of:
            continue
        sub = by_id.get(change.subscription_id)
        status = ProvisioningStatus(change.status)
        if status in FINISHED:
            report.changes_finished += 1
            if (status is ProvisioningStatus.PROVISIONED and not change.error
                    and (sub is None or sub.provider != Provider.MANUAL)):
                report.changes_touchless += 1
        if sub is None or status not in HAPPENED or sub.kind != SubscriptionKind.LICENSE:
            continue
        unit = sub.monthly(sub.unit_price)
        k = bucket(sub.currency)
        delta = change.new_quantity - change.old_quantity
        if change.change_type == ChangeType.NEW:
            k.new_mrr += unit * change.new_quantity
        elif change.change_type == ChangeType.CANCEL:
            k.churned_mrr += unit * change.old_quantity
        elif delta > 0:
            k.expansion_mrr += unit * delta
        elif delta < 0:
            k.contraction_mrr += unit * -delta

    dso_start = as_of - timedelta(days=dso_window_days)
    for inv in invoices:
        if inv.issued > as_of:
            continue
        k = bucket(inv.currency)
        k.receivables += max(inv.balance, ZERO)
        if inv.issued > dso_start:
            k.invoiced_in_window += inv.total

    for row in seat_billing:
        sub = by_id.get(row.subscription_id)
        leaked = row.provider_quantity - row.invoiced_quantity
        if sub is None or leaked <= 0:
            continue
        k = bucket(sub.currency)
        k.leaked_seats += leaked
        k.leakage_mrr += sub.monthly(sub.unit_price) * leaked

    customers: dict[tuple[str, str], CustomerReconKpis] = {}
    for leak in recon_leaks:
        if not leak.currency:
            continue  # a check with no money (a mapped tenant without charges)
        k = bucket(leak.currency)
        c = customers.setdefault((leak.customer, leak.currency), CustomerReconKpis(leak.customer, leak.currency))
        if leak.kind == RECON_LEAK:
            k.recon_unbilled_cost += leak.amount
            c.leaked_cost += leak.amount
            if leak.provider_quantity is not None and leak.provider_quantity > 0:
                k.recon_unbilled_seats += int(leak.provider_quantity)
        elif leak.kind == RECON_COST_MISSING:
            k.recon_cost_missing += leak.amount
            c.cost_missing_revenue += leak.amount
        elif leak.kind == RECON_UNMAPPED:
            k.recon_unmapped_cost += leak.amount
            c.unmapped_cost += leak.amount
        elif leak.kind == RECON_USAGE_REVISED:
            k.recon_usage_revised += leak.amount
            c.usage_revised += leak.amount
        elif leak.kind == RECON_SEATS:
            c.seat_mismatches += 1
    # Ranked within each currency: amounts in different currencies are never compared.
    ranked = sorted((c for c in customers.values() if c.at_risk or c.seat_mismatches),
                    key=lambda c: (c.currency, -c.at_risk, -c.seat_mismatches, c.customer))
    shown: dict[str, int] = defaultdict(int)
    for c in ranked:
        shown[c.currency] += 1
        if shown[c.currency] > RECON_CUSTOMERS:
            continue
        for name in ("leaked_cost", "cost_missing_revenue", "unmapped_cost", "usage_revised"):
            setattr(c, name, round_money(getattr(c, name), c.currency))
        report.recon_customers.append(c)

    for k in per.values():
        k.start_mrr = k.mrr - k.new_mrr - k.expansion_mrr + k.contraction_mrr + k.churned_mrr
        k.gross_margin_pct = _pct(k.mrr - k.mrc, k.mrr)
        k.churn_rate_pct = _pct(k.churned_mrr, k.start_mrr)
        k.contraction_rate_pct = _pct(k.contraction_mrr, k.start_mrr)
        if k.invoiced_in_window:
            k.dso_days = (k.receivables / k.invoiced_in_window * dso_window_days).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP)
        k.arr = k.mrr * 12
        for name in ("mrr", "arr", "mrc", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr",
                     "start_mrr", "receivables", "invoiced_in_window", "leakage_mrr", "recon_unbilled_cost",
                     "recon_cost_missing", "recon_unmapped_cost", "recon_usage_revised"):
            setattr(k, name, round_money(getattr(k, name), k.currency))
        report.seats += k.seats
        report.leaked_seats += k.leaked_seats
    report.currencies = dict(sorted(per.items()))
    report.touchless_pct = _pct(Decimal(report.changes_touchless), Decimal(report.changes_finished))
    return report


# -- snapshots: what is stored, and how two of them compare -----------------------------------

TREND_KEYS = ("mrr", "arr", "gross_margin_pct", "seats", "churn_rate_pct", "contraction_rate_pct", "dso_days",
              "leakage_mrr", "recon_unbilled_cost", "recon_cost_missing", "recon_unmapped_cost", "recon_usage_revised")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _num(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def compare(current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, dict[str, Decimal | None]]:
    """Per-currency change since the previous snapshot: {currency: {metric: delta or None}}.
    Takes the stored JSON shape (KpiReport.to_json) so old snapshots compare without re-reading data."""
    if not previous:
        return {}
    out: dict[str, dict[str, Decimal | None]] = {}
    before_all = previous.get("currencies", {})
    for currency, now in current.get("currencies", {}).items():
        before = before_all.get(currency)
        if before is None:
            continue
        deltas: dict[str, Decimal | None] = {}
        for key in TREND_KEYS:
            a, b = _num(now.get(key)), _num(before.get(key))
            deltas[key] = None if a is None or b is None else a - b
        out[currency] = deltas
    for key in ("touchless_pct", "seats"):
        a, b = _num(current.get(key)), _num(previous.get(key))
        out.setdefault("*", {})[key] = None if a is None or b is None else a - b
    return out


def series(snapshots: list[dict[str, Any]], currency: str, metric: str = "mrr") -> list[tuple[str, Decimal]]:
    """(as_of, value) points for a trend chart, oldest first, skipping snapshots without the metric."""
    points = []
    for snap in sorted(snapshots, key=lambda s: str(s.get("as_of", ""))):
        value = _num(snap.get("currencies", {}).get(currency, {}).get(metric))
        if value is not None:
            points.append((str(snap["as_of"]), value))
    return points


# Why a KPI has no value, for plain-text output (the HTML report says it from the message catalog).
WHY_NO_DATA: dict[str, str] = {
    "gross_margin_pct": "no provider cost on the active subscriptions yet",
    "churn_rate_pct": "no recurring revenue at the start of the window",
    "contraction_rate_pct": "no recurring revenue at the start of the window",
    "dso_days": "no invoiced revenue in the window",
    "touchless_pct": "no seat changes finished in the window",
}


def shown(metric: str, value: Decimal | None, unit: str = "%") -> str:
    """`12.5%`, or `n/a (why)` instead of "None%"."""
    if value is None:
        return f"n/a ({WHY_NO_DATA.get(metric, 'no data yet')})"
    return f"{value}{unit}"


def has_data(k: CurrencyKpis) -> bool:
    """A currency with nothing in it (e.g. seen only in a recon file) is left out of reports."""
    return bool(k.mrr or k.mrc or k.seats or k.receivables or k.recon_unbilled_cost or k.leakage_mrr
                or k.churned_mrr or k.recon_cost_missing or k.recon_unmapped_cost or k.recon_usage_revised)
