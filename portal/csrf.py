"""Synchronizer-token CSRF protection: one random token per session, echoed in every form.

Every unsafe request (POST) must carry the session's token in the `csrf_token` field; SameSite=Lax
cookies alone would still let a same-site subdomain post forms."""

from __future__ import annotations

import hmac
import secrets

from portal.sessions import Session

FIELD = "csrf_token"
_SESSION_KEY = "csrf"


def token_for(session: Session) -> str:
    token = session.get(_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[_SESSION_KEY] = token
    return str(token)


def is_valid(session: Session, submitted: str | None) -> bool:
    expected = session.get(_SESSION_KEY)
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


def rotate(session: Session) -> None:
    """New token on sign-in, so a token seen before sign-in is worthless after it."""
    session[_SESSION_KEY] = secrets.token_urlsafe(32)
