"""The one-time Partner Center consent of the secure application model: a partner admin agent signs in
with MFA, and the refresh token that comes back is stored in Key Vault for partnercenter/auth.py to redeem.

Two documented interactive flows, both through msal against the partner tenant:
- device code (`initiate_device_flow` / `acquire_token_by_device_flow`): for a shell without a browser;
  the app registration must allow public client flows, and the token is tagged as a public client's;
- auth code with a local redirect (`initiate_auth_code_flow` + a one-shot listener on http://localhost:PORT,
  `acquire_token_by_auth_code_flow`): the confidential web app, with its secret or certificate; the app
  registration lists http://localhost as a redirect URI.
https://learn.microsoft.com/partner-center/developer/enable-secure-app-model

Partner Center refuses App+User tokens without MFA, so a consent whose token carries no `mfa` in `amr` is
refused here rather than stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from partnercenter.auth import CLIENT_TAG, PARTNER_CENTER_SCOPE, SecretStore, pc_msal_app, secret_store_for
from shared.config import Settings
from shared.errors import AuthError


@dataclass(frozen=True)
class ConsentResult:
    secret_name: str
    user: str
    flow: str
    mfa: bool


def _claims(token: str) -> dict[str, Any]:
    import jwt

    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}


def _store(settings: Settings, store: SecretStore, result: dict[str, Any], flow: str) -> ConsentResult:
    if "access_token" not in result or not result.get("refresh_token"):
        error = str(result.get("error") or "no refresh token in the answer")
        detail = str(result.get("error_description") or "").split("\n")[0][:200]
        raise AuthError(f"Partner Center consent failed: {error}" + (f" ({detail})" if detail else ""), code=error)
    claims = _claims(result["access_token"])
    user = str(claims.get("upn") or (result.get("id_token_claims") or {}).get("preferred_username") or "")
    mfa = "mfa" in (claims.get("amr") or [])
    if not mfa:
        raise AuthError(f"{user or 'the user'} signed in without multi-factor authentication; Partner Center "
                        "requires MFA for App+User tokens (secure application model): sign in with MFA")
    store.set(settings.pc_refresh_token_secret_name, result["refresh_token"],
              {CLIENT_TAG: "public" if flow == "device_code" else "confidential", "consented-by": user[:200]})
    return ConsentResult(settings.pc_refresh_token_secret_name, user, flow, mfa)


def consent_with_device_code(settings: Settings, say: Callable[[str], None], *, store: SecretStore | None = None,
                             timeout: float | None = None) -> ConsentResult:
    """Print the device code message, wait for the admin to finish, store the refresh token."""
    store = store or secret_store_for(settings)
    app = pc_msal_app(settings, public=True)
    flow = app.initiate_device_flow(scopes=[PARTNER_CENTER_SCOPE])
    if "user_code" not in flow:
        detail = str(flow.get("error_description") or "").split("\n")[0][:200]
        raise AuthError(f"device code sign-in could not start: {flow.get('error', 'unknown')} ({detail})",
                        code=str(flow.get("error", "")))
    say(str(flow["message"]))
    if timeout is not None:
        flow["expires_at"] = min(float(flow.get("expires_at") or float("inf")), time.time() + timeout)
    return _store(settings, store, app.acquire_token_by_device_flow(flow), "device_code")


class _Catch(BaseHTTPRequestHandler):
    answer: dict[str, str] | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        query = dict(parse_qsl(urlsplit(self.path).query))
        if "code" not in query and "error" not in query:
            self.send_response(404)
            self.end_headers()
            return
        type(self).answer = query
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"<!doctype html><p>CSPBridge: consent received. You can close this window.</p>")

    def log_message(self, *args: Any) -> None:
        return None


def consent_with_browser(settings: Settings, say: Callable[[str], None], *, port: int = 8400,
                         store: SecretStore | None = None, timeout: float = 600.0,
                         open_browser: Callable[[str], Any] | None = None) -> ConsentResult:
    """Auth code with a local redirect: print (and open) the sign-in URL, catch the redirect on
    http://localhost:PORT, redeem the code with the app's secret or certificate, store the refresh token."""
    store = store or secret_store_for(settings)
    handler: type[_Catch] = type("Catch", (_Catch,), {"answer": None})
    server = HTTPServer(("127.0.0.1", port), handler)
    redirect_uri = f"http://localhost:{server.server_port}"
    app = pc_msal_app(settings)
    flow = app.initiate_auth_code_flow(scopes=[PARTNER_CENTER_SCOPE], redirect_uri=redirect_uri, prompt="login")
    say(f"Open this address and sign in as a partner admin agent (with MFA):\n{flow['auth_uri']}")
    if open_browser is not None:
        open_browser(flow["auth_uri"])
    server.timeout = 1.0
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while handler.answer is None and not deadline.is_set():
            server.handle_request()
    finally:
        timer.cancel()
        server.server_close()
    if handler.answer is None:
        raise AuthError(f"no sign-in came back to {redirect_uri} within {int(timeout)} s")
    if "error" in handler.answer:
        raise AuthError(f"Partner Center consent was not given: {handler.answer['error']}",
                        code=handler.answer["error"])
    try:
        result = app.acquire_token_by_auth_code_flow(flow, handler.answer)
    except ValueError:
        raise AuthError("the sign-in answer did not match the sign-in this command started") from None
    return _store(settings, store, result, "auth_code")
