"""TD SYNNEX StreamOne Ion (partner API v3) sandbox: rotating refresh tokens, customers,
products, orders (CREATE and UPDATE) and subscriptions, in both of its paging styles.

Shapes follow ../shared/reference/distributors_facts.md section 1 (vendor SDK and an employee's
Postman samples; the vendor's own spec was not read in full):
- POST /oauth/token takes a form body grant_type=refresh_token&refresh_token=...; every use
  rotates the refresh token (the old one dies at once) and answers access_token, refresh_token,
  token_type, expires_in. A spent or unknown refresh token answers 400 invalid_grant. POST
  /oauth/validateAccess checks an access token;
- everything else sits under /api/v3/accounts/{accountId}/ and answers resources with
  Google-style names ("accounts/5212/customers/49957"), createTime/updateTime;
- customers, products and orders page with pageSize + pageToken -> nextPageToken; the
  account-wide subscription list pages with pagination.limit + pagination.offset ->
  paginationResponse.totalSize (and, as one client does, pageToken -> nextPageToken too);
- every change is an order: POST .../customers/{c}/orders with orderItems[].action CREATE or
  UPDATE and name/value attributes. A Microsoft CREATE needs renewalSetting (MSFT_CR_033) and,
  for a customer without a cloud profile, domainName (COMM-VL-004). An UPDATE names the
  Microsoft subscription in resourceId and carries the new total quantity;
- there is no idempotency key: the same POST twice buys twice. The caller's referenceId is
  kept on the order and can be searched for;
- quantities are strings and money floats on subscriptions, as the samples show;
- errors answer {error, message, code, details[]} (gRPC-gateway style: code is a gRPC code).
How to cancel a subscription is not documented: the sandbox refuses UPDATE attributes it does not
know, unless `cancel_attribute` names the one a test assumes.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from sandbox._distributor import StateFile, TokenBook, distributor_app, oauth_error, zulu
from sandbox._server import SandboxApp, json_response

ACCOUNT_ID = "5212"
FIRST_REFRESH_TOKEN = "sandbox-tdsynnex-refresh-token"  # noqa: S105 - the loopback sandbox's first token
ACCESS_TTL = 7200
REFRESH_TTL_DAYS = 30
_GRPC = {400: ("INVALID_ARGUMENT", 3), 401: ("UNAUTHENTICATED", 16), 403: ("PERMISSION_DENIED", 7),
         404: ("NOT_FOUND", 5), 409: ("ALREADY_EXISTS", 6), 429: ("RESOURCE_EXHAUSTED", 8), 500: ("INTERNAL", 13)}
_KNOWN_UPDATE_ATTRIBUTES = {"operations", "renewalSetting", "friendlyName"}


def error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    name, code = _GRPC.get(status, ("UNKNOWN", 2))
    return json_response({"error": name, "message": message, "code": code, "details": details or []}, status)


def _sid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tdsynnex-sandbox/{seed}"))


def _plan(product: str, sku: str, term: str, cycle: str, cost: float, msrp: float) -> dict[str, Any]:
    label = {"P1M": "Monthly", "P1Y": "Annual", "P3Y": "Triennial"}[term]
    return {"id": f"{label}-{cycle}-{product}-{sku}", "displayName": f"{label} commit, billed {cycle}",
            "mpnId": f"{product}:{sku}:{term}:{cycle}", "pricing": {"cost": cost, "msrp": msrp, "currency": "USD"}}


def default_seed() -> dict[str, Any]:
    a = ACCOUNT_ID
    customers: list[dict[str, Any]] = [
        {"name": f"accounts/{a}/customers/49957", "uid": _sid("uid/adatum"), "customerName": "Adatum Corp",
         "customerOrganization": "Adatum Corp", "customerEmail": "it@adatum.example", "customerStatus": "ACTIVE",
         "customerAddress": {"street": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701",
                             "country": "US"}, "languageCode": "EN", "cloudProfile": None,
         "createTime": "2026-01-02T10:00:00.000Z",
         "updateTime": "2026-01-02T10:00:00.000Z"},
        {"name": f"accounts/{a}/customers/49958", "uid": _sid("uid/litware"), "customerName": "Litware Inc",
         "customerOrganization": "Litware Inc", "customerEmail": "admin@litware.example",
         "customerStatus": "ACTIVE", "customerAddress": {"street": "9 Elm Rd", "city": "Denver", "state": "CO",
                                                         "zip": "80202", "country": "US"},
         "languageCode": "EN", "cloudProfile": {"tenantId": _sid("tenant/litware")},
         "createTime": "2026-01-05T10:00:00.000Z",
         "updateTime": "2026-01-05T10:00:00.000Z"},
    ]
    products: list[dict[str, Any]] = [
        {"name": f"accounts/{a}/products/Microsoft365BusinessBasicNCE-demonce", "id":
         "Microsoft365BusinessBasicNCE-demonce", "displayName": "Microsoft 365 Business Basic (NCE)",
         "vendor": "MICROSOFT", "providerName": "AZURE", "definition": {"skus": [
             {"id": "BB-0001", "displayName": "Microsoft 365 Business Basic", "externalId": "US,CFQ7TTC0LH18,0001",
              "plans": [_plan("CFQ7TTC0LH18", "0001", "P1Y", "M", 6.00, 7.20),
                        _plan("CFQ7TTC0LH18", "0001", "P1Y", "A", 72.00, 86.40),
                        _plan("CFQ7TTC0LH18", "0001", "P1M", "M", 7.20, 8.64)]}]}},
        {"name": f"accounts/{a}/products/Microsoft365BusinessPremiumNCE-demonce", "id":
         "Microsoft365BusinessPremiumNCE-demonce", "displayName": "Microsoft 365 Business Premium (NCE)",
         "vendor": "MICROSOFT", "providerName": "AZURE", "definition": {"skus": [
             {"id": "BP-0002", "displayName": "Microsoft 365 Business Premium", "externalId": "US,CFQ7TTC0LCHC,0002",
              "plans": [_plan("CFQ7TTC0LCHC", "0002", "P1Y", "M", 22.00, 26.40),
                        _plan("CFQ7TTC0LCHC", "0002", "P1M", "M", 26.40, 31.68)]}]}},
    ]
    subscriptions = [_subscription(customers[1], products[1], products[1]["definition"]["skus"][0],
                                   products[1]["definition"]["skus"][0]["plans"][0], 12, "2277242",
                                   _sid("sub/litware/bp"), "2026-01-05T10:00:00.000Z")]
    return {"customers": customers, "products": products, "orders": [], "subscriptions": subscriptions,
            "refreshToken": FIRST_REFRESH_TOKEN, "nextId": 3000000}


def _subscription(customer: dict[str, Any], product: dict[str, Any], sku: dict[str, Any], plan: dict[str, Any],
                  quantity: int, numeric_id: str, ms_id: str, when: str, *, auto_renew: bool = True,
                  reference: str = "") -> dict[str, Any]:
    ms_product, ms_sku, term, cycle = plan["mpnId"].split(":")
    start = datetime.fromisoformat(when.replace("Z", "+00:00"))
    months = {"P1M": 1, "P1Y": 12, "P3Y": 36}[term]
    year, month = divmod(start.month - 1 + months, 12)
    end = start.replace(year=start.year + year, month=month + 1, day=min(start.day, 28)) - timedelta(days=1)
    cost, msrp = plan["pricing"]["cost"], plan["pricing"]["msrp"]
    return {
        "id": numeric_id, "customerId": customer["name"].split("/")[-1], "resellerId": ACCOUNT_ID,
        "cloudProviderId": "30", "subscriptionId": ms_id, "subscriptionName": sku["displayName"],
        "resourceType": "AZURE::Subscription", "ccpProductId": product["id"], "ccpSkuId": sku["id"],
        "ccpPlanId": plan["id"], "ccpProductInfo": {"productId": product["id"], "productDisplayName":
                                                     product["displayName"], "skuId": sku["id"],
                                                     "skuDisplayName": sku["displayName"], "planId": plan["id"],
                                                     "planDisplayName": plan["displayName"]},
        "subscriptionProductId": ms_product, "subscriptionSkuId": ms_sku,
        "subscriptionOfferId": f"US,{ms_product},{ms_sku}", "subscriptionTotalLicenses": str(quantity),
        "unitType": "Licenses", "subscriptionStatus": "active", "subscriptionPurchasedDate": when,
        "subscriptionStartDate": when, "subscriptionEndDate": zulu(end), "renewalDate": zulu(end),
        "lastUpdatedDate": when, "cancellationAllowedUntilDate": zulu(start + timedelta(days=15)),
        "subscriptionBillingType": "license", "subscriptionBillingCycle": "monthly" if cycle == "M" else "annual",
        "subscriptionBillingTerm": term, "subscriptionRenewStatus": "ENABLED" if auto_renew else "DISABLED",
        "autoRenew": auto_renew, "isTrial": False, "resellerPO": reference, "customerPO": "",
        "customerName": customer["customerName"], "partnerName": "Sandbox Reseller", "price": msrp, "cost": cost,
        "margin": round(msrp - cost, 2), "total": round(msrp * quantity, 2), "msrp": msrp, "currency": "USD",
        "mfgPartNumber": plan["mpnId"],
    }


def _page_token(items: list[dict[str, Any]], args: Any, key: str) -> Response:
    """pageSize + pageToken (an opaque offset here) -> {key: [...], nextPageToken}."""
    try:
        size = int(args.get("pageSize") or 100)
        start = int(args.get("pageToken") or 0)
    except ValueError:
        return error(400, "pageSize must be a number and pageToken one this API issued")
    if size < 1 or size > 1000 or start < 0:
        return error(400, "pageSize must be 1..1000")
    chunk = items[start:start + size]
    following = start + size
    return json_response({key: chunk, "nextPageToken": str(following) if following < len(items) else ""})


class TdSynnexSandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.state_file = StateFile(state_dir, "tdsynnex.json")
        self.lock = threading.RLock()
        self.state = self.state_file.load(default_seed)
        self.tokens = TokenBook()
        self.token_requests = 0
        self.order_posts = 0
        # An UPDATE attribute that cancels (None: cancellation is not accepted through the API).
        self.cancel_attribute: tuple[str, str] | None = None

    def save(self) -> None:
        self.state_file.save(self.state)

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "POST" and path == "/oauth/token":
            with self.lock:
                return self.token(request)
        if request.method == "POST" and path == "/oauth/validateAccess":
            return self.validate(request)
        prefix = "/api/v3/accounts/"
        if not path.startswith(prefix):
            return error(404, f"no route {path}")
        if not self.tokens.bearer(request):
            return error(401, "Invalid or expired access token")
        account, _, rest = path[len(prefix):].partition("/")
        if account != ACCOUNT_ID:
            return error(403, f"no access to account {account}")
        with self.lock:
            return self.route(request, rest.split("/") if rest else [])

    # -- auth ------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        if request.mimetype != "application/x-www-form-urlencoded" or form.get("grant_type") != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "only grant_type=refresh_token (form body) is supported")
        if not form.get("refresh_token") or form["refresh_token"] != self.state["refreshToken"]:
            return oauth_error(400, "invalid_grant", "Invalid refresh token")
        # Rotation: the redeemed refresh token is dead from here on, whether or not the answer arrives.
        self.state["refreshToken"] = "rt-" + uuid.uuid4().hex
        self.save()
        access = self.tokens.issue(ACCESS_TTL, prefix="at-")
        return json_response({"access_token": access, "refresh_token": self.state["refreshToken"],
                              "token_type": "Bearer", "expires_in": ACCESS_TTL})

    def validate(self, request: Request) -> Response:
        token = (parse_qs(request.get_data(as_text=True)).get("access_token") or [""])[0]
        left = self.tokens.remaining(token)
        if left is None:
            return error(401, "Invalid access token")
        return json_response({"access_expires_in": int(left),
                              "refresh_expires_in": REFRESH_TTL_DAYS * 86400})

    # -- routing ---------------------------------------------------------------------------------
    def route(self, request: Request, parts: list[str]) -> Response:  # noqa: PLR0911
        s, method, args = self.state, request.method, request.args
        if parts[:1] == ["customers"]:
            if len(parts) == 1:
                if method == "POST":
                    return self.create_customer(request)
                items = s["customers"]
                if args.get("filter.customerName"):
                    items = [c for c in items if c["customerName"] == args["filter.customerName"]]
                return _page_token([_public(c) for c in items], args, "customers")
            customer = self._customer(parts[1])
            if customer is None:
                return error(404, f"customer {parts[1]} not found")
            if len(parts) == 2:
                return json_response(_public(customer))
            if parts[2] == "cloudProfile" and len(parts) == 3:
                return json_response(customer.get("cloudProfile") or {})
            if parts[2] == "orders":
                if len(parts) == 3 and method == "POST":
                    return self.create_order(request, customer)
                orders = [o for o in s["orders"] if o["name"].startswith(customer["name"] + "/")]
                if len(parts) == 3:
                    if args.get("status"):
                        orders = [o for o in orders if o["status"] == args["status"]]
                    return _page_token(orders, args, "orders")
                order_id, _, verb = parts[3].partition(":")
                order = next((o for o in orders if o["name"].endswith(f"/orders/{order_id}")), None)
                if order is None:
                    return error(404, f"order {order_id} not found")
                if verb == "cancel" and method == "POST":
                    if order["status"] == "COMPLETED":
                        return error(400, "a completed order cannot be cancelled",
                                     [{"code": "ORDER_COMPLETED", "message": "order already provisioned"}])
                    order["status"] = "CANCELLED"
                    self.save()
                return json_response(order)
            if parts[2] == "subscriptions" and len(parts) == 4:
                sub = next((x for x in s["subscriptions"] if x["customerId"] == parts[1]
                            and parts[3] in (x["id"], x["subscriptionId"])), None)
                return json_response(sub) if sub else error(404, f"subscription {parts[3]} not found")
        if parts == ["orders"]:
            return _page_token(s["orders"], args, "orders")
        if parts[:1] == ["products"]:
            if len(parts) == 1:
                items = s["products"]
                wanted = args.get("filter.skuExternalId")
                if wanted:
                    items = [p for p in items if any(k["externalId"] == wanted for k in p["definition"]["skus"])]
                return _page_token(items, args, "products")
            product = next((p for p in s["products"] if p["id"] == parts[1]), None)
            return json_response(product) if product else error(404, f"product {parts[1]} not found")
        if parts == ["subscriptions"]:
            return self.list_subscriptions(args)
        return error(404, f"no route {request.path}")

    def _customer(self, customer_id: str) -> dict[str, Any] | None:
        return next((c for c in self.state["customers"] if c["name"].split("/")[-1] == customer_id), None)

    def list_subscriptions(self, args: Any) -> Response:
        items = self.state["subscriptions"]
        for arg, column in (("customerId", "customerId"), ("subscriptionId", "subscriptionId"),
                            ("subscriptionStatus", "subscriptionStatus")):
            value = args.get(arg) or args.get(f"pagination.filter.{arg}")
            if value:
                items = [x for x in items if x.get(column) == value]
        if "pageToken" in args or "pageSize" in args:
            return _page_token(items, args, "items")
        try:
            limit = int(args.get("pagination.limit") or 10)
            offset = int(args.get("pagination.offset") or 0)
        except ValueError:
            return error(400, "pagination.limit and pagination.offset must be numbers")
        if limit < 1 or limit > 1000 or offset < 0:
            return error(400, "pagination.limit must be 1..1000 and pagination.offset >= 0")
        return json_response({"items": items[offset:offset + limit], "paginationResponse": {"totalSize": len(items)}})

    def create_customer(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        missing = [k for k in ("customerName", "customerEmail", "customerAddress") if not body.get(k)]
        if missing:
            return error(400, f"missing {', '.join(missing)}",
                         [{"code": "COMM-VL-001", "message": f"{k} is required"} for k in missing])
        if any(c["customerEmail"].lower() == str(body["customerEmail"]).lower() for c in self.state["customers"]):
            return error(409, "customerEmail must be unique")
        self.state["nextId"] += 1
        customer = {**body, "name": f"accounts/{ACCOUNT_ID}/customers/{self.state['nextId']}",
                    "uid": str(uuid.uuid4()), "customerStatus": "ACTIVE", "cloudProfile": None,
                    "createTime": zulu(), "updateTime": zulu()}
        self.state["customers"].append(customer)
        self.save()
        return json_response(_public(customer), 200)

    # -- orders ----------------------------------------------------------------------------------
    def create_order(self, request: Request, customer: dict[str, Any]) -> Response:  # noqa: PLR0911, PLR0912
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("orderItems"), list) or not body["orderItems"]:
            return error(400, "orderItems is required")
        self.order_posts += 1
        now = zulu()
        planned: list[tuple[dict[str, Any], Any]] = []
        for n, item in enumerate(body["orderItems"]):
            where = f"orderItems[{n}]"
            attrs = {str(a.get("name")): a.get("value") for a in item.get("attributes") or [] if isinstance(a, dict)}
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                return error(400, f"{where}.quantity must be a whole number >= 1")
            action = item.get("action")
            if action == "CREATE":
                product = next((p for p in self.state["products"] if p["id"] == item.get("productId")), None)
                sku = next((k for k in (product or {}).get("definition", {}).get("skus", [])
                            if k["id"] == item.get("skuId")), None)
                plan = next((p for p in (sku or {}).get("plans", []) if p["id"] == item.get("planId")), None)
                if product is None or sku is None or plan is None:
                    return error(400, f"{where}: unknown productId/skuId/planId")
                if attrs.get("renewalSetting") not in ("auto-on", "auto-off"):
                    return error(400, "renewalSetting is required for Microsoft NCE",
                                 [{"code": "MSFT_CR_033", "message": "renewalSetting must be auto-on or auto-off"}])
                if item.get("providerName") == "AZURE" and not customer.get("cloudProfile") \
                        and not attrs.get("domainName"):
                    return error(400, "domainName is required",
                                 [{"code": "COMM-VL-004", "message": "domainName is required for a new tenant"}])
                planned.append((item, (product, sku, plan, attrs)))
            elif action == "UPDATE":
                sub = next((x for x in self.state["subscriptions"] if x["subscriptionId"] == item.get("resourceId")
                            and x["customerId"] == customer["name"].split("/")[-1]), None)
                if sub is None:
                    return error(404, f"{where}.resourceId: subscription not found")
                if attrs.get("operations") != "updatesubscription":
                    return error(400, f"{where}: attribute operations=updatesubscription is required")
                unknown = set(attrs) - _KNOWN_UPDATE_ATTRIBUTES - {(self.cancel_attribute or ("",))[0]}
                if unknown:
                    return error(400, f"{where}: unsupported attributes {', '.join(sorted(unknown))}",
                                 [{"code": "COMM-VL-010", "message": f"unsupported attribute {u}"} for u in unknown])
                if sub["subscriptionStatus"] != "active":
                    return error(400, f"subscription {sub['subscriptionId']} is {sub['subscriptionStatus']}")
                planned.append((item, (sub, attrs)))
            else:
                return error(400, f"{where}.action must be CREATE or UPDATE")
        lines = []
        for item, plan_or_sub in planned:
            line = {**item, "status": "COMPLETED"}
            if item["action"] == "CREATE":
                product, sku, plan, attrs = plan_or_sub
                self.state["nextId"] += 1
                sub = _subscription(customer, product, sku, plan, item["quantity"], str(self.state["nextId"]),
                                    str(uuid.uuid4()), now, auto_renew=attrs["renewalSetting"] == "auto-on",
                                    reference=str(body.get("referenceId") or ""))
                self.state["subscriptions"].append(sub)
                line["resourceId"] = sub["subscriptionId"]
            else:
                sub, attrs = plan_or_sub
                sub["subscriptionTotalLicenses"] = str(item["quantity"])
                if attrs.get("renewalSetting") in ("auto-on", "auto-off"):
                    sub["autoRenew"] = attrs["renewalSetting"] == "auto-on"
                    sub["subscriptionRenewStatus"] = "ENABLED" if sub["autoRenew"] else "DISABLED"
                if self.cancel_attribute and attrs.get(self.cancel_attribute[0]) == self.cancel_attribute[1]:
                    sub["subscriptionStatus"] = "deleted"
                sub["lastUpdatedDate"] = now
            lines.append(line)
        self.state["nextId"] += 1
        order = {"name": f"{customer['name']}/orders/{self.state['nextId']}", "referenceId": body.get("referenceId"),
                 "displayName": body.get("displayName") or "", "userName": "api", "status": "COMPLETED",
                 "currencyCode": "USD", "total": 0.0, "orderItems": lines, "createTime": now, "updateTime": now,
                 "scheduledAt": None}
        self.state["orders"].append(order)
        self.save()
        return json_response(order, 200)


def _public(customer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in customer.items() if k != "cloudProfile"}


def build_app(state_dir: Path | None = None) -> SandboxApp:
    return distributor_app(TdSynnexSandbox(state_dir), lambda status, message, request: error(status, message),
                           internal="Internal error")
