"""Dynamics 365 Business Central API v2.0 sandbox:
/api/v2.0/companies({id})/customers|items|salesInvoices(+salesInvoiceLines, Microsoft.NAV.post)|
customerPayments|journals(+journalLines)|accounts, with OData $filter "field eq 'value'",
@odata.etag on every entity, If-Match required on PATCH (412 Request_EntityChanged when stale),
and errors as {"error": {"code","message"}}.
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/

Auth: an Entra access token (a JWT) must be for aud https://api.businesscentral.dynamics.com and
unexpired, else 401 (the signature is not checked, as the Key Vault stand-in does).
`accept_any_token` lets tools without an identity use a fixed opaque token on loopback; contract
tests turn it off. A customer payment accepts the documented properties only: an unknown one
(e.g. appliedInvoiceId) or the read-only journalDisplayName is a 400, as OData answers.
Throttling answers 429 {"error":{"code":"Application_TooManyRequests",...}} [code not re-verified].
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response

COMPANY_ID = "6f3c1a6e-0000-4000-8000-00000000c0de"
BC_AUDIENCE = "https://api.businesscentral.dynamics.com"
PAYMENT_FIELDS = {"id", "journalId", "journalDisplayName", "lineNumber", "customerId", "customerNumber", "contactId",
                  "postingDate", "documentNumber", "externalDocumentNumber", "amount", "appliesToInvoiceId",
                  "appliesToInvoiceNumber", "description", "comment", "lastModifiedDateTime"}
READ_ONLY = {"customerPayments": {"id", "journalDisplayName", "lastModifiedDateTime"}}
KEYED = {"customers": "number", "items": "number", "accounts": "number", "journals": "code"}


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


class BusinessCentralSandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            k: {} for k in ("customers", "items", "salesInvoices", "salesInvoiceLines", "customerPayments",
                            "journals", "journalLines", "accounts")}
        self.company_ids = {COMPANY_ID}
        self.accept_any_token = True
        self.tokens_seen: list[str] = []
        for number, name in (("4000", "Services Income"), ("2400", "Deferred Revenue")):
            self._insert("accounts", {"number": number, "displayName": name, "category": "Income"})
        self._insert("journals", {"code": "GENERAL", "displayName": "General journal"})

    def _insert(self, table: str, body: dict[str, Any]) -> dict[str, Any]:
        record = {"id": str(uuid.uuid4()), **body, "lastModifiedDateTime": datetime.now(UTC).isoformat()}
        record["@odata.etag"] = f'W/"JzE7{uuid.uuid4().hex[:12]}Jw=="'
        self.tables[table][record["id"]] = record
        return record

    def _token_problem(self, header: str) -> str | None:
        if not header.startswith("Bearer "):
            return "The credentials provided are incorrect"
        token = header[7:].strip()
        if token.count(".") != 2:
            return None if self.accept_any_token and token else "The credentials provided are incorrect"
        import jwt

        try:
            claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
        except jwt.PyJWTError:
            return "The credentials provided are incorrect"
        if str(claims.get("aud", "")).rstrip("/") != BC_AUDIENCE:
            return f"The token audience {claims.get('aud')!r} is not {BC_AUDIENCE}"
        if float(claims.get("exp", 0)) <= time.time():
            return "The access token has expired"
        with self.lock:
            if token not in self.tokens_seen:
                self.tokens_seen.append(token)
        return None

    def __call__(self, request: Request) -> Response:
        problem = self._token_problem(request.headers.get("Authorization", ""))
        if problem:
            return _error(401, "Authentication_InvalidCredentials", problem)
        match = re.fullmatch(r".*/api/v2\.0/companies\(([^)]+)\)/(.+)", request.path)
        if not match:
            return _error(404, "BadRequest_NotFound", f"no route {request.path}")
        if match.group(1) not in self.company_ids:
            return _error(404, "BadRequest_NotFound", "The company does not exist.")
        segments = [re.fullmatch(r"([\w.]+)(?:\(([^)]+)\))?", s) for s in match.group(2).split("/")]
        if any(s is None for s in segments):
            return _error(400, "BadRequest", "malformed path")
        with self.lock:
            return self.route(request, [(s.group(1), s.group(2)) for s in segments if s])

    def route(self, request: Request, segs: list[tuple[str, str | None]]) -> Response:  # noqa: PLR0911
        table, ident = segs[0]
        if table not in self.tables:
            return _error(404, "BadRequest_NotFound", f"Resource not found for the segment '{table}'.")
        parent = None
        if ident is not None:
            parent = self.tables[table].get(ident)
            if parent is None:
                return _error(404, "Internal_RecordNotFound", f"The {table} record does not exist.")
        if len(segs) == 1 and ident is None:
            if request.method == "GET":
                return self.list(table, request, {})
            if request.method == "POST":
                return self.create(table, request, {})
        if len(segs) == 1 and parent is not None:
            if request.method == "GET":
                return json_response(parent)
            if request.method == "PATCH":
                return self.patch(table, parent, request)
            if request.method == "DELETE":
                del self.tables[table][parent["id"]]
                return Response(status=204)
        if len(segs) == 2 and parent is not None:
            child, _ = segs[1]
            if child == "Microsoft.NAV.post" and request.method == "POST":
                if table == "salesInvoices":
                    lines = [x for x in self.tables["salesInvoiceLines"].values() if x["documentId"] == parent["id"]]
                    if not lines:
                        return _error(400, "Internal_DialogError", "There is nothing to post.")
                    parent["status"] = "Open"
                return Response(status=204)
            link = {"salesInvoiceLines": "documentId", "journalLines": "journalId"}.get(child)
            if link is None:
                return _error(404, "BadRequest_NotFound", f"Resource not found for the segment '{child}'.")
            if request.method == "GET":
                return self.list(child, request, {link: parent["id"]})
            if request.method == "POST":
                return self.create(child, request, {link: parent["id"]})
        return _error(405, "BadRequest_MethodNotAllowed", "method not allowed")

    def list(self, table: str, request: Request, scope: dict[str, str]) -> Response:
        rows = [r for r in self.tables[table].values() if all(r.get(k) == v for k, v in scope.items())]
        flt = request.args.get("$filter")
        if flt:
            m = re.fullmatch(r"(\w+) eq '((?:[^']|'')*)'", flt.strip())
            if not m:
                return _error(400, "BadRequest", f"Invalid filter expression: {flt}")
            value = m.group(2).replace("''", "'")
            rows = [r for r in rows if str(r.get(m.group(1), "")) == value]
        return json_response({"@odata.context": f"$metadata#{table}", "value": rows})

    def create(self, table: str, request: Request, scope: dict[str, str]) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return _error(400, "BadRequest", "Invalid JSON")
        if table == "customerPayments":
            unknown = sorted(set(body) - PAYMENT_FIELDS)
            if unknown:
                return _error(400, "BadRequest", f"The property '{unknown[0]}' does not exist on type "
                              "'Microsoft.NAV.customerPayment'. Make sure to only use property names that are defined "
                              "by the type.")
            read_only = sorted(set(body) & READ_ONLY["customerPayments"])
            if read_only:
                return _error(400, "BadRequest", f"The property '{read_only[0]}' is read-only.")
            invoice_id = body.get("appliesToInvoiceId")
            if invoice_id and invoice_id not in self.tables["salesInvoices"]:
                return _error(400, "Internal_RecordNotFound", "The Sales Invoice does not exist.")
        key = KEYED.get(table)
        if key:
            if not body.get(key):
                return _error(400, "Internal_FieldMissing", f"{key} must have a value")
            if len(str(body[key])) > 20:
                return _error(400, "BadRequest_InvalidValue",
                              f"The length of the string is {len(body[key])}, but it must be less than or equal to 20")
            if any(r.get(key) == body[key] for r in self.tables[table].values()):
                return _error(400, "Internal_EntityWithSameKeyExists",
                              f"The record in table {table} already exists. Identification fields and values: {body[key]}")
        if table in ("salesInvoices", "customerPayments"):
            if not any(c["number"] == body.get("customerNumber") for c in self.tables["customers"].values()):
                return _error(400, "Internal_RecordNotFound", "The Customer does not exist.")
        if table == "salesInvoices":
            body.setdefault("status", "Draft")
            body.setdefault("number", f"S-INV{100000 + len(self.tables['salesInvoices'])}")
        if table == "salesInvoiceLines":
            if not any(i["number"] == body.get("lineObjectNumber") for i in self.tables["items"].values()):
                return _error(400, "Internal_RecordNotFound", "The Item does not exist.")
            body["sequence"] = 10000 * (1 + sum(1 for x in self.tables[table].values()
                                                 if x["documentId"] == scope["documentId"]))
            body["amountExcludingTax"] = round(float(body.get("quantity", 0)) * float(body.get("unitPrice", 0)), 2)
            invoice = self.tables["salesInvoices"][scope["documentId"]]
            invoice["totalAmountExcludingTax"] = round(invoice.get("totalAmountExcludingTax", 0) +
                                                       body["amountExcludingTax"], 2)
        if table == "journalLines":
            if not any(a["number"] == body.get("accountNumber") for a in self.tables["accounts"].values()):
                return _error(400, "Internal_RecordNotFound", "The G/L Account does not exist.")
        return json_response(self._insert(table, {**body, **scope}), 201)

    def patch(self, table: str, record: dict[str, Any], request: Request) -> Response:
        match = request.headers.get("If-Match")
        if not match:
            return _error(428, "Request_PreconditionRequired", "Could not process the request because the If-Match "
                          "header is missing.")
        if match != "*" and match != record["@odata.etag"]:
            return _error(412, "Request_EntityChanged", "Another user has already changed the record.")
        body = json.loads(request.get_data(as_text=True) or "{}")
        record.update({k: v for k, v in body.items() if k not in ("id", "@odata.etag")})
        record["@odata.etag"] = f'W/"JzE7{uuid.uuid4().hex[:12]}Jw=="'
        return json_response(record)


def build_app(state_dir: Path | None = None) -> SandboxApp:
    sandbox = BusinessCentralSandbox(state_dir)
    app = SandboxApp(sandbox)
    app.faults.fault_response = lambda status, request: _error(
        status, "Application_TooManyRequests" if status == 429 else "InternalServerError",
        "Too many requests have been sent. Try again later." if status == 429 else "An unexpected error occurred.")
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
