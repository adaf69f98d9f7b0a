"""In-portal training for the customer's administrators (the partner-side guides for sales reps,
billing admins and tenant admins are the solution's web resources, solution/src/WebResources/*/guides/).

Each guide is an HTML fragment per language: portal/templates/guides/<name>.<lang>.html."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dataverse.tables import PortalRole
from portal.i18n import DEFAULT_LANGUAGE

_DIR = Path(__file__).parent / "templates" / "guides"

# name -> catalog key of its title, in reading order
PORTAL_GUIDES: dict[str, str] = {
    "getting-started": "guide.getting_started",
    "seats": "guide.seats",
    "billing": "guide.billing",
}
# Which portal roles each guide is for: a role sees the guides for what it can do.
GUIDE_ROLES: dict[str, frozenset[PortalRole]] = {
    "getting-started": frozenset(PortalRole),
    "seats": frozenset({PortalRole.ADMINISTRATOR, PortalRole.SUBSCRIPTION_MANAGER}),
    "billing": frozenset({PortalRole.ADMINISTRATOR, PortalRole.FINANCE_MANAGER}),
}


@dataclass(frozen=True)
class Guide:
    name: str
    title_key: str
    html: str


def portal_guide(name: str, language: str, role: PortalRole | None = None) -> Guide | None:
    """The guide in `language`; None when it does not exist or is not for `role` (None = any role)."""
    if name not in PORTAL_GUIDES or (role is not None and role not in GUIDE_ROLES[name]):
        return None
    path = _DIR / f"{name}.{language}.html"
    if not path.is_file():
        path = _DIR / f"{name}.{DEFAULT_LANGUAGE}.html"
    return Guide(name, PORTAL_GUIDES[name], path.read_text(encoding="utf-8"))


def portal_guides(language: str, role: PortalRole | None = None) -> list[Guide]:
    return [g for g in (portal_guide(n, language, role) for n in PORTAL_GUIDES) if g is not None]
