"""Billing runs against the Dataverse sandbox over real HTTP: invoices, lines, links, revenue
schedule; re-runs and crashes never duplicate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from billing.run_service import execute_run, preview_contract
from dataverse.billing_repo import DataverseBillingRepository
from dataverse.client import DataverseClient
from dataverse.seed_billing import seed_billing
from dataverse.tables import EntitySet
from shared.auth import static_token
from shared.errors import RetriableError
from tests.plugins.dataverse import fast_retry

pytestmark = pytest.mark.integration


def rows(dv, entity_set, **kw):
    return list(dv.list(entity_set, **kw))


def test_run_bills_seeded_contracts_and_rerun_changes_nothing(dv):
    ids = seed_billing(dv)
    repo = DataverseBillingRepository(dv)
    jan = execute_run(repo, date(2026, 1, 2))
    assert jan.errors == [] and jan.created == 2
    feb = execute_run(repo, date(2026, 2, 2))
    assert feb.errors == [] and feb.created == 2
    assert feb.summary() == {"USD": {"invoices": 2, "lines": 5, "total": D("996.19")}}

    invoices = rows(dv, EntitySet.INVOICES, select=["invoiceid", "cspb_invoicekey", "totalamount", "statuscode",
                                                    "_cspb_billingcontract_value"])
    assert sorted(i["cspb_invoicekey"] for i in invoices) == [
        "BC-1001|2026-01-01|cycle", "BC-1001|2026-02-01|cycle", "BC-2001|2026-01-01|cycle", "BC-3001|2026-01-01|cycle"]
    for inv in invoices:
        details = rows(dv, EntitySet.INVOICE_DETAILS, select=["extendedamount"],
                       filter=f"_invoiceid_value eq {inv['invoiceid']}")
        assert inv["totalamount"] == sum(D(str(d["extendedamount"])) for d in details)
        assert inv["statuscode"] == 4
    by_key = {i["cspb_invoicekey"]: i for i in invoices}
    assert by_key["BC-1001|2026-02-01|cycle"]["_cspb_billingcontract_value"] == ids["BC-1001"]

    inc = dv.get(EntitySet.LICENSE_CHANGE_LOGS, ids["log-inc"], select=["_cspb_invoice_value"])
    assert inc["_cspb_invoice_value"] == by_key["BC-1001|2026-02-01|cycle"]["invoiceid"]
    usage = dv.get(EntitySet.USAGE_SUMMARIES, ids["usage-compute"], select=["cspb_billed", "_cspb_invoice_value"])
    assert usage["cspb_billed"] is True and usage["_cspb_invoice_value"] == by_key["BC-2001|2026-01-01|cycle"]["invoiceid"]

    schedule = repo.revenue_schedule(by_key["BC-3001|2026-01-01|cycle"]["invoiceid"])
    assert len(schedule) == 12 and sum(e.amount for e in schedule) == D("1100.00")

    again = [execute_run(repo, date(2026, 1, 2)), execute_run(repo, date(2026, 2, 2))]
    assert [r.created + r.resumed for r in again] == [0, 0]
    assert len(rows(dv, EntitySet.INVOICES, select=["invoiceid"])) == 4
    assert len(rows(dv, EntitySet.INVOICE_DETAILS, select=["invoicedetailid"])) == 7


class CrashAfterLines(DataverseBillingRepository):
    def __init__(self, client, lines_before_crash):
        super().__init__(client)
        self.left = lines_before_crash

    def create_lines(self, invoice_id, lines):
        for number, line in enumerate(lines[: self.left], start=1):
            self.create_line(invoice_id, line, number)
        raise RetriableError("simulated crash mid-invoice")


def test_crash_mid_invoice_then_rerun_completes_the_same_invoice(dv):
    seed_billing(dv)
    execute_run(DataverseBillingRepository(dv), date(2026, 1, 2), contract_numbers=["BC-1001"])
    january = rows(dv, EntitySet.INVOICES, select=["invoiceid"])[0]["invoiceid"]
    with pytest.raises(RetriableError):
        execute_run(CrashAfterLines(dv, 1), date(2026, 2, 2), contract_numbers=["BC-1001"])
    half = [r for r in rows(dv, EntitySet.INVOICES, select=["invoiceid", "statuscode", "totalamount"])
            if r["invoiceid"] != january]
    assert len(half) == 1 and half[0]["statuscode"] == 1 and half[0]["totalamount"] is None
    result = execute_run(DataverseBillingRepository(dv), date(2026, 2, 2), contract_numbers=["BC-1001"])
    assert (result.created, result.resumed) == (0, 1)
    done = [r for r in rows(dv, EntitySet.INVOICES, select=["invoiceid", "statuscode", "totalamount"])
            if r["invoiceid"] != january]
    assert len(done) == 1 and done[0]["statuscode"] == 4
    # January was billed by its own run, so February holds its full line and the increase only.
    assert done[0]["totalamount"] == result.invoices[0].total == D("696.19")
    lines = rows(dv, EntitySet.INVOICE_DETAILS, select=["_invoiceid_value"])
    assert sum(1 for ln in lines if ln["_invoiceid_value"] == done[0]["invoiceid"]) == 2


def test_response_lost_after_create_is_not_duplicated(dv_server):
    client = DataverseClient(dv_server.url, static_token("sandbox-token"), retry=fast_retry(), timeout=0.5)
    seed_billing(client)
    dv_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.0, path_contains="/invoices(", method="PATCH")
    result = execute_run(DataverseBillingRepository(client), date(2026, 1, 2), contract_numbers=["BC-1001"])
    injected = dv_server.app.faults.injected["timeout"]
    dv_server.app.faults.clear()
    assert injected == 1
    assert result.errors == [] and len(result.invoices) == 1
    assert len(rows(client, EntitySet.INVOICES, select=["invoiceid"])) == 1


def test_preview_writes_nothing(dv):
    seed_billing(dv)
    repo = DataverseBillingRepository(dv)
    execute_run(repo, date(2026, 1, 2), contract_numbers=["BC-1001"])
    nxt = preview_contract(repo, "BC-1001", date(2026, 1, 10))
    assert nxt.key == "BC-1001|2026-02-01|cycle" and nxt.total == D("696.19")
    assert len(rows(dv, EntitySet.INVOICES, select=["invoiceid"])) == 1
