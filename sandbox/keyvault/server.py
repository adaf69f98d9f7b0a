"""Azure Key Vault secrets stand-in (data plane, api-version 7.x), over TLS like the real vault, for the
azure-keyvault-secrets client:

- A request without a bearer token gets 401 with the documented challenge
  `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="https://vault.azure.net"`;
  the SDK then asks its credential for a vault token and retries.
- The token must be for aud https://vault.azure.net and unexpired (the signature is not checked, as
  Azurite does for Storage).
- RBAC: "Key Vault Secrets User" may get, "Key Vault Secrets Officer" may get and set. Anything else is
  403 ForbiddenByRbac naming the action, like the real service.
- GET/PUT /secrets/{name}[/{version}] with the SecretBundle JSON shape; every PUT is a new version.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

import jwt
from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response

SECRETS_USER = "Key Vault Secrets User"
SECRETS_OFFICER = "Key Vault Secrets Officer"
READ, WRITE = "Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/setSecret/action"
ALLOWED = {SECRETS_USER: {READ}, SECRETS_OFFICER: {READ, WRITE}}


class KeyVaultState:
    def __init__(self, tenant_id: str = "") -> None:
        self.lock = threading.Lock()
        self.tenant_id = tenant_id or "4c7a8f4e-0000-4000-8000-0000000a11ce"
        self.secrets: dict[str, list[dict[str, Any]]] = {}
        self.roles: dict[str, set[str]] = {}  # principal object id -> role names; "*" = any principal
        self.writes = 0

    def grant(self, principal: str, role: str) -> None:
        with self.lock:
            self.roles.setdefault(principal, set()).add(role)

    def revoke(self, principal: str, role: str) -> None:
        with self.lock:
            self.roles.get(principal, set()).discard(role)

    def current(self, name: str) -> str | None:
        with self.lock:
            versions = self.secrets.get(name)
            return versions[-1]["value"] if versions else None


def _error(status: int, code: str, message: str, inner: str | None = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if inner:
        body["error"]["innererror"] = {"code": inner}
    return json_response(body, status)


class KeyVaultSandbox:
    def __init__(self, state: KeyVaultState | None = None) -> None:
        self.state = state or KeyVaultState()

    def _challenge(self) -> Response:
        response = _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        response.headers["WWW-Authenticate"] = (f'Bearer authorization="https://login.microsoftonline.com/'
                                                f'{self.state.tenant_id}", resource="https://vault.azure.net"')
        return response

    def __call__(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._challenge()
        try:
            claims = jwt.decode(auth[7:], options={"verify_signature": False})
        except jwt.PyJWTError:
            return _error(401, "Unauthorized", "AKV10022: Invalid audience or malformed token.")
        if str(claims.get("aud", "")).rstrip("/") != "https://vault.azure.net":
            return _error(401, "Unauthorized", f"AKV10022: Invalid audience. Expected https://vault.azure.net, "
                                               f"found: {claims.get('aud')}.")
        if float(claims.get("exp", 0)) < time.time():
            return _error(401, "Unauthorized", "AKV10032: Token expired.")
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] != "secrets" or len(parts) not in (2, 3):
            return _error(404, "NotFound", f"no such operation {request.method} {request.path}")
        if not request.args.get("api-version"):
            return _error(400, "BadParameter", "The api-version query parameter is required.")
        name = parts[1]
        action = WRITE if request.method in ("PUT", "PATCH") else READ
        oid = str(claims.get("oid", ""))
        with self.state.lock:
            roles = self.state.roles.get(oid, set()) | self.state.roles.get("*", set())
        if not any(action in ALLOWED.get(role, set()) for role in roles):
            return _error(403, "Forbidden",
                          "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny "
                          "assignments or role definitions were changed recently, please observe propagation time.\r\n"
                          f"Caller: appid={claims.get('appid')};oid={oid}\r\nAction: '{action}'\r\n"
                          f"Resource: '/vaults/sandbox/secrets/{name}'\r\nAssignment: (not found)\r\n",
                          "ForbiddenByRbac")
        base = request.host_url.rstrip("/")
        if request.method == "PUT" and len(parts) == 2:
            body = request.get_json(silent=True) or {}
            if not isinstance(body.get("value"), str):
                return _error(400, "BadParameter", "Property 'value' is required.")
            now = int(time.time())
            version = secrets.token_hex(16)
            bundle = {"value": body["value"], "id": f"{base}/secrets/{name}/{version}",
                      "attributes": {"enabled": True, "created": now, "updated": now,
                                     "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
                      "tags": body.get("tags") or {}}
            if body.get("contentType"):
                bundle["contentType"] = body["contentType"]
            with self.state.lock:
                self.state.secrets.setdefault(name, []).append(bundle)
                self.state.writes += 1
            return json_response(bundle)
        if request.method == "GET":
            with self.state.lock:
                versions = list(self.state.secrets.get(name, []))
            if len(parts) == 3 and parts[2]:
                found = next((v for v in versions if v["id"].endswith("/" + parts[2])), None)
            else:
                found = versions[-1] if versions else None
            if found is None:
                return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault. "
                                                     "If you recently deleted this secret you may be able to recover "
                                                     "it using the correct recovery command.")
            return json_response(found)
        return _error(405, "MethodNotAllowed", f"{request.method} is not supported here")


def build_app(state_dir: Path | None = None, state: KeyVaultState | None = None) -> SandboxApp:
    sandbox = KeyVaultSandbox(state)
    app = SandboxApp(sandbox)
    app.keyvault = sandbox.state  # type: ignore[attr-defined]
    return app
