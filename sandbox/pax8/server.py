"""Pax8 partner API sandbox: OAuth client credentials, page/size paging, companies, products,
pricing, dependencies, provisioning details, orders, subscriptions, invoices and usage.

Shapes follow Pax8's partner OpenAPI (devx.pax8.com, partner endpoints v1 under /v1):
- the token is POST /v1/token with a JSON body; a bad secret answers 401
  {"error":"access_denied","error_description":"Unauthorized"};
- lists answer {"content": [...], "page": {"size","totalElements","totalPages","number"}}
  (size 1..200, page from 0); errors answer {"type","message","instance","status","details"};
- numbers are JSON numbers; a subscription has the customer's `price` and the partner's
  `partnerCost`, and `commitmentTerm` is an object {id, term, endDate};
- an order's `createdDate` is a date without a time; a subscription's is a date-time;
- there is no idempotency key: POST /v1/orders twice buys twice, as the real API does;
- a Microsoft product's order without the provisioning details it asks for leaves the
  subscription WaitingForDetails;
- invoice items carry both sides (price/subTotal/total for the customer, cost/costTotal/
  amountDue for the partner); usage summaries have no period, their usage lines are read one
  usageDate at a time (required).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._distributor import StateFile, TokenBook, distributor_app, oauth_error, zulu
from sandbox._server import SandboxApp, json_response

MAX_PAGE_SIZE = 200
TOKEN_TTL = 86400
AUDIENCE = "https://api.pax8.com"
CUSTOMER_EXISTS = "Yes, the customer has and can log into their Microsoft account"
CUSTOMER_NEW = "No, the customer does not have a Microsoft account"
# The keys Pax8 lists for a Microsoft product (its OpenAPI's Office 365 E3 example).
MICROSOFT_DETAILS = [
    {"label": "Does the customer have an existing Microsoft account?", "key": "msCustExists",
     "valueType": "Single-Value", "possibleValues": [CUSTOMER_NEW, CUSTOMER_EXISTS]},
    {"label": "Desired .onmicrosoft.com Customer Domain Prefix", "key": "msDomain", "valueType": "Input",
     "description": "Do not include the TLD"},
    {"label": "Contact First Name", "key": "arrowContactFirstName", "valueType": "Input"},
    {"label": "Contact Last Name", "key": "arrowContactLastName", "valueType": "Input"},
    {"label": "Contact Email", "key": "arrowContactEmail", "valueType": "Input"},
    {"label": "Microsoft Customer Tenant ID", "key": "msTenantId", "valueType": "Input"},
    {"label": "First Name", "key": "mca2020FirstName", "valueType": "Input"},
    {"label": "Last Name", "key": "mca2020LastName", "valueType": "Input"},
    {"label": "Email Address", "key": "mca2020Email", "valueType": "Input"},
    {"label": "Date of Acceptance", "key": "mca2020EffectiveDate", "valueType": "Input", "description": "(YYYY-MM-DD)"},
]
_MCA_KEYS = ("mca2020FirstName", "mca2020LastName", "mca2020Email", "mca2020EffectiveDate")


def _id(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pax8-sandbox/{seed}"))


def default_seed() -> dict[str, Any]:
    companies: list[dict[str, Any]] = [
        {"id": _id("company/contoso"), "name": "Contoso Ltd", "website": "contoso.onmicrosoft.com",
         "address": {"country": "US"}, "status": "Active", "billOnBehalfOfEnabled": True,
         "selfServiceAllowed": False, "orderApprovalRequired": False},
        {"id": _id("company/fabrikam"), "name": "Fabrikam Inc", "website": "fabrikam.onmicrosoft.com",
         "address": {"country": "US"}, "status": "Active", "billOnBehalfOfEnabled": True,
         "selfServiceAllowed": False, "orderApprovalRequired": False},
        {"id": _id("company/northwind"), "name": "Northwind Traders", "website": "northwind.onmicrosoft.com",
         "address": {"country": "MX"}, "status": "Active", "billOnBehalfOfEnabled": False,
         "selfServiceAllowed": False, "orderApprovalRequired": False},
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
    for product, monthly, annual in ((products[0], 7.20, 6.00), (products[1], 26.40, 22.00)):
        pricing[product["id"]] = [
            {"productId": product["id"], "productName": product["name"], "billingTerm": "Monthly",
             "commitmentTerm": "1-Year", "commitmentTermInMonths": 12, "type": "Flat", "unitOfMeasurement": "User",
             "rates": [{"partnerBuyRate": monthly, "suggestedRetailPrice": round(monthly * 1.2, 2),
                        "startQuantityRange": 1, "endQuantityRange": None, "chargeType": "Per Unit"}]},
            {"productId": product["id"], "productName": product["name"], "billingTerm": "Annual",
             "commitmentTerm": "1-Year", "commitmentTermInMonths": 12, "type": "Flat", "unitOfMeasurement": "User",
             "rates": [{"partnerBuyRate": round(annual * 12, 2), "suggestedRetailPrice": round(annual * 14.4, 2),
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
         "rates": [{"partnerBuyRate": 3.50, "suggestedRetailPrice": 5.00, "startQuantityRange": 1,
                    "endQuantityRange": 49, "chargeType": "Per Unit"},
                   {"partnerBuyRate": 3.00, "suggestedRetailPrice": 4.50, "startQuantityRange": 50,
                    "endQuantityRange": None, "chargeType": "Per Unit"}]}]
    start = "2026-01-01T00:00:00Z"
    c1y = {p["id"]: commitments[p["id"]][0] for p in products[:2]}
    subscriptions = [
        _subscription(_id("sub/contoso/bb"), companies[0]["id"], products[0], 10, "Monthly", c1y[products[0]["id"]],
                      start, 7.20, 8.64),
        _subscription(_id("sub/contoso/acronis"), companies[0]["id"], products[2], 5, "Monthly", None, start,
                      3.50, 5.00),
        _subscription(_id("sub/fabrikam/bp"), companies[1]["id"], products[1], 25, "Annual", c1y[products[1]["id"]],
                      start, 264.00, 316.80),
    ]
    invoice_id = _id("invoice/2026-02")
    items = [_invoice_item(invoice_id, s, "2026-02-01", "2026-02-28") for s in subscriptions]
    cost_total = round(sum(i["costTotal"] for i in items), 2)
    invoices = [{"id": invoice_id, "invoiceDate": "2026-02-01", "dueDate": "2026-03-03", "status": "Unpaid",
                 "total": cost_total, "balance": cost_total, "carriedBalance": 0, "partnerName": "Sandbox Partner",
                 "currencyCode": "USD"}]
    summary_id = _id("usage/contoso/acronis")
    usage = [{"id": summary_id, "companyId": companies[0]["id"], "subscriptionId": subscriptions[1]["id"],
              "productId": products[2]["id"], "resourceGroup": "Backup", "vendorName": "Acronis",
              "currentCharges": 41.25, "partnerTotal": 33.00, "isTrial": False, "currencyCode": "USD"}]
    # Daily usage lines: February has 11 GB over the month (33.00 partner cost), March 4 GB so far.
    lines = [_usage_line(summary_id, products[2], day, qty, 3.00, 3.75)
             for day, qty in (("2026-02-03", 4), ("2026-02-14", 5), ("2026-02-27", 2), ("2026-03-02", 4))]
    return {"companies": companies, "products": products, "pricing": pricing, "commitments": commitments,
            "provisionDetails": {p["id"]: MICROSOFT_DETAILS for p in products if p["vendorName"] == "Microsoft"},
            "subscriptions": subscriptions, "orders": [], "invoices": invoices, "invoiceItems": items,
            "usageSummaries": usage, "usageLines": lines}


def _usage_line(summary_id: str, product: dict[str, Any], day: str, quantity: float, unit_cost: float,
                unit_price: float) -> dict[str, Any]:
    return {"usageSummaryId": summary_id, "usageDate": day, "productName": product["name"],
            "productId": product["id"], "unitOfMeasure": "GB", "quantity": quantity,
            "currentCharges": round(quantity * unit_price, 2), "partnerTotal": round(quantity * unit_cost, 2),
            "currentProfit": round(quantity * (unit_price - unit_cost), 2), "unitPrice": unit_price,
            "currencyCode": "USD", "isTrial": False}


def _invoice_item(invoice_id: str, s: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    quantity = s["quantity"]
    return {"id": _id(f"item/{s['id']}/{start}"), "invoiceId": invoice_id, "type": "subscription",
            "companyId": s["companyId"], "subscriptionId": s["id"], "productId": s["productId"],
            "productName": s["productName"], "description": s["productName"], "quantity": quantity,
            "unitOfMeasure": "User", "term": s["billingTerm"], "startPeriod": start, "endPeriod": end,
            "rateType": "single", "chargeType": "per", "price": s["price"], "subTotal": round(s["price"] * quantity, 2),
            "cost": s["partnerCost"], "costTotal": round(s["partnerCost"] * quantity, 2),
            "total": round(s["price"] * quantity, 2), "amountDue": round(s["partnerCost"] * quantity, 2),
            "billingFee": 0, "billingFeeRate": 0, "salesTax": 0, "currencyCode": "USD", "vendorName": "Microsoft",
            "billedByPax8": False, "offeredBy": "Pax8"}


def _subscription(sub_id: str, company_id: str, product: dict[str, Any], quantity: int, billing_term: str,
                  commitment: dict[str, Any] | None, start: str, partner_cost: float, price: float,
                  status: str = "Active", created: str | None = None) -> dict[str, Any]:
    start_dt = datetime.fromisoformat(start.replace("Z", "+00:00"))
    term = None
    if commitment is not None:
        years = 3 if commitment["term"] == "3-Year" else 1
        end = start_dt.replace(year=start_dt.year + years) - timedelta(days=1)
        term = {"id": commitment["id"], "term": commitment["term"],
                "endDate": end.isoformat().replace("+00:00", "Z")}
    return {"id": sub_id, "companyId": company_id, "productId": product["id"], "productName": product["name"],
            "quantity": quantity, "status": status, "price": price, "partnerCost": partner_cost,
            "currencyCode": "USD", "billingTerm": billing_term, "billingStart": start[:10], "startDate": start,
            "createdDate": created or start, "updatedDate": created or start, "commitmentTerm": term}


_ERROR_TYPES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                422: "UNPROCESSABLE_ENTITY", 429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR"}


def error(status: int, message: str, instance: str, details: list[dict[str, Any]] | None = None) -> Response:
    """Pax8's error body: type, message, instance (the path called), status, details[{message,...}]."""
    return json_response({"type": _ERROR_TYPES.get(status, "ERROR"), "message": message, "instance": instance,
                          "status": status, "details": details or []}, status)


def _page(items: list[dict[str, Any]], request: Request) -> Response:
    try:
        page = int(request.args.get("page", 0))
        size = int(request.args.get("size", 10))
    except ValueError:
        return error(400, "page and size must be numbers", request.path)
    if size < 1 or size > MAX_PAGE_SIZE or page < 0:
        return error(400, f"size must be 1..{MAX_PAGE_SIZE} and page >= 0", request.path,
                     [{"message": "size out of range", "instance": "size"}])
    total = len(items)
    chunk = items[page * size:(page + 1) * size]
    return json_response({"content": chunk, "page": {"size": size, "totalElements": total,
                                                     "totalPages": (total + size - 1) // size, "number": page}})


class Pax8Sandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.state_file = StateFile(state_dir, "pax8.json")
        self.lock = threading.RLock()
        self.state = self.state_file.load(default_seed)
        self.tokens = TokenBook()
        self.client_secret_required: str | None = None  # set by tests to check a wrong secret is refused
        self.token_requests = 0

    def _next_id(self, kind: str) -> str:
        """Ids of what the sandbox creates, from a counter kept in its state: the same run of
        requests gets the same ids every time (the demo prints them), and no two are alike."""
        issued = self.state["issued"] = int(self.state.get("issued", 0)) + 1
        return _id(f"{kind}/{issued}")

    def save(self) -> None:
        self.state_file.save(self.state)

    # -- routing ---------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/v1/token":
            if request.method != "POST":
                return error(405, "use POST", path)
            return self.token(request)
        if not path.startswith("/v1/"):
            return error(404, f"no route {path}", path)
        if not self.tokens.bearer(request):
            return error(401, "Unauthorized", path)
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
            return self._one(s["companies"], parts[1], "Company", request)
        if head == "products":
            if len(parts) == 1:
                items = s["products"]
                if request.args.get("vendorName"):
                    items = [p for p in items if p["vendorName"] == request.args["vendorName"]]
                return _page(items, request)
            if not any(p["id"] == parts[1] for p in s["products"]):
                return error(404, "Product not found", request.path)
            if len(parts) == 3 and parts[2] == "pricing":
                return json_response({"content": s["pricing"].get(parts[1], [])})
            if len(parts) == 3 and parts[2] == "dependencies":
                return json_response({"commitmentDependencies": s["commitments"].get(parts[1], []),
                                      "productDependencies": []})
            if len(parts) == 3 and parts[2] == "provision-details":
                return json_response({"content": s.get("provisionDetails", {}).get(parts[1], [])})
            return self._one(s["products"], parts[1], "Product", request)
        if head == "orders":
            if len(parts) == 1 and method == "POST":
                return self.create_order(request)
            if len(parts) == 1:
                items = s["orders"]
                if request.args.get("companyId"):
                    items = [o for o in items if o["companyId"] == request.args["companyId"]]
                return _page(items, request)
            return self._one(s["orders"], parts[1], "Order", request)
        if head == "subscriptions":
            if len(parts) == 1:
                items = s["subscriptions"]
                for arg in ("companyId", "productId", "status", "billingTerm"):
                    if request.args.get(arg):
                        items = [x for x in items if x.get(arg) == request.args[arg]]
                return _page(items, request)
            sub = next((x for x in s["subscriptions"] if x["id"] == parts[1]), None)
            if sub is None:
                return error(404, "Subscription not found", request.path)
            if len(parts) == 3 and parts[2] == "usage-summaries":
                return _page([u for u in s["usageSummaries"] if u["subscriptionId"] == sub["id"]], request)
            if method == "PUT" and len(parts) == 2:
                return self.update_subscription(request, sub)
            if method == "DELETE" and len(parts) == 2:
                return self.cancel_subscription(sub)
            return json_response(sub)
        if head == "usage-summaries" and len(parts) >= 2:
            summary = next((u for u in s["usageSummaries"] if u["id"] == parts[1]), None)
            if summary is None:
                return error(404, "Usage summary not found", request.path)
            if len(parts) == 3 and parts[2] == "usage-lines":
                day = request.args.get("usageDate", "")
                try:
                    date.fromisoformat(day)
                except ValueError:
                    return error(400, "usageDate (yyyy-MM-dd) is required", request.path,
                                 [{"message": "usageDate is required", "instance": "usageDate"}])
                lines = [x for x in s.get("usageLines", []) if x["usageSummaryId"] == summary["id"]
                         and x["usageDate"] == day
                         and (not request.args.get("productId") or x["productId"] == request.args["productId"])]
                return _page(lines, request)
            return json_response(summary)
        if head == "invoices":
            if len(parts) == 1:
                return _page(s["invoices"], request)
            if len(parts) == 3 and parts[2] == "items":
                if not any(i["id"] == parts[1] for i in s["invoices"]):
                    return error(404, "Invoice not found", request.path)
                return _page([i for i in s["invoiceItems"] if i["invoiceId"] == parts[1]], request)
            return self._one(s["invoices"], parts[1], "Invoice", request)
        return error(404, f"no route /v1/{'/'.join(parts)}", request.path)

    @staticmethod
    def _one(items: list[dict[str, Any]], item_id: str, what: str, request: Request) -> Response:
        found = next((x for x in items if x["id"] == item_id), None)
        return json_response(found) if found else error(404, f"{what} not found", request.path)

    # -- handlers --------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        self.token_requests += 1
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return oauth_error(400, "invalid_request", "a JSON body is required")
        missing = [k for k in ("client_id", "client_secret", "audience", "grant_type") if not body.get(k)]
        if missing or body.get("grant_type") != "client_credentials":
            return oauth_error(400, "invalid_request",
                               f"client_credentials grant needs {', '.join(missing) or 'grant_type'}")
        if body["audience"] != AUDIENCE:
            return oauth_error(403, "access_denied", f"Service not enabled within domain: {body['audience']}")
        if self.client_secret_required is not None and body["client_secret"] != self.client_secret_required:
            return oauth_error(401, "access_denied", "Unauthorized")
        token = self.tokens.issue(TOKEN_TTL)
        expires = datetime.now(UTC) + timedelta(seconds=TOKEN_TTL)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL,
                              "expires_at": expires.isoformat().replace("+00:00", "Z"), "scope": ""})

    def create_order(self, request: Request) -> Response:
        s = self.state
        body = request.get_json(silent=True)
        path = request.path
        if not isinstance(body, dict) or not body.get("companyId") or not body.get("lineItems"):
            return error(422, "companyId and lineItems are required", path)
        if not any(c["id"] == body["companyId"] for c in s["companies"]):
            return error(422, "Invalid order", path, [{"message": "companyId not found", "instance": "companyId"}])
        now = zulu()
        lines, subs = [], []
        for n, item in enumerate(body["lineItems"], 1):
            where = f"lineItems[{n - 1}]"
            product = next((p for p in s["products"] if p["id"] == item.get("productId")), None)
            if product is None:
                return error(422, "Invalid order", path, [{"message": "product not found", "instance": f"{where}.productId"}])
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                return error(422, "Invalid order", path,
                             [{"message": "quantity must be a whole number >= 1", "instance": f"{where}.quantity"}])
            if not isinstance(item.get("lineItemNumber"), int):
                return error(422, "Invalid order", path,
                             [{"message": "lineItemNumber is required", "instance": f"{where}.lineItemNumber"}])
            term = item.get("billingTerm")
            prices = [p for p in s["pricing"].get(product["id"], []) if p["billingTerm"] == term]
            if not prices:
                return error(422, "Invalid order", path,
                             [{"message": f"billingTerm {term!r} is not offered", "instance": f"{where}.billingTerm"}])
            commitment = None
            if product["requiresCommitment"]:
                commitment = next((c for c in s["commitments"].get(product["id"], [])
                                   if c["id"] == item.get("commitmentTermId")), None)
                if commitment is None:
                    return error(422, "Invalid order", path, [{"message": "commitmentTermId is required for this "
                                                               "product", "instance": f"{where}.commitmentTermId"}])
            status = "Active" if self._details_complete(product, item.get("provisioningDetails")) \
                else "WaitingForDetails"
            rate = prices[0]["rates"][0]
            sub = _subscription(self._next_id("subscription"), body["companyId"], product, quantity, term, commitment,
                                item.get("provisionStartDate") or now, rate["partnerBuyRate"],
                                rate.get("suggestedRetailPrice") or rate["partnerBuyRate"], status=status, created=now)
            subs.append(sub)
            lines.append({"id": self._next_id("line"), "productId": product["id"], "subscriptionId": sub["id"],
                          "commitmentTermId": (commitment or {}).get("id"), "provisionStartDate": sub["startDate"],
                          "billingTerm": term, "quantity": quantity})
        order = {"id": self._next_id("order"), "companyId": body["companyId"], "createdDate": now[:10],
                 "orderedBy": body.get("orderedBy", "Pax8 Partner"), "orderedByUserEmail": body.get("orderedByUserEmail"),
                 "isScheduled": False, "lineItems": lines}
        if request.args.get("isMock") == "true":
            return json_response(order, 200)
        s["orders"].append(order)
        s["subscriptions"].extend(subs)
        self.save()
        return json_response(order, 200)

    def _details_complete(self, product: dict[str, Any], given: Any) -> bool:
        asked = {d["key"] for d in self.state.get("provisionDetails", {}).get(product["id"], [])}
        if not asked:
            return True
        values = {d.get("key"): (d.get("values") or [""])[0] for d in given or [] if isinstance(d, dict)}
        exists = values.get("msCustExists")
        if exists not in (CUSTOMER_EXISTS, CUSTOMER_NEW):
            return False
        needed = ["msTenantId"] if exists == CUSTOMER_EXISTS else ["msDomain"]
        return all(values.get(k) for k in [*needed, *_MCA_KEYS] if k in asked)

    def update_subscription(self, request: Request, sub: dict[str, Any]) -> Response:
        body = request.get_json(silent=True) or {}
        quantity = body.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            return error(422, "Invalid subscription update", request.path,
                         [{"message": "quantity must be a whole number >= 1", "instance": "quantity"}])
        if sub["status"] == "Cancelled":
            return error(422, "subscription is cancelled", request.path)
        sub["quantity"] = quantity
        sub["updatedDate"] = zulu()
        self.save()
        return json_response(sub)

    def cancel_subscription(self, sub: dict[str, Any]) -> Response:
        sub["status"] = "Cancelled"
        sub["endDate"] = zulu()
        sub["updatedDate"] = sub["endDate"]
        self.save()
        return Response(status=204)


def build_app(state_dir: Path | None = None) -> SandboxApp:
    return distributor_app(Pax8Sandbox(state_dir), lambda status, message, request: error(status, message,
                                                                                          request.path))
