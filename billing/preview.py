"""What a seat or term change would cost or refund, pure, with the code of the real run.

A hypothetical change log effective on the given day is added to the contract's data, and the
contract's next invoice is planned with and without it (billing.runs.preview: the same planner,
tax and currency conversion the run uses). The answer is:
- `now`: the prorated charge (or credit) for the rest of the period already billed, the line the
  change itself produces on the next invoice (None when the refund policy gives no credit);
- the next invoice's total before and after, and the difference;
- whether Microsoft allows the change now (new-commerce 168-hour windows, per seat addition).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from billing import newcommerce
from billing.models import BillingContract, ChangeLog, ChangeType, Invoice, InvoiceLine, Subscription
from billing.runs import BillingData, preview
from billing.timeline import Timeline
from shared.errors import ValidationError

ZERO = Decimal(0)
PREVIEW_KEY = "preview"


@dataclass(frozen=True)
class ChangePreview:
    subscription: Subscription
    contract: BillingContract
    on_date: date
    old_quantity: int
    new_quantity: int
    old_term: str
    new_term: str
    now: InvoiceLine | None
    before: Invoice | None
    after: Invoice | None
    decision: newcommerce.RuleDecision

    @property
    def next_invoice_delta(self) -> Decimal:
        return (self.after.total if self.after else ZERO) - (self.before.total if self.before else ZERO)

    def as_dict(self) -> dict[str, object]:
        cur = self.contract.currency

        def money(value: Decimal | None) -> str | None:
            return None if value is None else f"{value}"
        nxt = self.after or self.before
        return {
            "subscription": self.subscription.provider_subscription_id, "contract": self.contract.number,
            "date": self.on_date.isoformat(), "currency": cur,
            "quantity": {"from": self.old_quantity, "to": self.new_quantity},
            "term": {"from": self.old_term, "to": self.new_term},
            "allowed": self.decision.allowed, "reason": self.decision.reason,
            "now": None if self.now is None else {
                "description": self.now.description, "amount": money(self.now.amount),
                "periodStart": self.now.period_start.isoformat() if self.now.period_start else None,
                "periodEnd": self.now.period_end.isoformat() if self.now.period_end else None},
            "nextInvoice": {
                "key": nxt.key if nxt else None,
                "date": nxt.invoice_date.isoformat() if nxt else None,
                "before": money(self.before.total if self.before else ZERO),
                "after": money(self.after.total if self.after else ZERO),
                "difference": money(self.next_invoice_delta)},
        }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def preview_change(contract: BillingContract, data: BillingData, sub: Subscription, *, new_quantity: int,
                   on_date: date, new_term: str | None = None, new_price: Decimal | None = None,
                   global_refund: bool = True, existing_invoice_keys: frozenset[str] = frozenset()) -> ChangePreview:
    if new_quantity <= 0:
        raise ValidationError(f"--quantity must be greater than 0 (got {new_quantity}); cancel the subscription instead")
    term = new_term or sub.term
    newcommerce.term_months(term)  # a clear error for an unknown term
    logs = [c for c in data.change_logs
            if c.subscription_id == (sub.id or sub.provider_subscription_id) and c.shapes_billing]
    timeline = Timeline(sub, logs)
    old_qty, old_price = timeline.quantity(on_date), timeline.price(on_date)
    price = new_price if new_price is not None else old_price
    if term != sub.term and new_price is None:
        raise ValidationError(f"no price for {sub.name or sub.provider_subscription_id} on term {term}")
    if new_quantity == old_qty and price == old_price:
        raise ValidationError(f"the subscription already has {old_qty} seat(s) on {sub.term}: nothing changes")
    kind = ChangeType.TERM_CHANGE if term != sub.term else (
        ChangeType.INCREASE if new_quantity > old_qty else ChangeType.DECREASE)
    change = ChangeLog(f"{PREVIEW_KEY}|{sub.provider_subscription_id}|{on_date.isoformat()}", sub.id, kind, on_date,
                       old_qty, new_quantity, old_price=old_price, new_price=price)
    start = _midnight(sub.start_date or contract.start_date)
    end = _midnight(sub.commitment_end_date) if sub.commitment_end_date else None
    additions = newcommerce.seat_additions((_midnight(c.effective_date), c.old_quantity if c.change_type is not
                                            ChangeType.NEW else 0, c.new_quantity) for c in logs)
    decision = newcommerce.check_quantity_change(old_quantity=old_qty, new_quantity=new_quantity, start=start,
                                                 term=sub.term, now=_midnight(on_date), commitment_end=end,
                                                 additions=additions)
    changed = replace(data, contracts=(contract,), change_logs=[*data.change_logs, change])
    before = preview(contract, replace(data, contracts=(contract,)), on_date, global_refund=global_refund,
                     existing_invoice_keys=existing_invoice_keys)
    after = preview(contract, changed, on_date, global_refund=global_refund, existing_invoice_keys=existing_invoice_keys)
    now = next((ln for ln in (after.lines if after else ()) if ln.key == f"{change.change_key}|prorate"), None)
    return ChangePreview(sub, contract, on_date, old_qty, new_quantity, sub.term, term, now, before, after, decision)
