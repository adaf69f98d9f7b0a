"""Dynamics 365 Business Central target (API v2.0).

https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/ :
{root}/companies({id})/customers|items|salesInvoices|customerPayments|journals; every entity
carries @odata.etag and PATCH needs If-Match (412 when someone changed it). Customer and item
numbers are Code[20], so a longer key is shortened to a stable hash. Documents are found by
externalDocumentNumber / documentNumber before anything is created, so a retried push books
once; a draft invoice left half-built by a crash gets its missing lines and is then posted.
Journal lines are written to the GENERAL journal but not posted: posting a BC journal posts
every line in the batch, which is the accountant's call.

Auth: an Entra ID token for https://api.businesscentral.dynamics.com/.default, from the app's own
identity (azure-identity, client credentials or managed identity: shared.auth), refreshed before
it expires. A customer payment sends the documented fields only (appliesToInvoiceId; never the
read-only journalDisplayName).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from accounting.base import Customer, Invoice, Item, JournalEntry, Payment, money_json
from shared.config import Settings, get_settings
from shared.errors import AuthError, ConflictError, ValidationError
from shared.http import HttpClient, RetryPolicy

CODE_MAX = 20
GENERAL_JOURNAL = "GENERAL"
BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
# The company the loopback sandbox seeds (sandbox/businesscentral/server.py COMPANY_ID).
SANDBOX_COMPANY_ID = "6f3c1a6e-0000-4000-8000-00000000c0de"


def bc_code(value: str) -> str:
    """A BC Code[20] for `value`: itself when it fits, else a stable hash."""
    value = value.upper()
    if len(value) <= CODE_MAX:
        return value
    return "X" + hashlib.sha256(value.encode()).hexdigest()[:CODE_MAX - 1].upper()


def _odata_str(value: str) -> str:
    return value.replace("'", "''")

def _id(row: dict[str, Any]) -> str:
    """The id of an entity the API answered with (always a string on the wire)."""
    return str(row["id"])


class BusinessCentralTarget:
    name = "businesscentral"

    def __init__(self, api_root: str, company_id: str, token: str | Callable[[], str], *,
                 retry: RetryPolicy | None = None, timeout: float = 60.0) -> None:
        if not company_id or not token:
            raise AuthError("Business Central company id and an access token (or a token provider) are required")
        tokens: Callable[[], str] = token if callable(token) else (lambda: token)
        self.http = HttpClient(f"{api_root.rstrip('/')}/companies({company_id})", token_provider=tokens,
                               retry=retry or RetryPolicy(), timeout=timeout,
                               default_headers={"Accept": "application/json"})
        self._journal_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None,
                      token: str | Callable[[], str] | None = None) -> BusinessCentralTarget:
        """`business_central_url` is the API root ending in /api/v2.0 (production:
        https://api.businesscentral.dynamics.com/v2.0/{tenant}/{environment}/api/v2.0). The token
        comes from the app's identity in settings (see token_provider)."""
        s = settings or get_settings()
        root = s.business_central_url.rstrip("/")
        if not root.endswith("/api/v2.0"):
            root += "/api/v2.0"
        if token is None:
            token = token_provider(s)
        company = s.business_central_company_id or (SANDBOX_COMPANY_ID if s.mode == "sandbox" else "")
        return cls(root, company, token, timeout=s.http_timeout_seconds,
                   retry=RetryPolicy(max_attempts=s.http_max_attempts, cap_seconds=s.http_backoff_cap_seconds))

    def _find(self, path: str, field: str, value: str) -> dict[str, Any] | None:
        rows = self.http.get_json(path, params={"$filter": f"{field} eq '{_odata_str(value)}'"}).get("value", [])
        return rows[0] if rows else None

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.http.post_json(path, body, ok=(200, 201))
        return created

    def upsert_customer(self, customer: Customer) -> str:
        number = bc_code(customer.key)
        wanted = {"displayName": customer.name[:100], "email": customer.email, "currencyCode": customer.currency}
        for _ in range(3):
            existing = self._find("customers", "number", number)
            if existing is None:
                return _id(self._create("customers", {"number": number, **wanted}))
            if all(existing.get(k) == v for k, v in wanted.items()):
                return _id(existing)
            try:
                self.http.request("PATCH", f"customers({existing['id']})", json=wanted,
                                  headers={"If-Match": existing["@odata.etag"]})
                return _id(existing)
            except ConflictError:
                continue  # changed under us: re-read the etag and apply again
        raise ConflictError("Business Central customer kept changing under us")

    def upsert_item(self, item: Item) -> str:
        number = bc_code(item.sku)
        existing = self._find("items", "number", number)
        if existing is not None:
            return _id(existing)
        return _id(self._create("items", {"number": number, "displayName": item.name[:100], "type": "Service",
                                          "unitPrice": money_json(item.unit_price)}))

    def push_invoice(self, invoice: Invoice) -> str:
        customer_number = bc_code(invoice.customer.key)
        self.upsert_customer(invoice.customer)
        existing = self._find("salesInvoices", "externalDocumentNumber", invoice.number)
        if existing is not None and existing.get("status") != "Draft":
            return _id(existing)
        if existing is None:
            body = {"externalDocumentNumber": invoice.number, "customerNumber": customer_number,
                    "invoiceDate": invoice.invoice_date.isoformat(), "currencyCode": invoice.currency}
            if invoice.due_date:
                body["dueDate"] = invoice.due_date.isoformat()
            existing = self._create("salesInvoices", body)
        invoice_id = _id(existing)
        present = len(self.http.get_json(f"salesInvoices({invoice_id})/salesInvoiceLines").get("value", []))
        for line in invoice.lines[present:]:
            self.upsert_item(Item(line.sku, line.description, line.unit_price))
            self._create(f"salesInvoices({invoice_id})/salesInvoiceLines", {
                "lineType": "Item", "lineObjectNumber": bc_code(line.sku), "description": line.description[:100],
                "quantity": float(line.quantity), "unitPrice": float(line.unit_price)})
        self.http.request("POST", f"salesInvoices({invoice_id})/Microsoft.NAV.post")
        return invoice_id

    def push_payment(self, payment: Payment, invoice_ref: str) -> str:
        ref = payment.key[:35]
        existing = self._find("customerPayments", "externalDocumentNumber", ref)
        if existing is not None:
            return _id(existing)
        self.upsert_customer(payment.customer)
        # Documented fields only: appliesToInvoiceId applies it; journalDisplayName is read-only.
        return _id(self._create("customerPayments", {
            "customerNumber": bc_code(payment.customer.key), "postingDate": payment.paid_on.isoformat(),
            "externalDocumentNumber": ref, "amount": money_json(payment.amount), "appliesToInvoiceId": invoice_ref,
            "description": f"Payment {payment.invoice_number}"[:100]}))

    def _journal(self) -> str:
        if self._journal_id is None:
            journal = self._find("journals", "code", GENERAL_JOURNAL)
            if journal is None:
                raise ValidationError(f"Business Central has no {GENERAL_JOURNAL} journal")
            self._journal_id = journal["id"]
        return self._journal_id

    def push_journal(self, entry: JournalEntry) -> str:
        if not entry.balanced():
            raise ValidationError(f"journal {entry.key} does not balance")
        journal = self._journal()
        document = entry.key[:CODE_MAX]
        present = self.http.get_json(f"journals({journal})/journalLines",
                                     params={"$filter": f"documentNumber eq '{_odata_str(document)}'"}).get("value", [])
        for line in entry.lines[len(present):]:
            # BC journals carry one signed amount: debit positive, credit negative.
            self._create(f"journals({journal})/journalLines", {
                "accountNumber": line.account, "postingDate": entry.posting_date.isoformat(),
                "documentNumber": document, "amount": money_json(line.debit - line.credit),
                "description": line.description[:100]})
        return document


def token_provider(settings: Settings) -> Callable[[], str]:
    """The Business Central API token: azure-identity for BC_SCOPE from the app's identity in
    settings (CSPB_TENANT_ID / CSPB_CLIENT_ID with CSPB_CLIENT_SECRET or a managed identity),
    cached until two minutes before it expires. Against the loopback sandboxes without a sign-in
    stand-in (CSPB_LOGIN_URL), a fixed token."""
    from shared.auth import PUBLIC_LOGIN_HOST, azure_identity_token

    stand_in = PUBLIC_LOGIN_HOST not in (settings.login_url or PUBLIC_LOGIN_HOST)
    if settings.mode == "sandbox" and not (stand_in and settings.client_id):
        return lambda: "sandbox-token"
    return azure_identity_token(settings, BC_SCOPE)
