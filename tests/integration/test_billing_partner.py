"""Billing the Partner Center sandbox partner end to end, over real HTTP: catalog, provider
account and subscription sync, contract assignment, then an invoice run; re-runs create nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from dataverse.tables import EntitySet
from jobs import billing as billing_jobs
from jobs.contracts import assign_contracts
from jobs.sync import price_sheet_rows
from sync.catalog_sync import run_catalog_sync
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
    run_catalog_sync(dv, price_sheet_rows(sync_pc, ("USD", "EUR")), currencies=("USD", "EUR"), everything=True)
    run_provider_account_sync(dv, {1: sync_pc})
    assert run_subscription_sync(dv, {1: sync_pc}, now=SYNCED)["status"] == "Succeeded"
    return companies


def test_assign_then_bill_the_synced_partner(dv, synced_partner) -> None:
    companies = synced_partner
    summary = assign_contracts(dv, on_date=RUN)
    assert summary.assigned > 0
    assert [name for name, _ in summary.blocked] == [companies[3].name]
    assert "not mapped" in summary.blocked[0][1]

    result = billing_jobs.run(RUN, dv=dv)
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
        # Every line was priced from the price list in the invoice currency: no conversion.
        assert D(str(inv["cspb_exchangerate"])) == 1

    again_assign = assign_contracts(dv, on_date=RUN)
    assert again_assign.assigned == 0 and again_assign.contracts_created == []
    again = billing_jobs.run(RUN, dv=dv)
    assert again.created == 0 and again.resumed == 0 and again.lines_written == 0
    assert len(_rows(dv, EntitySet.INVOICES, select=["invoiceid"])) == len(invoices)


def test_new_azure_contracts_take_the_partners_usage_markup(dv, synced_partner) -> None:
    """The partner's default markup rule (15 %, as an admin enters it before the first catalog sync) is
    the usage markup of every Azure and usage contract `bill assign` creates; license contracts get none
    (their price list prices already carry the markup)."""
    from billing.models import Policy
    from dataverse.catalog_repo import set_markup_rule

    set_markup_rule(dv, "default", "Default markup", 15)
    assert assign_contracts(dv, on_date=RUN).contracts_created
    contracts = _rows(dv, EntitySet.BILLING_CONTRACTS, select=["cspb_policy", "cspb_usagemarkuppct"])
    usage = [c for c in contracts if c["cspb_policy"] == int(Policy.ARREARS)]
    licenses = [c for c in contracts if c["cspb_policy"] == int(Policy.ADVANCE)]
    assert usage and all(D(str(c["cspb_usagemarkuppct"])) == 15 for c in usage)
    assert licenses and all(not c.get("cspb_usagemarkuppct") for c in licenses)


def _sub(dv, psid):
    return dv.get_by_key(EntitySet.SUBSCRIPTIONS, {"cspb_providersubscriptionid": psid},
                         select=["cspb_subscriptionid", "cspb_status", "cspb_commitmentenddate", "cspb_unitprice",
                                 "cspb_productid", "cspb_skuid", "cspb_term", "cspb_billingfrequency",
                                 "cspb_currencycode", "cspb_quantity"])


def test_terms_renew_at_the_new_price_or_expire_and_rerun_writes_once(dv, synced_partner) -> None:
    companies = synced_partner
    billing_jobs.run(RUN, dv=dv)
    # Two licenses of the Canadian tenant (billed in USD) whose terms end in November: one keeps
    # auto-renew and its list price goes up, the other has auto-renew switched off.
    ending = [s for s in sync_pc_subs(dv, companies[1].name) if s["cspb_status"] == 1 and s["cspb_autorenew"]
              and s["cspb_commitmentenddate"][:10] < "2026-12-01"]
    renewing = next(s for s in ending if s["cspb_term"] == "P1M")
    stopping = next(s for s in ending if s is not renewing)
    dv.update(EntitySet.SUBSCRIPTIONS, stopping["cspb_subscriptionid"], {"cspb_autorenew": False})
    key = (f"CSP {renewing['cspb_currencycode']}|{renewing['cspb_productid']}:{renewing['cspb_skuid']}|"
           f"{renewing['cspb_term']} monthly")
    item = next(iter(dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=["productpricelevelid", "amount"],
                             filter=f"cspb_pricekey eq '{key}'")))
    old_price = D(str(renewing["cspb_unitprice"]))
    new_price = old_price + D("2.00")
    dv.update(EntitySet.PRODUCT_PRICE_LEVELS, item["productpricelevelid"], {"amount": new_price})

    dec = date(2026, 12, 2)
    seen: list = []
    result = billing_jobs.run(dec, dv=dv, on_prepared=seen.append)
    assert result.errors == []
    renewals = seen[0].renewals
    assert renewals.renewed >= 1 and renewals.expired == 1 and renewals.repriced == 1

    after = _sub(dv, renewing["cspb_providersubscriptionid"])
    assert D(str(after["cspb_unitprice"])) == new_price
    assert after["cspb_commitmentenddate"][:10] > renewing["cspb_commitmentenddate"][:10]
    assert _sub(dv, stopping["cspb_providersubscriptionid"])["cspb_status"] == 3  # Expired
    logs = {r["cspb_changekey"]: r for r in _rows(
        dv, EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_changekey", "cspb_changetype", "cspb_oldprice", "cspb_newprice",
                                                   "cspb_origin"], filter="cspb_origin eq 4")}
    renew_key = f"{renewing['cspb_providersubscriptionid']}|renew|"
    renew_log = next(v for k, v in logs.items() if k.startswith(renew_key))
    assert renew_log["cspb_changetype"] == 6 and D(str(renew_log["cspb_newprice"])) == new_price
    assert any(k.startswith(f"{stopping['cspb_providersubscriptionid']}|cancel|") and v["cspb_changetype"] == 5
               for k, v in logs.items())

    # The December invoice bills the renewed seats at the new price from the renewal on.
    invoice = next(i for i in _rows(dv, EntitySet.INVOICES, select=["invoiceid", "cspb_invoicekey"])
                   if i["cspb_invoicekey"].endswith("|2026-12-01|cycle")
                   and i["cspb_invoicekey"].startswith(license_contract(dv, companies[1].name)))
    lines = _rows(dv, EntitySet.INVOICE_DETAILS, select=["cspb_linekey", "priceperunit", "quantity"],
                  filter=f"_invoiceid_value eq {invoice['invoiceid']}")
    full = next(ln for ln in lines if ln["cspb_linekey"].endswith(f"|lic|{renewing['cspb_providersubscriptionid']}"))
    assert D(str(full["priceperunit"])) == new_price

    again = billing_jobs.run(dec, dv=dv, on_prepared=seen.append)
    assert seen[1].renewals.renewed == 0 and seen[1].renewals.expired == 0
    assert again.created == 0 and again.lines_written == 0
    assert len(_rows(dv, EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_changekey"], filter="cspb_origin eq 4")) == len(logs)


def sync_pc_subs(dv, account_name):
    pa = next(r for r in _rows(dv, EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_name"])
              if r["cspb_name"] == account_name)
    return sorted(_rows(dv, EntitySet.SUBSCRIPTIONS, select=[
        "cspb_subscriptionid", "cspb_providersubscriptionid", "cspb_status", "cspb_term", "cspb_autorenew",
        "cspb_commitmentenddate", "cspb_unitprice", "cspb_productid", "cspb_skuid", "cspb_currencycode"],
        filter=f"_cspb_provideraccount_value eq {pa['cspb_provideraccountid']}"),
        key=lambda r: r["cspb_providersubscriptionid"])


def license_contract(dv, account_name):
    account = next(r for r in _rows(dv, EntitySet.ACCOUNTS, select=["accountid", "name"]) if r["name"] == account_name)
    from billing.contract_assignment import ContractKind, contract_number

    return contract_number(account["accountid"], "USD", ContractKind.LICENSES)


def test_cli_assign_and_run_with_and_without_assignment(monkeypatch, dv_server, dv, synced_partner) -> None:
    from click.testing import CliRunner

    from cli.main import cli
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    runner = CliRunner()
    skipped = runner.invoke(cli, ["bill", "run", "--date", RUN.isoformat(), "--no-assign"])
    assert skipped.exit_code == 0, skipped.output
    assert "no invoices" in skipped.output and "assign" not in skipped.output.split("run ")[0]

    assigned = runner.invoke(cli, ["bill", "assign", "--date", RUN.isoformat()])
    assert assigned.exit_code == 0, assigned.output
    assert "29 subscription(s) put on contracts" in assigned.output
    assert f"not billed: {synced_partner[3].name}" in assigned.output

    billed = runner.invoke(cli, ["bill", "run", "--date", RUN.isoformat()])
    assert billed.exit_code == 0, billed.output
    assert "0 subscription(s) put on contracts" in billed.output and "3 created" in billed.output
    assert "EUR: 1 invoice(s)" in billed.output and "USD: 2 invoice(s)" in billed.output


def test_large_partner_path_reads_whole_tables_with_the_same_result(monkeypatch, dv, synced_partner) -> None:
    from dataverse.stores import contract_assignment

    monkeypatch.setattr(contract_assignment, "MAX_FILTER_CHUNKS", 0)
    summary = assign_contracts(dv, on_date=RUN)
    assert (summary.assigned, summary.archived_logs, len(summary.contracts_created)) == (29, 24, 5)
