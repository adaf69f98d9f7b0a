"""What `cspbridge doctor` checks: every setting, and every token, role and grant it can reach, each with
the fix an admin should apply when it fails. Nothing here changes business data: the Key Vault write goes
to a probe secret, the Blob write is deleted again, the Service Bus send is a scheduled message that is
cancelled before it is due."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import Settings

INTEGRATION_ROLE = "CSPBridge Integration"
PROBE_SECRET = "cspb-doctor-probe"
GRAPH_BILLING_ROLE = "PartnerBilling.Read.All"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    skipped: bool = False


def _claims(token: str) -> dict[str, Any]:
    import jwt

    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}


class Missing(Exception):
    """A grant or role that is not there; the message says which."""


def _short(exc: BaseException) -> str:
    from shared.errors import IntegrationError

    text = exc.message if isinstance(exc, IntegrationError) else str(exc) if isinstance(exc, Missing) \
        else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())[:300]


class Doctor:
    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self.s = settings
        self.env = os.environ if env is None else env
        self.results: list[Check] = []
        self.key_vault_writable: bool | None = None

    def _run(self, name: str, fix: str, probe: Callable[[], str]) -> bool:
        try:
            detail = probe()
        except Exception as exc:  # noqa: BLE001 - a failed check is a line in the checklist, never a crash
            self.results.append(Check(name, False, _short(exc), self._unreachable(exc) + fix))
            return False
        self.results.append(Check(name, True, detail))
        return True

    def _unreachable(self, exc: Exception) -> str:
        """A service that did not answer is a network or URL problem first, whatever the grant."""
        from shared.errors import AuthError, RetriableError

        try:
            from azure.core.exceptions import ServiceRequestError
        except ImportError:  # pragma: no cover - azure-core ships with azure-identity
            ServiceRequestError = OSError  # type: ignore[misc,assignment]  # noqa: N806
        if isinstance(exc, AuthError) or not isinstance(exc, RetriableError | ServiceRequestError | OSError):
            return ""
        local = " (sandbox mode: start `cspbridge sandbox` first)" if self.s.mode == "sandbox" else ""
        return f"it did not answer: check its URL setting and the network path{local}; then, if it answers: "

    def _skip(self, name: str, why: str) -> None:
        self.results.append(Check(name, True, why, skipped=True))

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> None:
        from shared.config import setting_types
        from shared.settings_check import problems

        areas = ["core", "portal"]
        if self.s.queue_backend == "servicebus":
            areas.append("servicebus")
        found = problems(self.env, areas, setting_types())
        for problem in found:
            name = problem.split(" ", 1)[0].split("=", 1)[0]
            self.results.append(Check(f"Setting {name}", False, problem,
                                      "set it in the Function App's app settings (every setting is listed in "
                                      "local.settings.sample.json)"))
        if not found:
            self.results.append(Check("Settings", True, "every required setting is present and well-formed"))
        if self.s.mode == "azure" and not self.s.key_vault_url:
            self.results.append(Check("Setting CSPB_KEY_VAULT_URL", False, "not set: the Partner Center refresh "
                                      "token has nowhere to live", "set CSPB_KEY_VAULT_URL=https://VAULT.vault.azure.net/"))
        if self.s.mode == "azure" and not (self.s.pc_client_id or (self.s.client_secret and not self.s.use_managed_identity)):
            self.results.append(Check("Setting CSPB_PC_CLIENT_ID", False, "the Partner Center app registration is "
                                      "not set (a managed identity cannot be one)",
                                      "register a multi-tenant app in the partner tenant, add it in Partner Center "
                                      "(Account settings > App management), set CSPB_PC_CLIENT_ID and "
                                      "CSPB_PC_CLIENT_SECRET (a Key Vault reference)"))

    # -- tokens --------------------------------------------------------------------------------
    def tokens(self) -> dict[str, str]:
        from partnercenter.auth import (
            GRAPH_SCOPE,
            PARTNER_API_SCOPE,
            PARTNER_CENTER_SCOPE,
            AppOnlyTokenProvider,
            app_user_token,
        )
        from shared.auth import KEY_VAULT_SCOPE, SERVICEBUS_SCOPE, STORAGE_SCOPE, azure_credential, scope_for

        got: dict[str, str] = {}
        own = azure_credential(self.s)
        identity = ("the managed identity" if self.s.use_managed_identity else f"app {self.s.client_id}"
                    if self.s.client_id else "DefaultAzureCredential")

        def own_token(key: str, scope: str) -> Callable[[], str]:
            def probe() -> str:
                got[key] = own.get_token(scope).token
                return f"{scope} for {identity}"
            return probe

        fix_own = ("check CSPB_TENANT_ID, CSPB_CLIENT_ID and CSPB_CLIENT_SECRET, or turn on the Function App's "
                   "managed identity (CSPB_USE_MANAGED_IDENTITY=true)")
        self._run("Token: Dataverse", fix_own, own_token("dataverse", scope_for(self.s.dataverse_url)))
        if self.s.key_vault_url:
            self._run("Token: Key Vault", fix_own, own_token("keyvault", KEY_VAULT_SCOPE))
        if self.s.blob_service_uri or self.s.queue_service_uri:
            self._run("Token: Storage", fix_own, own_token("storage", STORAGE_SCOPE))
        if self.s.servicebus_fqns and not self.s.servicebus_conn_str:
            self._run("Token: Service Bus", fix_own, own_token("servicebus", SERVICEBUS_SCOPE))
        fix_pc = ("check CSPB_PC_CLIENT_ID / CSPB_PC_CLIENT_SECRET (or CSPB_PC_CLIENT_CERTIFICATE_PATH) and "
                  "CSPB_PC_TENANT_ID: the Partner Center app registration in the partner tenant")

        def app_only(key: str, scope: str) -> Callable[[], str]:
            def probe() -> str:
                got[key] = AppOnlyTokenProvider(self.s, scope)()
                return f"{scope} (app-only)"
            return probe

        self._run("Token: Partner Center REST (app-only)", fix_pc, app_only("partnercenter-app", PARTNER_CENTER_SCOPE))
        self._run("Token: Microsoft Graph (app-only)", fix_pc, app_only("graph", GRAPH_SCOPE))
        fix_consent = ("a partner admin agent with MFA runs `cspbridge partnercenter consent` (App+User consent "
                       "of the secure application model), with 'Key Vault Secrets Officer' on the vault")

        def delegated(key: str, scope: str) -> Callable[[], str]:
            def probe() -> str:
                got[key] = app_user_token(self.s, scope)()
                return f"{scope} (App+User, from secret {self.s.pc_refresh_token_secret_name!r})"
            return probe

        names = ("Token: Partner Center REST (App+User)",
                 "Token: api.partner.microsoft.com price sheet and FX (App+User)")
        if self.key_vault_writable is False:
            # Redeeming rotates the refresh token; with no way to store the new one, the stored one would die.
            for name in names:
                self.results.append(Check(name, False, "not tried: Key Vault refuses the write-back that every "
                                          "redemption needs", fix_consent))
            return got
        self._run(names[0], fix_consent, delegated("partnercenter-user", PARTNER_CENTER_SCOPE))
        self._run(names[1], fix_consent, delegated("partnerapi", PARTNER_API_SCOPE))
        return got

    def grants(self, tokens: dict[str, str]) -> None:
        if "graph" in tokens:
            roles = _claims(tokens["graph"]).get("roles") or []
            app = self.s.pc_client_id or self.s.client_id

            def graph_role() -> str:
                if GRAPH_BILLING_ROLE not in roles:
                    raise Missing(f"the Graph token of app {app} carries no {GRAPH_BILLING_ROLE} "
                                          f"(roles: {', '.join(roles) or 'none'})")
                return f"application permission {GRAPH_BILLING_ROLE} granted"

            self._run(f"Grant: Microsoft Graph {GRAPH_BILLING_ROLE}",
                      f"Entra ID > App registrations > {app} > API permissions: add Microsoft Graph application "
                      f"permission {GRAPH_BILLING_ROLE}, then 'Grant admin consent'", graph_role)
        for key in ("partnercenter-user", "partnerapi"):
            if key in tokens:
                claims = _claims(tokens[key])

                def mfa(claims: dict[str, Any] = claims) -> str:
                    if "mfa" not in (claims.get("amr") or []):
                        raise Missing(f"the App+User token of {claims.get('upn', 'the consenting user')} "
                                              "was issued without MFA")
                    return f"consented by {claims.get('upn', '?')} with MFA"

                self._run("Grant: Partner Center App+User consent with MFA",
                          "consent again with an MFA-enabled admin agent: cspbridge partnercenter consent", mfa)
                break

    # -- resources -----------------------------------------------------------------------------
    def key_vault(self) -> None:
        if not self.s.key_vault_url:
            self._skip("Key Vault", "CSPB_KEY_VAULT_URL not set")
            return
        from partnercenter.auth import secret_store_for

        store = secret_store_for(self.s)

        def read() -> str:
            found = store.get(self.s.pc_refresh_token_secret_name)
            return (f"secret {self.s.pc_refresh_token_secret_name!r} "
                    + ("present" if found else "not there yet (run cspbridge partnercenter consent)"))

        def write() -> str:
            store.set(PROBE_SECRET, datetime.now(UTC).isoformat(), {"cspb": "doctor"})
            return f"wrote secret {PROBE_SECRET!r} (refresh-token rotation will work)"

        self._run("Key Vault: read", "give the app's identity the 'Key Vault Secrets User' role on the vault "
                  "(az role assignment create --role \"Key Vault Secrets User\" ...)", read)
        self.key_vault_writable = self._run("Key Vault: write", "give the app's identity the 'Key Vault Secrets Officer' role on the vault: "
                  "refresh-token rotation writes each new token back", write)

    def service_bus(self) -> None:
        if self.s.queue_backend != "servicebus":
            self._skip("Service Bus: send", f"CSPB_QUEUE_BACKEND={self.s.queue_backend}")
            return

        def send() -> str:
            from azure.servicebus import ServiceBusMessage

            from shared.queue import PROVISIONING_QUEUE, get_queue

            queue: Any = get_queue(PROVISIONING_QUEUE, self.s)
            due = datetime.now(UTC) + timedelta(days=30)
            sequence = queue._sender.schedule_messages(
                ServiceBusMessage("{}", message_id=f"doctor-{uuid.uuid4()}"), due)
            queue._sender.cancel_scheduled_messages(sequence)
            return f"scheduled and cancelled a message on {PROVISIONING_QUEUE}"

        self._run("Service Bus: send", "give the app's identity 'Azure Service Bus Data Sender' and 'Azure Service "
                  "Bus Data Receiver' on the namespace, and check CSPB_SERVICEBUS__fullyQualifiedNamespace", send)

    def blob(self) -> None:
        from shared.blobstore import LocalBlobStore, blob_store_from_settings

        def write() -> str:
            store = blob_store_from_settings(self.s)
            name = f"doctor/probe-{int(time.time())}.txt"
            store.put(name, b"cspbridge doctor", content_type="text/plain")
            store.delete(name)
            where = "a local folder" if isinstance(store, LocalBlobStore) else f"container {self.s.blob_container}"
            return f"wrote and deleted {name} in {where}"

        self._run("Blob Storage: write", "give the app's identity 'Storage Blob Data Contributor' on the storage "
                  "account, and set CSPB_STORAGE__serviceUri (or a connection string)", write)

    def dataverse(self) -> None:
        from dataclasses import replace

        from dataverse import identity
        from dataverse.client import DataverseClient

        # One attempt, a short timeout: the doctor reports an unreachable environment, it does not wait it out.
        client = DataverseClient.from_settings(replace(self.s, http_max_attempts=1, http_timeout_seconds=15.0))
        user: dict[str, str] = {}

        def whoami() -> str:
            user["id"] = identity.whoami(client)
            return f"signed in as application user {user['id']}"

        if not self._run("Dataverse: WhoAmI", "add the app as an application user in the Dataverse environment "
                         "(Power Platform admin center > Environments > Settings > Users + permissions > "
                         "Application users)", whoami):
            return

        def role() -> str:
            names = identity.security_roles(client, user["id"])
            if INTEGRATION_ROLE not in names:
                raise Missing(f"the application user lacks the security role {INTEGRATION_ROLE!r} "
                                      f"(has: {', '.join(names) or 'none'})")
            return f"has security role {INTEGRATION_ROLE!r}"

        self._run("Dataverse: security role", f"assign the {INTEGRATION_ROLE!r} security role (shipped in the "
                  "solution) to the application user", role)

    def reachability(self) -> None:
        from partnercenter.client import PartnerCenterClient
        from shared.http import RetryPolicy

        # Without a Key Vault write, app-only: an App+User redemption would rotate a token it cannot store.
        store: Any = None
        if self.key_vault_writable is False:
            from partnercenter.auth import InMemorySecretStore

            store = InMemorySecretStore()

        def partner_center() -> str:
            pc = PartnerCenterClient.from_settings(self.s, retry=RetryPolicy(max_attempts=1), timeout=15,
                                                   secret_store=store)
            pc.pc.request("GET", "/v1/customers", params={"size": 1}, ok=(200,))
            return f"GET {self.s.partner_center_url}/v1/customers answered"

        def graph() -> str:
            pc = PartnerCenterClient.from_settings(self.s, retry=RetryPolicy(max_attempts=1), timeout=15)
            pc.graph.request("GET", "/v1.0/reports/partners/billing/reconciliation/billed", ok=(200, 400, 404))
            return f"{self.s.graph_url} answered"

        self._run("Partner Center: reachable", "check CSPB_PARTNER_CENTER_URL, the network path, and that the app is "
                  "added in Partner Center (Account settings > App management)", partner_center)
        self._run("Microsoft Graph: reachable", "check CSPB_GRAPH_URL and the network path", graph)

    def run(self) -> list[Check]:
        self.settings()
        self.key_vault()
        if self.s.mode == "azure":
            self.grants(self.tokens())
        else:
            self._skip("Tokens", "sandbox mode: the sandboxes take a fixed token")
        self.service_bus()
        self.blob()
        self.dataverse()
        self.reachability()
        return self.results


def render(results: list[Check]) -> str:
    lines = []
    for check in results:
        mark = "skip" if check.skipped else " ok " if check.ok else "FAIL"
        lines.append(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            lines.append(f"       fix: {check.fix}")
    failed = sum(1 for c in results if not c.ok)
    lines.append(f"{len(results)} checks, {failed} failed")
    return "\n".join(lines)
