"""base64url without padding and HMAC-SHA256 signatures, for the tokens handed out signed (not
encrypted): portal session cookies (portal/sessions.py) and payment links (payments/links.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Inverse of b64url; raises ValueError (binascii.Error) on text that is not base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, body: str) -> str:
    """base64url HMAC-SHA256 of `body`; compare with hmac.compare_digest, never ==."""
    return b64url(hmac.new(key, body.encode(), hashlib.sha256).digest())
