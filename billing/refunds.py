"""When a reduction or cancellation becomes a credit.

Arrears invoices bill the past, so a reduction there simply bills less: always credited.
Advance invoices already charged the period, so the unused part is credited only when the
contract's refund policy (or the global one it defers to) allows it, or when the change is a
cancellation/reduction inside the new-commerce window, where Microsoft refunds the partner too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing.models import BillingContract, ChangeLog, ChangeType, Policy, RefundPolicy, Subscription
from billing.newcommerce import in_reduction_window


def refunds_enabled(contract: BillingContract, global_refund: bool) -> bool:
    if contract.refund_policy is RefundPolicy.YES:
        return True
    if contract.refund_policy is RefundPolicy.NO:
        return False
    return global_refund


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def inside_nce_window(sub: Subscription, change: ChangeLog) -> bool:
    if change.change_type not in (ChangeType.CANCEL, ChangeType.DECREASE) or sub.start_date is None:
        return False
    term = sub.term if sub.term in ("P1M", "P1Y", "P3Y") else "P1M"
    end = _midnight(sub.commitment_end_date) if sub.commitment_end_date else None
    try:
        return in_reduction_window(_midnight(sub.start_date), term, _midnight(change.effective_date), end)
    except ValueError:
        return False


def credit_allowed(contract: BillingContract, sub: Subscription, change: ChangeLog, global_refund: bool) -> bool:
    if contract.policy is Policy.ARREARS:
        return True
    return refunds_enabled(contract, global_refund) or inside_nce_window(sub, change)
