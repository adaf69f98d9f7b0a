"""Recurring license lines of one subscription on one cycle invoice.

The invoice for cycle T bills, per subscription:
- one LICENSE line: the seats in effect on T.start at the price in effect then, for the whole
  cycle (cut short at a contract end date or at a term end that will not auto-renew);
- one PRORATION (charge) or CREDIT line per change log assigned to this invoice, for the part of
  the period between the change's effective date and the point from which a full line of this
  run already includes it: T.start when the change is effective on or before T.start (advance:
  the rest of the previous cycle; a late change: every cycle billed without it), else the end of
  T (arrears: the rest of the cycle being billed). Value = (new seats x new price - old seats x
  old price) x share of the cycle price.

A subscription's price is per unit per its own billing frequency (P1M/P1Y/P3Y, as the catalog
prices term + billing frequency: an annual term billed monthly has its own, higher, monthly
price); a cycle of N months costs price x N / frequency months.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from billing.currency import RateTable, month_of, price_currency
from billing.cycles import Cycle
from billing.lines import make_line
from billing.models import (
    TERM_MONTHS,
    BillingContract,
    ChangeLog,
    ChangeOrigin,
    ChangeType,
    InvoiceLine,
    LineType,
    Subscription,
    SubscriptionStatus,
    SuspendedBilling,
)
from billing.proration import span_share
from billing.refunds import credit_allowed
from billing.texts import text
from billing.timeline import Timeline, quantity_after, quantity_before

INACTIVE = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED, SubscriptionStatus.SUSPENDED)


def billed_while_suspended(contract: BillingContract, sub: Subscription) -> bool:
    """Microsoft keeps billing a suspended new-commerce subscription (newcommerce_lifecycle_facts
    §0.9), so by default the customer is billed too; the contract may stop billing it instead."""
    return sub.status is SubscriptionStatus.SUSPENDED and contract.suspended_billing is SuspendedBilling.KEEP_BILLING


def _inactive(contract: BillingContract, sub: Subscription) -> bool:
    return sub.status in INACTIVE and not billed_while_suspended(contract, sub)
ZERO = Decimal(0)


@dataclass(frozen=True)
class LicenseContext:
    contract: BillingContract
    cycle: Cycle
    invoice_key: str
    rates: RateTable
    global_refund: bool = True


def cycle_factor(contract: BillingContract, sub: Subscription) -> Decimal:
    per = TERM_MONTHS.get(sub.billing_frequency, 1)
    return Decimal(int(contract.frequency)) / Decimal(per)


def _name(sub: Subscription) -> str:
    return sub.name or sub.sku_id or sub.provider_subscription_id


def _term_cap(sub: Subscription, end_exclusive: date) -> date:
    if not sub.auto_renew and sub.commitment_end_date is not None:
        return min(end_exclusive, sub.commitment_end_date + timedelta(days=1))
    return end_exclusive


def full_line(ctx: LicenseContext, sub: Subscription, timeline: Timeline) -> InvoiceLine | None:
    contract, cycle = ctx.contract, ctx.cycle
    if sub.status is SubscriptionStatus.TRIAL:
        return None
    if _inactive(contract, sub) and not timeline.ever_zero():
        # Cancelled without a change log saying when: bill nothing rather than guess.
        return None
    qty = timeline.quantity(cycle.start)
    if qty <= 0:
        return None
    share = span_share(contract, cycle.start, _term_cap(sub, cycle.next_start))
    if share <= 0:
        return None
    rate, conversion = ctx.rates.conversion(price_currency(sub, contract), contract.currency, month_of(cycle.start))
    unit = timeline.price(cycle.start) * cycle_factor(contract, sub) * share * rate
    last = _term_cap(sub, cycle.next_start) - timedelta(days=1)
    description = text(contract.language, "license", name=_name(sub), start=cycle.start, end=last)
    if billed_while_suspended(contract, sub):
        description = text(contract.language, "suspended", line=description)
    return make_line(
        key=f"{ctx.invoice_key}|lic|{sub.provider_subscription_id}",
        line_type=LineType.LICENSE,
        description=description,
        quantity=qty,
        unit_price=unit,
        exact_amount=unit * qty,
        currency=contract.currency,
        discount_pct=contract.discount_pct,
        tax_pct=contract.tax_rate_pct,
        period_start=cycle.start,
        period_end=last,
        subscription_id=sub.id,
        product_id=sub.product_id,
        conversion=conversion,
    )


def change_line(ctx: LicenseContext, sub: Subscription, timeline: Timeline, change: ChangeLog,
                cap: date | None = None) -> InvoiceLine | None:
    """The prorated line for one change assigned to this invoice (None when it is worth nothing,
    is archived, or is a credit the refund rules do not allow). `cap` ends the span early: from
    there on, full lines already billed carry seat counts recorded after this change."""
    contract, cycle = ctx.contract, ctx.cycle
    if change.archived or sub.status is SubscriptionStatus.TRIAL:
        return None
    eff = change.effective_date
    until = cycle.start if eff <= cycle.start else cycle.next_start
    if cap is not None:
        until = max(eff, min(until, cap))
    if change.origin is not ChangeOrigin.TRANSITION:
        # Not for a transition: it ended the old subscription (its term end is now that moment)
        # after its period was charged, and the new one is charged from the same moment on, so the
        # old seats are credited to the end of what was charged.
        until = _term_cap(sub, until)
    share = span_share(contract, eff, until)
    if share <= 0:
        return None
    old_qty, new_qty = quantity_before(change), quantity_after(change)
    day_before = eff - timedelta(days=1)
    old_price = change.old_price if change.old_price is not None else timeline.price(day_before)
    new_price = change.new_price if change.new_price is not None else timeline.price(eff)
    delta = Decimal(new_qty) * new_price - Decimal(old_qty) * old_price
    if delta == 0:
        return None
    if delta < 0 and not credit_allowed(contract, sub, change, ctx.global_refund):
        return None
    # A change converts at the rate of the month it took effect, whichever invoice bills it.
    rate, conversion = ctx.rates.conversion(price_currency(sub, contract), contract.currency, month_of(eff))
    factor = cycle_factor(contract, sub) * share * rate
    if old_price == new_price:
        quantity, unit = Decimal(new_qty - old_qty), new_price * factor
    else:
        quantity, unit = Decimal(1), delta * factor
    kind = LineType.PRORATION if delta > 0 else LineType.CREDIT
    last = until - timedelta(days=1)
    return make_line(
        key=f"{change.change_key}|prorate",
        line_type=kind,
        description=text(contract.language, "proration" if delta > 0 else "credit", name=_name(sub),
                         change=change.change_type.name.lower(), start=eff, end=last),
        quantity=quantity,
        unit_price=unit,
        exact_amount=delta * factor,
        currency=contract.currency,
        discount_pct=contract.discount_pct,
        tax_pct=contract.tax_rate_pct,
        period_start=eff,
        period_end=last,
        subscription_id=sub.id,
        change_log_id=change.id,
        product_id=sub.product_id,
        conversion=conversion,
    )


def implicit_start(sub: Subscription, changes: Iterable[ChangeLog]) -> ChangeLog | None:
    """A subscription that started mid-cycle with no change log at all (e.g. imported) gets a
    synthetic 'new' change so its first partial period is billed like any other addition."""
    if sub.start_date is None or any(True for _ in changes):
        return None
    return ChangeLog(
        change_key=f"{sub.provider_subscription_id}|start",
        subscription_id=sub.id,
        change_type=ChangeType.NEW,
        effective_date=sub.start_date,
        old_quantity=0,
        new_quantity=sub.quantity,
    )
