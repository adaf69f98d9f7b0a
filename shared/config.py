"""Typed settings, read from the environment (Function App settings) on first use, never at import.

Every setting is listed in local.settings.sample.json. Secret values are wrapped in `Secret`
so that printing or logging a Settings object never reveals them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from shared.errors import FatalError


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
    # There is no default: from_env refuses to guess (see check_mode).
    mode: str = ""
    # The app's own identity, for Dataverse and the Azure resources (Storage, Service Bus, Key Vault):
    # the managed identity (CSPB_USE_MANAGED_IDENTITY, CSPB_CLIENT_ID = its client id when user-assigned),
    # an app registration with CSPB_CLIENT_SECRET, or else whatever DefaultAzureCredential finds.
    tenant_id: str = ""
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    use_managed_identity: bool = False
    # Entra ID's sign-in host (a sovereign cloud, or the Entra stand-in in tests).
    login_url: str = "https://login.microsoftonline.com"
    # An extra CA bundle to trust (the local stand-ins' CA); empty = the system's.
    ca_bundle: str = ""
    # The Partner Center app registration (secure application model), apart from the managed identity:
    # multi-tenant web app in the partner tenant; a secret or a certificate (PEM with key, or PFX).
    pc_client_id: str = ""
    pc_client_secret: Secret = field(default_factory=lambda: Secret(""))
    pc_client_certificate_path: str = ""
    pc_tenant_id: str = ""  # the partner tenant; CSPB_TENANT_ID when empty

    dataverse_url: str = ""  # in sandbox mode: the Dataverse sandbox (sandbox/ports.py)
    partner_center_url: str = "https://api.partnercenter.microsoft.com"
    # The new-commerce price sheet (and FX rates) live on another host than the REST v1 API:
    # https://learn.microsoft.com/partner-center/developer/get-a-price-sheet
    partner_api_url: str = "https://api.partner.microsoft.com"
    graph_url: str = "https://graph.microsoft.com"
    pax8_url: str = "https://api.pax8.com"
    pax8_client_id: str = ""
    pax8_client_secret: Secret = field(default_factory=lambda: Secret(""))
    # TD SYNNEX StreamOne Ion v3: the reseller's ION account number; the refresh token rotates on
    # every use, so it lives in the secret store under tdsynnex_refresh_token_secret_name and
    # tdsynnex_refresh_token seeds it (the value minted in the portal).
    tdsynnex_url: str = "https://ion.tdsynnex.com"
    tdsynnex_account_id: str = ""
    tdsynnex_refresh_token: Secret = field(default_factory=lambda: Secret(""))
    tdsynnex_refresh_token_secret_name: str = "cspb-tdsynnex-refresh-token"
    # How to cancel a subscription through the API is not documented: "" = a cancellation ends at
    # Manual Action Required with the steps; "name=value" = send that UPDATE attribute (unverified).
    tdsynnex_cancel_attribute: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    stripe_api_key: Secret = field(default_factory=lambda: Secret(""))
    stripe_webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    authorizenet_url: str = "https://api.authorize.net/xml/v1/request.api"
    authorizenet_login_id: str = ""
    authorizenet_transaction_key: Secret = field(default_factory=lambda: Secret(""))
    # Webhook HMAC key; "text" keys the HMAC with the key as typed (the vendor sample app), "hex" hex-decodes it.
    authorizenet_signature_key: Secret = field(default_factory=lambda: Secret(""))
    authorizenet_signature_key_encoding: str = "text"
    # The currency of the Authorize.Net merchant account: a charge in any other currency is refused.
    authorizenet_currency: str = "USD"
    # How long an Accept Hosted attempt waits for the customer before it expires (nothing taken): the page
    # token's lifetime, 15 minutes after it is issued (verified: developer.authorize.net/api/reference/
    # features/accept_hosted.html). A transaction the customer still makes after that is recorded anyway.
    authorizenet_page_minutes: float = 15.0
    quickbooks_url: str = "https://quickbooks.api.intuit.com"
    quickbooks_realm_id: str = ""
    # OAuth 2.0 (Intuit): the app's client id/secret; the refresh token lives in the secret store
    # (Key Vault) under quickbooks_refresh_token_secret_name and is rotated there on every refresh.
    # quickbooks_refresh_token seeds the store once (the value from Intuit's consent).
    quickbooks_client_id: str = ""
    quickbooks_client_secret: Secret = field(default_factory=lambda: Secret(""))
    quickbooks_refresh_token: Secret = field(default_factory=lambda: Secret(""))
    quickbooks_refresh_token_secret_name: str = "cspb-quickbooks-refresh-token"
    quickbooks_token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    # Intuit's limits per realm and app: 10 concurrent requests, 500 per minute.
    quickbooks_max_concurrent: int = 10
    quickbooks_requests_per_minute: int = 500
    business_central_url: str = "https://api.businesscentral.dynamics.com"
    business_central_company_id: str = ""
    accounting_target: str = "quickbooks"  # quickbooks | businesscentral | none

    webhook_key: Secret = field(default_factory=lambda: Secret(""))
    # Dataverse webhooks registered with "HttpHeader" auth send the key in this header (x-functions-key also works).
    webhook_key_header: str = "x-cspb-webhook-key"
    storage_connection_string: Secret = field(default_factory=lambda: Secret(""))
    # Identity-based Storage (the Functions host's documented `<prefix>__serviceUri` form):
    storage_blob_service_uri: str = field(default="", metadata={"env": "CSPB_STORAGE__blobServiceUri"})
    storage_queue_service_uri: str = field(default="", metadata={"env": "CSPB_STORAGE__queueServiceUri"})
    storage_service_uri: str = field(default="", metadata={"env": "CSPB_STORAGE__serviceUri"})  # blob only
    storage_account_name: str = field(default="", metadata={"env": "CSPB_STORAGE__accountName"})
    # A user-assigned managed identity for a connection, as the Functions host reads it
    # (`<prefix>__credential=managedidentity`, `<prefix>__clientId`); otherwise the app's own identity.
    storage_credential: str = field(default="", metadata={"env": "CSPB_STORAGE__credential"})
    storage_client_id: str = field(default="", metadata={"env": "CSPB_STORAGE__clientId"})
    blob_container: str = "cspbridge"
    local_blob_root: str = "var/blobs"
    queue_backend: str = "local"  # local | azurite | servicebus
    # The Service Bus triggers' connection is "CSPB_SERVICEBUS": a connection string in CSPB_SERVICEBUS,
    # or identity-based with CSPB_SERVICEBUS__fullyQualifiedNamespace. The product's own sender reads the
    # same two settings, so trigger and sender can never point at different namespaces.
    servicebus: Secret = field(default_factory=lambda: Secret(""), metadata={"env": "CSPB_SERVICEBUS"})
    servicebus_fully_qualified_namespace: str = field(
        default="", metadata={"env": "CSPB_SERVICEBUS__fullyQualifiedNamespace"})
    servicebus_credential: str = field(default="", metadata={"env": "CSPB_SERVICEBUS__credential"})
    servicebus_client_id: str = field(default="", metadata={"env": "CSPB_SERVICEBUS__clientId"})
    # The client's custom_endpoint_address (an application gateway, or the local stand-in); empty = the namespace.
    servicebus_endpoint: str = ""
    servicebus_namespace: str = ""  # older name for the namespace, still read
    servicebus_connection_string: Secret = field(default_factory=lambda: Secret(""))  # older name, still read
    pc_refresh_token_secret_name: str = "pc-refresh-token"
    key_vault_url: str = ""
    portal_base_url: str = "http://127.0.0.1:7071/portal"
    portal_session_secret: Secret = field(default_factory=lambda: Secret(""))
    portal_client_id: str = ""
    portal_client_secret: Secret = field(default_factory=lambda: Secret(""))
    # Outgoing mail (shared/mail.py): outbox (kept in Blob Storage) | smtp | graph (Graph sendMail, Mail.Send).
    mail_backend: str = "outbox"
    mail_from: str = ""
    mail_from_name: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    smtp_starttls: bool = False
    refund_policy: str = "refund"  # global default: refund | no_refund
    # The seller on every invoice document: legal name, address (lines separated by "|") and tax id.
    seller_name: str = ""
    seller_address: str = ""
    seller_tax_id: str = ""
    # A Unicode TrueType font for invoice PDFs (empty = Debian's fonts-dejavu-core DejaVu Sans).
    invoice_font: str = ""
    http_max_attempts: int = 6
    # Provider accounts per subscription sync queue message: one Dataverse read and ~3 writes per
    # message, so larger batches mean fewer requests; 50 tenants keep a message well inside 5 minutes.
    subscription_sync_batch: int = 50
    # Billing contracts per invoice-run queue message (functions/billing_worker.py).
    billing_batch: int = 100
    http_backoff_cap_seconds: float = 30.0
    http_timeout_seconds: float = 60.0
    log_level: str = "INFO"
    # Largest difference (in the invoice's currency) between a Microsoft invoice total and the sum of
    # its recon lines that is still rounding, not a finding.
    recon_invoice_tolerance: str = "0.05"
    # Dataverse service protection: the app's instances share 52 concurrent requests per user, so one
    # process keeps at most 52 // max_instances in flight (set the Function App's scale limit to match);
    # requests per second per process (0: no pacing, rely on the shared Retry-After pause).
    max_instances: int = 3
    dataverse_requests_per_second: float = 0.0
    # The inbox sweeper re-queues rows Received/Queued without progress for this long.
    inbox_stuck_minutes: int = 30

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from the environment. Raises ConfigError when CSPB_MODE is missing or wrong, or
        when running inside Azure without CSPB_MODE=azure (fail closed: never sandbox by accident)."""
        source = os.environ if env is None else env
        mode = check_mode(source)
        # App Service keeps the case of setting names, the Functions host ignores it: match either.
        folded = {k.upper(): v for k, v in source.items() if k.upper().startswith("CSPB_")}
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = env_name(f.name)
            if key in source:
                raw = source[key]
            elif key.upper() in folded:
                raw = folded[key.upper()]
            else:
                continue
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
        values["mode"] = mode
        if mode == "sandbox":
            # One Partner Center sandbox answers both Partner Center hosts, so pointing
            # CSPB_PARTNER_CENTER_URL at it is enough unless the sales host is set on its own.
            if "partner_center_url" in values:
                values.setdefault("partner_api_url", values["partner_center_url"])
            # Local runs talk to `cspbridge sandbox` on its default ports unless told otherwise.
            for name, url in sandbox_urls().items():
                values.setdefault(name, url)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.mode == "sandbox" and not self.dataverse_url:
            object.__setattr__(self, "dataverse_url", sandbox_urls()["dataverse_url"])

    @property
    def partner_tenant_id(self) -> str:
        return self.pc_tenant_id or self.tenant_id

    @property
    def servicebus_conn_str(self) -> str:
        return self.servicebus.reveal() or self.servicebus_connection_string.reveal()

    @property
    def servicebus_fqns(self) -> str:
        """The namespace host for identity-based connections (`contoso.servicebus.windows.net`)."""
        raw = self.servicebus_fully_qualified_namespace or self.servicebus_namespace
        if raw and "." not in raw:
            raw += ".servicebus.windows.net"
        return raw.removeprefix("sb://").removeprefix("https://").rstrip("/")

    @property
    def blob_service_uri(self) -> str:
        """The Blob endpoint for identity-based access; empty when Storage goes by connection string."""
        if self.storage_blob_service_uri or self.storage_service_uri:
            return (self.storage_blob_service_uri or self.storage_service_uri).rstrip("/")
        return f"https://{self.storage_account_name}.blob.core.windows.net" if self.storage_account_name else ""

    @property
    def queue_service_uri(self) -> str:
        if self.storage_queue_service_uri:
            return self.storage_queue_service_uri.rstrip("/")
        return f"https://{self.storage_account_name}.queue.core.windows.net" if self.storage_account_name else ""

    def secret_values(self) -> list[str]:
        return [getattr(self, f.name).reveal() for f in fields(self) if isinstance(getattr(self, f.name), Secret)]


def sandbox_urls() -> dict[str, str]:
    """Settings field -> the URL `cspbridge sandbox` serves it on (sandbox mode only: the sandbox
    package, home of the ports, is not deployed to Azure)."""
    from sandbox.ports import setting_urls

    return setting_urls()


MODES = ("sandbox", "azure")


class ConfigError(FatalError):
    """The app settings are missing or contradict each other; the message says which and how to fix it."""


def env_name(field_name: str) -> str:
    """The app setting that holds a Settings field."""
    for f in fields(Settings):
        if f.name == field_name:
            return str(f.metadata.get("env") or "CSPB_" + f.name.upper())
    raise KeyError(field_name)


def check_mode(env: Mapping[str, str] | None = None) -> str:
    """CSPB_MODE, validated. Sandbox mode (fixed tokens, loopback URLs, a sign-in page that trusts
    whoever picks a contact) is never a default, and inside Azure only CSPB_MODE=azure starts."""
    source = os.environ if env is None else env
    mode = source.get("CSPB_MODE", "").strip().lower()
    site = source.get("WEBSITE_SITE_NAME", "")
    if site and mode != "azure":
        raise ConfigError(f"refusing to start: running in Azure (WEBSITE_SITE_NAME={site}) without CSPB_MODE=azure; "
                          "set the app setting CSPB_MODE=azure")
    if mode not in MODES:
        raise ConfigError(("CSPB_MODE is not set" if not mode else f"CSPB_MODE={mode!r} is not a mode")
                          + ": set CSPB_MODE=azure for the real services or CSPB_MODE=sandbox for the local sandboxes")
    return mode


def setting_types() -> dict[str, str]:
    """App setting name -> its type name, for shared.settings_check (which must not import this module)."""
    return {"CSPB_" + f.name.upper(): str(f.type) for f in fields(Settings)}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    from shared.settings_check import require

    # One message naming every missing or malformed setting, before anything uses them.
    require("core", types=setting_types())
    settings = Settings.from_env()
    from shared.logging import register_secrets

    register_secrets(settings.secret_values())
    return settings


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
