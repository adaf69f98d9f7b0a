"""Stripe webhook signature check (https://docs.stripe.com/webhooks#verify-manually).

Header `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`; the signed payload is
"<t>.<raw body>" and v1 is HMAC-SHA256 of it with the endpoint secret. Several v1 entries may be
present while a secret is being rolled; any match is enough. The timestamp must be within the
tolerance window (default 300 s) to block replays of an old delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from shared.errors import AuthError, ValidationError

DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(AuthError):
    """The delivery is not from Stripe (or is too old)."""


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Build a Stripe-Signature header value (for tests and the demo)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(payload: bytes, header: str | None, secret: str, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS,
           now: float | None = None) -> dict[str, Any]:
    """Return the event object, or raise SignatureError (bad/old signature) / ValidationError (not JSON)."""
    if not secret:
        raise SignatureError("webhook secret is not configured")
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed Stripe-Signature timestamp") from None
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("Stripe-Signature has no timestamp or no v1 signature")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError("no signature matches the payload")
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        raise SignatureError("signature timestamp is outside the tolerance window")
    try:
        event = json.loads(payload)
    except ValueError:
        raise ValidationError("webhook body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not event.get("type"):
        raise ValidationError("webhook body is not a Stripe event")
    return event
