"""Security roles shipped with the solution, on the custom tables only (Roles/<name>.xml in the
SolutionPackager layout). Standard tables keep the platform roles (Salesperson, Sales Manager):
admins give a user one of these plus the platform role that fits.

Custom tables are organization-owned, so their privileges exist at Global depth only and have no
Assign/Share. Privilege names are prv<Verb><table logical name>.
https://learn.microsoft.com/power-platform/admin/security-roles-privileges
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from solution.entity_xml import to_bytes, with_xsi
from solution.ids import stable_id
from solution.spec import TABLES

ALL_VERBS = ("Create", "Read", "Write", "Delete", "Append", "AppendTo")
READ = ("Read", "AppendTo")
EDIT = ("Create", "Read", "Write", "Append", "AppendTo")


@dataclass(frozen=True)
class Role:
    name: str
    grants: dict[str, tuple[str, ...]]  # table logical name -> verbs

    @property
    def id(self) -> str:
        return stable_id(f"role:{self.name}")


_CUSTOM = tuple(t.logical_name for t in TABLES)

ROLES: tuple[Role, ...] = (
    # The Function App's application user: it syncs and writes every custom table.
    Role("CSPBridge Integration", {t: ALL_VERBS for t in _CUSTOM}),
    # Billing admins run invoices, usage, recon, payments and review price changes; history is never deleted.
    Role("CSPBridge Billing Admin", {t: EDIT for t in _CUSTOM}),
    # Sales reps change seats and terms on a customer's subscriptions and read the rest.
    Role("CSPBridge Sales Rep", {
        **{t: READ for t in _CUSTOM},
        "cspb_subscription": EDIT,
        "cspb_licensechangelog": EDIT,
        "cspb_agreement": EDIT,
        # The form commands (preview, retry, attest) write a request row the Function App answers.
        "cspb_actionrequest": EDIT,
    }),
)


def role_xml(role: Role) -> ET.Element:
    root = with_xsi(ET.Element("Role", id="{" + role.id + "}", name=role.name))
    privileges = ET.SubElement(root, "RolePrivileges")
    for table, verbs in role.grants.items():
        for verb in verbs:
            ET.SubElement(privileges, "RolePrivilege", name=f"prv{verb}{table}", level="Global")
    return root


def render() -> dict[str, bytes]:
    return {f"Roles/{role.name}.xml": to_bytes(role_xml(role)) for role in ROLES}
