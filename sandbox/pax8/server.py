"""Pax8 partner API sandbox: OAuth client credentials, page/size paging, companies, products,
pricing, commitment dependencies, orders, subscriptions, invoices and usage summaries.

Shapes follow the Pax8 partner endpoints (https://devx.pax8.com/ , v1 under /v1):
lists answer {"content": [...], "page": {"size","totalElements","totalPages","number"}},
errors answer {"type","message","instance","status","details"}. The real API documents no
idempotency contract; this sandbox honours an `Idempotency-Key` header on POST /v1/orders so
that the adapter's replay path can be exercised (the adapter also reconciles on its own).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response

MAX_PAGE_SIZE = 200
TOKEN_TTL = 86400


def _id(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pax8-sandbox/{seed}"))


def default_seed() -> dict[str, Any]:
    companies: list[dict[str, Any]] = [
        {"id": _id("company/contoso"), "name": "Contoso Ltd", "website": "contoso.onmicrosoft.com",
         "address": {"country": "US"}, "status": "Active", "billOnBehalfOfEnabled": True},
        {"id": _id("company/fabrikam"), "name": "Fabrikam Inc", "website": "fabrikam.onmicrosoft.com",
         "address": {"country": "US"}, "status": "Active", "billOnBehalfOfEnabled": True},
        {"id": _id("company/northwind"), "name": "Northwind Traders", "website": "northwind.onmicrosoft.com",
         "address": {"country": "MX"}, "status": "Active", "billOnBehalfOfEnabled": False},
    ]
    products: list[dict[str, Any]] = [
        {"id": _id("product/m365bb"), "name": "Microsoft 365 Business Basic", "vendorName": "Microsoft",
         "sku": "MST-M365-BB", "vendorSku": "CFQ7TTC0LH18:0001", "requiresCommitment": True,
         "shortDescription": "Web and mobile Office apps"},
        {"id": _id("product/m365bp"), "name": "Microsoft 365 Business Premium", "vendorName": "Microsoft",
         "sku": "MST-M365-BP", "vendorSku": "CFQ7TTC0LCHC:0002", "requiresCommitment": True,
         "shortDescription": "Productivity plus advanced security"},
        {"id": _id("product/acronis"), "name": "Acronis Cyber Protect Cloud", "vendorName": "Acronis",
         "sku": "ACR-CPC-WS", "vendorSku": "ACR-WS-01", "requiresCommitment": False,
         "shortDescription": "Backup per workstation"},
    ]
    pricing: dict[str, list[dict[str, Any]]] = {}
    commitments: dict[str, list[dict[str, Any]]] = {}
    for product, monthly, annual in ((products[0], "7.20", "6.00"), (products[1], "26.40", "22.00")):
        pricing[product["id"]] = [
            {"productId": product["id"], "productName": product["name"], "billingTerm": "Monthly",
             "commitmentTerm": "1-Year", "commitmentTermInMonths": 12, "type": "Flat", "unitOfMeasurement": "User",
             "rates": [{"partnerBuyRate": monthly, "suggestedRetailPrice": str(round(float(monthly) * 1.2, 2)),
                        "startQuantityRange": 1, "endQuantityRange": None, "chargeType": "Per Unit"}]},
            {"productId": product["id"], "productName": product["name"], "billingTerm": "Annual",
             "commitmentTerm": "1-Year", "commitmentTermInMonths": 12, "type": "Flat", "unitOfMeasurement": "User",
             "rates": [{"partnerBuyRate": str(float(annual) * 12), "suggestedRetailPrice": str(float(annual) * 14.4),
                        "startQuantityRange": 1, "endQuantityRange": None, "chargeType": "Per Unit"}]},
        ]
        commitments[product["id"]] = [
            {"id": _id(f"commitment/{product['id']}/1y"), "term": "1-Year", "autoRenew": True,
             "allowForQuantityIncrease": True, "allowForQuantityDecrease": False, "allowForEarlyCancellation": False},
            {"id": _id(f"commitment/{product['id']}/3y"), "term": "3-Year", "autoRenew": True,
             "allowForQuantityIncrease": True, "allowForQuantityDecrease": False, "allowForEarlyCancellation": False},
        ]
    pricing[products[2]["id"]] = [
        {"productId": products[2]["id"], "productName": products[2]["name"], "billingTerm": "Monthly",
         "type": "Volume", "unitOfMeasurement": "Workstation",
         "rates": [{"partnerBuyRate": "3.50", "suggestedRetailPrice": "5.00", "startQuantityRange": 1,
                    "endQuantityRange": 49, "chargeType": "Per Unit"},
                   {"partnerBuyRate": "3.00", "suggestedRetailPrice": "4.50", "startQuantityRange": 50,
                    "endQuantityRange": None, "chargeType": "Per Unit"}]}]
    start = "2026-01-01T00:00:00Z"
    subscriptions = [
        _subscription(_id("sub/contoso/bb"), companies[0]["id"], products[0]["id"], 10, "Monthly",
                      commitments[products[0]["id"]][0]["id"], 12, start, "7.20"),
        _subscription(_id("sub/contoso/acronis"), companies[0]["id"], products[2]["id"], 5, "Monthly",
                      None, None, start, "3.50"),
        _subscription(_id("sub/fabrikam/bp"), companies[1]["id"], products[1]["id"], 25, "Annual",
                      commitments[products[1]["id"]][0]["id"], 12, start, "264.00"),
    ]
    invoice_id = _id("invoice/2026-02")
    items = [
        {"id": _id(f"item/{s['id']}"), "invoiceId": invoice_id, "type": "subscription", "companyId": s["companyId"],
         "subscriptionId": s["id"], "productId": s["productId"], "productName": _product_name(products, s["productId"]),
         "quantity": s["quantity"], "price": s["price"], "total": f"{float(s['price']) * s['quantity']:.2f}",
         "startPeriod": "2026-02-01", "endPeriod": "2026-02-28", "chargeType": "Renewal", "currencyCode": "USD"}
        for s in subscriptions]
    invoices = [{"id": invoice_id, "invoiceDate": "2026-02-01", "dueDate": "2026-03-03", "status": "Unpaid",
                 "total": f"{sum(float(i['total']) for i in items):.2f}",
                 "balance": f"{sum(float(i['total']) for i in items):.2f}", "partnerName": "Sandbox Partner",
                 "currencyCode": "USD"}]
    usage = [{"id": _id("usage/contoso/acronis/2026-02"), "companyId": companies[0]["id"],
              "subscriptionId": subscriptions[1]["id"], "productId": products[2]["id"], "resourceGroup": "Backup",
              "vendorName": "Acronis", "currentCharges": "41.25", "partnerTotal": "33.00", "isTrial": False,
              "period": "2026-02", "quantity": "11", "unitOfMeasure": "GB", "currencyCode": "USD"}]
    return {"companies": companies, "products": products, "pricing": pricing, "commitments": commitments,
            "subscriptions": subscriptions, "orders": [], "invoices": invoices, "invoiceItems": items,
            "usageSummaries": usage, "idempotency": {}}


def _product_name(products: list[dict[str, Any]], product_id: str) -> str:
    return next((p["name"] for p in products if p["id"] == product_id), "")


def _subscription(sub_id: str, company_id: str, product_id: str, quantity: int, billing_term: str,
                  commitment_id: str | None, months: int | None, start: str, price: str) -> dict[str, Any]:
    start_dt = datetime.fromisoformat(start.replace("Z", "+00:00"))
    end = (start_dt + timedelta(days=365)).isoformat().replace("+00:00", "Z") if months else None
    return {"id": sub_id, "companyId": company_id, "productId": product_id, "quantity": quantity,
            "status": "Active", "price": price, "currencyCode": "USD", "billingTerm": billing_term,
            "billingStart": start, "startDate": start, "endDate": None, "createdDate": start,
            "commitmentTermId": commitment_id, "commitmentTermMonths": months, "commitmentEndDate": end}


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None, instance: str = "") -> Response:
    kinds = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}
    return json_response({"type": kinds.get(status, "Error"), "message": message, "instance": instance,
                          "status": status, "details": details or []}, status)


def _page(items: list[dict[str, Any]], request: Request) -> Response:
    try:
        page = int(request.args.get("page", 0))
        size = int(request.args.get("size", 10))
    except ValueError:
        return _error(422, "page and size must be integers")
    if size < 1 or size > MAX_PAGE_SIZE or page < 0:
        return _error(422, f"size must be 1..{MAX_PAGE_SIZE} and page >= 0")
    total = len(items)
    chunk = items[page * size:(page + 1) * size]
    return json_response({"content": chunk, "page": {"size": size, "totalElements": total,
                                                     "totalPages": (total + size - 1) // size, "number": page}})


class Pax8Sandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.state_file = state_dir / "pax8.json" if state_dir else None
        self.lock = threading.RLock()
        if self.state_file and self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        else:
            self.state = default_seed()
        self.tokens: set[str] = set()
        self.client_secret_required: str | None = None  # set by tests to check a wrong secret is refused

    def save(self) -> None:
        if self.state_file:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps(self.state, indent=1))

    # -- routing ---------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path.endswith("/oauth/token") and request.method == "POST":
            return self.token(request)
        if not path.startswith("/v1/"):
            return _error(404, f"no route {path}")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return _error(401, "missing or invalid bearer token")
        parts = path.split("/")[2:]
        with self.lock:
            return self.route(request, parts)

    def route(self, request: Request, parts: list[str]) -> Response:  # noqa: PLR0911, PLR0912
        s = self.state
        method = request.method
        head = parts[0]
        if head == "companies":
            if len(parts) == 1:
                return _page(s["companies"], request)
            return self._one(s["companies"], parts[1], "company")
        if head == "products":
            if len(parts) == 1:
                items = s["products"]
                if request.args.get("vendorName"):
                    items = [p for p in items if p["vendorName"] == request.args["vendorName"]]
                return _page(items, request)
            if len(parts) == 3 and parts[2] == "pricing":
                if parts[1] not in s["pricing"]:
                    return _error(404, f"product {parts[1]} not found")
                return json_response({"content": s["pricing"][parts[1]]})
            if len(parts) == 3 and parts[2] == "dependencies":
                return json_response({"commitmentDependencies": s["commitments"].get(parts[1], []),
                                      "productDependencies": []})
            return self._one(s["products"], parts[1], "product")
        if head == "orders":
            if len(parts) == 1 and method == "POST":
                return self.create_order(request)
            if len(parts) == 1:
                items = s["orders"]
                if request.args.get("companyId"):
                    items = [o for o in items if o["companyId"] == request.args["companyId"]]
                return _page(items, request)
            return self._one(s["orders"], parts[1], "order")
        if head == "subscriptions":
            if len(parts) == 1:
                items = s["subscriptions"]
                for arg in ("companyId", "productId", "status"):
                    if request.args.get(arg):
                        items = [x for x in items if x[arg] == request.args[arg]]
                return _page(items, request)
            sub = next((x for x in s["subscriptions"] if x["id"] == parts[1]), None)
            if sub is None:
                return _error(404, f"subscription {parts[1]} not found")
            if len(parts) == 3 and parts[2] == "usage-summaries":
                return _page([u for u in s["usageSummaries"] if u["subscriptionId"] == sub["id"]], request)
            if method == "PUT" and len(parts) == 2:
                return self.update_subscription(request, sub)
            if (method == "DELETE" and len(parts) == 2) or (method == "POST" and parts[2:] == ["cancel"]):
                return self.cancel_subscription(sub)
            return json_response(sub)
        if head == "invoices":
            if len(parts) == 1:
                return _page(s["invoices"], request)
            if len(parts) == 3 and parts[2] == "items":
                if not any(i["id"] == parts[1] for i in s["invoices"]):
                    return _error(404, f"invoice {parts[1]} not found")
                return _page([i for i in s["invoiceItems"] if i["invoiceId"] == parts[1]], request)
            return self._one(s["invoices"], parts[1], "invoice")
        return _error(404, f"no route /v1/{'/'.join(parts)}")

    @staticmethod
    def _one(items: list[dict[str, Any]], item_id: str, what: str) -> Response:
        found = next((x for x in items if x["id"] == item_id), None)
        return json_response(found) if found else _error(404, f"{what} {item_id} not found")

    # -- handlers --------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        body = request.get_json(silent=True) or request.form.to_dict()
        if body.get("grant_type") != "client_credentials" or not body.get("client_id") or not body.get("audience"):
            return json_response({"error": "invalid_request", "error_description": "client_credentials grant with "
                                  "client_id, client_secret and audience is required"}, 400)
        secret = body.get("client_secret") or ""
        if not secret or (self.client_secret_required is not None and secret != self.client_secret_required):
            return json_response({"error": "access_denied", "error_description": "Unauthorized"}, 401)
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL})

    def create_order(self, request: Request) -> Response:
        s = self.state
        key = request.headers.get("Idempotency-Key")
        if key and key in s["idempotency"]:
            order = next(o for o in s["orders"] if o["id"] == s["idempotency"][key])
            return json_response(order, 200, {"Idempotent-Replayed": "true"})
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("companyId") or not body.get("lineItems"):
            return _error(422, "companyId and lineItems are required")
        if not any(c["id"] == body["companyId"] for c in s["companies"]):
            return _error(422, "unknown companyId", [{"field": "companyId", "message": "not found"}])
        created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        order_id = str(uuid.uuid4())
        lines, subs = [], []
        for n, item in enumerate(body["lineItems"], 1):
            product = next((p for p in s["products"] if p["id"] == item.get("productId")), None)
            if product is None:
                return _error(422, "unknown productId", [{"field": f"lineItems[{n}].productId", "message": "not found"}])
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or quantity < 1:
                return _error(422, "quantity must be a positive integer")
            term = item.get("billingTerm")
            prices = [p for p in s["pricing"].get(product["id"], []) if p["billingTerm"] == term]
            if not prices:
                return _error(422, f"billingTerm {term!r} is not offered for {product['name']}")
            commitment_id = item.get("commitmentTermId")
            months = None
            if product["requiresCommitment"]:
                commitment = next((c for c in s["commitments"].get(product["id"], []) if c["id"] == commitment_id), None)
                if commitment is None:
                    return _error(422, "commitmentTermId is required for this product",
                                  [{"field": f"lineItems[{n}].commitmentTermId", "message": "required"}])
                months = 36 if commitment["term"] == "3-Year" else 12
            sub = _subscription(str(uuid.uuid4()), body["companyId"], product["id"], quantity, term,
                                commitment_id, months, created, prices[0]["rates"][0]["partnerBuyRate"])
            subs.append(sub)
            lines.append({"id": str(uuid.uuid4()), "productId": product["id"], "subscriptionId": sub["id"],
                          "commitmentTermId": commitment_id, "billingTerm": term, "quantity": quantity,
                          "lineItemNumber": item.get("lineItemNumber", n)})
        order = {"id": order_id, "companyId": body["companyId"], "createdDate": created,
                 "orderedBy": body.get("orderedBy", "Pax8 Partner"), "orderedByUserEmail": body.get("orderedByUserEmail"),
                 "isScheduled": False, "lineItems": lines}
        if request.args.get("isMock") == "true":
            return json_response(order, 200)
        s["orders"].append(order)
        s["subscriptions"].extend(subs)
        if key:
            s["idempotency"][key] = order_id
        self.save()
        return json_response(order, 200)

    def update_subscription(self, request: Request, sub: dict[str, Any]) -> Response:
        body = request.get_json(silent=True) or {}
        quantity = body.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            return _error(422, "quantity must be an integer >= 1", [{"field": "quantity", "message": "invalid"}])
        if sub["status"] == "Cancelled":
            return _error(422, "subscription is cancelled")
        sub["quantity"] = quantity
        self.save()
        return json_response(sub)

    def cancel_subscription(self, sub: dict[str, Any]) -> Response:
        sub["status"] = "Cancelled"
        sub["endDate"] = date.today().isoformat() + "T00:00:00Z"
        self.save()
        return Response(status=204)


def build_app(state_dir: Path | None = None) -> SandboxApp:
    sandbox = Pax8Sandbox(state_dir)
    app = SandboxApp(sandbox)
    app.sandbox = sandbox  # type: ignore[attr-defined]  # tests reach the state through here
    return app
