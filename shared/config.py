"""Typed settings, read from the environment (Function App settings) on first use, never at import.

Every setting is listed in local.settings.sample.json. Secret values are wrapped in `Secret`
so that printing or logging a Settings object never reveals them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any


class Secret:
    """A string that does not show itself in repr/str/logs. Call `.reveal()` at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    # "sandbox" talks to the loopback sandboxes with static tokens; "azure" uses azure-identity/msal.
    mode: str = "sandbox"
    tenant_id: str = ""
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    use_managed_identity: bool = False

    dataverse_url: str = "http://127.0.0.1:7101"
    partner_center_url: str = "https://api.partnercenter.microsoft.com"
    # The new-commerce price sheet (and FX rates) live on another host than the REST v1 API:
    # https://learn.microsoft.com/partner-center/developer/get-a-price-sheet
    partner_api_url: str = "https://api.partner.microsoft.com"
    graph_url: str = "https://graph.microsoft.com"
    pax8_url: str = "https://api.pax8.com"
    pax8_client_id: str = ""
    pax8_client_secret: Secret = field(default_factory=lambda: Secret(""))
    stripe_api_base: str = "https://api.stripe.com"
    stripe_api_key: Secret = field(default_factory=lambda: Secret(""))
    stripe_webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    authorizenet_url: str = "https://api.authorize.net/xml/v1/request.api"
    authorizenet_login_id: str = ""
    authorizenet_transaction_key: Secret = field(default_factory=lambda: Secret(""))
    quickbooks_url: str = "https://quickbooks.api.intuit.com"
    quickbooks_realm_id: str = ""
    quickbooks_token: Secret = field(default_factory=lambda: Secret(""))
    business_central_url: str = "https://api.businesscentral.dynamics.com"
    business_central_company_id: str = ""
    accounting_target: str = "quickbooks"  # quickbooks | businesscentral | none

    webhook_key: Secret = field(default_factory=lambda: Secret(""))
    # Dataverse webhooks registered with "HttpHeader" auth send the key in this header (x-functions-key also works).
    webhook_key_header: str = "x-cspb-webhook-key"
    storage_connection_string: Secret = field(default_factory=lambda: Secret(""))
    blob_container: str = "cspbridge"
    local_blob_root: str = "var/blobs"
    queue_backend: str = "local"  # local | azurite | servicebus
    servicebus_namespace: str = ""
    servicebus_connection_string: Secret = field(default_factory=lambda: Secret(""))
    pc_refresh_token_secret_name: str = "pc-refresh-token"
    key_vault_url: str = ""
    portal_base_url: str = "http://127.0.0.1:7071/portal"
    portal_session_secret: Secret = field(default_factory=lambda: Secret(""))
    portal_client_id: str = ""
    portal_client_secret: Secret = field(default_factory=lambda: Secret(""))
    refund_policy: str = "refund"  # global default: refund | no_refund
    http_max_attempts: int = 6
    http_backoff_cap_seconds: float = 30.0
    http_timeout_seconds: float = 60.0
    log_level: str = "INFO"
    # Largest difference (in the invoice's currency) between a Microsoft invoice total and the sum of
    # its recon lines that is still rounding, not a finding.
    recon_invoice_tolerance: str = "0.05"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "CSPB_" + f.name.upper()
            if key not in source:
                continue
            raw = source[key]
            if f.type in ("Secret", Secret):
                values[f.name] = Secret(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        if values.get("mode", cls.mode) == "sandbox":
            # One Partner Center sandbox answers both Partner Center hosts, so pointing
            # CSPB_PARTNER_CENTER_URL at it is enough unless the sales host is set on its own.
            if "partner_center_url" in values:
                values.setdefault("partner_api_url", values["partner_center_url"])
            # Local runs talk to `cspbridge sandbox` on its default ports unless told otherwise.
            for name, url in SANDBOX_URLS.items():
                values.setdefault(name, url)
        return cls(**values)

    def secret_values(self) -> list[str]:
        return [getattr(self, f.name).reveal() for f in fields(self) if isinstance(getattr(self, f.name), Secret)]


SANDBOX_URLS: dict[str, str] = {
    "dataverse_url": "http://127.0.0.1:7101",
    "partner_center_url": "http://127.0.0.1:7102",
    "partner_api_url": "http://127.0.0.1:7102",
    "graph_url": "http://127.0.0.1:7102",
    "pax8_url": "http://127.0.0.1:7103",
    "stripe_api_base": "http://127.0.0.1:7104",
    "authorizenet_url": "http://127.0.0.1:7105/xml/v1/request.api",
    "quickbooks_url": "http://127.0.0.1:7106",
    "business_central_url": "http://127.0.0.1:7107",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    from shared.settings_check import require

    require("core")  # one message naming every missing or malformed setting, before anything uses them
    settings = Settings.from_env()
    from shared.logging import register_secrets

    register_secrets(settings.secret_values())
    return settings


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
