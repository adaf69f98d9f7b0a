"""Invoice runs written in bulk (dataverse.billing_bulk) against the Dataverse sandbox: the same
invoices, lines, links, schedules and next invoice dates as the per-invoice writes, in a handful
of requests, and re-runs and crashes between steps never duplicate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.run_service import execute_run
from dataverse.billing_bulk import execute_bulk_run
from dataverse.billing_repo import DataverseBillingRepository
from dataverse.client import DataverseClient
from dataverse.seed_billing import seed_billing
from dataverse.tables import EntitySet
from shared.auth import static_token
from shared.errors import RetriableError
from tests.plugins.dataverse import fast_retry

pytestmark = pytest.mark.integration

RUNS = (date(2026, 1, 2), date(2026, 2, 2), date(2026, 3, 2))


def _d(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _state(dv) -> dict:
    """Everything a run writes, by keys and values (ids mapped back to keys), to compare two orgs."""
    invoices = {r["invoiceid"]: r for r in dv.list(EntitySet.INVOICES, select=[
        "invoiceid", "cspb_invoicekey", "totalamount", "totaltax", "statuscode", "cspb_exchangerate"])}
    key = {i: r["cspb_invoicekey"] for i, r in invoices.items()}
    lines = sorted((key.get(r["_invoiceid_value"]), r["cspb_linekey"], _d(r["extendedamount"]), _d(r["tax"]))
                   for r in dv.list(EntitySet.INVOICE_DETAILS, select=[
                       "_invoiceid_value", "cspb_linekey", "extendedamount", "tax"]))
    logs = sorted((r["cspb_changekey"], key.get(r.get("_cspb_invoice_value"))) for r in dv.list(
        EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_changekey", "_cspb_invoice_value"]))
    usage = sorted((r["cspb_summarykey"], r.get("cspb_billed"), key.get(r.get("_cspb_invoice_value")))
                   for r in dv.list(EntitySet.USAGE_SUMMARIES, select=[
                       "cspb_summarykey", "cspb_billed", "_cspb_invoice_value"]))
    revenue = sorted((r["cspb_schedulekey"], _d(r["cspb_amount"]), key.get(r.get("_cspb_invoice_value")))
                     for r in dv.list(EntitySet.REVENUE_SCHEDULES, select=[
                         "cspb_schedulekey", "cspb_amount", "_cspb_invoice_value"]))
    contracts = sorted((r["cspb_contractnumber"], r.get("cspb_nextinvoicedate")) for r in dv.list(
        EntitySet.BILLING_CONTRACTS, select=["cspb_contractnumber", "cspb_nextinvoicedate"]))
    heads = sorted((r["cspb_invoicekey"], _d(r["totalamount"]), _d(r["totaltax"]), r["statuscode"],
                    _d(r.get("cspb_exchangerate"))) for r in invoices.values())
    return {"invoices": heads, "lines": lines, "logs": logs, "usage": usage, "revenue": revenue,
            "contracts": contracts}


@pytest.fixture
def second_org(tmp_path):
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app

    app = build_app(tmp_path / "dv-bulk")
    server = RunningServer(app).start()
    yield server
    server.stop()
    app.close()


def test_bulk_run_writes_what_the_per_invoice_run_writes_in_far_fewer_requests(dv, second_org) -> None:
    bulk_dv = DataverseClient(second_org.url, static_token("sandbox-token"), retry=fast_retry(), timeout=10.0)
    seed_billing(dv)
    seed_billing(bulk_dv)
    per_invoice = DataverseBillingRepository(dv)
    for day in RUNS:
        before_one, before_bulk = dv.http.request_count, bulk_dv.http.request_count
        one = execute_run(per_invoice, day)
        bulk = execute_bulk_run(bulk_dv, day)
        assert bulk.errors == one.errors == []
        assert (bulk.created, bulk.lines_written, bulk.revenue_entries) == (
            one.created, one.lines_written, one.revenue_entries)
        assert sorted(i.key for i in bulk.invoices) == sorted(i.key for i in one.invoices)
        assert all(len(i.id or "") == 36 for i in bulk.invoices)  # real ids, read back once
        if one.created >= 2:
            assert bulk_dv.http.request_count - before_bulk < dv.http.request_count - before_one
    assert _state(bulk_dv) == _state(dv)

    # Re-runs write nothing new.
    for day in RUNS:
        again = execute_bulk_run(bulk_dv, day)
        assert again.created + again.resumed == 0
    assert _state(bulk_dv) == _state(dv)


def test_crash_between_bulk_steps_is_finished_by_the_next_run(dv, dv_server, second_org) -> None:
    bulk_dv = DataverseClient(second_org.url, static_token("sandbox-token"), retry=fast_retry(), timeout=10.0)
    seed_billing(dv)
    seed_billing(bulk_dv)
    for day in RUNS:
        execute_run(DataverseBillingRepository(dv), day)
    # Every request after the headers and lines fails: the run stops with invoices half-written.
    second_org.app.faults.set(fail_every=1, path_contains="$batch")
    with pytest.raises(RetriableError):
        execute_bulk_run(bulk_dv, RUNS[0])
    second_org.app.faults.clear()
    for day in RUNS:
        execute_bulk_run(bulk_dv, day)
    assert _state(bulk_dv) == _state(dv)
