"""The sync part of `cspbridge demo`: catalog, provider accounts, subscriptions, then a sales rep's
seat change travelling the production path (Dataverse webhook -> our HTTP function -> inbox ->
queue -> worker -> Partner Center -> result on the change log), all against the sandboxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from billing.provisioning_rules import change_type_for
from dataverse.client import DataverseClient
from dataverse.stores import accounts, change_logs, provider_accounts, webhook_registrations
from dataverse.stores.change_logs import NewChangeLog
from dataverse.stores.rep_subscriptions import ActiveLicense, active_licenses
from dataverse.tables import ChangeOrigin, MappingStatus, Provider, ProvisioningStatus, Table
from distributors.partnercenter_adapter import PartnerCenterAdapter
from jobs.sync import price_sheet_rows
from shared.errors import IntegrationError
from shared.logging import get_logger
from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync import provisioning
from sync.catalog_sync import run_catalog_sync
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

if TYPE_CHECKING:
    from sandbox.dataverse.server import DataverseSandbox

logger = get_logger(__name__)

STATUS_NAMES = {1: "Awaiting", 2: "Provisioned", 3: "Failed", 4: "NotApplicable", 5: "Refused"}


def serve_webhook_function() -> Any:
    """Host the dataverse_webhook function on 127.0.0.1 (what `func start` does locally)."""
    import azure.functions as func
    from werkzeug.wrappers import Request, Response

    from functions.dataverse_webhook import dataverse_webhook
    from sandbox._server import RunningServer

    handler = dataverse_webhook.build().get_user_function()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        out = handler(func.HttpRequest(request.method, request.url, headers=dict(request.headers),
                                       params=dict(request.args), body=request.get_data()))
        return Response(out.get_body(), status=out.status_code, content_type="application/json")(
            environ, start_response)

    return RunningServer(app, port=0).start()


def _ensure_mapped_accounts(dv: DataverseClient, wanted: int,
                            crm_accounts: Sequence[dict[str, str]] | None = None) -> int:
    """A tenant admin's first step: CRM accounts for the provider's customers (domains make them map).
    `crm_accounts` (name, domain) are the customers the partner's CRM holds; without it the first
    `wanted` unmapped provider accounts by name (never by row id: ids are random GUIDs)."""
    if crm_accounts is not None:
        existing = {(domain or "").lower() for _id, (domain, _site) in provider_accounts.crm_account_domains(dv)}
        created = 0
        for acct in crm_accounts:
            if acct["domain"].lower() not in existing:
                accounts.create_account(dv, acct["name"], domain=acct["domain"])
                created += 1
        return created
    unmapped = sorted((a for a in provider_accounts.list_accounts(dv)
                       if a.mapping_status == MappingStatus.UNMAPPED and a.domain),
                      key=lambda a: (a.name or "", a.domain or ""))
    for account in unmapped[:wanted]:
        accounts.create_account(dv, account.name or "", domain=account.domain)
    return min(wanted, len(unmapped))


def _pick_subscription(dv: DataverseClient, provider_subscription_id: str | None = None) -> ActiveLicense | None:
    mapped = {a.id for a in provider_accounts.list_accounts(dv) if a.mapping_status == MappingStatus.MAPPED}
    for sub in active_licenses(dv):
        if sub.provider_account_id in mapped and sub.provider_subscription_id:
            if provider_subscription_id is None or \
                    sub.provider_subscription_id.lower() == provider_subscription_id.lower():
                return sub
    return None


def run_demo_flow(dv: DataverseClient, pc: PartnerCenterAdapter, *, dv_app: DataverseSandbox | None = None,
                  currencies: tuple[str, ...] = ("USD", "EUR"),
                  seat_delta: int = 2, map_accounts: int = 3, crm_accounts: Sequence[dict[str, str]] | None = None,
                  rep_subscription: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Run the four sync steps against sandbox clients and return a summary dict.

    `dv_app`: the Dataverse sandbox app so its webhook can be registered to the function; without it the change log is handed to the worker directly (no webhook hop).
    Settings must point the function at the same Dataverse (CSPB_DATAVERSE_URL, CSPB_WEBHOOK_KEY).
    `crm_accounts`: the accounts the partner's CRM holds (see _ensure_mapped_accounts);
    `rep_subscription`: the provider subscription the rep changes (default: the first by id);
    `now`: when the rep makes the change (the demo's as-of date).
    """
    from shared.config import get_settings

    out: dict[str, Any] = {}
    accounts = run_provider_account_sync(dv, {Provider.PARTNER_CENTER: pc})
    if _ensure_mapped_accounts(dv, map_accounts, crm_accounts):
        accounts = run_provider_account_sync(dv, {Provider.PARTNER_CENTER: pc})
    out["accounts"] = {"status": accounts.run["status"], "unmapped": len(accounts.unmapped),
                       "counts": accounts.run["counts"]}
    subs = run_subscription_sync(dv, {Provider.PARTNER_CENTER: pc})
    out["subscriptions"] = {"status": subs["status"], "counts": subs["counts"]}
    # After the subscriptions: the catalog brings in the products they use (plus the allow-list)
    # and gives the subscriptions it found their catalog price.
    catalog = run_catalog_sync(dv, price_sheet_rows(pc, currencies), currencies=currencies,
                               today=(now or datetime.now(UTC)).date())
    out["catalog"] = {"status": catalog.run["status"], "written": catalog.written,
                      "prices": catalog.run["counts"].get("pricesCreated", 0),
                      "subscriptionsPriced": catalog.run["counts"].get("subscriptionsPriced", 0)}

    target = _pick_subscription(dv, rep_subscription) or _pick_subscription(dv)
    now = now or datetime.now(UTC)
    if target is None:
        out["seat_change"] = {"status": "skipped", "reason": "no active license subscription on a mapped account"}
        return out
    old_q = target.quantity
    new_q = old_q + seat_delta
    server = None
    endpoint_id: str | None = None
    queue = get_queue(PROVISIONING_QUEUE)
    try:
        if dv_app is not None:
            server = serve_webhook_function()
            endpoint_id = dv_app.register_webhook(f"{server.url}/api/webhooks/dataverse",
                                                  get_settings().webhook_key.reveal(), [Table.LICENSE_CHANGE_LOG],
                                                  ("Create",))
        key = f"demo-rep-{now:%Y%m%d%H%M%S%f}-{(target.provider_subscription_id or '')[:8]}"
        log_id = change_logs.record(dv, NewChangeLog(
            key=key, name=f"Rep adds {seat_delta} seats", subscription_id=target.id, change_type=change_type_for(old_q, new_q),
            old_quantity=old_q, new_quantity=new_q, effective=now, requested_by="demo.rep@partner.example",
            origin=ChangeOrigin.SALES_REP, provisioning_status=ProvisioningStatus.AWAITING))
        if dv_app is not None:
            dv_app.wait_for_webhooks(timeout=15.0)
        else:
            queue.send({"entity": Table.LICENSE_CHANGE_LOG, "recordId": log_id}, message_id=key)
        # The demo's clock is its as-of date: the change log is dated then, so it is due then.
        drained = drain(queue, lambda m: provisioning.handle_message(
            m.body, dv=dv, adapters={Provider.PARTNER_CENTER: pc}, now=now, delivery_count=m.delivery_count,
            max_attempts=queue.max_deliveries))
    finally:
        # Unregistered before the function stops: a webhook left behind would post every later
        # change log to a port nobody listens on.
        if endpoint_id is not None:
            try:
                webhook_registrations.unregister(dv, endpoint_id)
            except IntegrationError as exc:
                logger.warning("could not unregister the demo webhook %s: %s", endpoint_id, exc)
        if server is not None:
            server.stop()
    log = change_logs.get_change(dv, log_id)
    tenant = provider_accounts.tenant(dv, target.provider_account_id or "")
    remote = pc.get_subscription(target.provider_subscription_id or "", company_id=tenant.external_id)
    out["seat_change"] = {
        "subscription": target.name, "from": old_q, "to": new_q,
        "via_webhook": dv_app is not None, "messages": drained.completed,
        "status": STATUS_NAMES.get(log.provisioning_status or 0, "?"), "error": log.error,
        "partner_center_quantity": remote.quantity,
    }
    return out
