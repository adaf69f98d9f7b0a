"""A SKU upgrade through a Partner Center transition, billed by real invoice runs over the Dataverse
sandbox: November is invoiced in advance on the old subscription, the rep's Term Change upgrades it
on 10 November, and December's invoice credits the old seats from the 10th to the end of November,
charges the new subscription from the 10th at its own price, and bills December on the new one
only. The change logs, Partner Center's state and the invoices agree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from dataverse.tables import EntitySet
from jobs import billing as billing_jobs
from jobs.sync import price_sheet_rows
from sync import provisioning
from sync.catalog_sync import run_catalog_sync
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration

SYNCED = datetime(2026, 11, 1, 9, tzinfo=UTC)
NOV, DEC = date(2026, 11, 2), date(2026, 12, 2)
UPGRADED = datetime(2026, 11, 10, 12, tzinfo=UTC)
SUB_SELECT = ["cspb_subscriptionid", "cspb_providersubscriptionid", "cspb_productid", "cspb_skuid",
              "cspb_availabilityid", "cspb_quantity", "cspb_unitprice", "cspb_term", "cspb_billingfrequency",
              "cspb_status", "cspb_autorenew", "cspb_commitmentenddate", "_cspb_billingcontract_value",
              "_cspb_provideraccount_value", "_cspb_transitionedfrom_value", "cspb_currencycode"]


def _lines(dv, invoice_key: str) -> list[dict]:
    invoice = next(iter(dv.list(EntitySet.INVOICES, select=["invoiceid", "totalamount"],
                                filter=f"cspb_invoicekey eq '{invoice_key}'")))
    return list(dv.list(EntitySet.INVOICE_DETAILS, select=["cspb_linekey", "quantity", "priceperunit",
                                                           "extendedamount", "baseamount"],
                        filter=f"_invoiceid_value eq {invoice['invoiceid']}"))


def test_an_upgrade_mid_month_is_billed_once_across_the_overlap(dv, sync_pc) -> None:
    companies = list(sync_pc.list_companies())
    for company in companies:
        dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    run_catalog_sync(dv, price_sheet_rows(sync_pc, ("USD", "EUR")), currencies=("USD", "EUR"), everything=True)
    run_provider_account_sync(dv, {1: sync_pc})
    run_subscription_sync(dv, {1: sync_pc}, now=SYNCED)
    assert billing_jobs.run(NOV, dv=dv).errors == []

    # A monthly-billed annual licence of a mapped customer, invoiced for November, with an upgrade target.
    accounts = {r["cspb_provideraccountid"]: r["cspb_externalid"] for r in dv.list(
        EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_externalid"])}
    for account_id in accounts:
        dv.update(EntitySet.PROVIDER_ACCOUNTS, account_id, {"cspb_mcaattested": True})
    candidates = [r for r in dv.list(EntitySet.SUBSCRIPTIONS, select=SUB_SELECT,
                                     filter="cspb_status eq 1 and cspb_term eq 'P1Y' and cspb_billingfrequency eq "
                                            "'P1M' and cspb_kind eq 1")
                  if r.get("_cspb_billingcontract_value") and r.get("cspb_unitprice")
                  and r["cspb_commitmentenddate"][:10] > "2027-01-01"]
    source = target = None
    for row in candidates:
        customer = accounts[row["_cspb_provideraccount_value"]]
        current = f"{row['cspb_productid']}:{row['cspb_skuid']}:{row['cspb_availabilityid']}"
        eligible = [i["catalogItemId"] for i in sync_pc.client.transition_eligibilities(
            customer, row["cspb_providersubscriptionid"], "immediate")
            if i["catalogItemId"] != current and i["eligibilities"][0]["isEligible"]]
        if eligible:
            source, target = row, eligible[0]
            break
    assert source is not None, "the seed holds an upgradable monthly-billed annual licence"
    quantity = int(source["cspb_quantity"])
    old_price = D(str(source["cspb_unitprice"]))

    # The rep's upgrade, provisioned on 10 November.
    log_id = dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": "rep|upgrade", "cspb_name": "upgrade", "cspb_changetype": 8, "cspb_origin": 1,
        "cspb_provisioningstatus": 1, "cspb_oldquantity": quantity, "cspb_newquantity": quantity,
        "cspb_targetcatalogitemid": target,
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({source['cspb_subscriptionid']})"})
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc}, now=UPGRADED)
    assert outcome.status == "Provisioned", outcome.message
    new, = [r for r in dv.list(EntitySet.SUBSCRIPTIONS, select=SUB_SELECT,
                               filter=f"_cspb_transitionedfrom_value eq {source['cspb_subscriptionid']}")]
    customer = accounts[source["_cspb_provideraccount_value"]]
    at_pc = sync_pc.client.get_subscription(customer, new["cspb_providersubscriptionid"]).raw
    assert at_pc["offerId"] == target and at_pc["quantity"] == quantity and at_pc["status"] == "active"
    assert sync_pc.client.get_subscription(customer, source["cspb_providersubscriptionid"]).raw["status"] == "expired"
    assert new["_cspb_billingcontract_value"] == source["_cspb_billingcontract_value"]

    assert billing_jobs.run(DEC, dv=dv).errors == []
    new = dv.get(EntitySet.SUBSCRIPTIONS, new["cspb_subscriptionid"], select=SUB_SELECT)
    new_price = D(str(new["cspb_unitprice"]))  # priced from the price list by the run's assignment step
    assert new_price > 0 and new_price != old_price
    contract = dv.get(EntitySet.BILLING_CONTRACTS, source["_cspb_billingcontract_value"],
                      select=["cspb_contractnumber"])["cspb_contractnumber"]
    lines = {r["cspb_linekey"]: r for r in _lines(dv, f"{contract}|2026-12-01|cycle")}
    cent = D("0.01")
    share = D(21) / D(30)  # 10..30 November, of November's 30 days
    credit = next(r for k, r in lines.items() if k.endswith("transition out|prorate"))
    charge = next(r for k, r in lines.items() if k.endswith("transition in|prorate"))
    assert D(str(credit["baseamount"])) == (-quantity * old_price * share).quantize(cent, ROUND_HALF_UP)
    assert D(str(charge["baseamount"])) == (quantity * new_price * share).quantize(cent, ROUND_HALF_UP)
    december = [r for k, r in lines.items() if k.endswith("|lic|" + new["cspb_providersubscriptionid"])]
    assert [D(str(r["quantity"])) for r in december] == [quantity]
    assert not any(k.endswith("|lic|" + source["cspb_providersubscriptionid"]) for k in lines)
    assert not any("upgrade" in k for k in lines)  # the rep's request bills nothing itself
