"""Writes the portal's demo world (portal/seed.py builds it as portal records) into Dataverse, for
`cspbridge portal` against the sandbox and for the integration and browser tests. Running it twice
changes nothing: rows are found by name/email or upserted on their alternate keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from billing.models import Frequency, LineType, Policy, Provider, SubscriptionKind
from dataverse.client import DataverseClient
from dataverse.odata import bind, literal
from dataverse.stores.accounts import Account
from dataverse.stores.contacts import Contact
from dataverse.stores.contracts import Contract
from dataverse.stores.invoices import Invoice
from dataverse.stores.portal_subscriptions import Subscription
from dataverse.stores.products import Offer
from dataverse.tables import EntitySet, MappingStatus


@dataclass(frozen=True)
class PortalWorld:
    accounts: Iterable[Account]
    contacts: Iterable[Contact]
    contracts: Iterable[Contract]
    offers: Mapping[str, list[Offer]]  # contract id -> what its price list offers
    subscriptions: Iterable[Subscription]
    invoices: Iterable[Invoice]


@dataclass
class SeedIds:
    """Demo ids (as in portal/seed.py) -> Dataverse GUIDs."""

    ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, demo_id: str) -> str:
        return self.ids[demo_id]


def _find(dv: DataverseClient, entity_set: str, id_column: str, column: str, value: Any) -> str | None:
    rows = list(dv.list(entity_set, select=[id_column], filter=f"{column} eq {literal(value)}", top=1))
    return str(rows[0][id_column]) if rows else None


def _ensure(dv: DataverseClient, entity_set: str, id_column: str, column: str, record: dict[str, Any]) -> str:
    found = _find(dv, entity_set, id_column, column, record[column])
    return found or dv.create(entity_set, record)


def seed_portal(dv: DataverseClient, world: PortalWorld, *, attested_accounts: tuple[str, ...] = (),
                tenant_ids: Mapping[str, str] | None = None) -> SeedIds:
    """`tenant_ids` maps demo account ids to Partner Center customer ids (e.g. the PC sandbox's),
    so MCA attestation and orders reach a customer the provider knows."""
    out = SeedIds()
    ids = out.ids
    for acc in world.accounts:
        ids[acc.id] = _ensure(dv, EntitySet.ACCOUNTS, "accountid", "name", {
            "name": acc.name, "emailaddress1": acc.email, "cspb_portalenabled": acc.portal_enabled})
        ids["pa-" + acc.id] = dv.upsert(EntitySet.PROVIDER_ACCOUNTS, {
            "cspb_provider": int(Provider.PARTNER_CENTER),
            "cspb_externalid": (tenant_ids or {}).get(acc.id, f"tenant-{acc.id}")}, {
            "cspb_name": acc.name, "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[acc.id]),
            "cspb_mappingstatus": int(MappingStatus.MAPPED), "cspb_mcaattested": acc.id in attested_accounts,
            "cspb_currencycode": "USD",
        }).id
    for c in world.contacts:
        ids[c.id] = _ensure(dv, EntitySet.CONTACTS, "contactid", "emailaddress1", {
            "firstname": c.first_name, "lastname": c.last_name, "emailaddress1": c.email,
            "parentcustomerid_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[c.account_id]),
            "cspb_portalrole": int(c.role), "cspb_portalsubject": c.subject or None,
            "cspb_portaltenantid": c.tenant_id or None})
    units: dict[str, str] = {}
    contracts = list(world.contracts)
    for contract in contracts:
        ids[contract.pricelevel_id] = dv.upsert(EntitySet.PRICE_LEVELS, {"name": contract.pricelevel_id}, {
            "cspb_currencycode": contract.currency}).id
        ids[contract.id] = dv.upsert(EntitySet.BILLING_CONTRACTS, {"cspb_contractnumber": contract.number}, {
            "cspb_name": contract.number, "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[contract.account_id]),
            "cspb_currencycode": contract.currency, "cspb_language": contract.language,
            "cspb_frequency": int(Frequency.MONTHLY), "cspb_policy": int(Policy.ADVANCE),
            "cspb_pricelevel@odata.bind": bind(EntitySet.PRICE_LEVELS, ids[contract.pricelevel_id]),
            "cspb_paymenttoken": "pm_seeded" if contract.has_payment_method else None}).id
        for offer in world.offers.get(contract.id, []):
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
    subscriptions = list(world.subscriptions)
    for sub in subscriptions:
        ids[sub.id] = dv.upsert(EntitySet.SUBSCRIPTIONS, {"cspb_providersubscriptionid": f"demo-{sub.id}"}, {
            "cspb_name": sub.name, "cspb_quantity": sub.quantity, "cspb_term": sub.term,
            "cspb_billingfrequency": sub.billing_frequency, "cspb_status": int(sub.status),
            "cspb_kind": int(SubscriptionKind.LICENSE), "cspb_provider": int(Provider.PARTNER_CENTER),
            "cspb_currencycode": sub.currency, "cspb_unitprice": sub.unit_price,
            "cspb_unitcost": sub.unit_price * 8 / 10, "cspb_autorenew": True,
            "cspb_startdate": sub.start_date.isoformat() if sub.start_date else None,
            "cspb_commitmentenddate": sub.commitment_end.isoformat() if sub.commitment_end else None,
            "cspb_productid": "CFQ7TTC0LDPB", "cspb_skuid": "0001",
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, ids[sub.contract_id]),
            "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, ids["pa-" + sub.account_id]),
        }).id
    for inv in world.invoices:
        # Each demo customer has one billing contract; its invoices are billed on it (payments need it).
        contract_id = next(c.id for c in contracts if c.account_id == inv.account_id)
        ids[inv.id] = dv.upsert(EntitySet.INVOICES, {"cspb_invoicekey": f"demo|{inv.number}"}, {
            "name": inv.number, "invoicenumber": inv.number, "totalamount": inv.total, "cspb_balance": inv.balance,
            "customerid_account@odata.bind": bind(EntitySet.ACCOUNTS, ids[inv.account_id]),
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, ids[contract_id]),
            "cspb_currencycode": inv.currency, "cspb_language": inv.language,
            "cspb_periodstart": inv.period_start.isoformat() if inv.period_start else None,
            "cspb_periodend": inv.period_end.isoformat() if inv.period_end else None,
            "cspb_paymentstatus": int(inv.payment_status)}).id
        for n, line in enumerate(inv.lines):
            line_sub = next(s for s in subscriptions
                            if s.account_id == inv.account_id and s.name == line.description)
            dv.upsert(EntitySet.INVOICE_DETAILS, {"cspb_linekey": f"demo|{inv.number}|{n:03d}"}, {
                "productdescription": line.description, "quantity": line.quantity, "priceperunit": line.unit_price,
                "extendedamount": line.amount, "cspb_linetype": int(LineType.LICENSE),
                "cspb_periodstart": inv.period_start.isoformat() if inv.period_start else None,
                "invoiceid@odata.bind": bind(EntitySet.INVOICES, ids[inv.id]),
                "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, ids[line_sub.id])})
    return out
