"""Authorize.Net webhooks: verify X-ANET-Signature, dedupe through the inbox, then confirm server-side.

The header is `X-ANET-Signature: sha512=<HEX>`, the uppercase hex HMAC-SHA512 of the raw body keyed with
the merchant's Signature Key (compared case-insensitively). Reports differ on the key's encoding: the
vendor's webhooks sample app keys the HMAC with the key as text, which is our default; hex-decoding it to
bytes (the SIM/DPM convention) is CSPB_AUTHORIZENET_SIGNATURE_KEY_ENCODING=hex.

Webhooks are hints: the payment's state comes from getTransactionDetails, never from the body, and only
payments we recorded (matched by transId) are updated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from dataverse.client import DataverseClient
from dataverse.stores import inbox, payments
from payments import invoice_records as records
from shared.errors import AuthError, IntegrationError, RetriableError, ValidationError

if TYPE_CHECKING:
    from payments.authorizenet import AuthorizeNetProcessor

HEADER = "x-anet-signature"
SUCCEEDED_STATES = frozenset({"settledSuccessfully", "capturedPendingSettlement"})
PENDING_STATES = frozenset({"FDSPendingReview", "FDSAuthorizedPendingReview", "authorizedPendingCapture",
                            "underReview", "approvedReview", "pendingFinalSettlement", "pendingSettlement"})
FAILED_STATES = frozenset({"declined", "voided", "expired", "failedReview", "generalError", "settlementError",
                           "communicationError", "couldNotVoid"})


class SignatureError(AuthError):
    """The delivery is not from Authorize.Net (or the signature key is not configured)."""


def _key_bytes(key: str, encoding: str) -> bytes:
    if encoding == "hex":
        try:
            return bytes.fromhex(key.strip())
        except ValueError:
            raise SignatureError("the signature key is not hex (CSPB_AUTHORIZENET_SIGNATURE_KEY_ENCODING=hex)") from None
    return key.strip().encode()


def sign(body: bytes, key: str, encoding: str = "text") -> str:
    """The header value Authorize.Net would send (tests and the sandbox)."""
    return "sha512=" + hmac.new(_key_bytes(key, encoding), body, hashlib.sha512).hexdigest().upper()


def verify(body: bytes, header: str | None, key: str, encoding: str = "text") -> dict[str, Any]:
    if not key:
        raise SignatureError("the Authorize.Net signature key is not configured (CSPB_AUTHORIZENET_SIGNATURE_KEY)")
    if not header or not header.lower().startswith("sha512="):
        raise SignatureError("missing or malformed X-ANET-Signature header")
    if not hmac.compare_digest(sign(body, key, encoding).lower(), header.strip().lower()):
        raise SignatureError("the X-ANET-Signature does not match the body")
    try:
        notification = json.loads(body)
    except ValueError:
        raise ValidationError("webhook body is not JSON") from None
    if not isinstance(notification, dict) or not notification.get("notificationId") or \
            not isinstance(notification.get("payload"), dict) or not notification.get("eventType"):
        raise ValidationError("webhook body is not an Authorize.Net notification "
                              "(needs notificationId, eventType and payload)")
    return notification


def apply_notification(notification: dict[str, Any], *, dv: DataverseClient, processor: AuthorizeNetProcessor) -> str:
    payload = notification["payload"]
    if payload.get("entityName") == "customerPaymentProfile" and payload.get("customerProfileId"):
        # A card saved on the hosted form (Accept Customer, or Accept Hosted with addPaymentProfile).
        from payments import card_entry

        return card_entry.from_payment_profile(str(payload["customerProfileId"]), dv=dv, processor=processor)
    if payload.get("entityName") != "transaction" or not payload.get("id"):
        return "ignored"
    trans_id = str(payload["id"])
    row = payments.by_processor_payment_id(dv, trans_id)
    answer = processor.call("getTransactionDetailsRequest", {"transId": trans_id})
    transaction = answer.get("transaction") or {}
    if row is None:
        # Taken on the hosted payment page (payments.hosted_payment): the attempt is known by the
        # invoiceNumber we sent, read from the transaction itself rather than the notification's body.
        from payments.hosted_payment import waiting_row

        number = str((transaction.get("order") or {}).get("invoiceNumber") or "")
        row = waiting_row(dv, number) if number else None
    if row is None or not row.invoice_id:
        return "unknown-payment"
    status = str(transaction.get("transactionStatus") or "")
    if status in SUCCEEDED_STATES:
        new = records.PAYMENT_SUCCEEDED
    elif status in FAILED_STATES:
        new = records.PAYMENT_FAILED
    elif status in PENDING_STATES:
        new = records.PAYMENT_PENDING
    else:
        return f"unknown transaction status {status!r}"
    if row.status == new:
        return f"unchanged ({status})"
    invoice = records.load_invoice(dv, row.invoice_id)
    records.write_payment(dv, invoice, row.key, amount=row.amount,
                          processor="authorizenet", status=new, processor_payment_id=trans_id,
                          error="" if new != records.PAYMENT_FAILED else f"Authorize.Net: transaction {status}",
                          paid_on=date.today() if new == records.PAYMENT_SUCCEEDED else None)
    records.refresh_payment_totals(dv, invoice, last_attempt_failed=new == records.PAYMENT_FAILED)
    return f"applied ({status})"


def handle(body: bytes, headers: dict[str, str], *, dv: DataverseClient | None = None, processor: AuthorizeNetProcessor | None = None,
           key: str | None = None, encoding: str | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) for the HTTP trigger: 401 when the signature fails, 400 for a malformed body,
    200 once stored in the inbox (a duplicate notificationId is answered 200 and changes nothing)."""
    from dataverse.client import client_or_default
    from shared.config import get_settings

    settings = get_settings()
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        notification = verify(body, lowered.get(HEADER),
                              key if key is not None else settings.authorizenet_signature_key.reveal(),
                              encoding or settings.authorizenet_signature_key_encoding)
    except SignatureError as exc:
        return 401, {"error": f"signature verification failed: {exc.message}"}
    except ValidationError as exc:
        return 400, {"error": exc.message}
    dv = client_or_default(dv)
    inbox_key = f"authorizenet:{notification['notificationId']}"
    delivery = inbox.ProcessorDelivery(f"authorizenet {notification.get('eventType', '')}", "authorizenet",
                                       str(notification.get("eventType", ""))[:100],
                                       body.decode("utf-8", "replace")[:100000], datetime.now(UTC))
    if not inbox.receive_processor_delivery(dv, inbox_key, delivery):
        return 200, {"status": "duplicate"}
    try:
        if processor is None:
            from payments.authorizenet import AuthorizeNetProcessor

            processor = AuthorizeNetProcessor.from_settings(settings)
        outcome = apply_notification(notification, dv=dv, processor=processor)
    except IntegrationError as exc:
        inbox.settle_processor_delivery(dv, inbox_key, str(exc)[:4000])
        if isinstance(exc, RetriableError):
            raise
        return 200, {"status": "failed", "error": exc.message}
    inbox.settle_processor_delivery(dv, inbox_key)
    return 200, {"status": outcome}
