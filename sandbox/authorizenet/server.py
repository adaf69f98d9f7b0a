"""Authorize.Net JSON API sandbox (one endpoint, POST /xml/v1/request.api; the request's only
top-level key names the call). Answers are HTTP 200 with a UTF-8 BOM, like the real service,
and carry messages.resultCode Ok|Error. https://developer.authorize.net/api/reference/

Supported: createCustomerProfileRequest (opaqueData payment profile; E00039 on a duplicate
merchantCustomerId), createCustomerPaymentProfileRequest, createTransactionRequest
(authCaptureTransaction by profile or opaqueData; duplicateWindow -> error 11),
getUnsettledTransactionListRequest, getTransactionDetailsRequest.
Opaque data whose dataValue starts with "DECLINE" is declined, "REVIEW" is held for review
(responseCode 4, FDSPendingReview; `release(transId, approve)` settles it as the fraud filter would).

Rules of the real service that the sandbox enforces:
- the JSON is validated against the XSD, so each object's keys must follow the schema's sequence
  (SEQUENCES below, from AnetApiSchema.xsd): out of order answers E00003;
- the merchant account has one currency (USD unless `currency` is changed): another
  currencyCode is refused with response reason 39;
- a duplicate inside duplicateWindow answers error 11, and when duplicateWindow was sent the
  answer carries the original's transId and authCode (without it, transId "0").
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp
from sandbox._webhooks import WebhookSender
from sandbox.authorizenet import hosted
from sandbox.authorizenet.hosted import anet_signature

_ids = itertools.count(40000001)
_NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"

# Element sequences of AnetApiSchema.xsd for the objects the product sends.
_REQUEST = ["merchantAuthentication", "clientId", "refId"]
SEQUENCES: dict[str, list[str]] = {
    "createCustomerProfileRequest": [*_REQUEST, "profile", "validationMode"],
    "createCustomerPaymentProfileRequest": [*_REQUEST, "customerProfileId", "paymentProfile", "validationMode"],
    "createTransactionRequest": [*_REQUEST, "transactionRequest"],
    "getUnsettledTransactionListRequest": [*_REQUEST, "status", "sorting", "paging"],
    "getTransactionDetailsRequest": [*_REQUEST, "transId"],
    "getHostedPaymentPageRequest": [*_REQUEST, "transactionRequest", "hostedPaymentSettings"],
    "getHostedProfilePageRequest": [*_REQUEST, "customerProfileId", "hostedProfileSettings"],
    "getCustomerProfileRequest": [*_REQUEST, "customerProfileId", "merchantCustomerId", "email",
                                  "unmaskExpirationDate", "includeIssuerInfo"],
    "hostedPaymentSettings": ["setting"],
    "hostedProfileSettings": ["setting"],
    "getHostedPaymentPageRequest.transactionRequest.profile": ["createProfile", "customerProfileId",
                                                               "paymentProfile", "shippingProfileId"],
    "profile": ["merchantCustomerId", "description", "email", "paymentProfiles", "shipToList", "profileType"],
    "paymentProfiles": ["customerType", "billTo", "payment", "driversLicense", "taxId", "defaultPaymentProfile"],
    "paymentProfile": ["customerType", "billTo", "payment", "driversLicense", "taxId", "defaultPaymentProfile"],
    "transactionRequest": ["transactionType", "amount", "currencyCode", "payment", "profile", "solution", "callId",
                           "terminalNumber", "authCode", "refTransId", "splitTenderId", "order", "lineItems", "tax",
                           "duty", "shipping", "taxExempt", "poNumber", "customer", "billTo", "shipTo", "customerIP",
                           "cardholderAuthentication", "retail", "employeeId", "transactionSettings", "userFields",
                           "surcharge", "merchantDescriptor", "subMerchant", "tip", "processingOptions",
                           "subsequentAuthInformation", "otherTax", "shipFrom", "authorizationIndicatorType"],
    "order": ["invoiceNumber", "description", "discountAmount", "taxIsAfterDiscount", "totalTaxTypeCode",
              "purchaserVATRegistrationNumber", "merchantVATRegistrationNumber", "vatInvoiceReferenceNumber",
              "purchaserCode", "summaryCommodityCode", "purchaseOrderDateUTC", "supplierOrderReference",
              "authorizedContactName", "cardAcceptorRefNumber", "amexDataTAA1", "amexDataTAA2", "amexDataTAA3",
              "amexDataTAA4"],
    "merchantAuthentication": ["name", "transactionKey", "sessionToken", "password", "impersonationAuthentication",
                               "fingerPrint", "clientKey", "accessToken", "mobileDeviceId"],
    "setting": ["settingName", "settingValue"],
    # The same element names with another type under another parent.
    "transactionRequest.profile": ["createProfile", "customerProfileId", "paymentProfile", "shippingProfileId"],
    "transactionRequest.profile.paymentProfile": ["paymentProfileId", "cardCode"],
    "createTransactionRequest.transactionRequest.profile": ["createProfile", "customerProfileId", "paymentProfile",
                                                            "shippingProfileId"],
}


def schema_violation(name: str, value: Any, parent: str = "") -> str | None:
    """The E00003 text for the first object (depth first) whose keys break the XSD sequence."""
    items = value if isinstance(value, list) else [value]
    path = f"{parent}.{name}" if parent else name
    for item in items:
        if not isinstance(item, dict):
            continue
        sequence = next((SEQUENCES[k] for k in (".".join(path.split(".")[-n:]) for n in (3, 2, 1))
                         if k in SEQUENCES), None)
        if sequence is not None:
            position = -1
            for key in item:
                if key not in sequence:
                    return (f"The element '{name}' in namespace '{_NS}' has invalid child element '{key}' in "
                            f"namespace '{_NS}'.")
                if sequence.index(key) < position:
                    expected = ", ".join(f"'{k}'" for k in sequence[position + 1:position + 4])
                    return (f"The element '{name}' in namespace '{_NS}' has invalid child element '{key}' in "
                            f"namespace '{_NS}'. List of possible elements expected: {expected} in namespace "
                            f"'{_NS}'.")
                position = sequence.index(key)
        for key, child in item.items():
            problem = schema_violation(key, child, path)
            if problem:
                return problem
    return None


def _reply(body: dict[str, Any]) -> Response:
    return Response("\ufeff" + json.dumps(body), status=200, content_type="application/json; charset=utf-8")


def _ok(ref_id: str | None, **fields: Any) -> Response:
    return _reply({**fields, "refId": ref_id, "messages": {"resultCode": "Ok",
                                                             "message": [{"code": "I00001", "text": "Successful."}]}})


def _err(ref_id: str | None, code: str, text: str, **fields: Any) -> Response:
    return _reply({**fields, "refId": ref_id, "messages": {"resultCode": "Error",
                                                             "message": [{"code": code, "text": text}]}})


class AuthorizeNetSandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.lock = threading.RLock()
        self.login_id: str | None = None  # tests may pin credentials
        self.transaction_key: str | None = None
        self.profiles: dict[str, dict[str, Any]] = {}
        self.payment_profiles: dict[str, dict[str, Any]] = {}
        self.transactions: list[dict[str, Any]] = []
        self.currency = "USD"  # the merchant account's currency
        self.page_tokens: dict[str, dict[str, Any]] = {}
        # The merchant's Signature Key (Account > API Credentials & Keys): 128 hex characters.
        self.signature_key = secrets.token_hex(64).upper()
        self.webhooks = WebhookSender(lambda _endpoint, body: {"X-ANET-Signature": anet_signature(
            self.signature_key, body)}, type_key="eventType", id_key="notificationId")

    def __call__(self, request: Request) -> Response:
        if request.method == "POST" and request.path in ("/payment/payment", "/customer/addPayment"):
            with self.lock:  # the customer's browser on the hosted form
                return hosted.hosted_page(self, request)
        if request.path.startswith("/rest/v1/"):
            with self.lock:
                return hosted.webhook_api(self, request)
        if request.method != "POST" or not request.path.endswith("/xml/v1/request.api"):
            return Response("Not Found", status=404)
        try:
            body = json.loads(request.get_data(as_text=True).lstrip("\ufeff"))
            (call, payload), = body.items()
        except (ValueError, AttributeError):
            return _err(None, "E00003", "An error occurred while parsing the JSON request.")
        ref_id = payload.get("refId") if isinstance(payload, dict) else None
        if not isinstance(payload, dict):
            return _err(None, "E00003", f"The element '{call}' has invalid content.")
        problem = schema_violation(call, payload) if call in SEQUENCES else None
        if problem:
            return _err(ref_id, "E00003", problem)
        auth = payload.get("merchantAuthentication") or {}
        if not auth.get("name") or not auth.get("transactionKey") or (
                self.login_id is not None and (auth["name"], auth["transactionKey"]) != (self.login_id,
                                                                                         self.transaction_key)):
            return _err(ref_id, "E00007", "User authentication failed due to invalid authentication values.")
        handler = getattr(self, call, None)
        if handler is None:
            return _err(ref_id, "E00067", f"An unknown API method: {call}.")
        with self.lock:
            return handler(payload, ref_id)

    def _new_payment_profile(self, customer_id: str, payment: dict[str, Any] | None) -> str | None:
        opaque = (payment or {}).get("opaqueData") or {}
        if not opaque.get("dataValue"):
            return None
        pid = str(next(_ids))
        self.payment_profiles[pid] = {"customerProfileId": customer_id, "decline":
                                      str(opaque["dataValue"]).startswith("DECLINE"),
                                      "review": str(opaque["dataValue"]).startswith("REVIEW")}
        return pid

    def createCustomerProfileRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        profile = payload.get("profile") or {}
        merchant_id = profile.get("merchantCustomerId")
        for cid, existing in self.profiles.items():
            if merchant_id and existing["merchantCustomerId"] == merchant_id:
                return _err(ref_id, "E00039", f"A duplicate record with ID {cid} already exists.")
        cid = str(next(_ids))
        self.profiles[cid] = {"merchantCustomerId": merchant_id, "email": profile.get("email")}
        payments = profile.get("paymentProfiles") or {}
        payments = payments if isinstance(payments, list) else [payments]
        ids = [pid for p in payments if (pid := self._new_payment_profile(cid, p.get("payment")))]
        return _ok(ref_id, customerProfileId=cid, customerPaymentProfileIdList=ids,
                   customerShippingAddressIdList=[], validationDirectResponseList=[])

    def createCustomerPaymentProfileRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        cid = payload.get("customerProfileId")
        if cid not in self.profiles:
            return _err(ref_id, "E00040", "The record cannot be found.")
        pid = self._new_payment_profile(cid, (payload.get("paymentProfile") or {}).get("payment"))
        if pid is None:
            return _err(ref_id, "E00013", "Payment information is required.")
        return _ok(ref_id, customerProfileId=cid, customerPaymentProfileId=pid)

    def createTransactionRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        tx = payload.get("transactionRequest") or {}
        if tx.get("transactionType") != "authCaptureTransaction":
            return _err(ref_id, "E00003", "Only authCaptureTransaction is simulated.")
        try:
            amount = Decimal(str(tx.get("amount")))
        except InvalidOperation:
            return _err(ref_id, "E00015", "The field length is invalid for Amount.")
        currency = tx.get("currencyCode") or self.currency
        if currency != self.currency:
            return _err(ref_id, "E00027", "The transaction was unsuccessful.", transactionResponse={
                "responseCode": "3", "transId": "0", "errors": [{"errorCode": "39", "errorText":
                    "The supplied currency code is either invalid, not supported, not allowed for this merchant or "
                    "doesn't have an exchange rate."}]})
        invoice_number = (tx.get("order") or {}).get("invoiceNumber", "")
        settings = {s["settingName"]: s["settingValue"] for s in
                    ((tx.get("transactionSettings") or {}).get("setting") or [])}
        window_sent = "duplicateWindow" in settings
        window = int(settings.get("duplicateWindow", 120))
        profile = tx.get("profile") or {}
        if profile:
            pp = self.payment_profiles.get((profile.get("paymentProfile") or {}).get("paymentProfileId", ""))
            if pp is None or pp["customerProfileId"] != profile.get("customerProfileId"):
                return _err(ref_id, "E00040", "The record cannot be found.")
            decline, review, account = pp["decline"], pp.get("review", False), profile["customerProfileId"]
        else:
            opaque = (tx.get("payment") or {}).get("opaqueData") or {}
            if not opaque.get("dataValue"):
                return _err(ref_id, "E00013", "Payment information is required.")
            decline, account = str(opaque["dataValue"]).startswith("DECLINE"), opaque["dataValue"][:12]
            review = str(opaque["dataValue"]).startswith("REVIEW")
        now = time.time()
        for t in self.transactions:
            if (window and t["account"] == account and t["amount"] == amount and t["invoiceNumber"] == invoice_number
                    and now - t["at"] < window):
                # With duplicateWindow in the request, the answer names the original transaction.
                original = {"transId": t["transId"], "authCode": t.get("authCode", ""), "avsResultCode": "Y"} \
                    if window_sent else {"transId": "0"}
                return _err(ref_id, "E00027", "The transaction was unsuccessful.", transactionResponse={
                    "responseCode": "3", **original, "refTransID": "", "accountNumber": "XXXX1111",
                    "errors": [{"errorCode": "11", "errorText": "A duplicate transaction has been submitted."}]})
        trans_id = str(next(_ids))
        status = "declined" if decline else "FDSPendingReview" if review else "capturedPendingSettlement"
        record = {"transId": trans_id, "invoiceNumber": invoice_number, "amount": amount, "account": account,
                  "at": now, "status": status, "authCode": "" if decline else "SBX123"}
        self.transactions.append(record)
        if decline:
            return _err(ref_id, "E00027", "The transaction was unsuccessful.", transactionResponse={
                "responseCode": "2", "authCode": "", "transId": trans_id, "accountNumber": "XXXX0027",
                "errors": [{"errorCode": "2", "errorText": "This transaction has been declined."}]})
        if review:
            return _ok(ref_id, transactionResponse={
                "responseCode": "4", "authCode": "SBX123", "avsResultCode": "Y", "transId": trans_id,
                "accountNumber": "XXXX1111", "accountType": "Visa",
                "messages": [{"code": "252", "description": "Your order has been received. Thank you for your "
                              "business!"}]})
        return _ok(ref_id, transactionResponse={
            "responseCode": "1", "authCode": "SBX123", "avsResultCode": "Y", "transId": trans_id,
            "accountNumber": "XXXX1111", "accountType": "Visa",
            "messages": [{"code": "1", "description": "This transaction has been approved."}]})

    def getUnsettledTransactionListRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        items = [{"transId": t["transId"], "invoiceNumber": t["invoiceNumber"], "transactionStatus": t["status"],
                  "settleAmount": float(t["amount"]), "submitTimeUTC": time.strftime(
                      "%Y-%m-%dT%H:%M:%SZ", time.gmtime(t["at"]))} for t in self.transactions]
        return _ok(ref_id, transactions=items, totalNumInResultSet=len(items))

    def getTransactionDetailsRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        t = next((t for t in self.transactions if t["transId"] == payload.get("transId")), None)
        if t is None:
            return _err(ref_id, "E00040", "The record cannot be found.")
        return _ok(ref_id, transaction={"transId": t["transId"], "transactionStatus": t["status"],
                                        "responseCode": {"declined": 2, "FDSPendingReview": 4}.get(t["status"], 1),
                                        "authAmount": float(t["amount"]), "order": {"invoiceNumber": t["invoiceNumber"]}})


    def getHostedPaymentPageRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        tx = payload.get("transactionRequest") or {}
        if tx.get("transactionType") not in ("authCaptureTransaction", "authOnlyTransaction"):
            return _err(ref_id, "E00003", "The transactionType must be authCaptureTransaction or authOnlyTransaction.")
        try:
            if Decimal(str(tx.get("amount"))) <= 0:
                raise InvalidOperation
        except InvalidOperation:
            return _err(ref_id, "E00015", "The field length is invalid for Amount.")
        customer = (tx.get("profile") or {}).get("customerProfileId")
        if customer and customer not in self.profiles:
            return _err(ref_id, "E00040", "The record cannot be found.")
        return _ok(ref_id, token=hosted.issue_token(self, "payment", payload))

    def getHostedProfilePageRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        if payload.get("customerProfileId") not in self.profiles:
            return _err(ref_id, "E00040", "The record cannot be found.")
        return _ok(ref_id, token=hosted.issue_token(self, "profile", payload))

    def getCustomerProfileRequest(self, payload: dict[str, Any], ref_id: str | None) -> Response:  # noqa: N802
        cid = payload.get("customerProfileId")
        if not cid and payload.get("merchantCustomerId"):
            cid = next((k for k, v in self.profiles.items()
                        if v["merchantCustomerId"] == payload["merchantCustomerId"]), None)
        profile = self.profiles.get(str(cid or ""))
        if profile is None:
            return _err(ref_id, "E00040", "The record cannot be found.")
        payments = [{"customerType": "business", "customerProfileId": cid, "customerPaymentProfileId": pid,
                     "billTo": {"zip": pp.get("zip", "")},
                     "payment": {"creditCard": pp.get("card") or {"cardNumber": "XXXX1111", "expirationDate": "XXXX",
                                                                   "cardType": "Visa"}}}
                    for pid, pp in self.payment_profiles.items() if pp["customerProfileId"] == cid]
        return _ok(ref_id, profile={"merchantCustomerId": profile["merchantCustomerId"], "email": profile.get("email"),
                                    "customerProfileId": cid, "paymentProfiles": payments},
                   subscriptionIds=[])

    def record_transaction(self, tx: dict[str, Any], *, status: str, account: str) -> dict[str, Any]:
        """A transaction the hosted payment form ran."""
        record = {"transId": str(next(_ids)), "invoiceNumber": (tx.get("order") or {}).get("invoiceNumber", ""),
                  "amount": Decimal(str(tx.get("amount"))), "account": account, "at": time.time(), "status": status,
                  "authCode": "" if status == "declined" else "SBX" + secrets.token_hex(2).upper()}
        self.transactions.append(record)
        return record

    def add_card_profile(self, customer_id: str, card: dict[str, str], zip_code: str) -> str:
        """A payment profile holding a card typed on a hosted form (charges decline for ZIP 46282)."""
        pid = str(next(_ids))
        self.payment_profiles[pid] = {"customerProfileId": customer_id, "decline": zip_code == hosted.DECLINE_ZIP,
                                      "review": False, "card": card, "zip": zip_code}
        return pid

    def release(self, trans_id: str, *, approve: bool) -> None:
        """What the fraud filter's reviewer does: a held transaction is approved or declined."""
        with self.lock:
            t = next(t for t in self.transactions if t["transId"] == trans_id)
            t["status"] = "capturedPendingSettlement" if approve else "declined"


def build_app(state_dir: Path | None = None) -> SandboxApp:
    sandbox = AuthorizeNetSandbox(state_dir)
    app = SandboxApp(sandbox)
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
