from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from billing.models import ChangeLog, ChangeType, Frequency, InvoiceKind, LineType, OneTimeItem, Policy
from billing.runs import BillingData, plan_run
from tests.plugins.billing import make_contract, make_sub

ANNUAL = make_contract(frequency=Frequency.ANNUAL)
INC = ChangeLog("L1", "s-1", ChangeType.INCREASE, date(2026, 3, 10), 10, 15)


def test_annual_contract_bills_mid_term_additions_monthly():
    data = BillingData([ANNUAL], [make_sub(quantity=15)], [INC])
    plan = plan_run(data, date(2026, 4, 2), existing_invoice_keys={"C-1|2026-01-01|cycle"})
    inv, = plan.invoices
    assert (inv.key, inv.kind, inv.invoice_date) == ("C-1|2026-04-01|changelog", InvoiceKind.CHANGELOG, date(2026, 4, 2))
    line, = inv.lines
    # 5 seats x 12.00 x 12 months x 297/365 days to the next annual cycle
    assert (line.line_type, line.base_amount, line.period_end) == (LineType.PRORATION, D("585.86"), date(2026, 12, 31))
    assert inv.change_log_keys == ("L1",)
    # Once written, the next cycle invoice bills the new seat count and not the change again.
    billed = BillingData([ANNUAL], [make_sub(quantity=15)], [replace(INC, invoice_id="inv-april")])
    jan, = plan_run(billed, date(2027, 1, 2), existing_invoice_keys={"C-1|2026-01-01|cycle"}).invoices
    assert [(ln.line_type, ln.quantity) for ln in jan.lines] == [(LineType.LICENSE, 15)]


def test_changelog_invoice_once_a_month_and_late_changes_wait_for_next_month():
    data = BillingData([ANNUAL], [make_sub(quantity=15)], [INC])
    done = {"C-1|2026-01-01|cycle", "C-1|2026-04-01|changelog"}
    assert plan_run(data, date(2026, 4, 20), existing_invoice_keys=done).invoices == []
    assert plan_run(data, date(2026, 5, 2), existing_invoice_keys=done).invoices[0].key == "C-1|2026-05-01|changelog"


def test_no_changelog_invoices_for_monthly_or_arrears():
    for contract in (make_contract(), make_contract(frequency=Frequency.QUARTERLY, policy=Policy.ARREARS)):
        keys = [i.key for i in plan_run(BillingData([contract], [make_sub()], [INC]), date(2026, 4, 2)).invoices]
        assert not any(k.endswith("changelog") for k in keys)


def test_one_time_purchase_on_quarterly_changelog_invoice():
    quarterly = make_contract(frequency=Frequency.QUARTERLY)
    item = OneTimeItem("RI-9", "c-1", "Reserved instance", 1, D("500.00"), date(2026, 2, 10))
    data = BillingData([quarterly], [], one_time_items=[item])
    assert plan_run(data, date(2026, 2, 2), existing_invoice_keys={"C-1|2026-01-01|cycle"}).invoices == []
    inv, = plan_run(data, date(2026, 3, 2), existing_invoice_keys={"C-1|2026-01-01|cycle"}).invoices
    assert inv.kind is InvoiceKind.CHANGELOG and inv.total == D("500.00")
    # The April cycle invoice, planned in the same run as the changelog one, carries it only once.
    both = plan_run(data, date(2026, 4, 2), existing_invoice_keys={"C-1|2026-01-01|cycle"})
    assert [ln.key for i in both.invoices for ln in i.lines].count("onetime|RI-9") == 1


def test_changes_that_never_took_effect_bill_nothing():
    """A refused, failed or hand-over change log never happened at the provider: no changelog
    invoice line, no credit, and the seat history the cycle invoice bills is left alone."""
    from billing.models import ProvisioningStatus

    done = {"C-1|2026-01-01|cycle"}
    for status in (ProvisioningStatus.REFUSED, ProvisioningStatus.FAILED, ProvisioningStatus.MANUAL_ACTION):
        up = replace(INC, provisioning_status=status)
        down = ChangeLog("L2", "s-1", ChangeType.DECREASE, date(2026, 3, 12), 10, 4, provisioning_status=status)
        data = BillingData([ANNUAL], [make_sub(quantity=10)], [up, down])
        assert plan_run(data, date(2026, 4, 2), existing_invoice_keys=done).invoices == [], status
        monthly = make_contract()
        april = [i for i in plan_run(BillingData([monthly], [make_sub(quantity=10)], [up, down]), date(2026, 4, 2)
                                     ).invoices if i.period_start == date(2026, 4, 1)]
        assert [(ln.line_type, ln.quantity) for i in april for ln in i.lines] == [(LineType.LICENSE, 10)], status
    # The same changes provisioned do bill (the control).
    ok = BillingData([ANNUAL], [make_sub(quantity=15)], [replace(INC, provisioning_status=ProvisioningStatus.PROVISIONED)])
    assert plan_run(ok, date(2026, 4, 2), existing_invoice_keys=done).invoices[0].total > 0
