"""Who is signed in, and how they sign in.

Production: Microsoft Entra ID, OpenID Connect authorization code flow with PKCE through msal
(`initiate_auth_code_flow` / `acquire_token_by_auth_code_flow`; see
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow). The contact is
found by the token's `oid` claim in contact.cspb_portalsubject. Users from the partner's own
tenant (`tid` == settings.tenant_id) are partner staff: they may open the assessment page only.

Locally: a sandbox sign-in page lists the seeded portal contacts to pick from.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    "guides": frozenset({PortalRole.ADMINISTRATOR}),
}

PARTNER_ACCOUNT = "__partner__"


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
    interactive_picker = False
    AUTHORITY = "https://login.microsoftonline.com/organizations"

    def __init__(self, settings: Settings, msal_app: Any | None = None) -> None:
        self._settings = settings
        self._app = msal_app

    def _client(self) -> Any:
        if self._app is None:
            import msal

            # Customers sign in from their own tenants, so the authority is multi-tenant.
            self._app = msal.ConfidentialClientApplication(
                self._settings.portal_client_id,
                client_credential=self._settings.portal_client_secret.reveal(),
                authority=self.AUTHORITY,
            )
        return self._app

    def start(self, session: Session, redirect_uri: str) -> str:
        flow = self._client().initiate_auth_code_flow(scopes=[], redirect_uri=redirect_uri)
        session["flow"] = {k: v for k, v in flow.items() if k != "auth_uri"}
        return str(flow["auth_uri"])

    def finish(self, session: Session, query: dict[str, str], repo: PortalRepository) -> PortalUser:
        flow = session.pop("flow", None)
        if not flow:
            raise AuthError("sign-in expired; start again")
        result = self._client().acquire_token_by_auth_code_flow(flow, query)
        if "error" in result:
            raise AuthError(f"sign-in failed: {result.get('error')}")
        claims = result.get("id_token_claims") or {}
        oid, tid = str(claims.get("oid", "")), str(claims.get("tid", ""))
        if tid and tid == self._settings.tenant_id:
            return partner_user(str(claims.get("name", "Partner staff")), str(claims.get("preferred_username", "")))
        contact = repo.find_contact_by_subject(oid)
        if contact is None:
            raise AuthError("this account has no portal access; ask your administrator for an invitation")
        return user_from_contact(contact)


def sign_in_for(settings: Settings) -> SignIn:
    if settings.mode == "sandbox":
        return SandboxSignIn()
    return EntraSignIn(settings)
