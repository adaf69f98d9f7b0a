"""The one home of the sandboxes' default 127.0.0.1 ports (`cspbridge sandbox`, `cspbridge portal`).

Pure data with no imports: sandbox/registry.py starts the servers on these ports and, in sandbox
mode, shared/config.py points the app's URLs at them. README.md and local.settings.sample.json spell
the same URLs out for people; tests/unit/test_sandbox_ports.py keeps them equal to this table.
Tests start every sandbox on port 0 instead.
"""

from __future__ import annotations

PORTS: dict[str, int] = {
    "dataverse": 7101,
    "partnercenter": 7102,
    "pax8": 7103,
    "stripe": 7104,
    "authorizenet": 7105,
    "quickbooks": 7106,
    "businesscentral": 7107,
    "mail": 7108,
    "entra": 7109,
    "tdsynnex": 7110,
    # Not a sandbox: the port `cspbridge portal` serves the customer portal on.
    "portal": 7111,
}

# The app setting (a shared.config.Settings field) -> (sandbox, path) it points at in sandbox mode.
SETTING_TARGETS: dict[str, tuple[str, str]] = {
    "dataverse_url": ("dataverse", ""),
    "partner_center_url": ("partnercenter", ""),
    "partner_api_url": ("partnercenter", ""),  # one sandbox serves both Partner Center hosts
    "graph_url": ("partnercenter", ""),
    "pax8_url": ("pax8", ""),
    "tdsynnex_url": ("tdsynnex", ""),
    "stripe_api_base": ("stripe", ""),
    "authorizenet_url": ("authorizenet", "/xml/v1/request.api"),
    "quickbooks_url": ("quickbooks", ""),
    "business_central_url": ("businesscentral", ""),
}


def url(name: str, path: str = "", host: str = "127.0.0.1") -> str:
    return f"http://{host}:{PORTS[name]}{path}"


def setting_urls() -> dict[str, str]:
    """Settings field -> its sandbox-mode URL."""
    return {setting: url(name, path) for setting, (name, path) in SETTING_TARGETS.items()}
