"""Ingram Micro Cloud Marketplace (CMP, CloudBlue Commerce) Marketplace API sandbox, for Microsoft CSP:
token, customers, products, typed orders and subscriptions. Not Xvantage, which has no subscriptions.

Shapes follow ../shared/reference/distributors_facts.md section 2, which is mostly [3P-spec] (a
third-party copy of the SimpleAPI 1.15 spec) and the vendor's KB: UNVERIFIED against a real
account. What the sandbox does:
- POST /token with HTTP Basic (user:password), X-Subscription-Key and {"marketplace": "us"} ->
  {token, expiresInSeconds}; every other call needs Bearer <token> and X-Subscription-Key;
- lists page with offset (default 0) + limit (default 10) -> {data, pagination{offset, limit, total}};
- POST /orders with type sales | change | cancellation; products[{mpn, quantity}] (quantity as a
  string or a number); subscriptionId for change and cancellation. An order answers `submitted` and
  has completed by the next read (provisioning is asynchronous: callers poll GET /orders/{id});
  products[].subscriptionId appears once provisioned. A change order sets the new total;
- there is no idempotency key: the same POST twice orders twice. The caller's poNumber is kept on
  the order and can be searched for (GET /orders?customerId=...);
- PATCH /subscriptions/{id} {"renewalStatus": bool} turns auto-renew on or off;
- errors answer {timeStamp, status, message, path, correlationId} with an X-Correlation-ID header.
"""

from __future__ import annotations

import base64
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._distributor import StateFile, TokenBook, distributor_app, zulu
from sandbox._server import SandboxApp, json_response

USER, PASSWORD = "cmpapi-sandbox", "sandbox-password"  # noqa: S105 - the loopback sandbox's credentials
SUBSCRIPTION_KEY = "0f3c2b1a9d8e4f7a6b5c4d3e2f1a0b9c"
TOKEN_TTL = 1500
_PRODUCTS = (
    ("CFQ7TTC0LH18:0001", "Microsoft 365 Business Basic", "7.20", "6.00"),
    ("CFQ7TTC0LCHC:0002", "Microsoft 365 Business Premium", "26.40", "22.00"),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return zulu(when, "seconds")


def default_seed() -> dict[str, Any]:
    customers = [
        {"id": "1000027", "externalId": "", "name": "Northwind Traders", "status": "active",
         "address": {"streetAddress": "5 Harbour Way", "city": "Seattle", "state": "WA", "postalCode": "98101",
                     "countryCode": "US"},
         "contactPersons": [{"type": "admin", "firstName": "Ana", "lastName": "Trujillo",
                             "email": "ana@northwind.example", "phoneNumber": "+12065550100"}],
         "language": "en_US", "attributes": {"domain": "northwind.example"}},
        {"id": "1000028", "externalId": "", "name": "Fabrikam Ltd", "status": "active",
         "address": {"streetAddress": "2 Mill Lane", "city": "Leeds", "state": "", "postalCode": "LS1 4AP",
                     "countryCode": "GB"},
         "contactPersons": [{"type": "admin", "firstName": "Ian", "lastName": "Ward",
                             "email": "it@fabrikam.example", "phoneNumber": "+441135550100"}],
         "language": "en_GB", "attributes": {"domain": "fabrikam.example"}},
    ]
    products = [{"mpn": mpn, "name": name, "serviceName": "Microsoft 365 NCE", "vendor": "Microsoft",
                 "minimumQuantity": "1", "maximumQuantity": "300",
                 "billingPeriod": {"type": "month", "duration": 1}, "subscriptionPeriod": {"type": "year",
                                                                                          "duration": 1},
                 "prices": [{"amount": price, "currency": "USD", "type": "recurring", "model": "FLAT"}],
                 "cost": cost} for mpn, name, price, cost in _PRODUCTS]
    return {"customers": customers, "products": products, "orders": [], "subscriptions": [], "nextOrder": 7000,
            "tokens": {}}


def error(status: int, message: str, path: str = "") -> Response:
    correlation = str(uuid.uuid4())
    return json_response({"timeStamp": _iso(_now()), "status": status, "message": message, "path": path,
                          "correlationId": correlation}, status, {"X-Correlation-ID": correlation})


def _page(items: list[dict[str, Any]], args: Any) -> Response:
    try:
        offset, limit = int(args.get("offset", 0)), int(args.get("limit", 10))
    except ValueError:
        return error(400, "offset and limit must be integers")
    if offset < 0 or limit < 1:
        return error(400, "offset must be >= 0 and limit >= 1")
    return json_response({"data": items[offset:offset + limit],
                          "pagination": {"offset": offset, "limit": limit, "total": len(items)}},
                         headers={"X-Correlation-ID": str(uuid.uuid4())})


class IngramSandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.lock = threading.RLock()
        self.state_file = StateFile(state_dir, "ingram.json")
        self.state = self.state_file.load(default_seed)
        # Kept in the state, so a restarted sandbox still takes the tokens it issued.
        self.tokens = TokenBook(self.state["tokens"])
        self.order_posts = 0

    def save(self) -> None:
        self.state_file.save(self.state)

    def __call__(self, request: Request) -> Response:
        base = "/marketplace/na"
        if not request.path.startswith(base):
            return error(404, f"no route {request.path}", request.path)
        path = request.path[len(base):] or "/"
        if request.headers.get("X-Subscription-Key") != SUBSCRIPTION_KEY:
            return error(401, "missing or wrong X-Subscription-Key", request.path)
        with self.lock:
            if path == "/token" and request.method == "POST":
                return self.token(request)
            if not self.tokens.bearer(request):
                return error(401, "the token is missing, unknown or expired", request.path)
            return self.route(request, [p for p in path.split("/") if p])

    def token(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user, password = "", ""
        if not auth.startswith("Basic ") or (user, password) != (USER, PASSWORD):
            return error(401, "wrong username or password", request.path)
        body = request.get_json(silent=True) or {}
        if not body.get("marketplace"):
            return error(400, "marketplace is required", request.path)
        token = self.tokens.issue(TOKEN_TTL)
        return json_response({"token": token, "expiresInSeconds": TOKEN_TTL})

    def route(self, request: Request, parts: list[str]) -> Response:  # noqa: PLR0911
        m, args = request.method, request.args
        if parts == ["customers"] and m == "GET":
            return _page(self.state["customers"], args)
        if parts == ["products"] and m == "GET":
            found = [p for p in self.state["products"] if not args.get("mpn") or p["mpn"] == args["mpn"]]
            return _page([{k: v for k, v in p.items() if k != "cost"} for p in found], args)
        if parts == ["subscriptions"] and m == "GET":
            self._fulfil()
            found = [s for s in self.state["subscriptions"]
                     if not args.get("customerId") or s["customerId"] == args["customerId"]]
            return _page(found, args)
        if len(parts) == 2 and parts[0] == "subscriptions":
            self._fulfil()
            sub = next((s for s in self.state["subscriptions"] if s["id"] == parts[1]), None)
            if sub is None:
                return error(404, f"subscription {parts[1]} not found", request.path)
            if m == "GET":
                return json_response(sub)
            if m == "PATCH":
                body = request.get_json(silent=True) or {}
                if not isinstance(body.get("renewalStatus"), bool):
                    return error(400, "renewalStatus (boolean) is required", request.path)
                sub["renewalStatus"] = body["renewalStatus"]
                sub["lastModifiedDate"] = _iso(_now())
                self.save()
                return json_response(sub)
        if parts == ["orders"] and m == "GET":
            self._fulfil()
            found = [o for o in self.state["orders"]
                     if (not args.get("customerId") or o["customerId"] == args["customerId"])
                     and (not args.get("subscriptionId") or o.get("subscriptionId") == args["subscriptionId"])]
            return _page(found, args)
        if parts == ["orders"] and m == "POST":
            return self.create_order(request)
        if len(parts) == 2 and parts[0] == "orders" and m == "GET":
            self._fulfil()
            order = next((o for o in self.state["orders"] if o["id"] == parts[1]), None)
            return json_response(order) if order else error(404, f"order {parts[1]} not found", request.path)
        return error(404, f"no route {m} {request.path}", request.path)

    def _fulfil(self) -> None:
        """A submitted order has provisioned by the next read (a fast CMP)."""
        for order in self.state["orders"]:
            if order["status"] != "submitted":
                continue
            order["status"], order["statusCode"] = "completed", "CP"
            order["provisioningDate"] = _iso(_now())
            if order["type"] == "sales":
                for line in order["products"]:
                    sub = self._new_subscription(order, line)
                    line["subscriptionId"] = sub["id"]
            else:
                sub = next(s for s in self.state["subscriptions"] if s["id"] == order["subscriptionId"])
                if order["type"] == "change":
                    sub["products"][0]["quantity"] = int(float(order["products"][0]["quantity"]))
                else:
                    sub["status"] = "terminated"
                sub["lastModifiedDate"] = _iso(_now())
        self.save()

    def _new_subscription(self, order: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
        product = next(p for p in self.state["products"] if p["mpn"] == line["mpn"])
        now = _now()
        sub_id = str(len(self.state["subscriptions"]) + 1000100)
        sub = {"id": sub_id, "customerId": order["customerId"], "name": product["name"], "status": "active",
               "creationDate": _iso(now), "lastModifiedDate": _iso(now), "renewalStatus": True,
               "renewalDate": _iso(now + timedelta(days=365)), "expirationDate": _iso(now + timedelta(days=365)),
               "billingPeriod": product["billingPeriod"], "subscriptionPeriod": product["subscriptionPeriod"],
               "planId": f"plan-{line['mpn']}", "products": [{
                   "mpn": line["mpn"], "quantity": int(float(line["quantity"])),
                   "unitPrice": product["prices"][0]["amount"], "unitCost": product["cost"],
                   "vendorSubscriptionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ingram-sandbox/{sub_id}"))}]}
        self.state["subscriptions"].append(sub)
        return sub

    def create_order(self, request: Request) -> Response:  # noqa: PLR0911
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "the order body must be a JSON object", request.path)
        kind = body.get("type")
        if kind not in ("sales", "change", "cancellation"):
            return error(400, f"type {kind!r} is not supported (sales, change, cancellation)", request.path)
        customer = next((c for c in self.state["customers"] if c["id"] == body.get("customerId")), None)
        if customer is None:
            return error(404, f"customer {body.get('customerId')!r} not found", request.path)
        products = body.get("products") or []
        if kind != "cancellation":
            if not products:
                return error(400, "products is required", request.path)
            for line in products:
                if not any(p["mpn"] == line.get("mpn") for p in self.state["products"]):
                    return error(400, f"product {line.get('mpn')!r} not found: add vendor, subscriptionPeriod and "
                                      "billingPeriod to pick it", request.path)
                try:
                    quantity = float(line.get("quantity"))
                except (TypeError, ValueError):
                    return error(400, "quantity must be a number", request.path)
                if not 1 <= quantity <= 300:
                    return error(400, "quantity must be between 1 and 300", request.path)
        if kind in ("change", "cancellation"):
            sub = next((s for s in self.state["subscriptions"] if s["id"] == body.get("subscriptionId")
                        and s["customerId"] == customer["id"]), None)
            if sub is None:
                return error(404, f"subscription {body.get('subscriptionId')!r} not found", request.path)
        self.order_posts += 1
        self.state["nextOrder"] += 1
        now = _iso(_now())
        order = {"id": str(self.state["nextOrder"]), "orderNumber": f"SO{self.state['nextOrder']:06d}",
                 "type": kind, "customerId": customer["id"], "subscriptionId": body.get("subscriptionId"),
                 "poNumber": body.get("poNumber") or "", "status": "submitted", "statusCode": "NW",
                 "creationDate": now, "provisioningDate": None, "total": "0.00", "details": [],
                 "products": [{"mpn": line["mpn"], "quantity": str(line["quantity"])} for line in products]}
        self.state["orders"].append(order)
        self.save()
        return json_response(order, 201, {"X-Correlation-ID": str(uuid.uuid4())})


def build_app(state_dir: Path | None = None) -> SandboxApp:
    return distributor_app(IngramSandbox(state_dir), lambda status, message, request: error(status, message,
                                                                                            request.path))
