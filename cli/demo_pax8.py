"""The Pax8 part of `cspbridge demo`: a subscription bought through Pax8 travels the same path as
a Partner Center one. Pax8 companies become provider accounts (provider 2), one is mapped to a
CRM account, a sales rep adds a Pending subscription and its 'New' change log, and the
provisioning worker (fed by the provisioning queue, adapters including Pax8) places the order.

Re-running is safe: the change log's key is fixed per company and product, so a second run finds
the first change (already Provisioned) and orders nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from dataverse.stores.accounts import create_account
from dataverse.tables import EntitySet, MappingStatus, Provider, SubscriptionKind, SubscriptionStatus
from distributors.base import ANNUAL, MONTHLY, DistributorAdapter
from shared.errors import IntegrationError
from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.records import bind

STATUS_NAMES = {1: "Awaiting", 2: "Provisioned", 3: "Failed", 4: "NotApplicable", 5: "Refused", 6: "Sending",
                7: "NeedsReview"}
_ACCOUNT_COLUMNS = ["cspb_provideraccountid", "cspb_externalid", "cspb_name", "cspb_domain", "cspb_mappingstatus",
                    "_cspb_account_value"]


def _pax8_accounts(dv: Any) -> list[dict[str, Any]]:
    rows = dv.list(EntitySet.PROVIDER_ACCOUNTS, select=_ACCOUNT_COLUMNS, filter=f"cspb_provider eq {int(Provider.PAX8)}")
    return sorted(rows, key=lambda r: (r.get("cspb_name") or "", r["cspb_externalid"]))


def _mapped(row: dict[str, Any]) -> bool:
    return bool(row.get("_cspb_account_value")) and row.get("cspb_mappingstatus") == MappingStatus.MAPPED


def map_one_company(dv: Any, pax8: Any) -> dict[str, Any]:
    """A tenant admin's step: make sure one Pax8 company is mapped to a CRM account. Prefers one
    that already is; otherwise creates the account with the company's domain so the provider
    account sync maps it, and maps it by hand if the domain is shared (the Unmapped view)."""
    rows = _pax8_accounts(dv)
    if not rows:
        raise IntegrationError("Pax8 returned no companies to map")
    row = next((r for r in rows if _mapped(r)), None)
    if row is not None:
        return row
    row = next((r for r in rows if r.get("cspb_domain")), rows[0])
    account_id = create_account(dv, row.get("cspb_name") or row["cspb_externalid"], domain=row.get("cspb_domain"),
                                key=row.get("cspb_domain") or row["cspb_externalid"])
    run_provider_account_sync(dv, {Provider.PAX8: pax8})
    row = dv.get(EntitySet.PROVIDER_ACCOUNTS, row["cspb_provideraccountid"], select=_ACCOUNT_COLUMNS)
    if not _mapped(row):
        dv.update(EntitySet.PROVIDER_ACCOUNTS, row["cspb_provideraccountid"], {
            "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, account_id),
            "cspb_mappingstatus": int(MappingStatus.MAPPED)})
        row = dv.get(EntitySet.PROVIDER_ACCOUNTS, row["cspb_provideraccountid"], select=_ACCOUNT_COLUMNS)
    return row


def record_acceptance(dv: Any, company: dict[str, Any]) -> str:
    """A tenant admin's step: the customer's Microsoft Customer Agreement acceptance, recorded
    on a cspb_agreement of the Pax8 provider account. Pax8's Microsoft order form asks for it
    (mca2020* provisioning details); without it the subscription waits for details."""
    from dataverse.tables import AgreementStatus

    domain = company.get("cspb_domain") or "customer.example"
    email = f"admin@{domain}"
    return dv.upsert(EntitySet.AGREEMENTS, {"cspb_agreementkey": f"mca|{company['cspb_provideraccountid']}|{email}"}, {
        "cspb_name": f"MCA {email}"[:100], "cspb_email": email, "cspb_firstname": "Dana", "cspb_lastname": "Admin",
        "cspb_dateagreed": datetime(2026, 1, 5, tzinfo=UTC).isoformat(), "cspb_status": int(AgreementStatus.PENDING),
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, company["cspb_provideraccountid"])}).id


def _pick_product(pax8: Any, product_ref: str | None) -> tuple[str, str, str]:
    """(Pax8 product id, cspb_productid, cspb_skuid): Dynamics keys subscriptions by Microsoft's
    product:sku, which Pax8 carries as the product's vendorSku."""
    products = list(pax8.list_products())
    if product_ref:
        pax8_id = pax8.resolve_product_id(product_ref)
        product = next(p for p in products if p.id == pax8_id)
    else:
        product = next((p for p in products if p.vendor == "Microsoft" and ":" in p.sku), products[0])
    if ":" in product.sku:
        product_id, sku_id = product.sku.split(":", 1)
        return product.id, product_id, sku_id.split(":")[0]
    return product.id, product.id, ""


def _adapters(pax8: DistributorAdapter) -> dict[Provider, DistributorAdapter]:
    adapters: dict[Provider, DistributorAdapter]
    try:
        adapters = dict(provisioning.default_adapters())
    except IntegrationError:
        adapters = {}  # Partner Center not configured: the Pax8 order does not need it
    adapters[Provider.PAX8] = pax8
    return adapters


def run_pax8_demo(dv: Any, *, pax8: Any = None, quantity: int = 5, product_ref: str | None = None,
                  requested_by: str = "demo.rep@partner.example") -> dict[str, Any]:
    """Run the Pax8 flow against `dv` (DataverseClient) and `pax8` (distributors.pax8.Pax8Adapter,
    default from the settings). Returns {"status" (the change log's provisioning status,
    "Provisioned" when it worked), "error", "pax8_order_id", "pax8_subscription_id", "accounts",
    "company", "order" (details)}."""
    if pax8 is None:
        from distributors.pax8 import Pax8Adapter

        pax8 = Pax8Adapter.from_settings()
    out: dict[str, Any] = {}
    accounts = run_provider_account_sync(dv, {Provider.PAX8: pax8})
    out["accounts"] = {"status": accounts.run["status"], "counts": accounts.run["counts"],
                       "unmapped": len(accounts.unmapped)}
    company = map_one_company(dv, pax8)
    out["company"] = {"name": company.get("cspb_name"), "pax8_id": company["cspb_externalid"],
                      "provider_account": company["cspb_provideraccountid"], "account": company["_cspb_account_value"]}

    record_acceptance(dv, company)
    pax8_product, product_id, sku_id = _pick_product(pax8, product_ref)
    change_key = f"pax8-demo|{company['cspb_provideraccountid']}|{pax8_product}"
    change = dv.get_by_key(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": change_key},
                           select=["cspb_licensechangelogid", "_cspb_subscription_value"])
    if change is None:
        prices = [p for p in pax8.list_prices(pax8_product) if p.billing_term == MONTHLY]
        term = prices[0].commitment_term if prices and prices[0].commitment_term else MONTHLY
        sub_id = dv.create(EntitySet.SUBSCRIPTIONS, {
            "cspb_name": f"{product_id}{':' + sku_id if sku_id else ''} via Pax8"[:100],
            "cspb_provider": int(Provider.PAX8),
            "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, company["cspb_provideraccountid"]),
            "cspb_productid": product_id, "cspb_skuid": sku_id or None, "cspb_quantity": 0, "cspb_term": term,
            "cspb_billingfrequency": MONTHLY, "cspb_status": int(SubscriptionStatus.PENDING),
            "cspb_kind": int(SubscriptionKind.LICENSE), "cspb_autorenew": term == ANNUAL,
            "cspb_currencycode": prices[0].currency if prices else "USD",
            "cspb_unitcost": str(prices[0].unit_cost) if prices else None,
            # The alternate key needs a value until the provider assigns the real id (as the portal does).
            "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}"})
        log_id = dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
            "cspb_changekey": change_key, "cspb_name": f"Rep orders {quantity} via Pax8", "cspb_changetype": 1,
            "cspb_oldquantity": 0, "cspb_newquantity": quantity, "cspb_origin": 1, "cspb_provisioningstatus": 1,
            "cspb_requestedby": requested_by, "cspb_effectivedate": datetime.now(UTC).isoformat(),
            "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub_id)})
    else:
        log_id, sub_id = change["cspb_licensechangelogid"], change["_cspb_subscription_value"]

    queue = get_queue(PROVISIONING_QUEUE)
    queue.send({"entity": "cspb_licensechangelog", "recordId": log_id}, message_id=change_key)
    adapters = _adapters(pax8)
    drained = drain(queue, lambda m: provisioning.handle_message(
        m.body, dv=dv, adapters=adapters, delivery_count=m.delivery_count, max_attempts=queue.max_deliveries))

    log = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id,
                 select=["cspb_provisioningstatus", "cspb_providerorderid", "cspb_error", "cspb_idempotencykey"])
    sub = dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=["cspb_providersubscriptionid", "cspb_quantity",
                                                          "cspb_status", "cspb_orderid", "cspb_startdate"])
    pax8_sub = sub.get("cspb_providersubscriptionid") or ""
    remote = pax8.get_subscription(pax8_sub) if pax8_sub and not pax8_sub.startswith("pending-") else None
    out.update({
        "status": STATUS_NAMES.get(log.get("cspb_provisioningstatus"), "?"), "error": log.get("cspb_error"),
        "pax8_order_id": log.get("cspb_providerorderid") or sub.get("cspb_orderid"),
        "pax8_subscription_id": pax8_sub if remote else None})
    out["order"] = {
        "pax8_product_id": pax8_product, "changelog": log_id, "subscription": sub_id,
        "quantity": sub.get("cspb_quantity"), "pax8_quantity": remote.quantity if remote else None,
        "pax8_status": remote.status if remote else None, "messages": drained.completed}
    return out
