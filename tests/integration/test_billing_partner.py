"""Billing the Partner Center sandbox partner end to end, over real HTTP: catalog, provider
account and subscription sync, contract assignment, then an invoice run; re-runs create nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from dataverse import billing_jobs
from dataverse.contract_jobs import assign_contracts
from dataverse.tables import EntitySet
from sync.catalog_sync import run_catalog_sync
from sync.jobs import price_sheet_rows
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration

RUN = date(2026, 11, 2)
SYNCED = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _rows(dv, entity_set, **kw):
    return list(dv.list(entity_set, **kw))


@pytest.fixture
def synced_partner(dv, sync_pc):
    """Catalog (USD, EUR), CRM accounts for three of the four tenants, accounts + subscriptions synced."""
    companies = list(sync_pc.list_companies())
    for company in companies[:3]:
        dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    run_catalog_sync(dv, price_sheet_rows(sync_pc, ("USD", "EUR")), currencies=("USD", "EUR"))
    run_provider_account_sync(dv, {1: sync_pc})
    assert run_subscription_sync(dv, {1: sync_pc}, now=SYNCED)["status"] == "Succeeded"
    return companies


def test_assign_then_bill_the_synced_partner(dv, synced_partner) -> None:
    companies = synced_partner
    summary = assign_contracts(dv, on_date=RUN)
    print(summary.as_dict())
    assert summary.assigned > 0
    assert [name for name, _ in summary.blocked] == [companies[3].name]
    assert "not mapped" in summary.blocked[0][1]

    result = billing_jobs.run(RUN, dv=dv)
    print(result.summary(), result.errors)
    assert result.errors == []
    invoices = _rows(dv, EntitySet.INVOICES, select=["invoiceid", "cspb_invoicekey", "totalamount", "statuscode",
                                                    "_customerid_value", "cspb_exchangerate", "cspb_currencycode"])
    assert invoices
    mapped_accounts = {r["_cspb_account_value"] for r in _rows(
        dv, EntitySet.PROVIDER_ACCOUNTS, select=["_cspb_account_value"]) if r.get("_cspb_account_value")}
    assert len(mapped_accounts) == 3
    assert {i["_customerid_value"] for i in invoices} <= mapped_accounts
    for inv in invoices:
        details = _rows(dv, EntitySet.INVOICE_DETAILS, select=["extendedamount"],
                        filter=f"_invoiceid_value eq {inv['invoiceid']}")
        assert details and D(str(inv["totalamount"])) == sum(D(str(d["extendedamount"])) for d in details)
        assert inv["statuscode"] == 4
    print(sorted((i["cspb_invoicekey"], i["totalamount"], i["cspb_exchangerate"]) for i in invoices))

    again_assign = assign_contracts(dv, on_date=RUN)
    assert again_assign.assigned == 0 and again_assign.contracts_created == []
    again = billing_jobs.run(RUN, dv=dv)
    assert again.created == 0 and again.resumed == 0 and again.lines_written == 0
    assert len(_rows(dv, EntitySet.INVOICES, select=["invoiceid"])) == len(invoices)
