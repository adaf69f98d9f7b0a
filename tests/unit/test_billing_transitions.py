"""Billing after a Partner Center transition (SKU upgrade, term or billing-cycle conversion): the
change logs dataverse/transitions.py writes move the seats out of the old subscription and into
the new one at the same moment. The overlap of the period already charged is credited on the old
subscription and charged on the new one from its start, at its own price: never both."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from billing.models import (
    ChangeLog,
    ChangeOrigin,
    ChangeType,
    LineType,
    ProvisioningStatus,
    SubscriptionStatus,
)
from billing.runs import BillingData, plan_run
from tests.plugins.billing import make_contract, make_sub

WHEN = date(2026, 3, 10)  # the transition, mid-cycle, after March was invoiced in advance
BILLED = {"C-1|2026-01-01|cycle", "C-1|2026-02-01|cycle", "C-1|2026-03-01|cycle"}


def _world(moved: int, *, rep_key: str = "rep|term-change"):
    left = 10 - moved
    ended = {} if left else {"status": SubscriptionStatus.EXPIRED, "commitment_end_date": WHEN, "auto_renew": False}
    old = make_sub(quantity=left, **ended)  # 12.00 a seat a month
    new = make_sub(id="s-2", provider_subscription_id="PS-2", quantity=moved, unit_price=D("11.40"),
                   start_date=WHEN, name="Microsoft 365 E3 (annual)")
    logs = [
        # The rep's request, sent as a transition: carried out by the two logs below.
        ChangeLog(rep_key, "s-1", ChangeType.TERM_CHANGE, WHEN, 10, moved,
                  provisioning_status=ProvisioningStatus.PROVISIONED),
        ChangeLog("transition|t-1|transition out", "s-1", ChangeType.DECREASE, WHEN, 10, left,
                  origin=ChangeOrigin.TRANSITION, provisioning_status=ProvisioningStatus.NOT_APPLICABLE),
        ChangeLog("transition|t-1|transition in", "s-2", ChangeType.NEW, WHEN, 0, moved,
                  origin=ChangeOrigin.TRANSITION, provisioning_status=ProvisioningStatus.NOT_APPLICABLE),
    ]
    return BillingData([make_contract()], [old, new], logs)


@pytest.mark.parametrize("rep_key", ["rep|term-change", "zz-sorts-after-the-transition-logs"])
def test_a_full_transition_credits_the_old_subscription_and_charges_the_new_from_its_start(rep_key):
    april, = plan_run(_world(10, rep_key=rep_key), date(2026, 4, 2), existing_invoice_keys=BILLED).invoices
    lines = {(ln.line_type, ln.key.split("|")[0] if ln.line_type is LineType.LICENSE else ln.key): ln
             for ln in april.lines}
    days = D(22) / D(31)  # March 10..31, already charged on the old subscription
    credit = lines[(LineType.CREDIT, "transition|t-1|transition out|prorate")]
    charge = lines[(LineType.PRORATION, "transition|t-1|transition in|prorate")]
    assert credit.base_amount == (-10 * D("12.00") * days).quantize(D("0.01"))
    assert (credit.period_start, credit.period_end) == (date(2026, 3, 10), date(2026, 3, 31))
    assert charge.base_amount == (10 * D("11.40") * days).quantize(D("0.01"))
    assert (charge.period_start, charge.period_end) == (date(2026, 3, 10), date(2026, 3, 31))
    # April: the new subscription only; the rep's request itself bills nothing.
    licences = [ln for ln in april.lines if ln.line_type is LineType.LICENSE]
    assert [(ln.quantity, ln.unit_price) for ln in licences] == [(10, D("11.40"))]
    assert len(april.lines) == 3


def test_a_partial_upgrade_moves_only_the_seats_it_moved():
    april, = plan_run(_world(4), date(2026, 4, 2), existing_invoice_keys=BILLED).invoices
    by_type: dict[LineType, list] = {}
    for ln in april.lines:
        by_type.setdefault(ln.line_type, []).append(ln)
    days = D(22) / D(31)
    assert [ln.base_amount for ln in by_type[LineType.CREDIT]] == [(-4 * D("12.00") * days).quantize(D("0.01"))]
    assert [ln.base_amount for ln in by_type[LineType.PRORATION]] == [(4 * D("11.40") * days).quantize(D("0.01"))]
    assert sorted((ln.quantity, ln.unit_price) for ln in by_type[LineType.LICENSE]) == [(4, D("11.40")),
                                                                                         (6, D("12.00"))]
