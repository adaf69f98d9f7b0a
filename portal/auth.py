"""Who is signed in, and how they sign in.

Production: Microsoft Entra ID, OpenID Connect authorization code flow with PKCE through msal
(`initiate_auth_code_flow` / `acquire_token_by_auth_code_flow`; see
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow). The contact is
found by the token's `tid` + `oid` claims (the contact's portal tenant id + portal subject), bound on
the first sign-in through a single-use invitation link (portal/invitations.py). Users from the partner's own
tenant (`tid` == settings.tenant_id) are partner staff: they may open the assessment page only.

Locally: a sandbox sign-in page lists the seeded portal contacts to pick from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from portal.models import Contact, PortalRole, PortalUser
from portal.repository import PortalRepository
from portal.sessions import Session
from shared.config import Settings
from shared.errors import AuthError

# What each role may do. Administrators may do everything; partner staff only see the assessment.
PERMISSIONS: dict[str, frozenset[PortalRole]] = {
    "subscriptions": frozenset({PortalRole.ADMINISTRATOR, PortalRole.SUBSCRIPTION_MANAGER}),
    "change_seats": frozenset({PortalRole.ADMINISTRATOR, PortalRole.SUBSCRIPTION_MANAGER}),
    "buy": frozenset({PortalRole.ADMINISTRATOR, PortalRole.SUBSCRIPTION_MANAGER}),
    "invoices": frozenset({PortalRole.ADMINISTRATOR, PortalRole.FINANCE_MANAGER}),
    "payment_methods": frozenset({PortalRole.ADMINISTRATOR, PortalRole.FINANCE_MANAGER}),
    "mca": frozenset({PortalRole.ADMINISTRATOR}),
    # Every customer role has guides; portal.guides picks the ones for the role.
    "guides": frozenset({PortalRole.ADMINISTRATOR, PortalRole.SUBSCRIPTION_MANAGER, PortalRole.FINANCE_MANAGER}),
}

PARTNER_ACCOUNT = "__partner__"
FLOW_MAX_AGE_SECONDS = 15 * 60  # Entra's authorization codes live about 10 minutes


def can(user: PortalUser | None, permission: str) -> bool:
    if user is None:
        return False
    if permission == "assessment" or user.account_id == PARTNER_ACCOUNT:
        return permission == "assessment" and user.account_id == PARTNER_ACCOUNT
    return user.role in PERMISSIONS.get(permission, frozenset())


def user_from_contact(contact: Contact) -> PortalUser:
    return PortalUser(contact_id=contact.id, account_id=contact.account_id, name=contact.display_name,
                      role=contact.role, email=contact.email)


def partner_user(name: str, email: str = "") -> PortalUser:
    # Partner staff hold no customer role; an impossible account id keeps every customer query empty.
    return PortalUser(contact_id="", account_id=PARTNER_ACCOUNT, name=name, role=PortalRole.ADMINISTRATOR,
                      email=email)


def store_user(session: Session, user: PortalUser) -> None:
    session["user"] = {"contact_id": user.contact_id, "account_id": user.account_id, "name": user.name,
                       "role": int(user.role), "email": user.email}


def load_user(session: Session) -> PortalUser | None:
    raw = session.get("user")
    if not isinstance(raw, dict):
        return None
    try:
        return PortalUser(contact_id=str(raw["contact_id"]), account_id=str(raw["account_id"]),
                          name=str(raw["name"]), role=PortalRole(int(raw["role"])), email=str(raw.get("email", "")))
    except (KeyError, ValueError):
        return None


class SignIn(Protocol):
    interactive_picker: bool

    def start(self, session: Session, redirect_uri: str) -> str: ...
    def finish(self, session: Session, query: dict[str, str], repo: PortalRepository) -> PortalUser: ...


class SandboxSignIn:
    """Pick a seeded contact. Only for mode=sandbox: it trusts whoever uses it."""

    interactive_picker = True

    def choices(self, repo: PortalRepository) -> Iterable[Contact]:
        return repo.list_signin_contacts()

    def start(self, session: Session, redirect_uri: str) -> str:
        return redirect_uri

    def finish(self, session: Session, query: dict[str, str], repo: PortalRepository) -> PortalUser:
        picked = query.get("contact_id", "")
        if picked == PARTNER_ACCOUNT:
            return partner_user("Partner staff")
        contact = repo.get_contact(picked)
        if contact is None or contact not in list(repo.list_signin_contacts()):
            raise AuthError("unknown contact")
        return user_from_contact(contact)


class EntraSignIn:
    """OpenID Connect auth code flow with PKCE through msal. A contact is matched on both the token's
    tenant id (`tid`) and object id (`oid`); the first sign-in through an invitation link binds them."""

    interactive_picker = False

    def __init__(self, settings: Settings, msal_app: Any | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._settings = settings
        self._app = msal_app
        self._clock = clock

    def _client(self) -> Any:
        if self._app is None:
            import msal

            from shared.auth import msal_options

            # Customers sign in from their own tenants, so the authority is multi-tenant.
            self._app = msal.ConfidentialClientApplication(
                self._settings.portal_client_id,
                client_credential=self._settings.portal_client_secret.reveal(),
                authority=self._settings.login_url.rstrip("/") + "/organizations",
                **msal_options(self._settings),
            )
        return self._app

    def start(self, session: Session, redirect_uri: str) -> str:
        flow = self._client().initiate_auth_code_flow(scopes=[], redirect_uri=redirect_uri)
        session["flow"] = {k: v for k, v in flow.items() if k != "auth_uri"}
        session["flow_started"] = self._clock().timestamp()
        return str(flow["auth_uri"])

    def finish(self, session: Session, query: dict[str, str], repo: PortalRepository) -> PortalUser:
        flow = session.pop("flow", None)
        started = float(session.pop("flow_started", 0) or 0)
        invite = session.pop("invite", None)
        if query.get("error"):
            # Entra sends the user back with error=access_denied when they decline the consent prompt.
            if query["error"] in ("access_denied", "consent_required", "interaction_required"):
                raise AuthError("you declined the permissions the portal asks for; sign in again and accept them")
            raise AuthError(f"Microsoft sign-in answered {query['error'][:60]}")
        if not flow or self._clock().timestamp() - started > FLOW_MAX_AGE_SECONDS:
            # A sign-in not finished within the auth code's own lifetime is not finished at all.
            raise AuthError("the sign-in expired or was started in another browser; please sign in again")
        try:
            result = self._client().acquire_token_by_auth_code_flow(flow, query)
        except ValueError:
            # msal raises on a state that is missing or not the one this browser started with.
            raise AuthError("the sign-in answer did not match this browser's sign-in; please sign in again") from None
        if "error" in result:
            raise AuthError(f"sign-in failed: {str(result.get('error'))[:60]}")
        claims = result.get("id_token_claims") or {}
        oid, tid = str(claims.get("oid", "")), str(claims.get("tid", ""))
        if not oid or not tid:
            raise AuthError("the sign-in token names no tenant or user")
        if tid == self._settings.tenant_id:
            return partner_user(str(claims.get("name", "Partner staff")), str(claims.get("preferred_username", "")))
        if invite:
            contact = repo.bind_invitation(str(invite), tid, oid, self._clock())
            if contact is None:
                raise AuthError("this invitation link was already used or has expired; ask your administrator "
                                "for a new one")
            return user_from_contact(contact)
        contact = repo.find_contact_by_identity(tid, oid)
        if contact is None:
            raise AuthError("this account has no portal access; ask your administrator for an invitation")
        return user_from_contact(contact)


def sign_in_for(settings: Settings) -> SignIn:
    """Entra ID in Azure. In sandbox mode, the Entra stand-in once a portal app is registered with it
    (the demo does), else the contact picker, which trusts whoever uses it and never runs in Azure."""
    if settings.mode == "sandbox" and not settings.portal_client_id:
        return SandboxSignIn()
    return EntraSignIn(settings)
