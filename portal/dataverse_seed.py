"""Writes the portal's demo data (portal/seed.py) into Dataverse, for `cspbridge portal` against the
sandbox and for the integration and browser tests. Running it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dataverse.odata import bind, literal
from dataverse.tables import EntitySet
from portal.seed import seeded_repository


@dataclass
class SeedIds:
    """Demo ids (as in portal/seed.py) -> Dataverse GUIDs."""

    ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, demo_id: str) -> str:
        return self.ids[demo_id]


def _find(dv: Any, entity_set: str, id_column: str, column: str, value: Any) -> str | None:
    rows = list(dv.list(entity_set, select=[id_column], filter=f"{column} eq {literal(value)}", top=1))
    return rows[0][id_column] if rows else None


def _ensure(dv: Any, entity_set: str, id_column: str, column: str, record: dict[str, Any]) -> str:
    found = _find(dv, entity_set, id_column, column, record[column])
    return found or dv.create(entity_set, record)


def seed_dataverse(dv: Any, now: datetime | None = None, *, attested_accounts: tuple[str, ...] = (),
                   tenant_ids: dict[str, str] | None = None) -> SeedIds:
    """`tenant_ids` maps demo account ids to Partner Center customer ids (e.g. the PC sandbox's),
    so MCA attestation and orders reach a customer the provider knows."""
    now = now or datetime.now(UTC)
    repo = seeded_repository(now)
    out = SeedIds()
    ids = out.ids
    for acc in repo.accounts.values():
        ids[acc.id] = _ensure(dv, EntitySet.ACCOUNTS, "accountid", "name", {
            "name": acc.name, "emailaddress1": acc.email, "cspb_portalenabled": acc.portal_enabled})
        ids["pa-" + acc.id] = dv.upsert(EntitySet.PROVIDER_ACCOUNTS, {"cspb_provider": 1, "cspb_externalid": (tenant_ids or {}).get(acc.id, f"tenant-{acc.id}")}, {
            "cspb_name": acc.name, "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[acc.id]),
            "cspb_mappingstatus": 1, "cspb_mcaattested": acc.id in attested_accounts, "cspb_currencycode": "USD",
        }).id
    for c in repo.contacts.values():
        ids[c.id] = _ensure(dv, EntitySet.CONTACTS, "contactid", "emailaddress1", {
            "firstname": c.first_name, "lastname": c.last_name, "emailaddress1": c.email,
            "parentcustomerid_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[c.account_id]),
            "cspb_portalrole": int(c.role), "cspb_portalsubject": c.subject or None,
            "cspb_portaltenantid": c.tenant_id or None})
    units: dict[str, str] = {}
    for contract in repo.contracts.values():
        ids[contract.pricelevel_id] = dv.upsert(EntitySet.PRICE_LEVELS, {"name": contract.pricelevel_id}, {
            "cspb_currencycode": contract.currency}).id
        ids[contract.id] = dv.upsert(EntitySet.BILLING_CONTRACTS, {"cspb_contractnumber": contract.number}, {
            "cspb_name": contract.number, "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[contract.account_id]),
            "cspb_currencycode": contract.currency, "cspb_language": contract.language, "cspb_frequency": 1,
            "cspb_policy": 1, "cspb_pricelevel@odata.bind": bind(EntitySet.PRICE_LEVELS, ids[contract.pricelevel_id]),
            "cspb_paymenttoken": "pm_seeded" if contract.has_payment_method else None}).id
        for offer in repo.offers.get(contract.id, []):
            if offer.unit_name not in units:
                units[offer.unit_name] = _ensure(dv, EntitySet.UOMS, "uomid", "name", {"name": offer.unit_name,
                                                                                        "quantity": 1})
            product_id, sku_id = offer.sku.split(":")
            ids[offer.product_id] = dv.upsert(EntitySet.PRODUCTS, {"productnumber": offer.sku}, {
                "name": offer.name, "cspb_productid": product_id, "cspb_skuid": sku_id, "cspb_portalvisible": True,
                "cspb_billingtype": "License", "statecode": 0}).id
            dv.upsert(EntitySet.PRODUCT_PRICE_LEVELS,
                      {"cspb_pricekey": f"{contract.pricelevel_id}|{offer.sku}|{offer.unit_name}"}, {
                          "amount": offer.price,
                          "pricelevelid@odata.bind": bind(EntitySet.PRICE_LEVELS, ids[contract.pricelevel_id]),
                          "productid@odata.bind": bind(EntitySet.PRODUCTS, ids[offer.product_id]),
                          "uomid@odata.bind": bind(EntitySet.UOMS, units[offer.unit_name])})
    for sub in repo.subscriptions.values():
        ids[sub.id] = dv.upsert(EntitySet.SUBSCRIPTIONS, {"cspb_providersubscriptionid": f"demo-{sub.id}"}, {
            "cspb_name": sub.name, "cspb_quantity": sub.quantity, "cspb_term": sub.term,
            "cspb_billingfrequency": sub.billing_frequency, "cspb_status": int(sub.status), "cspb_kind": 1,
            "cspb_provider": 1, "cspb_currencycode": sub.currency, "cspb_unitprice": sub.unit_price,
            "cspb_unitcost": sub.unit_price * 8 / 10, "cspb_autorenew": True,
            "cspb_startdate": sub.start_date.isoformat() if sub.start_date else None,
            "cspb_commitmentenddate": sub.commitment_end.isoformat() if sub.commitment_end else None,
            "cspb_productid": "CFQ7TTC0LDPB", "cspb_skuid": "0001",
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, ids[sub.contract_id]),
            "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, ids["pa-" + sub.account_id]),
        }).id
    for inv in repo.invoices.values():
        # Each demo customer has one billing contract; its invoices are billed on it (payments need it).
        contract_id = next(c.id for c in repo.contracts.values() if c.account_id == inv.account_id)
        ids[inv.id] = dv.upsert(EntitySet.INVOICES, {"cspb_invoicekey": f"demo|{inv.number}"}, {
            "name": inv.number, "invoicenumber": inv.number, "totalamount": inv.total, "cspb_balance": inv.balance,
            "customerid_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[inv.account_id]),
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, ids[contract_id]),
            "cspb_currencycode": inv.currency, "cspb_language": inv.language,
            "cspb_periodstart": inv.period_start.isoformat() if inv.period_start else None,
            "cspb_periodend": inv.period_end.isoformat() if inv.period_end else None,
            "cspb_paymentstatus": int(inv.payment_status)}).id
        for n, line in enumerate(inv.lines):
            sub = next(s for s in repo.subscriptions.values()
                       if s.account_id == inv.account_id and s.name == line.description)
            dv.upsert(EntitySet.INVOICE_DETAILS, {"cspb_linekey": f"demo|{inv.number}|{n:03d}"}, {
                "productdescription": line.description, "quantity": line.quantity, "priceperunit": line.unit_price,
                "extendedamount": line.amount, "cspb_linetype": 1,
                "cspb_periodstart": inv.period_start.isoformat() if inv.period_start else None,
                "invoiceid@odata.bind": bind(EntitySet.INVOICES, ids[inv.id]),
                "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, ids[sub.id])})
    return out
