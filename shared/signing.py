"""Signed (not encrypted) tokens, through itsdangerous: portal session cookies (portal/sessions.py) and
payment links (payments/links.py). One audited library instead of hand-written HMAC; each use has its own
salt, so a token minted for one purpose never verifies as another."""

from __future__ import annotations

import base64
import hashlib

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = ["BadSignature", "b64url", "serializer", "unb64url"]


def serializer(key: bytes | str, purpose: str) -> URLSafeSerializer:
    """HMAC-SHA256 signed, URL-safe JSON; `purpose` is the salt."""
    return URLSafeSerializer(key, salt=purpose, signer_kwargs={"digest_method": hashlib.sha256})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Inverse of b64url; raises ValueError (binascii.Error) on text that is not base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
