"""Who the app is in Dataverse: WhoAmI and the application user's security roles (for `cspbridge doctor`).
Platform tables, not the solution's: systemuser and its N:N systemuserroles_association to role.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/whoami"""

from __future__ import annotations

from dataverse.client import DataverseClient

SYSTEM_USERS = "systemusers"
USER_ROLES = "systemuserroles_association"


def whoami(client: DataverseClient) -> str:
    """The calling user's systemuserid."""
    return str(client.http.get_json("/WhoAmI")["UserId"])


def security_roles(client: DataverseClient, user_id: str) -> list[str]:
    body = client.http.get_json(f"/{SYSTEM_USERS}({user_id})",
                                params={"$select": "fullname", "$expand": f"{USER_ROLES}($select=name)"})
    return sorted(str(r.get("name", "")) for r in body.get(USER_ROLES) or [])
