"""The Pax8 part of `cspbridge demo`: a subscription bought through Pax8 travels the same path as
a Partner Center one. Pax8 companies become provider accounts (provider 2), one is mapped to a
CRM account, a sales rep adds a Pending subscription and its 'New' change log, and the
provisioning worker (fed by the provisioning queue, adapters including Pax8) places the order.

Re-running is safe: the change log's key is fixed per company and product, so a second run finds
the first change (already Provisioned) and orders nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores import (
    accounts,
    agreements,
    change_logs,
    provider_accounts,
    rep_subscriptions,
    subscriptions,
)
from dataverse.stores.agreements import Acceptance
from dataverse.stores.change_logs import NewChangeLog
from dataverse.stores.provider_accounts import ProviderAccount
from dataverse.stores.rep_subscriptions import PendingOrder
from dataverse.tables import (
    AgreementStatus,
    ChangeOrigin,
    ChangeType,
    MappingStatus,
    Provider,
    ProvisioningStatus,
    Table,
)
from distributors.base import ANNUAL, MONTHLY, DistributorAdapter
from distributors.pax8 import Pax8Adapter
from shared.errors import IntegrationError
from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync import provisioning
from sync.mca import AGREEMENT_TYPE
from sync.provider_accounts import run_provider_account_sync

STATUS_NAMES = {1: "Awaiting", 2: "Provisioned", 3: "Failed", 4: "NotApplicable", 5: "Refused", 6: "Sending",
                7: "NeedsReview"}


def _pax8_accounts(dv: DataverseClient) -> list[ProviderAccount]:
    rows = [a for a in provider_accounts.list_accounts(dv) if a.provider == Provider.PAX8]
    return sorted(rows, key=lambda a: (a.name or "", a.external_id or ""))


def _mapped(account: ProviderAccount) -> bool:
    return bool(account.account_id) and account.mapping_status == MappingStatus.MAPPED


def map_one_company(dv: DataverseClient, pax8: Pax8Adapter) -> ProviderAccount:
    """A tenant admin's step: make sure one Pax8 company is mapped to a CRM account. Prefers one
    that already is; otherwise creates the account with the company's domain so the provider
    account sync maps it, and maps it by hand if the domain is shared (the Unmapped view)."""
    rows = _pax8_accounts(dv)
    if not rows:
        raise IntegrationError("Pax8 returned no companies to map")
    row = next((r for r in rows if _mapped(r)), None)
    if row is not None:
        return row
    row = next((r for r in rows if r.domain), rows[0])
    account_id = accounts.create_account(dv, row.name or row.external_id or "", domain=row.domain,
                                         key=row.domain or row.external_id)
    run_provider_account_sync(dv, {Provider.PAX8: pax8})
    row = provider_accounts.get_account(dv, row.id)
    if not _mapped(row):
        provider_accounts.map_to_account(dv, row.id, account_id)
        row = provider_accounts.get_account(dv, row.id)
    return row


def record_acceptance(dv: DataverseClient, company: ProviderAccount) -> str:
    """A tenant admin's step: the customer's Microsoft Customer Agreement acceptance, recorded
    on an agreement row of the Pax8 provider account. Pax8's Microsoft order form asks for it
    (mca2020* provisioning details); without it the subscription waits for details."""
    email = f"admin@{company.domain or 'customer.example'}"
    return agreements.record_acceptance(dv, Acceptance(
        key=f"mca|{company.id}|{email}", provider_account_id=company.id, email=email, first_name="Dana",
        last_name="Admin", phone=None, date_agreed=datetime(2026, 1, 5, tzinfo=UTC), agreement_type=AGREEMENT_TYPE,
        status=AgreementStatus.PENDING))


def _pick_product(pax8: Pax8Adapter, product_ref: str | None) -> tuple[str, str, str]:
    """(Pax8 product id, Microsoft product id, SKU id): Dynamics keys subscriptions by Microsoft's
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


def run_pax8_demo(dv: DataverseClient, *, pax8: Pax8Adapter | None = None, quantity: int = 5,
                  product_ref: str | None = None, requested_by: str = "demo.rep@partner.example") -> dict[str, Any]:
    """Run the Pax8 flow against `dv` and `pax8` (default from the settings). Returns {"status" (the
    change log's provisioning status, "Provisioned" when it worked), "error", "pax8_order_id",
    "pax8_subscription_id", "accounts", "company", "order" (details)}."""
    if pax8 is None:
        pax8 = Pax8Adapter.from_settings()
    out: dict[str, Any] = {}
    synced = run_provider_account_sync(dv, {Provider.PAX8: pax8})
    out["accounts"] = {"status": synced.run["status"], "counts": synced.run["counts"],
                       "unmapped": len(synced.unmapped)}
    company = map_one_company(dv, pax8)
    out["company"] = {"name": company.name, "pax8_id": company.external_id, "provider_account": company.id,
                      "account": company.account_id}

    record_acceptance(dv, company)
    pax8_product, product_id, sku_id = _pick_product(pax8, product_ref)
    change_key = f"pax8-demo|{company.id}|{pax8_product}"
    change = change_logs.find_change(dv, change_key)
    sub_id: str | None
    if change is None:
        prices = [p for p in pax8.list_prices(pax8_product) if p.billing_term == MONTHLY]
        term = prices[0].commitment_term if prices and prices[0].commitment_term else MONTHLY
        sub_id = rep_subscriptions.create_pending(dv, PendingOrder(
            name=f"{product_id}{':' + sku_id if sku_id else ''} via Pax8", provider=Provider.PAX8,
            provider_account_id=company.id, product_id=product_id, sku_id=sku_id or None, term=term,
            billing_frequency=MONTHLY, auto_renew=term == ANNUAL, currency=prices[0].currency if prices else "USD",
            unit_cost=prices[0].unit_cost if prices else None))
        log_id = change_logs.record(dv, NewChangeLog(
            key=change_key, name=f"Rep orders {quantity} via Pax8", subscription_id=sub_id,
            change_type=ChangeType.NEW, old_quantity=0, new_quantity=quantity, effective=datetime.now(UTC),
            requested_by=requested_by, origin=ChangeOrigin.SALES_REP,
            provisioning_status=ProvisioningStatus.AWAITING))
    else:
        log_id, sub_id = change.id, change.subscription_id

    queue = get_queue(PROVISIONING_QUEUE)
    queue.send({"entity": Table.LICENSE_CHANGE_LOG, "recordId": log_id}, message_id=change_key)
    adapters = _adapters(pax8)
    drained = drain(queue, lambda m: provisioning.handle_message(
        m.body, dv=dv, adapters=adapters, delivery_count=m.delivery_count, max_attempts=queue.max_deliveries))

    log = change_logs.get_change(dv, log_id)
    sub = subscriptions.provisioned(dv, sub_id)
    pax8_sub = (sub.provider_subscription_id if sub else None) or ""
    remote = pax8.get_subscription(pax8_sub) if pax8_sub and not pax8_sub.startswith("pending-") else None
    out.update({
        "status": STATUS_NAMES.get(log.provisioning_status or 0, "?"), "error": log.error,
        "pax8_order_id": log.provider_order_id or (sub.order_id if sub else None),
        "pax8_subscription_id": pax8_sub if remote else None})
    out["order"] = {
        "pax8_product_id": pax8_product, "changelog": log_id, "subscription": sub_id,
        "quantity": sub.quantity if sub else None, "pax8_quantity": remote.quantity if remote else None,
        "pax8_status": remote.status if remote else None, "messages": drained.completed}
    return out
