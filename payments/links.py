"""Single-use, expiring, signed links that ask a customer to add a payment method.

The token is the claims signed with itsdangerous (shared.signing, purpose "cspbridge/payment-link"); claims
carry the contract number, an expiry and a random id. Redeeming marks the id as used in the blob store
(payment-links/used/<id>), so a link works once. The portal serves the page; it calls
`redeem(token, method_token)` with the token the processor's browser library produced.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.blobstore import BlobStore, blob_store_from_settings
from shared.config import Settings, get_settings
from shared.errors import AuthError, ConflictError, ValidationError
from shared.signing import BadSignature, serializer

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
USED_PREFIX = "payment-links/used/"
LINK_PURPOSE = "cspbridge/payment-link"


@dataclass(frozen=True)
class LinkClaims:
    contract_number: str
    expires_at: int
    link_id: str


def _secret(settings: Settings) -> bytes:
    value = settings.portal_session_secret.reveal()
    if not value and settings.mode == "sandbox":
        value = "sandbox-payment-link-secret"
    if not value:
        raise AuthError("CSPB_PORTAL_SESSION_SECRET is required to sign payment links")
    # A derived key, so a leaked link never helps forge portal sessions.
    return hmac.new(value.encode(), b"cspbridge/payment-link", hashlib.sha256).digest()


def _contract_number(contract: Any) -> str:
    number = contract if isinstance(contract, str) else getattr(contract, "number", "")
    if not number:
        raise ValidationError("a payment link needs the contract number")
    return number


def create_token(contract: Any, *, ttl_seconds: int = DEFAULT_TTL_SECONDS, now: float | None = None,
                 settings: Settings | None = None) -> str:
    s = settings or get_settings()
    claims = {"c": _contract_number(contract), "exp": int((time.time() if now is None else now) + ttl_seconds),
              "id": secrets.token_urlsafe(12)}
    return str(serializer(_secret(s), LINK_PURPOSE).dumps(claims))


def create_payment_link(contract: Any, *, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                        settings: Settings | None = None) -> str:
    """URL of the portal page that collects a payment method for `contract` (model or number)."""
    s = settings or get_settings()
    return f"{s.portal_base_url.rstrip('/')}/pay/{create_token(contract, ttl_seconds=ttl_seconds, settings=s)}"


def invoice_page_url(invoice_id: str, *, payment_key: str = "", settings: Settings | None = None) -> str:
    """The invoice's page in the portal: where a customer comes back to after confirming a payment with
    their bank, `?payment=<our key>` naming the attempt so the page can show its outcome."""
    s = settings or get_settings()
    url = f"{s.portal_base_url.rstrip('/')}/invoices/{quote(invoice_id, safe='')}"
    return f"{url}?payment={quote(payment_key, safe='')}" if payment_key else url


def verify_token(token: str, *, now: float | None = None, settings: Settings | None = None) -> LinkClaims:
    s = settings or get_settings()
    body, _, signature = (token or "").partition(".")
    if not body or not signature:
        raise ValidationError("malformed payment link")
    try:
        claims = serializer(_secret(s), LINK_PURPOSE).loads(token)
    except BadSignature:
        raise AuthError("payment link signature is not valid") from None
    if not isinstance(claims, dict) or not {"c", "exp", "id"} <= set(claims):
        raise ValidationError("malformed payment link")
    if (time.time() if now is None else now) > claims["exp"]:
        raise AuthError("payment link has expired")
    return LinkClaims(claims["c"], claims["exp"], claims["id"])


def consume(claims: LinkClaims, store: BlobStore | None = None) -> None:
    """Mark the link used; a second redemption is refused."""
    store = store or blob_store_from_settings()
    path = f"{USED_PREFIX}{claims.link_id}"
    if store.exists(path):
        raise ConflictError("this payment link was already used")
    store.put(path, json.dumps({"contract": claims.contract_number, "at": int(time.time())}).encode(),
              content_type="application/json")
