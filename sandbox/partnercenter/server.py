"""Loopback Partner Center REST v1 + Microsoft Graph partner billing server.

One server answers three hosts' paths: `/v1/...` (api.partnercenter.microsoft.com),
`/v1.0/sales/pricesheets(...)/$value` (api.partner.microsoft.com, the new-commerce price sheet:
https://learn.microsoft.com/partner-center/developer/get-a-price-sheet) and
`/v1.0/reports/partners/billing/...` (Graph). Export blobs are served under `/_blobs/...` behind a
SAS-like query (`sv`, `se`, `sr`, `sp`, `sig`), signed per server start and checked on download.

Wire shapes follow Microsoft Learn:
- customers, paging with `links.next` + `MS-ContinuationToken`:
  https://learn.microsoft.com/partner-center/developer/get-a-list-of-customers
- subscriptions: https://learn.microsoft.com/partner-center/developer/subscription-resources
- carts/checkout: https://learn.microsoft.com/partner-center/developer/cart-resources
- orders and provisioning status: https://learn.microsoft.com/partner-center/developer/order-resources
- Graph export operation and manifest:
  https://learn.microsoft.com/graph/api/partners-billing-operation-get and
  https://learn.microsoft.com/graph/api/resources/partners-billing-manifest

Writes honour `MS-RequestId`: the same id with the same body replays the stored answer (no second
purchase); the same id with a different body is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from sandbox._server import SandboxApp, json_response
from sandbox.partnercenter import catalog
from sandbox.partnercenter.seed import (
    AZURE_PLAN_OFFER,
    MCA_TEMPLATE_ID,
    azure_plan_subscription,
    new_subscription,
    order_for,
    write_jsonl_gz,
    write_market_sheet,
)
from sandbox.partnercenter.state import PartnerCenterState
from sandbox.partnercenter.usage_file import BASIC_USAGE_COLUMNS, read_usage_rows

GRAPH_BILLING = "/v1.0/reports/partners/billing"
PRICE_SHEET_PATH = re.compile(
    r"^/v1\.0/sales/pricesheets\(Market='(?P<market>[A-Za-z]{2})',"
    r"PricesheetView='(?P<view>\w+)'\)/\$value$")
MAX_PAGE = 500
_OPS_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "cspbridge-sandbox/partnercenter/billing-operations")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def pc_error(status: int, code: int, description: str, name: str = "") -> Response:
    """Partner Center's error body, keys as in wire/partnercenter/error-agreement-already-exists.http
    (code, message, description, errorName, isRetryable, parameters, errorMessageExtended) plus the
    `data`/`source` of https://learn.microsoft.com/partner-center/developer/error-codes."""
    return json_response({"code": code, "message": description, "description": description,
                          "errorName": name or "SandboxError", "isRetryable": status >= 500, "parameters": {},
                          "errorMessageExtended": f"InternalErrorCode={code}", "data": [], "source": "PartnerFD"},
                         status)


# Symbols as Partner Center shows them in currencySymbol (orders, invoices, availabilities).
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3", "JPY": "\u00a5", "AUD": "$", "CAD": "$",
                    "NZD": "$", "MXN": "$", "BRL": "R$", "INR": "\u20b9", "KRW": "\u20a9", "CHF": "CHF",
                    "DKK": "kr", "NOK": "kr", "SEK": "kr", "TWD": "NT$", "ZAR": "R"}
_REGIONS = {"US": "WA", "CA": "ON", "AU": "NSW", "IN": "KA", "BR": "SP", "MX": "NLE"}


def _link(uri: str) -> dict[str, Any]:
    return {"uri": uri, "method": "GET", "headers": []}


def _money_json(body: Any) -> Response:
    """JSON with Decimal amounts as JSON numbers, as Partner Center sends them."""
    return Response(json.dumps(body, default=_number), content_type="application/json; charset=utf-8")


def _number(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        # 1447 stays an integer, 431.80 becomes 431.8: float repr is the shortest text that round-trips.
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    return str(value)


def graph_error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message,
                                    "innerError": {"request-id": str(uuid.uuid4())}}}, status)


def collection(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"totalCount": len(items), "items": items, **extra, "attributes": {"objectType": "Collection"}}


class _Abort(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class PartnerCenterSandbox:
    def __init__(self, state: PartnerCenterState) -> None:
        self.state = state
        R = Rule  # noqa: N806 - short alias keeps the route table readable
        self.routes = Map([
            R("/v1/customers", methods=["GET"], endpoint="list_customers"),
            R("/v1/customers/<cid>", methods=["GET"], endpoint="get_customer"),
            R("/v1/customers/<cid>/subscriptions", methods=["GET"], endpoint="list_subscriptions"),
            R("/v1/customers/<cid>/subscriptions/<sid>", methods=["GET"], endpoint="get_subscription"),
            R("/v1/customers/<cid>/subscriptions/<sid>", methods=["PATCH"], endpoint="patch_subscription"),
            R("/v1/customers/<cid>/subscriptions/<sid>/transitionEligibilities", methods=["GET"],
              endpoint="transition_eligibilities"),
            R("/v1/customers/<cid>/subscriptions/<sid>/transitions", methods=["GET"], endpoint="list_transitions"),
            R("/v1/customers/<cid>/subscriptions/<sid>/transitions", methods=["POST"], endpoint="create_transition"),
            R("/v1/customers/<cid>/subscriptions/<sid>/azureEntitlements", methods=["GET"],
              endpoint="list_entitlements"),
            R("/v1/customers/<cid>/carts", methods=["POST"], endpoint="create_cart"),
            R("/v1/customers/<cid>/carts/<cart_id>", methods=["GET"], endpoint="get_cart"),
            R("/v1/customers/<cid>/carts/<cart_id>/checkout", methods=["POST"], endpoint="checkout"),
            R("/v1/customers/<cid>/orders", methods=["GET"], endpoint="list_orders"),
            R("/v1/customers/<cid>/orders/<oid>", methods=["GET"], endpoint="get_order"),
            R("/v1/customers/<cid>/orders/<oid>/provisioningstatus", methods=["GET"], endpoint="provisioning"),
            R("/v1/customers/<cid>/agreements", methods=["GET"], endpoint="list_agreements"),
            R("/v1/customers/<cid>/agreements", methods=["POST"], endpoint="create_agreement"),
            R("/v1/agreements", methods=["GET"], endpoint="agreement_metadata"),
            R("/v1/products", methods=["GET"], endpoint="list_products"),
            R("/v1/products/<pid>", methods=["GET"], endpoint="get_product"),
            R("/v1/products/<pid>/skus", methods=["GET"], endpoint="list_skus"),
            R("/v1/products/<pid>/skus/<sku_id>/availabilities", methods=["GET"], endpoint="list_availabilities"),
            R("/v1/invoices", methods=["GET"], endpoint="list_invoices"),
            R("/v1/invoices/<iid>", methods=["GET"], endpoint="get_invoice"),
            R("/v1/invoices/<iid>/lineitems", methods=["GET"], endpoint="invoice_line_items"),
            R("/v1/invoices/<iid>/lineitems/<provider>/<kind>", methods=["GET"], endpoint="invoice_line_items"),
            R(f"{GRAPH_BILLING}/usage/billed/export", methods=["POST"], endpoint="export_billed_usage"),
            R(f"{GRAPH_BILLING}/usage/unbilled/export", methods=["POST"], endpoint="export_unbilled_usage"),
            R(f"{GRAPH_BILLING}/reconciliation/billed/export", methods=["POST"], endpoint="export_billed_recon"),
            R(f"{GRAPH_BILLING}/operations/<op_id>", methods=["GET"], endpoint="get_operation"),
            R(f"{GRAPH_BILLING}/manifests/<manifest_id>", methods=["GET"], endpoint="get_manifest"),
            R("/_blobs/<path:blob>", methods=["GET"], endpoint="get_blob"),
            R("/_sandbox/usage/revise", methods=["POST"], endpoint="revise_usage"),
        ])

    # ------------------------------------------------------------------ dispatch
    def __call__(self, request: Request) -> Response:
        response = self._dispatch(request)
        if not request.path.startswith(("/_blobs/", "/_sandbox/", GRAPH_BILLING)):
            # Partner Center echoes both ids on every answer (REST request/response headers):
            # https://learn.microsoft.com/partner-center/developer/partner-center-rest-api-reference
            response.headers["MS-CorrelationId"] = request.headers.get("MS-CorrelationId") or str(uuid.uuid4())
            response.headers["MS-RequestId"] = request.headers.get("MS-RequestId") or str(uuid.uuid4())
        return response

    def _dispatch(self, request: Request) -> Response:
        self.state.reload_if_reseeded()
        match = PRICE_SHEET_PATH.match(request.path)
        # /_blobs/ are SAS-signed; /_sandbox/ is the sandbox's own control surface, like its faults endpoint.
        if not request.path.startswith(("/_blobs/", "/_sandbox/")) and \
                not request.headers.get("Authorization", "").startswith("Bearer "):
            if request.path.startswith("/v1.0/"):
                return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            return pc_error(401, 900, "Authorization header missing", "Unauthorized")
        if match:
            return self.price_sheet(request, match["market"].upper(), match["view"])
        adapter = self.routes.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            if request.path.startswith("/v1.0/"):
                return graph_error(exc.code or 404, "ResourceNotFound", f"{request.method} {request.path}")
            return pc_error(exc.code or 404, 600001, f"No route for {request.method} {request.path}", "NotFound")
        handler: Callable[..., Response] = getattr(self, endpoint)
        try:
            return handler(request, **args)
        except _Abort as abort:
            return abort.response

    def _state(self, cid: str) -> dict[str, Any]:
        state = self.state.customer_state(cid)
        if state is None:
            raise _Abort(pc_error(404, 600008, f"Customer {cid} was not found", "CustomerNotFound"))
        return state

    def _idempotent(self, request: Request, cid: str, state: dict[str, Any],
                    work: Callable[[], Response], intent: Any = None) -> Response:
        """Replay the stored answer for a repeated MS-RequestId; refuse the id with a different request.
        `intent` narrows what "the same request" means when the body carries more than the change
        (a full Subscription resource whose etag moves on)."""
        request_id = request.headers.get("MS-RequestId", "")
        payload = request.get_data() if intent is None else json.dumps(intent, sort_keys=True).encode()
        fingerprint = hashlib.sha256(f"{request.method} {request.path}\n".encode() + payload).hexdigest()
        with self.state.lock:
            entry = {"method": request.method, "path": request.path, "requestId": request_id,
                     "correlationId": request.headers.get("MS-CorrelationId", ""), "replayed": False}
            self.state.write_log.append(entry)
            if request_id:
                seen = state["requests"].get(request_id)
                if seen is not None:
                    if seen["fingerprint"] != fingerprint:
                        return pc_error(409, 800011, "MS-RequestId was already used for a different request",
                                        "RequestIdReused")
                    entry["replayed"] = True
                    return json_response(seen["body"], seen["status"], {"MS-RequestId": request_id})
            response = work()
            if request_id and response.status_code < 500:
                state["requests"][request_id] = {"fingerprint": fingerprint, "status": response.status_code,
                                                 "body": json.loads(response.get_data() or b"null")}
            self.state.save(cid)
        response.headers["MS-RequestId"] = request_id
        return response

    # ------------------------------------------------------------------ customers
    def list_customers(self, request: Request) -> Response:
        size = max(1, min(MAX_PAGE, int(request.args.get("size", MAX_PAGE))))
        token = request.headers.get("MS-ContinuationToken", "")
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except ValueError:
            return pc_error(400, 400017, "The continuation token is not valid", "InvalidContinuationToken")
        items = [_wire_customer(c) for c in self.state.customers[offset:offset + size]]
        body = collection(items, links={"self": {"uri": f"/customers?size={size}", "method": "GET", "headers": []}})
        if offset + size < len(self.state.customers):
            next_token = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            body["continuationToken"] = next_token
            body["links"]["next"] = {"uri": f"/customers?size={size}", "method": "GET",
                                     "headers": [{"key": "MS-ContinuationToken", "value": next_token}]}
        return json_response(body)

    def get_customer(self, request: Request, cid: str) -> Response:
        customer = self.state.customer(cid)
        if customer is None:
            return pc_error(404, 600008, f"Customer {cid} was not found", "CustomerNotFound")
        return json_response(_wire_customer(customer))

    # ------------------------------------------------------------------ subscriptions
    def list_subscriptions(self, request: Request, cid: str) -> Response:
        state = self._state(cid)
        self._fulfil_orders(cid, state)
        return json_response(collection([_wire_subscription(s, cid) for s in state["subscriptions"]]))

    def _find_sub(self, state: dict[str, Any], sid: str) -> dict[str, Any] | None:
        return next((s for s in state["subscriptions"] if s["id"] == sid), None)

    def get_subscription(self, request: Request, cid: str, sid: str) -> Response:
        state = self._state(cid)
        sub = self._find_sub(state, sid)
        if sub is None:
            return pc_error(404, 800001, f"Subscription {sid} was not found", "SubscriptionNotFound")
        return json_response(_wire_subscription(sub, cid))

    def patch_subscription(self, request: Request, cid: str, sid: str) -> Response:
        state = self._state(cid)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return pc_error(400, 400001, "The request body must be a JSON subscription", "BadRequest")

        def work() -> Response:
            sub = self._find_sub(state, sid)
            if sub is None:
                return pc_error(404, 800001, f"Subscription {sid} was not found", "SubscriptionNotFound")
            return self._apply_patch(sub, body)

        intent = {k: body.get(k) for k in ("quantity", "status", "autoRenewEnabled", "friendlyName",
                                           "scheduledNextTermInstructions")}
        return self._idempotent(request, cid, state, work, intent)

    def _apply_patch(self, sub: dict[str, Any], body: dict[str, Any]) -> Response:
        now = _now()
        in_window = now <= _parse(sub.get("cancellationAllowedUntilDate") or "1970-01-01T00:00:00Z")
        status = body.get("status", sub["status"])
        if sub["status"] in ("expired", "deleted"):
            return pc_error(400, 800038, f"Subscription is {sub['status']} and cannot be changed",
                            "SubscriptionNotActive")
        if status == "deleted" and sub["status"] != "deleted":
            if not in_window:
                return pc_error(400, 800037, "Cancellation is only allowed within 7 days of purchase or renewal",
                                "CancellationWindowExpired")
            sub.update(status="deleted", autoRenewEnabled=False, renewalTermDuration="",
                       commitmentEndDate=_iso(now))
            return self._touched(sub)
        if status not in ("active", "suspended"):
            return pc_error(400, 400001, f"Unsupported status {status!r}", "BadRequest")
        quantity_before = int(sub.get("quantity") or 0)
        if "quantity" in body and sub.get("unitType") == "Licenses":
            quantity = int(body["quantity"])
            if quantity < 1:
                return pc_error(400, 800030, "Quantity must be at least 1", "InvalidQuantity")
            if quantity < int(sub["quantity"]) and not in_window:
                return pc_error(400, 800036, "Seat reductions are only allowed within 7 days of purchase or "
                                "renewal", "QuantityReductionNotAllowed")
            if status != "active" and quantity != int(sub["quantity"]):
                return pc_error(400, 800038, "Seats can only change on an active subscription",
                                "SubscriptionNotActive")
            sub["quantity"] = quantity
        if "autoRenewEnabled" in body:
            sub["autoRenewEnabled"] = bool(body["autoRenewEnabled"])
            sub["renewalTermDuration"] = sub.get("termDuration", "") if sub["autoRenewEnabled"] else ""
        scheduled = body.get("scheduledNextTermInstructions")
        if scheduled and scheduled != sub.get("scheduledNextTermInstructions"):
            # create-scheduled-changes: scheduled changes need auto-renew on.
            if not sub.get("autoRenewEnabled"):
                return pc_error(400, 800050, "Scheduled changes require autoRenewEnabled to be true",
                                "AutoRenewRequired")
            sub["scheduledNextTermInstructions"] = scheduled
        elif "scheduledNextTermInstructions" in body and scheduled is None:
            sub["scheduledNextTermInstructions"] = None
        if not sub.get("autoRenewEnabled") or int(sub.get("quantity") or 0) != quantity_before:
            # A mid-term change deletes what was scheduled (create-scheduled-changes); with auto-renew
            # off nothing renews, so nothing stays scheduled [?].
            sub["scheduledNextTermInstructions"] = None
        if "friendlyName" in body and body["friendlyName"]:
            sub["friendlyName"] = str(body["friendlyName"])
        sub["status"] = status
        return self._touched(sub)

    def _touched(self, sub: dict[str, Any]) -> Response:
        attributes = sub.setdefault("attributes", {"objectType": "Subscription"})
        attributes["etag"] = str(int(attributes.get("etag", "0") or 0) + 1)
        return json_response(_wire_subscription(sub, ""))

    # ------------------------------------------------------------------ transitions (upgrades, conversions)
    # transition-a-new-commerce-subscription: eligibilities per type, then POST a transition; trials
    # convert to paid the same way. Sandbox rule (unverified): the same item (a term or billing-cycle
    # conversion) and pricier SKUs of the same family are eligible; the source must be active or a trial.
    def _eligible_targets(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        source = catalog.find_sku(sub["offerId"])
        items = []
        for sku in catalog.LICENSE_SKUS:
            item_id = catalog.catalog_item_id(sku[0], sku[1], sku[2])
            same = source is not None and item_id == catalog.catalog_item_id(source[0], source[1], source[2])
            upgrade = source is not None and sku[5] == source[5] and Decimal(sku[6]) > Decimal(source[6])
            if not (same or upgrade):
                continue
            ok = sub["status"] == "active"
            errors = [] if ok else [{"code": 3, "description": f"Subscription is {sub['status']} and cannot be "
                                                               "transitioned"}]
            items.append({"catalogItemId": item_id, "title": sku[3], "description": sku[4],
                          "quantity": sub["quantity"], "eligibilities": [
                              {"isEligible": ok, "transitionType": "transition_with_license_transfer",
                               "errors": errors}]})
        return items

    def transition_eligibilities(self, request: Request, cid: str, sid: str) -> Response:
        state = self._state(cid)
        sub = self._find_sub(state, sid)
        if sub is None:
            return pc_error(404, 800001, f"Subscription {sid} was not found", "SubscriptionNotFound")
        kind = request.args.get("eligibilityType", "immediate")
        if kind not in ("immediate", "scheduled"):
            return pc_error(400, 400001, "eligibilityType must be immediate or scheduled", "BadRequest")
        return json_response(collection(self._eligible_targets(sub)))

    def list_transitions(self, request: Request, cid: str, sid: str) -> Response:
        state = self._state(cid)
        return json_response(collection([x for x in state.setdefault("transitions", [])
                                         if x["fromSubscriptionId"] == sid]))

    def create_transition(self, request: Request, cid: str, sid: str) -> Response:
        state = self._state(cid)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("toCatalogItemId") or not body.get("quantity"):
            return pc_error(400, 400001, "toCatalogItemId and quantity are required", "BadRequest")

        def work() -> Response:
            sub = self._find_sub(state, sid)
            if sub is None:
                return pc_error(404, 800001, f"Subscription {sid} was not found", "SubscriptionNotFound")
            target = next((i for i in self._eligible_targets(sub) if i["catalogItemId"] == body["toCatalogItemId"]),
                          None)
            if target is None or not target["eligibilities"][0]["isEligible"]:
                why = target["eligibilities"][0]["errors"][0]["description"] if target else \
                    f"{body['toCatalogItemId']} is not an eligible transition target"
                return pc_error(400, 800060, why, "TransitionNotEligible")
            quantity = int(body["quantity"])
            if quantity < 1 or quantity > int(sub["quantity"]):
                return pc_error(400, 800030, "quantity must be 1..the source's quantity", "InvalidQuantity")
            now = _now()
            sku = catalog.find_sku(body["toCatalogItemId"])
            assert sku is not None
            order_id = str(uuid.uuid4())
            new = new_subscription(
                sub_id=str(uuid.uuid4()), offer_id=body["toCatalogItemId"], offer_name=sku[4], quantity=quantity,
                term=body.get("termDuration") or sub["termDuration"],
                billing=body.get("billingCycle") or sub["billingCycle"], created=now.date(), status="active",
                auto_renew=True, order_id=order_id, customer_id=cid)
            new.update(creationDate=_iso(now), effectiveStartDate=_iso(now),
                       cancellationAllowedUntilDate=_iso(now + timedelta(days=7)), migratedFromSubscriptionId=sid)
            if quantity == int(sub["quantity"]):
                # A full transition ends the source now (a trial converts and is gone).
                sub.update(status="expired", autoRenewEnabled=False, commitmentEndDate=_iso(now))
            else:
                sub["quantity"] = int(sub["quantity"]) - quantity
            state["subscriptions"].append(new)
            transition = {"id": str(uuid.uuid4()), "fromCatalogItemId": sub["offerId"], "fromSubscriptionId": sid,
                          "toCatalogItemId": body["toCatalogItemId"], "toSubscriptionId": new["id"],
                          "quantity": quantity, "termDuration": new["termDuration"],
                          "billingCycle": new["billingCycle"],
                          "transitionType": body.get("transitionType") or "transition_with_license_transfer",
                          "events": [{"name": "Conversion", "status": "Completed", "timestamp": _iso(now)}],
                          "attributes": {"objectType": "Transition"}}
            state.setdefault("transitions", []).append(transition)
            return json_response(transition, 201)

        return self._idempotent(request, cid, state, work)

    def list_entitlements(self, request: Request, cid: str, sid: str) -> Response:
        state = self._state(cid)
        sub = self._find_sub(state, sid)
        if sub is None or sub["offerId"] != AZURE_PLAN_OFFER:
            return pc_error(404, 800001, f"Azure plan subscription {sid} was not found", "SubscriptionNotFound")
        return json_response(collection(state["entitlements"].get(sid, [])))

    # ------------------------------------------------------------------ carts and orders
    def create_cart(self, request: Request, cid: str) -> Response:
        state = self._state(cid)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("lineItems"):
            return pc_error(400, 800002, "A cart needs at least one line item", "InvalidCart")

        def work() -> Response:
            items = []
            for n, item in enumerate(body["lineItems"]):
                if catalog.is_azure_plan_item(str(item.get("catalogItemId", ""))):
                    line_or_error = _azure_plan_line(n, item, state["currency"])
                    if isinstance(line_or_error, Response):
                        return line_or_error
                    items.append(line_or_error)
                    continue
                sku = catalog.find_sku(str(item.get("catalogItemId", "")))
                if sku is None:
                    return pc_error(400, 800002, f"Catalog item {item.get('catalogItemId')!r} was not found",
                                    "CatalogItemNotFound")
                term, billing = item.get("termDuration"), item.get("billingCycle")
                if (term, billing) not in catalog.terms_for(sku):
                    return pc_error(400, 800002, f"{term}/{billing} is not offered for {sku[4]}", "InvalidTerm")
                quantity = int(item.get("quantity", 0))
                if not 1 <= quantity <= 300:
                    return pc_error(400, 800030, "Quantity must be between 1 and 300", "InvalidQuantity")
                line = {
                    "id": n, "catalogItemId": catalog.catalog_item_id(*sku[:3]),
                    "friendlyName": item.get("friendlyName") or sku[4], "quantity": quantity,
                    "currencyCode": state["currency"], "billingCycle": billing, "termDuration": term,
                    "provisioningContext": item.get("provisioningContext") or {}, "orderGroup": "0",
                    "participants": item.get("participants") or [],
                }
                renews_to = item.get("renewsTo")
                if isinstance(renews_to, dict) and renews_to.get("termDuration"):
                    # A different term at renewal (cart-resources "RenewsTo"); kept as sent.
                    line["renewsTo"] = {"termDuration": str(renews_to["termDuration"])}
                items.append(line)
            now = _now()
            cart_id = str(uuid.uuid4())
            cart = {"id": cart_id, "creationTimestamp": _iso(now), "lastModifiedTimestamp": _iso(now),
                    "expirationTimestamp": _iso(now + timedelta(days=7)), "lastModifiedUser": "sandbox-user",
                    "lineItems": items, "status": "Active",
                    "links": {"self": _link(f"/customers/{cid}/carts/{cart_id}")},
                    "attributes": {"objectType": "Cart"}}
            state["carts"].append(cart)
            return json_response(cart, 201)

        return self._idempotent(request, cid, state, work)

    def get_cart(self, request: Request, cid: str, cart_id: str) -> Response:
        state = self._state(cid)
        cart = next((c for c in state["carts"] if c["id"] == cart_id), None)
        if cart is None:
            return pc_error(404, 800003, f"Cart {cart_id} was not found", "CartNotFound")
        return json_response(cart)

    def checkout(self, request: Request, cid: str, cart_id: str) -> Response:
        state = self._state(cid)

        def work() -> Response:
            cart = next((c for c in state["carts"] if c["id"] == cart_id), None)
            if cart is None:
                return pc_error(404, 800003, f"Cart {cart_id} was not found", "CartNotFound")
            if cart["status"] != "Active":
                return pc_error(400, 800004, "The cart was already checked out", "CartAlreadyOrdered")
            now = _now()
            order_id = str(uuid.uuid4())
            line_items = []
            plans = [i for i in cart["lineItems"] if catalog.is_azure_plan_item(i["catalogItemId"])]
            if plans and (len(plans) > 1 or any(s["offerId"] == AZURE_PLAN_OFFER and s["status"] != "deleted"
                                                for s in state["subscriptions"])):
                return pc_error(400, catalog.AZURE_PLAN_LIMIT_CODE,
                                "For the current term, the requested number of 1 asset(s) exceeded the remaining "
                                "limit of 0 assets allowed per customer.", "AssetLimitExceeded")
            for item in cart["lineItems"]:
                if catalog.is_azure_plan_item(item["catalogItemId"]):
                    plan = azure_plan_subscription(str(uuid.uuid4()), now.date(), order_id, cid)
                    plan.update(creationDate=_iso(now), effectiveStartDate=_iso(now),
                                friendlyName=item["friendlyName"])
                    state["subscriptions"].append(plan)
                    # Creating the plan also creates its first Azure subscription (create-azure-plan).
                    state["entitlements"][plan["id"]] = [{
                        "id": str(uuid.uuid4()), "friendlyName": "Microsoft Azure", "status": "active",
                        "subscriptionId": plan["id"], "entitlementType": "asset",
                        "attributes": {"objectType": "AzureEntitlement"}}]
                    line_items.append((item, plan))
                    continue
                sku = catalog.find_sku(item["catalogItemId"])
                assert sku is not None
                sub = new_subscription(
                    sub_id=str(uuid.uuid4()), offer_id=item["catalogItemId"], offer_name=sku[4],
                    quantity=item["quantity"], term=item["termDuration"], billing=item["billingCycle"],
                    created=now.date(), status="active", auto_renew=True, order_id=order_id, customer_id=cid)
                # Real purchase time, so the 7-day window is measured from now, not from midnight.
                sub.update(creationDate=_iso(now), effectiveStartDate=_iso(now),
                           cancellationAllowedUntilDate=_iso(now + timedelta(days=7)),
                           friendlyName=item["friendlyName"])
                parent = (item.get("provisioningContext") or {}).get("parentSubscriptionId")
                if parent:
                    # An add-on bought against its base subscription (sandbox convention, unverified).
                    sub["parentSubscriptionId"] = str(parent)
                if item.get("renewsTo"):
                    sub["renewalTermDuration"] = item["renewsTo"]["termDuration"]
                state["subscriptions"].append(sub)
                line_items.append((item, sub))
            order = order_for(order_id, cid, line_items[0][1], state["currency"], _iso(now), status="pending")
            order["billingCycle"] = cart["lineItems"][0]["billingCycle"]
            order["lineItems"] = [{
                "lineItemNumber": n, "offerId": item["catalogItemId"], "subscriptionId": sub["id"],
                "termDuration": item.get("termDuration") or "", "transactionType": "New",
            "friendlyName": item["friendlyName"],
                "quantity": item["quantity"], "provisioningContext": item["provisioningContext"],
                "links": {"provisioningStatus": {"uri": f"/customers/{cid}/orders/{order_id}/provisioningstatus",
                                                 "method": "GET", "headers": []}},
            } for n, (item, sub) in enumerate(line_items)]
            state["orders"].append(order)
            cart["status"] = "Ordered"
            self.state.checkouts += 1
            return json_response({"orders": [_public(order)], "orderErrors": [],
                                  "attributes": {"objectType": "CartCheckoutResult"}}, 201)

        return self._idempotent(request, cid, state, work)

    def _fulfil_orders(self, cid: str, state: dict[str, Any]) -> None:
        """Checkout answers 'pending'; the order has completed by the next read, like a fast provisioning."""
        with self.state.lock:
            pending = [o for o in state["orders"] if o["status"] == "pending"]
            for order in pending:
                order["status"] = "completed"
            if pending:
                self.state.save(cid)

    def list_orders(self, request: Request, cid: str) -> Response:
        state = self._state(cid)
        self._fulfil_orders(cid, state)
        return json_response(collection([_public(o) for o in state["orders"]],
                                        links={"self": _link(f"/customers/{cid}/orders")}))

    def get_order(self, request: Request, cid: str, oid: str) -> Response:
        state = self._state(cid)
        self._fulfil_orders(cid, state)
        order = next((o for o in state["orders"] if o["id"] == oid), None)
        if order is None:
            return pc_error(404, 800005, f"Order {oid} was not found", "OrderNotFound")
        return json_response(_public(order))

    def provisioning(self, request: Request, cid: str, oid: str) -> Response:
        state = self._state(cid)
        self._fulfil_orders(cid, state)
        order = next((o for o in state["orders"] if o["id"] == oid), None)
        if order is None:
            return pc_error(404, 800005, f"Order {oid} was not found", "OrderNotFound")
        done = order["status"] == "completed"
        items = [{
            "lineItemNumber": li["lineItemNumber"], "status": "fulfilled" if done else "unfulfilled",
            "quantityProvisioningInformation": [{"quantity": li.get("quantity", 1),
                                                 "status": "fulfilled" if done else "pending"}],
            "subscriptionId": li.get("subscriptionId", ""),
            "attributes": {"objectType": "OrderLineItemProvisioningStatus"},
        } for li in order["lineItems"]]
        return json_response(collection(items))

    # ------------------------------------------------------------------ agreements (MCA)
    def agreement_metadata(self, request: Request) -> Response:
        kind = request.args.get("agreementType", "MicrosoftCustomerAgreement")
        items = [] if kind.lower() not in ("microsoftcustomeragreement", "all") else [{
            "templateId": MCA_TEMPLATE_ID, "agreementType": "MicrosoftCustomerAgreement",
            "agreementLink": "https://aka.ms/customeragreement", "versionRank": 0,
            "attributes": {"objectType": "AgreementMetaData"}}]
        return json_response(collection(items, links={"self": _link("/agreements")}))

    def list_agreements(self, request: Request, cid: str) -> Response:
        state = self._state(cid)
        kind = request.args.get("agreementType", "")
        items = [a for a in state["agreements"] if not kind or a.get("type", "").lower() == kind.lower()]
        return json_response(collection(items, links={"self": _link(f"/customers/{cid}/agreements")}))

    def create_agreement(self, request: Request, cid: str) -> Response:
        state = self._state(cid)
        body = request.get_json(silent=True) or {}
        contact = body.get("primaryContact") or {}

        def work() -> Response:
            if body.get("templateId") != MCA_TEMPLATE_ID:
                return pc_error(400, 600059, "Unknown agreement templateId", "InvalidTemplateId")
            if not (contact.get("email") and contact.get("firstName") and contact.get("lastName")):
                return pc_error(400, 600060, "primaryContact needs firstName, lastName and email", "InvalidContact")
            if any(_same_attestation(a, body) for a in state["agreements"]):
                # wire/partnercenter/error-agreement-already-exists.http
                return pc_error(409, 600061, "A partner confirmed agreement already exists for the customer.",
                                "PartnerConfirmedAgreementAlreadyExists")
            agreement = {"userId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-user:{contact.get('email')}")),
                         "primaryContact": contact, "dateAgreed": body.get("dateAgreed") or _iso(_now()),
                         "templateId": body["templateId"], "type": body.get("type", "MicrosoftCustomerAgreement"),
                         "agreementLink": "https://aka.ms/customeragreement",
                         "attributes": {"objectType": "Agreement"}}
            state["agreements"].append(agreement)
            return json_response(agreement, 201)

        return self._idempotent(request, cid, state, work)

    # ------------------------------------------------------------------ catalog
    def _product(self, pid: str, country: str) -> dict[str, Any] | None:
        if pid == catalog.AZURE_PLAN[0]:
            title, kind = catalog.AZURE_PLAN[3], "Azure"
        else:
            sku = next((s for s in catalog.LICENSE_SKUS if s[0] == pid), None)
            if sku is None:
                return None
            title, kind = sku[3], "OnlineServicesNCE"
        return {"id": pid, "title": title, "description": f"{title} (sandbox catalog)",
                "productType": {"id": kind, "displayName": kind}, "isMicrosoftProduct": True,
                "publisherName": "Microsoft Corporation",
                "links": {"skus": {"uri": f"/products/{pid}/skus?country={country}", "method": "GET", "headers": []},
                          "self": {"uri": f"/products/{pid}?country={country}", "method": "GET", "headers": []}},
                "attributes": {"objectType": "Product"}}

    def list_products(self, request: Request) -> Response:
        country = request.args.get("country", "US").upper()
        view = request.args.get("targetView", "OnlineServicesNCE")
        if view.lower() == "azure":
            pids = [catalog.AZURE_PLAN[0]]
        else:
            pids = list(dict.fromkeys(s[0] for s in catalog.LICENSE_SKUS))
        return json_response(collection([self._product(pid, country) for pid in pids]))

    def get_product(self, request: Request, pid: str) -> Response:
        product = self._product(pid, request.args.get("country", "US").upper())
        if product is None:
            return pc_error(404, 400013, f"Product {pid} was not found", "ProductNotFound")
        return json_response(product)

    def list_skus(self, request: Request, pid: str) -> Response:
        country = request.args.get("country", "US").upper()
        if pid == catalog.AZURE_PLAN[0]:
            return json_response(collection([_azure_plan_sku(country)],
                                            links={"self": _link(f"/products/{pid}/skus?country={country}")}))
        skus = [s for s in catalog.LICENSE_SKUS if s[0] == pid]
        if not skus:
            return pc_error(404, 400013, f"Product {pid} was not found", "ProductNotFound")
        items = [{
            "id": s[1], "productId": pid, "title": s[4], "description": f"{s[4]} ({s[5]})",
            "minimumQuantity": 1, "maximumQuantity": 300, "isTrial": False,
            "supportedBillingCycles": sorted({b for _t, b in catalog.terms_for(s)}),
            "purchasePrerequisites": [], "inventoryVariables": [], "provisioningVariables": [],
            "dynamicAttributes": {"isAddon": False, "hasAddOns": False, "prerequisiteSkus": []},
            "links": {"availabilities": {"uri": f"/products/{pid}/skus/{s[1]}/availabilities?country={country}",
                                         "method": "GET", "headers": []},
                      "self": _link(f"/products/{pid}/skus/{s[1]}?country={country}")},
            "attributes": {"objectType": "Sku"},
        } for s in skus]
        return json_response(collection(items, links={"self": _link(f"/products/{pid}/skus?country={country}")}))

    def list_availabilities(self, request: Request, pid: str, sku_id: str) -> Response:
        country = request.args.get("country", "US").upper()
        if country not in catalog.MARKETS:
            return pc_error(400, 400018, f"Country {country} is not a sandbox market", "InvalidCountry")
        currency = catalog.MARKETS[country][0]
        if (pid, sku_id) == catalog.AZURE_PLAN[:2]:
            plan = catalog.AZURE_PLAN
            base = f"/products/{pid}/skus/{sku_id}/availabilities"
            return json_response(collection([{
                "id": plan[2], "productId": pid, "skuId": sku_id, "catalogItemId": catalog.catalog_item_id(*plan[:3]),
                "defaultCurrency": {"code": currency, "symbol": CURRENCY_SYMBOLS.get(currency, currency)},
                "segment": "commercial", "country": country, "isPurchasable": True, "isRenewable": False,
                "terms": [], "product": self._product(pid, country), "sku": _azure_plan_sku(country),
                "links": {"self": _link(f"{base}/{plan[2]}?country={country}")},
                "attributes": {"objectType": "Availability"},
            }], links={"self": _link(f"{base}?country={country}&targetSegment=commercial")}))
        sku = next((s for s in catalog.LICENSE_SKUS if s[0] == pid and s[1] == sku_id), None)
        if sku is None:
            return pc_error(404, 400013, f"SKU {pid}/{sku_id} was not found", "SkuNotFound")
        terms = [{"duration": t, "description": f"{t} commitment, billed {b}", "billingCycle": b,
                  "cancellationPolicies": [{"refunds": [{"type": "Full", "expiresAfter": "P7D",
                                                         "sequenceId": 1}]}]}
                 for t, b in catalog.terms_for(sku)]
        base = f"/products/{pid}/skus/{sku_id}/availabilities"
        return json_response(collection([{
            "id": sku[2], "productId": pid, "skuId": sku_id, "catalogItemId": catalog.catalog_item_id(*sku[:3]),
            "defaultCurrency": {"code": currency, "symbol": CURRENCY_SYMBOLS.get(currency, currency)},
            "segment": "commercial", "country": country,
            "isPurchasable": True, "isRenewable": True, "terms": terms,
            "product": self._product(pid, country),
            "sku": {"id": sku_id, "productId": pid, "title": sku[4], "description": f"{sku[4]} ({sku[5]})"},
            "links": {"self": _link(f"{base}/{sku[2]}?country={country}")},
            "attributes": {"objectType": "Availability"},
        }], links={"self": _link(f"{base}?country={country}&targetSegment=commercial")}))

    def price_sheet(self, request: Request, market: str, view: str) -> Response:
        if view.lower() != "updatedlicensebased":
            return pc_error(400, 400019, f"PricesheetView {view!r} is not served by the sandbox", "InvalidView")
        if market not in catalog.MARKETS:
            return pc_error(400, 400018, f"Market {market} is not a sandbox market", "InvalidMarket")
        timeline = request.args.get("timeline", "current")
        path = self.state.dir / "pricesheets" / f"{market}.csv"
        if timeline == "current" and path.exists():
            fh = open(path, "rb")  # noqa: SIM115 - wrap_file closes it when the response is done
            return Response(wrap_file(request.environ, fh), content_type="application/octet-stream",
                            headers={"Content-Disposition": "attachment; filename=sheets.csv"},
                            direct_passthrough=True)
        if timeline != "history":
            return pc_error(400, 400020, f"timeline must be current or history, not {timeline!r}", "BadRequest")
        month = request.args.get("month", "")
        if not re.fullmatch(r"\d{6}", month):
            return pc_error(400, 400020, "timeline=history needs month=YYYYMM", "BadRequest")
        from datetime import date

        # Any month's sheet, past or next (the same shape and size as the seeded current one), made on
        # first request and kept: the generator derives every month from the same hashes.
        cached = self.state.dir / "pricesheets" / "months" / f"{market}-{month}.csv"
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            part = cached.with_suffix(f".{uuid.uuid4().hex}.part")
            as_of = self.state.meta.get("as_of")
            write_market_sheet(part, market, date(int(month[:4]), int(month[4:]), 1),
                               int(self.state.meta.get("price_rows") or 0),
                               date.fromisoformat(as_of) if as_of else None)
            part.replace(cached)
        # Microsoft answers with a file stream, not text/csv (wire/partnercenter/get-a-price-sheet-newcommerce.http).
        fh = open(cached, "rb")  # noqa: SIM115 - wrap_file closes it when the response is done
        return Response(wrap_file(request.environ, fh), content_type="application/octet-stream",
                        headers={"Content-Disposition": "attachment; filename=sheets.csv"}, direct_passthrough=True)

    # ------------------------------------------------------------------ invoices
    def list_invoices(self, request: Request) -> Response:
        """Offset-paged like Microsoft's sample (links.next `/invoices?size=2&offset=2`)."""
        try:
            size = max(1, min(MAX_PAGE, int(request.args.get("size", 200))))
            offset = max(0, int(request.args.get("offset", 0)))
        except ValueError:
            return pc_error(400, 400001, "size and offset must be integers", "BadRequest")
        invoices = self.state.invoices
        body = collection([_wire_invoice(i) for i in invoices[offset:offset + size]],
                          links={"self": _link(f"/invoices?size={size}&offset={offset}")})
        body["totalCount"] = len(body["items"])
        if offset + size < len(invoices):
            body["links"]["next"] = _link(f"/invoices?size={size}&offset={offset + size}")
        return _money_json(body)

    def get_invoice(self, request: Request, iid: str) -> Response:
        invoice = self.state.invoice(iid)
        if invoice is None:
            return pc_error(404, 2404, f"Invoice {iid} was not found", "InvoiceNotFound")
        return _money_json(_wire_invoice(invoice))

    def invoice_line_items(self, request: Request, iid: str, provider: str = "", kind: str = "") -> Response:
        """v1 billed recon line items, seek-paged (the pre-Graph API, still used for older periods):
        GET /v1/invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&currencycode=&size=
        then .../lineitems/OneTime/BillingLineItems?...&seekOperation=Next + MS-ContinuationToken.
        https://learn.microsoft.com/partner-center/developer/get-invoice-billed-consumption-lineitems"""
        if self.state.invoice(iid) is None:
            return pc_error(404, 2404, f"Invoice {iid} was not found", "InvoiceNotFound")
        provider = (provider or request.args.get("provider", "")).lower()
        kind = (kind or request.args.get("invoicelineitemtype", "")).lower()
        if provider != "onetime" or kind != "billinglineitems":
            return pc_error(400, 2001, "provider=onetime and invoicelineitemtype=billinglineitems are served",
                            "InvalidLineItemType")
        size = max(1, min(2000, int(request.args.get("size", 2000))))
        token = ""
        if request.args.get("seekOperation"):
            # Seek paging carries its position only in the header that links.next names.
            token = request.headers.get("MS-ContinuationToken", "")
            if not token:
                return pc_error(400, 400017, "seekOperation=Next needs the MS-ContinuationToken header",
                                "InvalidContinuationToken")
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except ValueError:
            return pc_error(400, 400017, "The continuation token is not valid", "InvalidContinuationToken")
        lines = self._recon_lines(iid)
        page = lines[offset:offset + size]
        currency = request.args.get("currencycode", "")
        query = f"provider=OneTime&invoicelineitemtype=BillingLineItems&currencycode={currency}&size={size}"
        body = collection(page, links={"self": _link(f"/invoices/{iid}/lineitems?{query}")})
        if offset + size < len(lines):
            next_token = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            body["continuationToken"] = next_token
            # wire/partnercenter/get-invoiceline-items__4.http: same query + seekOperation=Next, token in a header.
            body["links"]["next"] = {"uri": f"/invoices/{iid}/lineitems?{query}&seekOperation=Next", "method": "GET",
                                     "headers": [{"key": "MS-ContinuationToken", "value": next_token}]}
        return _money_json(body)

    def _recon_lines(self, iid: str) -> list[dict[str, Any]]:
        cache = self.state.recon_cache
        if iid not in cache:
            lines = []
            for source in sorted((self.state.dir / "exports" / "recon_billed" / iid).glob("*.json.gz")):
                for row in read_usage_rows(source):
                    lines.append(_wire_line_item(row))
            cache[iid] = lines
        return cache[iid]

    # ------------------------------------------------------------------ Graph billing exports
    def _start_export(self, request: Request, kind: str, folder: str | None, error: str = "",
                      basic: bool = False) -> Response:
        # Numbered per export, not random: the manifest id lands in the recon manifests the ingest
        # writes, and two demo runs write the same files. (Real ids are GUIDs too, just not derived.)
        with self.state.lock:
            n = 0
            while (op_id := str(uuid.uuid5(_OPS_NAMESPACE, f"{kind}|{folder}|{basic}|{n}"))) in self.state.operations:
                n += 1
            self.state.operations[op_id] = {"id": op_id, "kind": kind, "folder": folder, "error": error,
                                            "polls": 0, "created": _iso(_now()), "basic": basic}
        location = f"{request.host_url.rstrip('/')}{GRAPH_BILLING}/operations/{op_id}"
        return Response(status=202, headers={"Location": location, "Content-Type": "application/json"})

    def _export_body(self, request: Request) -> dict[str, Any] | None:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return None
        if body.get("attributeSet", "full") not in ("full", "basic"):
            return None
        return body

    def export_billed_usage(self, request: Request) -> Response:
        body = self._export_body(request)
        if body is None or not body.get("invoiceId"):
            return graph_error(400, "BadRequest", "invoiceId is required; attributeSet is full or basic")
        invoice_id = str(body["invoiceId"])
        if self.state.invoice(invoice_id) is None:
            return self._start_export(request, "billedUsage", None, "No data available")
        return self._start_export(request, "billedUsage", f"exports/usage_billed/{invoice_id}",
                                  basic=body.get("attributeSet") == "basic")

    def export_unbilled_usage(self, request: Request) -> Response:
        body = self._export_body(request)
        if body is None or not body.get("currencyCode") or body.get("billingPeriod") not in ("current", "last"):
            return graph_error(400, "BadRequest", "currencyCode and billingPeriod (current|last) are required")
        currency = str(body["currencyCode"]).upper()
        folder: str | None
        if body["billingPeriod"] == "current":
            folder = f"exports/usage_unbilled/{currency}/{self.state.meta['unbilled_period']}"
        else:
            invoice = next((i for i in self.state.invoices if i["currencyCode"] == currency), None)
            folder = f"exports/usage_billed/{invoice['id']}" if invoice else None
        return self._start_export(request, "unbilledUsage", folder, "" if folder else "No data available",
                                  basic=body.get("attributeSet") == "basic")

    def export_billed_recon(self, request: Request) -> Response:
        body = self._export_body(request)
        if body is None or not body.get("invoiceId"):
            return graph_error(400, "BadRequest", "invoiceId is required; attributeSet is full or basic")
        invoice_id = str(body["invoiceId"])
        if self.state.invoice(invoice_id) is None:
            return self._start_export(request, "billedReconciliation", None, "No data available")
        return self._start_export(request, "billedReconciliation", f"exports/recon_billed/{invoice_id}")

    def get_operation(self, request: Request, op_id: str) -> Response:
        op = self.state.operations.get(op_id)
        if op is None:
            return graph_error(404, "ResourceNotFound", f"operation {op_id} not found")
        op["polls"] += 1
        base = {"id": op_id, "createdDateTime": op["created"], "lastActionDateTime": _iso(_now())}
        if op["polls"] == 1:
            # The first poll always sees it running, so clients must really poll.
            return json_response({"@odata.type": "#microsoft.graph.partners.billing.runningOperation",
                                  "status": "running", **base})
        if op["error"]:
            return json_response({"@odata.type": "#microsoft.graph.partners.billing.failedOperation",
                                  "status": "failed", **base, "error": {"message": op["error"], "code": "5000"}})
        return json_response({
            "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation", "status": "succeeded", **base,
            "resourceLocation@odata.navigationLink": f"{request.host_url.rstrip('/')}{GRAPH_BILLING}/manifests/{op_id}",
        })

    def _sign(self, directory: str, expiry: str) -> str:
        mac = hmac.new(self.state.sas_key, f"{directory}\n{expiry}".encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    def get_manifest(self, request: Request, manifest_id: str) -> Response:
        op = self.state.operations.get(manifest_id)
        if op is None or op["error"] or op["polls"] < 2:
            return graph_error(404, "ResourceNotFound", f"manifest {manifest_id} not found")
        folder = op["folder"]
        if folder and op["basic"]:
            folder = self._basic_copy(folder)
        blobs = sorted(p.name for p in (self.state.dir / folder).glob("*.json.gz")) if folder else []
        expiry = _iso(_now() + timedelta(hours=1))
        sas = (f"skoid={uuid.uuid5(uuid.NAMESPACE_DNS, 'sandbox')}&sv=2021-08-06&se={quote(expiry, safe='')}"
               f"&sr=d&sp=rl&sdd=3&sig={quote(self._sign(folder or '', expiry), safe='')}")
        return json_response({
            "@odata.type": "#microsoft.graph.partners.billing.manifest", "id": manifest_id, "schemaVersion": "2",
            "dataFormat": "compressedJSON", "createdDateTime": op["created"], "eTag": manifest_id[:16],
            "partnerTenantId": self.state.meta["partner_id"],
            "rootDirectory": f"{request.host_url.rstrip('/')}/_blobs/{folder or 'empty'}", "sasToken": sas,
            "partitionType": "default", "blobCount": len(blobs),
            "blobs": [{"name": name, "partitionValue": "default"} for name in blobs],
        })

    def _basic_copy(self, folder: str) -> str:
        """The usage files cut down to the basic attribute set, made once per folder on first request.
        (The invoice recon export ignores `basic` here: the sandbox serves it full.)"""
        target = f"{folder}/basic"
        with self.state.lock:
            out_dir = self.state.dir / target
            if not out_dir.exists():
                tmp = self.state.dir / f"{target}.tmp"
                tmp.mkdir(parents=True, exist_ok=True)
                for source in sorted((self.state.dir / folder).glob("*.json.gz")):
                    rows = (({c: row[c] for c in BASIC_USAGE_COLUMNS}) for row in read_usage_rows(source))
                    write_jsonl_gz(tmp / source.name, rows)
                tmp.replace(out_dir)
        return target

    def revise_usage(self, request: Request) -> Response:
        """Sandbox admin: Microsoft revises the billed month's usage after its invoice (see revise.py).
        Body (optional): {"percent": "8"}. Answers with what changed, meter by meter."""
        from sandbox.partnercenter.revise import DEFAULT_PERCENT, revise_billed_usage

        body = request.get_json(silent=True) or {}
        try:
            percent = Decimal(str(body.get("percent", DEFAULT_PERCENT))) if isinstance(body, dict) else None
            if percent is None:
                raise ArithmeticError
            with self.state.lock:
                record = revise_billed_usage(self.state.dir, percent=percent)
                self.state.reload_if_reseeded()
        except (ArithmeticError, ValueError) as exc:
            return pc_error(400, 400001, f"percent must be a number between 0 and 100: {exc}", "BadRequest")
        return _money_json(record)

    def get_blob(self, request: Request, blob: str) -> Response:
        directory, _, name = blob.rpartition("/")
        expiry, sig = request.args.get("se", ""), request.args.get("sig", "")
        ok = bool(sig) and hmac.compare_digest(sig, self._sign(directory, expiry))
        if ok:
            try:
                ok = _parse(expiry) > _now()
            except ValueError:
                ok = False
        if not ok:
            return Response("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code>"
                            "<Message>Server failed to authenticate the request.</Message></Error>",
                            status=403, content_type="application/xml")
        path = (self.state.dir / directory / name).resolve()
        if not str(path).startswith(str(self.state.dir.resolve())) or not path.is_file():
            return Response("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code>"
                            "<Message>The specified blob does not exist.</Message></Error>",
                            status=404, content_type="application/xml")
        fh = open(path, "rb")  # noqa: SIM115 - wrap_file closes it when the response is done
        return Response(wrap_file(request.environ, fh), content_type="application/octet-stream",
                        headers={"Content-Length": str(path.stat().st_size), "x-ms-blob-type": "BlockBlob"},
                        direct_passthrough=True)


def _azure_plan_sku(country: str) -> dict[str, Any]:
    pid, sku_id = catalog.AZURE_PLAN[:2]
    return {"id": sku_id, "productId": pid, "title": catalog.AZURE_PLAN[4], "description": "Azure plan",
            "minimumQuantity": 1, "maximumQuantity": 1, "isTrial": False, "supportedBillingCycles": ["monthly"],
            "purchasePrerequisites": ["MicrosoftCustomerAgreement"], "inventoryVariables": [],
            "provisioningVariables": [], "dynamicAttributes": {"isAddon": False, "hasAddOns": False},
            "links": {"availabilities": _link(f"/products/{pid}/skus/{sku_id}/availabilities?country={country}"),
                      "self": _link(f"/products/{pid}/skus/{sku_id}?country={country}")},
            "attributes": {"objectType": "Sku"}}


def _azure_plan_line(n: int, item: dict[str, Any], currency: str) -> dict[str, Any] | Response:
    """A cart line for the Azure plan: one plan, no term (it has no commitment; orders show an empty
    termDuration), billed monthly in arrears for what its Azure subscriptions use."""
    if int(item.get("quantity", 0) or 0) != 1:
        return pc_error(400, 800030, "The Azure plan is bought with quantity 1", "InvalidQuantity")
    if item.get("termDuration"):
        return pc_error(400, 800002, f"The Azure plan has no term; termDuration {item['termDuration']!r} is not "
                                     "offered", "InvalidTerm")
    billing = str(item.get("billingCycle") or "monthly")
    if billing != "monthly":
        return pc_error(400, 800002, f"{billing} is not offered for the Azure plan", "InvalidTerm")
    return {"id": n, "catalogItemId": catalog.catalog_item_id(*catalog.AZURE_PLAN[:3]),
            "friendlyName": item.get("friendlyName") or catalog.AZURE_PLAN[4], "quantity": 1,
            "currencyCode": currency, "billingCycle": billing, "termDuration": "",
            "provisioningContext": item.get("provisioningContext") or {}, "orderGroup": "0", "participants": []}


def _public(order: dict[str, Any]) -> dict[str, Any]:
    """An Order as Partner Center shows it (wire/partnercenter/get-an-order-by-id.http, checkout-a-cart.http)."""
    out = {k: v for k, v in order.items() if not k.startswith("_")}
    cid, oid = out.get("referenceCustomerId", ""), out["id"]
    out.setdefault("currencySymbol", CURRENCY_SYMBOLS.get(out.get("currencyCode", ""), out.get("currencyCode", "")))
    lines = []
    for li in out.get("lineItems") or []:
        li = dict(li)
        product, _, rest = str(li.get("offerId", "")).partition(":")
        sku = rest.partition(":")[0]
        links = dict(li.get("links") or {})
        links.setdefault("sku", _link(f"/products/{product}/skus/{sku}"))
        if li.get("subscriptionId"):
            links.setdefault("subscription", _link(f"/customers/{cid}/subscriptions/{li['subscriptionId']}"))
        li["links"] = links
        lines.append(li)
    out["lineItems"] = lines
    out["links"] = {"provisioningStatus": _link(f"/customers/{cid}/orders/{oid}/provisioningstatus"),
                    "self": _link(f"/customers/{cid}/orders/{oid}"), **(out.get("links") or {})}
    out["attributes"] = {"etag": _etag(oid, out.get("status", "")), "objectType": "Order"}
    return out


def _etag(*parts: str) -> str:
    return base64.b64encode(hashlib.sha256("|".join(parts).encode()).digest()[:18]).decode()


def _wire_customer(customer: dict[str, Any]) -> dict[str, Any]:
    """Customer resource keys of wire/partnercenter/get-a-customer-by-id.http: the company profile
    carries the address and email; both profiles and the customer carry self links."""
    cid = customer["id"]
    out = json.loads(json.dumps(customer))
    company, billing = out.setdefault("companyProfile", {}), out.setdefault("billingProfile", {})
    address = billing.get("defaultAddress") or {}
    region = _REGIONS.get(address.get("country", ""), "")
    address.setdefault("state", region)
    company.setdefault("address", {"country": address.get("country", ""), "region": region,
                                   "city": address.get("city", ""), "addressLine1": address.get("addressLine1", ""),
                                   "postalCode": address.get("postalCode", ""),
                                   "phoneNumber": address.get("phoneNumber", "")})
    company.setdefault("email", billing.get("email", ""))
    company.setdefault("links", {"self": _link(f"/customers/{cid}/profiles/company")})
    billing.setdefault("links", {"self": _link(f"/customers/{cid}/profiles/billing")})
    billing.setdefault("attributes", {"objectType": "CustomerBillingProfile"}).setdefault(
        "etag", _etag(cid, billing.get("email", "")))
    out.setdefault("customDomains", [company.get("domain", "")] if company.get("domain") else [])
    out.setdefault("links", {"self": _link(f"/customers/{cid}")})
    return out


def _wire_subscription(sub: dict[str, Any], cid: str) -> dict[str, Any]:
    """entitlementId and, for add-ons, parentSubscriptionId + links.parentSubscription
    (wire/partnercenter/get-a-subscription-by-id__1/__2.http)."""
    out = dict(sub)
    out.setdefault("entitlementId", str(uuid.uuid5(uuid.NAMESPACE_URL, f"entitlement:{sub['id']}")))
    links = dict(out.get("links") or {})
    if out.get("parentSubscriptionId"):
        self_uri = str((links.get("self") or {}).get("uri", ""))  # /customers/{cid}/subscriptions/{sid}
        owner = cid or (self_uri.split("/")[2] if self_uri.count("/") >= 4 else "")
        links.setdefault("parentSubscription",
                         _link(f"/customers/{owner}/subscriptions/{out['parentSubscriptionId']}"))
    out["links"] = links
    return out


def _wire_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """Amounts as JSON numbers (wire/partnercenter/get-a-collection-of-invoices.http)."""
    from decimal import Decimal

    out = json.loads(json.dumps(invoice))
    for key in ("totalCharges", "paidAmount"):
        out[key] = Decimal(str(out.get(key) or 0))
    out["currencySymbol"] = CURRENCY_SYMBOLS.get(out.get("currencyCode", ""), out.get("currencySymbol", ""))
    out.setdefault("taxReceipts", [])
    for detail in out.get("invoiceDetails") or []:
        detail.setdefault("attributes", {"objectType": "InvoiceDetail"})
    return out


# Recon-file column -> v1 OneTimeInvoiceLineItem key where it is not just camelCase
# (wire/partnercenter/get-invoiceline-items__4.http: Total is totalForCustomer, MpnId mpnId, ...).
_LINE_ITEM_KEYS = {"Total": "totalForCustomer", "MpnId": "mpnId", "MPNID": "mpnId", "ResellerMpnId": "resellerMpnId",
                   "PCToBCExchangeRate": "pcToBCExchangeRate", "PCToBCExchangeRateDate": "pcToBCExchangeRateDate",
                   "ReferenceId": "referenceId", "PromotionId": "promotionId"}


def _wire_line_item(row: dict[str, Any]) -> dict[str, Any]:
    item = {_LINE_ITEM_KEYS.get(k, k[:1].lower() + k[1:]): v for k, v in row.items()}
    item.setdefault("quoteId", "")
    item["invoiceLineItemType"] = "billing_line_items"
    item["billingProvider"] = "one_time"
    item["attributes"] = {"objectType": "OneTimeInvoiceLineItem"}
    return item


def _same_attestation(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    """Same template and the same accepting person: Partner Center answers 409/600061 to a repeat."""
    a, b = existing.get("primaryContact") or {}, body.get("primaryContact") or {}
    return (existing.get("templateId") == body.get("templateId")
            and str(a.get("email", "")).lower() == str(b.get("email", "")).lower()
            and (a.get("firstName"), a.get("lastName")) == (b.get("firstName"), b.get("lastName")))


def build_app(state_dir: Path) -> SandboxApp:
    """The WSGI app for `sandbox.registry`; `.state` exposes the data to in-process tests."""
    state = PartnerCenterState(Path(state_dir))
    app = SandboxApp(PartnerCenterSandbox(state))
    app.state = state  # type: ignore[attr-defined]
    return app
