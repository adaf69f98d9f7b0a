from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from billing.currency import RateTable
from billing.models import (
    ChangeType,
    ExchangeRate,
    Frequency,
    LineType,
    Policy,
    RefundPolicy,
    RevenueScheduleEntry,
    SubscriptionKind,
)
from billing.runs import BillingData, plan_run
from dataverse import map_billing as m
from shared.errors import ValidationError
from tests.plugins.billing import make_contract, make_sub

GUID = "6f1c2a9e-0000-4000-8000-00000000000{}"


def test_contract_row_defaults_and_types():
    c = m.contract_from_row({
        "cspb_billingcontractid": GUID.format(1), "cspb_contractnumber": "BC-1", "cspb_frequency": 12,
        "cspb_policy": 2, "cspb_startdate": "2026-03-01", "cspb_currencycode": "eur", "cspb_refundpolicy": 2,
        "cspb_usagemarkuppct": 10, "cspb_minimumcommitment": D("50.00"), "cspb_billingoffsetdays": -3,
        "cspb_paymenttoken": "tok_secret"})
    assert (c.frequency, c.policy, c.refund_policy, c.currency) == (Frequency.ANNUAL, Policy.ARREARS, RefundPolicy.NO, "EUR")
    assert c.usage_markup_pct == D("10") and c.minimum_commitment == D("50.00") and c.billing_offset_days == -3
    assert c.start_date == date(2026, 3, 1) and c.language == "en"
    assert c.payment_token == "" and "tok_secret" not in repr(c)


def test_subscription_change_log_usage_rows():
    s = m.subscription_from_row({"cspb_subscriptionid": GUID.format(2), "cspb_providersubscriptionid": "PS",
                                 "cspb_quantity": 7, "cspb_unitprice": D("9.99"), "cspb_kind": 5,
                                 "cspb_startdate": "2026-02-03T00:00:00Z", "cspb_autorenew": None,
                                 "_cspb_billingcontract_value": GUID.format(1)})
    assert s.kind is SubscriptionKind.ONE_TIME and s.start_date == date(2026, 2, 3) and s.auto_renew
    item = m.one_time_from_subscription(s)
    assert item.effective_date == date(2026, 2, 3) and item.contract_id == GUID.format(1)
    log = m.change_log_from_row({"cspb_changekey": "K", "cspb_changetype": 5, "cspb_effectivedate": "2026-02-04T10:00:00Z",
                                 "cspb_oldquantity": 7, "cspb_newquantity": 7, "cspb_archived": True})
    assert log.change_type is ChangeType.CANCEL and log.archived and log.old_price is None
    u = m.usage_from_row({"cspb_summarykey": "U", "cspb_subscriptionid": "AZ", "cspb_period": "2026-01",
                          "cspb_currencycode": "usd", "cspb_cost": D("1.5")})
    assert (u.currency, u.cost, u.billed) == ("USD", D("1.5"), False)


def test_invoice_rows_round_trip():
    sub = make_sub(id=GUID.format(5))
    inv = plan_run(BillingData([make_contract(tax_rate_pct=D("10"))], [sub]), date(2026, 1, 2)).invoices[0]
    inv = inv.__class__(**{**inv.__dict__, "contract_id": GUID.format(1), "account_id": GUID.format(3)})
    header = m.invoice_header_row(inv)
    assert header["cspb_invoicekey"] == "C-1|2026-01-01|cycle" and header["statuscode"] == m.STATUS_WRITING
    assert header["cspb_billingcontract@odata.bind"] == f"/cspb_billingcontracts({GUID.format(1)})"
    assert header["customerid_account@odata.bind"] == f"/accounts({GUID.format(3)})"
    line_rows = [m.line_row(ln, GUID.format(4), 1) for ln in inv.lines]
    assert line_rows[0]["cspb_linetype"] == int(LineType.LICENSE) and line_rows[0]["extendedamount"] == D("132.00")
    back = [m.line_from_row({**r, "quantity": r["quantity"]}) for r in line_rows]
    done = m.invoice_complete_row(back)
    assert (done["totalamount"], done["totaltax"], done["statuscode"]) == (D("132.00"), D("12.00"), m.STATUS_COMPLETE)
    stored = m.invoice_from_row({**header, "invoiceid": GUID.format(4), "statuscode": 4,
                                 "_cspb_billingcontract_value": GUID.format(1)}, line_rows)
    assert stored.complete and stored.total == D("132.00") and stored.key == inv.key


def test_revenue_row_round_trip():
    e = RevenueScheduleEntry("K|2026-01", "K", "2026-01", D("8.34"), "USD", invoice_id=GUID.format(4))
    row = m.revenue_row(e)
    back = m.revenue_from_row({**row, "_cspb_invoice_value": GUID.format(4)})
    assert back == e


def test_rates_table_inverse_and_missing_month_names_pair_and_month():
    table = RateTable([ExchangeRate("2026-01", "USD", "EUR", D("0.8"))])
    assert table.rate("EUR", "USD", "2026-01") == D("1.25")
    with pytest.raises(ValidationError, match=r"USD->EUR for 2026-02"):
        table.rate("USD", "EUR", "2026-02")
    row = m.exchange_rate_row(ExchangeRate("2026-03", "USD", "COP", D("4012.5"), "Partner Center fxrates 202603"))
    assert row["cspb_ratekey"] == "USD|COP|2026-03"
    assert m.exchange_rate_from_row(row) == ExchangeRate("2026-03", "USD", "COP", D("4012.5"), "Partner Center fxrates 202603")
    with pytest.raises(ValidationError):
        RateTable([ExchangeRate("2026-01", "USD", "EUR", D("0"))])
