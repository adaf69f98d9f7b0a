"""QuickBooks Online Accounting API v3 sandbox: /v3/company/{realmId}/{entity} for customer,
item, invoice, payment, journalentry, account; /query with a small SQL subset.

Wire details kept from https://developer.intuit.com/app/developer/qbo/docs/develop :
entity bodies wrapped as {"Customer": {...}, "time": ...}; queries answer
{"QueryResponse": {"Customer": [...], "startPosition", "maxResults"}}; updates need the current
SyncToken (else 400 Fault 5010 "Stale Object Error"); duplicate names answer Fault 6240;
errors are {"Fault": {"Error": [{"Message","Detail","code"}], "type"}}; a repeated `requestid`
query parameter replays the first response.

OAuth 2.0 as Intuit runs it: POST /oauth2/v1/tokens/bearer with Basic client credentials and a form
body grant_type=refresh_token; each refresh rotates the refresh token (the one redeemed stops
working: invalid_grant) and issues an access token that expires after `access_ttl` seconds (3600).
An expired or unknown token answers 401 AuthenticationFault. (`accept_any_token` keeps the loopback
sandbox usable with a fixed token by tools that do not do OAuth; contract tests turn it off.)

Limits per realm (Intuit: 10 concurrent, 500 a minute): above them the answer is HTTP 429 with
Fault code 003001 "message=ThrottleExceeded; errorCode=003001; statusCode=429".
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response

ENTITIES = {"customer": "Customer", "item": "Item", "invoice": "Invoice", "payment": "Payment",
            "journalentry": "JournalEntry", "account": "Account"}
UNIQUE_NAME = {"Customer": "DisplayName", "Item": "Name", "Account": "Name"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _fault(status: int, code: str, message: str, detail: str = "", type_: str = "ValidationFault") -> Response:
    return json_response({"Fault": {"Error": [{"Message": message, "Detail": detail or message, "code": code}],
                                    "type": type_}, "time": _now()}, status)


class QuickBooksSandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES.values()}
        self.next_id = 100
        self.replays: dict[str, tuple[int, str]] = {}
        self.minor_versions: set[str] = set()
        self.expected_token: str | None = None  # tests pin it to check a wrong token is refused
        self.client_id, self.client_secret = "sandbox-client", "sandbox-secret"
        self.refresh_tokens: set[str] = {"sandbox-refresh-token"}
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.access_ttl = 3600
        self.accept_any_token = True
        self.token_requests = 0
        self.max_concurrent, self.per_minute = 10, 500
        self._in_flight: dict[str, int] = {}
        self._starts: dict[str, deque[float]] = {}
        self.peak_in_flight = 0
        self.throttled = 0
        for acct_num, name, kind in (("4000", "Services Income", "Income"), ("2400", "Deferred Revenue",
                                                                               "Other Current Liability")):
            self._store("Account", {"Name": name, "AcctNum": acct_num, "AccountType": kind})

    def _store(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        record = {**body, "Id": str(self.next_id), "SyncToken": "0", "domain": "QBO",
                  "MetaData": {"CreateTime": _now(), "LastUpdatedTime": _now()}}
        self.data[entity][record["Id"]] = record
        return record

    def token(self, request: Request) -> Response:
        self.token_requests += 1
        basic = request.headers.get("Authorization", "")
        try:
            client_id, _, secret = base64.b64decode(basic.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            client_id, secret = "", ""
        if not basic.startswith("Basic ") or (client_id, secret) != (self.client_id, self.client_secret):
            return json_response({"error": "invalid_client"}, 401)
        if request.form.get("grant_type") != "refresh_token":
            return json_response({"error": "unsupported_grant_type"}, 400)
        with self.lock:
            offered = request.form.get("refresh_token", "")
            if offered not in self.refresh_tokens:
                return json_response({"error": "invalid_grant"}, 400)
            self.refresh_tokens.discard(offered)
            refresh = "RT1-" + secrets.token_urlsafe(24)
            self.refresh_tokens.add(refresh)
            access = "eyJ" + secrets.token_urlsafe(32)
            self.access_tokens[access] = time.time() + self.access_ttl
        return json_response({"token_type": "bearer", "access_token": access, "expires_in": self.access_ttl,
                              "refresh_token": refresh, "x_refresh_token_expires_in": 8726400})

    def _authorized(self, token: str) -> bool:
        if not token or (self.expected_token is not None and token != self.expected_token):
            return False
        expires = self.access_tokens.get(token)
        if expires is not None:
            return time.time() < expires
        return self.accept_any_token or token == self.expected_token

    def _admit(self, realm: str) -> bool:
        with self.lock:
            now = time.time()
            starts = self._starts.setdefault(realm, deque())
            while starts and now - starts[0] >= 60:
                starts.popleft()
            if self._in_flight.get(realm, 0) >= self.max_concurrent or len(starts) >= self.per_minute:
                self.throttled += 1
                return False
            starts.append(now)
            self._in_flight[realm] = self._in_flight.get(realm, 0) + 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight[realm])
            return True

    def __call__(self, request: Request) -> Response:
        if request.path.rstrip("/") == "/oauth2/v1/tokens/bearer" and request.method == "POST":
            return self.token(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not self._authorized(token):
            return _fault(401, "3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                          type_="AuthenticationFault")
        match = re.fullmatch(r"/v3/company/([^/]+)/(\w+)(?:/(\w+))?", request.path)
        if not match:
            return _fault(404, "610", "Object Not Found", f"no route {request.path}")
        if not self._admit(match.group(1)):
            return throttle_fault()
        try:
            return self._serve(request, match)
        finally:
            with self.lock:
                self._in_flight[match.group(1)] -= 1

    def _serve(self, request: Request, match: re.Match[str]) -> Response:
        if request.args.get("minorversion"):
            self.minor_versions.add(request.args["minorversion"])
        with self.lock:
            request_id = request.args.get("requestid")
            if request_id and request_id in self.replays:
                status, text = self.replays[request_id]
                return Response(text, status=status, content_type="application/json")
            response = self.route(request, match.group(2).lower(), match.group(3))
            if request_id and request.method == "POST":
                self.replays[request_id] = (response.status_code, response.get_data(as_text=True))
            return response

    def route(self, request: Request, resource: str, ident: str | None) -> Response:
        if resource == "query":
            return self.query(request.args.get("query") or request.get_data(as_text=True))
        entity = ENTITIES.get(resource)
        if entity is None:
            return _fault(400, "4000", f"Unsupported entity {resource}")
        if request.method == "GET":
            found = self.data[entity].get(ident or "")
            if found is None:
                return _fault(400, "610", "Object Not Found", f"{entity} {ident} not found")
            return json_response({entity: found, "time": _now()})
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return _fault(400, "2020", "Request has invalid or unsupported property")
        error = self.validate(entity, body)
        if error is not None:
            return error
        if body.get("Id"):
            return self.update(entity, body)
        return json_response({entity: self._store(entity, body), "time": _now()})

    def validate(self, entity: str, body: dict[str, Any]) -> Response | None:
        name_field = UNIQUE_NAME.get(entity)
        if name_field:
            if not body.get(name_field) and not body.get("Id"):
                return _fault(400, "2020", "Required param missing, need to supply the required value for the API",
                              f"Required parameter {name_field} is missing in the request")
            clash = [r for r in self.data[entity].values()
                     if body.get(name_field) and r.get(name_field) == body[name_field] and r["Id"] != body.get("Id")]
            if clash:
                return _fault(400, "6240", "Duplicate Name Exists Error",
                              f"The name supplied already exists. : Id={clash[0]['Id']}")
        for ref_field, target in (("CustomerRef", "Customer"),):
            if entity in ("Invoice", "Payment") and (body.get(ref_field) or {}).get("value") not in self.data[target]:
                return _fault(400, "2500", "Invalid Reference Id", f"Invalid Reference Id : {ref_field}")
        for line in body.get("Line", []) if entity in ("Invoice", "JournalEntry", "Payment") else []:
            item = (line.get("SalesItemLineDetail") or {}).get("ItemRef", {}).get("value")
            if item is not None and item not in self.data["Item"]:
                return _fault(400, "2500", "Invalid Reference Id", "Invalid Reference Id : Item")
            account = (line.get("JournalEntryLineDetail") or {}).get("AccountRef", {}).get("value")
            if account is not None and account not in self.data["Account"]:
                return _fault(400, "2500", "Invalid Reference Id", "Invalid Reference Id : Account")
            for linked in line.get("LinkedTxn", []):
                if linked.get("TxnId") not in self.data["Invoice"]:
                    return _fault(400, "2500", "Invalid Reference Id", "Invalid Reference Id : LinkedTxn")
        if entity == "JournalEntry":
            debit = sum(round(float(line["Amount"]) * 100) for line in body.get("Line", [])
                        if line["JournalEntryLineDetail"]["PostingType"] == "Debit")
            credit = sum(round(float(line["Amount"]) * 100) for line in body.get("Line", [])
                         if line["JournalEntryLineDetail"]["PostingType"] == "Credit")
            if debit != credit:
                return _fault(400, "6000", "A business validation error has occurred while processing your request",
                              "Transaction is not balanced")
        if entity == "Invoice":
            total = sum(round(float(line.get("Amount", 0)) * 100) for line in body.get("Line", []))
            body["TotalAmt"] = total / 100
            body.setdefault("Balance", total / 100)
        if entity == "Payment":
            for line in body.get("Line", []):
                for linked in line.get("LinkedTxn", []):
                    invoice = self.data["Invoice"][linked["TxnId"]]
                    invoice["Balance"] = round(invoice["Balance"] - float(line["Amount"]), 2)
        return None

    def update(self, entity: str, body: dict[str, Any]) -> Response:
        current = self.data[entity].get(body["Id"])
        if current is None:
            return _fault(400, "610", "Object Not Found")
        if str(body.get("SyncToken")) != current["SyncToken"]:
            return _fault(400, "5010", "Stale Object Error",
                          f"You and {current.get('DisplayName', 'someone')} were working on this at the same time.")
        changes = {k: v for k, v in body.items() if k not in ("sparse", "SyncToken", "Id")}
        updated = {**current, **changes} if body.get("sparse") else {**changes, "Id": current["Id"],
                                                                        "MetaData": current["MetaData"]}
        updated["SyncToken"] = str(int(current["SyncToken"]) + 1)
        updated["MetaData"] = {**current["MetaData"], "LastUpdatedTime": _now()}
        self.data[entity][current["Id"]] = updated
        return json_response({entity: updated, "time": _now()})

    def query(self, text: str) -> Response:
        match = re.fullmatch(r"\s*select \* from (\w+)(?: where (\w+) = '((?:[^'\\]|\\.)*)')?"
                             r"(?: startposition (\d+))?(?: maxresults (\d+))?\s*", text or "", re.IGNORECASE)
        if not match:
            return _fault(400, "4000", "Error parsing query", f"QueryParserError: {text}")
        entity = next((e for e in ENTITIES.values() if e.lower() == match.group(1).lower()), None)
        if entity is None:
            return _fault(400, "4001", "Invalid query", f"unknown entity {match.group(1)}")
        rows = list(self.data[entity].values())
        if match.group(2):
            value = match.group(3).replace("\\'", "'")
            rows = [r for r in rows if str(r.get(match.group(2), "")) == value]
        start = int(match.group(4) or 1)
        size = int(match.group(5) or 100)
        page = rows[start - 1:start - 1 + size]
        body: dict[str, Any] = {"startPosition": start, "maxResults": len(page)}
        if page:
            body[entity] = page
        return json_response({"QueryResponse": body, "time": _now()})


def throttle_fault() -> Response:
    return _fault(429, "003001", "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                  "The request limit was reached.", type_="SERVICE")


def build_app(state_dir: Path | None = None) -> SandboxApp:
    sandbox = QuickBooksSandbox(state_dir)
    app = SandboxApp(sandbox)
    app.faults.fault_response = lambda status, request: throttle_fault() if status == 429 else _fault(
        500, "10000", "An application error has occurred while processing your request", type_="SystemFault")
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
