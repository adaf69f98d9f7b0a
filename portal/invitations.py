"""Single-use invitation links: how a contact in Dynamics becomes a person who can sign in.

`invite(repo, contact_id, base_url)` stores sha256(token) and an expiry on the contact and returns the
link. Opening it remembers the token hash in the session and starts the Entra sign-in; the first
sign-in through it binds the token's tenant id + object id to the contact and uses the link up
(PortalRepository.bind_invitation). Later sign-ins match on both ids (portal/auth.py)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from portal.repository import PortalRepository
from shared.errors import ValidationError

DEFAULT_DAYS = 7


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(repo: PortalRepository, contact_id: str, base_url: str, *, days: int = DEFAULT_DAYS,
           now: datetime | None = None) -> str:
    """A new link for the contact (an older, unused one stops working)."""
    if repo.get_contact(contact_id) is None:
        raise ValidationError(f"no portal contact {contact_id!r} (a contact needs a portal role and an account)")
    if days <= 0:
        raise ValidationError("an invitation must be valid for at least one day")
    token = secrets.token_urlsafe(32)
    repo.set_invitation(contact_id, token_hash(token), (now or datetime.now(UTC)) + timedelta(days=days))
    return f"{base_url.rstrip('/')}/invite/{token}"
