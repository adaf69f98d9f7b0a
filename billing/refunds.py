"""When a reduction or cancellation becomes a credit.

Arrears invoices bill the past, so a reduction there simply bills less: always credited.
Advance invoices already charged the period, so the unused part is credited only when the
contract's refund policy (or the global one it defers to) allows it (Work 365 "Process Refunds":
Use Global / Yes / No). That holds inside the new-commerce window too: Microsoft refunds the
partner for seats removed within 168 hours of their addition, and the contract decides whether
the customer gets that credit. Whether a removal may happen at all is the provisioning rule
(billing/newcommerce.py, per-addition windows).
"""

from __future__ import annotations

from billing.models import BillingContract, ChangeLog, Policy, RefundPolicy, Subscription


def refunds_enabled(contract: BillingContract, global_refund: bool) -> bool:
    if contract.refund_policy is RefundPolicy.YES:
        return True
    if contract.refund_policy is RefundPolicy.NO:
        return False
    return global_refund


def credit_allowed(contract: BillingContract, sub: Subscription, change: ChangeLog, global_refund: bool) -> bool:
    if contract.policy is Policy.ARREARS:
        return True
    return refunds_enabled(contract, global_refund)
