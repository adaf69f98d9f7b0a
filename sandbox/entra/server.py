"""Microsoft Entra ID stand-in (v2.0 endpoints), served over TLS because msal accepts only https
authorities. It behaves as Microsoft documents the flows CSPBridge uses:

- OpenID discovery: GET /{tenant}/v2.0/.well-known/openid-configuration.
- Auth code + PKCE (portal sign-in, `partnercenter consent --local-redirect`): GET /{tenant}/oauth2/v2.0/authorize
  shows a sign-in form; POST signs the user in (or declines: error=access_denied back to redirect_uri).
  A code is single-use, bound to client, redirect_uri and the S256 code challenge.
- Device code (`partnercenter consent`): POST /{tenant}/oauth2/v2.0/devicecode; the user completes sign-in
  and MFA at /devicelogin; the token endpoint answers authorization_pending until then, then tokens,
  authorization_declined or expired_token.
- Token endpoint: client_credentials (`{resource}/.default` only), authorization_code, refresh_token,
  device_code. One resource per request (AADSTS28000 otherwise). Every refresh-token redemption returns
  a new refresh token and retires the one redeemed (strict rotation: a reuse is invalid_grant), so a
  client must write each new one back. A public-client refresh token redeemed with a secret, or the
  reverse, is refused (AADSTS700025 / AADSTS7000218), as Entra does.
- Access tokens are JWTs with aud = the resource, iss = sts.windows.net/{tid}/, tid, oid, appid, scp
  (delegated) or roles (app-only), and amr including "mfa" when the user did MFA.

Users, apps and grants come from `EntraState` (the demo and tests register theirs). The control
endpoints under /_sandbox/ list pending device codes and approve them, as a person at /devicelogin would.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response

OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
PARTNER_TENANT = "4c7a8f4e-0000-4000-8000-0000000a11ce"
MFA_CODE = "246810"  # the stand-in's one-time code for every MFA user (shown on the sign-in page)


@dataclass
class User:
    username: str
    password: str
    tenant_id: str
    object_id: str
    name: str
    mfa: bool = False


@dataclass
class App:
    client_id: str
    name: str
    secret: str = ""                # empty: a public client only
    public_client: bool = False     # "Allow public client flows" (device code)
    redirect_uris: tuple[str, ...] = ()
    delegated: tuple[str, ...] = ()  # resources (origins) it may get delegated tokens for
    app_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> application permissions
    require_mfa: bool = False        # Partner Center's secure application model: MFA for every user token


def _origin(scope: str) -> str:
    if "://" not in scope:
        return "https://graph.microsoft.com"  # a bare Graph permission name ("User.Read")
    parts = urlsplit(scope)
    return f"{parts.scheme}://{parts.netloc}"


class EntraState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.key = secrets.token_bytes(32)
        self.users: dict[str, User] = {}
        self.apps: dict[str, App] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.issued: list[dict[str, Any]] = []  # every token issued: grant, client, audience (for tests)
        self.app_token_lifetime = 3600  # seconds; tests shorten it to see tokens expire and be renewed
        self.seed_defaults()

    def seed_defaults(self) -> None:
        self.add_user(User("admin@partner.example", "Passw0rd!", PARTNER_TENANT,
                           "a0000000-0000-4000-8000-00000000ad01", "Pat Partner (admin agent)", mfa=True))
        self.add_user(User("nomfa@partner.example", "Passw0rd!", PARTNER_TENANT,
                           "a0000000-0000-4000-8000-0000000000f2", "Sam NoMFA"))

    def add_user(self, user: User) -> User:
        with self.lock:
            self.users[user.username.lower()] = user
        return user

    def add_app(self, app: App) -> App:
        with self.lock:
            self.apps[app.client_id] = app
        return app

    # -- tokens --------------------------------------------------------------------------------
    def access_token(self, *, resource: str, tenant_id: str, app: App, user: User | None, scopes: list[str],
                     grant: str, lifetime: int = 3600) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": resource, "iss": f"https://sts.windows.net/{tenant_id}/", "iat": now, "nbf": now,
            "exp": now + lifetime, "tid": tenant_id, "appid": app.client_id, "azp": app.client_id, "ver": "1.0",
            "uti": secrets.token_urlsafe(8),
        }
        if user is None:
            claims["oid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{app.client_id}"))
            claims["roles"] = list(app.app_roles.get(resource, ()))
            claims["idtyp"] = "app"
        else:
            claims.update(oid=user.object_id, upn=user.username, name=user.name,
                          amr=["pwd", "mfa"] if user.mfa else ["pwd"],
                          scp=" ".join(s.rsplit("/", 1)[-1] for s in scopes if s not in OIDC_SCOPES) or "user_impersonation")
        with self.lock:
            self.issued.append({"grant": grant, "client_id": app.client_id, "aud": resource,
                                "oid": claims["oid"], "mfa": "mfa" in claims.get("amr", [])})
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": jwt.encode(claims, self.key, algorithm="HS256")}

    def id_token(self, app: App, user: User, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"aud": app.client_id, "iss": f"https://login.microsoftonline.com/{user.tenant_id}/v2.0",
                  "iat": now, "nbf": now, "exp": now + 3600, "tid": user.tenant_id, "oid": user.object_id,
                  "sub": hashlib.sha256(f"{app.client_id}:{user.object_id}".encode()).hexdigest()[:43],
                  "name": user.name, "preferred_username": user.username, "ver": "2.0"}
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key, algorithm="HS256")

    def new_refresh_token(self, app: App, user: User, public: bool) -> str:
        token = "0.RT." + secrets.token_urlsafe(48)
        with self.lock:
            self.refresh_tokens[token] = {"client_id": app.client_id, "user": user.username.lower(),
                                          "public": public, "active": True}
        return token


def _b64(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _error(error: str, description: str, status: int = 400, codes: tuple[int, ...] = ()) -> Response:
    return json_response({"error": error, "error_description": description, "error_codes": list(codes),
                          "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                          "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}, status)


class EntraSandbox:
    def __init__(self, state: EntraState | None = None) -> None:
        self.state = state or EntraState()

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        if path == "/_sandbox/devicecodes":
            return self._pending_device_codes()
        if path == "/_sandbox/devicecodes/approve" and request.method == "POST":
            body = request.get_json(silent=True) or {}
            return self._approve_device(str(body.get("user_code", "")), str(body.get("username", "")),
                                        str(body.get("password", "")), str(body.get("mfa_code", "")),
                                        deny=bool(body.get("deny")))
        if path == "/devicelogin":
            return self._devicelogin(request)
        if len(parts) >= 2 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self._discovery(request, parts[0])
        if len(parts) == 2 and parts[1] == "discovery" or path.endswith("/discovery/instance"):
            return json_response({"tenant_discovery_endpoint": f"{request.host_url.rstrip('/')}/common/v2.0/"
                                                                ".well-known/openid-configuration", "metadata": []})
        if len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"]:
            tenant, action = parts[0], parts[3]
            if action == "authorize":
                return self._authorize(request, tenant)
            if action == "token" and request.method == "POST":
                return self._token(request, tenant)
            if action == "devicecode" and request.method == "POST":
                return self._devicecode(request, tenant)
        return _error("invalid_request", f"AADSTS90002: no such endpoint {request.path}", 404, (90002,))

    # -- discovery -----------------------------------------------------------------------------
    def _discovery(self, request: Request, tenant: str) -> Response:
        base = f"{request.host_url.rstrip('/')}/{tenant}"
        issuer_tenant = "{tenantid}" if tenant in ("common", "organizations") else tenant
        return json_response({
            "issuer": f"https://login.microsoftonline.com/{issuer_tenant}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com",
        })

    # -- authorize (auth code + PKCE) ----------------------------------------------------------
    def _authorize(self, request: Request, tenant: str) -> Response:
        params = request.form if request.method == "POST" else request.args
        app = self.state.apps.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if app is None:
            return self._page("Sign in", "<p>AADSTS700016: Application not found in the directory.</p>", 400)
        if redirect_uri not in app.redirect_uris and not self._loopback_match(redirect_uri, app):
            return self._page("Sign in", "<p>AADSTS50011: The redirect URI specified in the request does not match "
                                         "the redirect URIs configured for the application.</p>", 400)
        state = params.get("state", "")
        if request.method == "GET":
            hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                             for k, v in request.args.items())
            hint = html.escape(request.args.get("login_hint", ""))
            body = (f'<p>Sign in to <b>{html.escape(app.name)}</b></p>'
                    f'<form method="post" id="signin">{hidden}'
                    f'<label>Email <input name="username" id="username" value="{hint}"></label>'
                    f'<label>Password <input name="password" id="password" type="password"></label>'
                    f'<label>MFA code ({MFA_CODE} in the sandbox) <input name="mfa_code" id="mfa_code"></label>'
                    f'<button name="action" value="accept" id="accept">Accept</button>'
                    f'<button name="action" value="cancel" id="cancel">Cancel</button></form>')
            return self._page("Sign in to your account", body)
        if params.get("action") == "cancel":
            return self._back(redirect_uri, {"error": "access_denied", "state": state,
                                             "error_description": "AADSTS65004: User declined to consent to "
                                                                  "access the app."})
        user = self._check_user(params.get("username", ""), params.get("password", ""))
        if user is None:
            return self._page("Sign in", "<p>AADSTS50126: Error validating credentials due to invalid username "
                                         "or password.</p>", 400)
        if tenant not in ("common", "organizations") and tenant != user.tenant_id:
            return self._back(redirect_uri, {"error": "invalid_request", "state": state,
                                             "error_description": "AADSTS50020: User account does not exist in "
                                                                  "tenant."})
        if user.mfa and params.get("mfa_code", "") != MFA_CODE:
            return self._page("Sign in", "<p>AADSTS50074: Strong Authentication is required.</p>", 400)
        if app.require_mfa and not user.mfa:
            return self._back(redirect_uri, {"error": "interaction_required", "state": state,
                                             "error_description": "AADSTS50076: you must use multi-factor "
                                                                  "authentication to access this app."})
        code = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.codes[code] = {"client_id": app.client_id, "redirect_uri": redirect_uri, "user": user,
                                      "scopes": params.get("scope", "").split(), "nonce": params.get("nonce"),
                                      "challenge": params.get("code_challenge"),
                                      "method": params.get("code_challenge_method", "plain"),
                                      "expires": time.time() + 600}
        return self._back(redirect_uri, {"code": code, "state": state, "client_info": _b64(
            {"uid": user.object_id, "utid": user.tenant_id})})

    @staticmethod
    def _loopback_match(redirect_uri: str, app: App) -> bool:
        # Entra ignores the port of http://localhost redirect URIs registered for native/CLI use.
        got = urlsplit(redirect_uri)
        for registered in app.redirect_uris:
            want = urlsplit(registered)
            if (got.scheme == want.scheme == "http" and got.hostname == want.hostname
                    and got.hostname in ("localhost", "127.0.0.1") and got.path == want.path):
                return True
        return False

    def _check_user(self, username: str, password: str) -> User | None:
        user = self.state.users.get(username.strip().lower())
        if user is None or not secrets.compare_digest(user.password, password):
            return None
        return user

    @staticmethod
    def _back(redirect_uri: str, params: dict[str, str]) -> Response:
        sep = "&" if "?" in redirect_uri else "?"
        return Response(status=302, headers={"Location": f"{redirect_uri}{sep}{urlencode(params)}"})

    @staticmethod
    def _page(title: str, body: str, status: int = 200) -> Response:
        return Response(f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
                        f"<h1>{html.escape(title)}</h1>{body}</body></html>", status=status,
                        content_type="text/html; charset=utf-8")

    # -- device code ---------------------------------------------------------------------------
    def _devicecode(self, request: Request, tenant: str) -> Response:
        app = self.state.apps.get(request.form.get("client_id", ""))
        if app is None:
            return _error("unauthorized_client", "AADSTS700016: Application not found in the directory.", 400,
                          (700016,))
        if not app.public_client:
            return _error("invalid_client", "AADSTS7000218: The request body must contain the following parameter: "
                          "'client_assertion' or 'client_secret'. (Allow public client flows is off.)", 401, (7000218,))
        scopes = request.form.get("scope", "").split()
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        verification = f"{request.host_url.rstrip('/')}/devicelogin"
        with self.state.lock:
            self.state.device_codes[device_code] = {"user_code": user_code, "client_id": app.client_id,
                                                    "scopes": scopes, "status": "pending", "tenant": tenant,
                                                    "expires": time.time() + 900, "user": None}
        return json_response({"device_code": device_code, "user_code": user_code, "verification_uri": verification,
                              "expires_in": 900, "interval": 1,
                              "message": f"To sign in, use a web browser to open the page {verification} and enter "
                                         f"the code {user_code} to authenticate."})

    def _pending_device_codes(self) -> Response:
        with self.state.lock:
            return json_response({"value": [{"user_code": d["user_code"], "client_id": d["client_id"]}
                                            for d in self.state.device_codes.values() if d["status"] == "pending"]})

    def _approve_device(self, user_code: str, username: str, password: str, mfa_code: str,
                        deny: bool = False) -> Response:
        with self.state.lock:
            entry = next((d for d in self.state.device_codes.values()
                          if d["user_code"] == user_code.strip().upper() and d["status"] == "pending"), None)
            if entry is None:
                return _error("invalid_grant", "AADSTS70000: unknown or used code", 400, (70000,))
            if deny:
                entry["status"] = "declined"
                return json_response({"status": "declined"})
            user = self._check_user(username, password)
            if user is None:
                return _error("invalid_grant", "AADSTS50126: invalid username or password", 400, (50126,))
            app = self.state.apps[entry["client_id"]]
            if entry["tenant"] not in ("common", "organizations") and entry["tenant"] != user.tenant_id:
                return _error("invalid_grant", "AADSTS50020: User account does not exist in tenant.", 400, (50020,))
            if app.require_mfa and not user.mfa:
                entry["status"] = "mfa_required"
                return _error("interaction_required", "AADSTS50076: you must use multi-factor authentication",
                              400, (50076,))
            if user.mfa and mfa_code != MFA_CODE:
                return _error("invalid_grant", "AADSTS50074: Strong Authentication is required.", 400, (50074,))
            entry["status"], entry["user"] = "approved", user
        return json_response({"status": "approved"})

    def _devicelogin(self, request: Request) -> Response:
        if request.method == "POST":
            f = request.form
            answer = self._approve_device(f.get("user_code", ""), f.get("username", ""), f.get("password", ""),
                                          f.get("mfa_code", ""), deny=f.get("action") == "cancel")
            ok = answer.status_code == 200
            return self._page("Device sign-in", "<p>You may now close this window.</p>" if ok else
                              f"<p>{html.escape(json.loads(answer.get_data())['error_description'])}</p>",
                              200 if ok else 400)
        return self._page("Enter code", '<form method="post"><input name="user_code" id="user_code">'
                                        '<input name="username" id="username">'
                                        '<input name="password" id="password" type="password">'
                                        f'<label>MFA code ({MFA_CODE})<input name="mfa_code" id="mfa_code"></label>'
                                        '<button id="next">Next</button></form>')

    # -- token endpoint ------------------------------------------------------------------------
    def _client_auth(self, request: Request, app: App, public_grant: bool | None) -> Response | None:
        secret = request.form.get("client_secret") or ""
        assertion = request.form.get("client_assertion") or ""
        if public_grant is True:
            if secret or assertion:
                return _error("invalid_request", "AADSTS700025: Client is public so neither 'client_assertion' nor "
                              "'client_secret' should be presented.", 400, (700025,))
            return None
        if assertion:
            try:
                claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return _error("invalid_client", "AADSTS700027: Client assertion failed signature validation.", 401,
                              (700027,))
            if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
                return _error("invalid_client", "AADSTS700023: client assertion issuer/subject mismatch", 401,
                              (700023,))
            return None
        if not secret:
            if public_grant is None and app.public_client:
                return None
            return _error("invalid_client", "AADSTS7000218: The request body must contain the following parameter: "
                          "'client_assertion' or 'client_secret'.", 401, (7000218,))
        if not app.secret or not secrets.compare_digest(app.secret, secret):
            return _error("invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                          "sent in the request is the client secret value, not the client secret ID.", 401, (7000215,))
        return None

    def _resource(self, scopes: list[str]) -> tuple[str | None, Response | None]:
        resources = {_origin(s) for s in scopes if s not in OIDC_SCOPES}
        if len(resources) > 1:
            return None, _error("invalid_scope", "AADSTS28000: Provided value for the input parameter scope is not "
                                "valid because it contains more than one resource. Scope "
                                f"{' '.join(scopes)} is not valid.", 400, (28000,))
        return (resources.pop() if resources else "https://graph.microsoft.com"), None

    def _user_tokens(self, app: App, user: User, scopes: list[str], grant: str, public: bool,
                     nonce: str | None = None) -> Response:
        resource, problem = self._resource(scopes)
        if problem is not None:
            return problem
        assert resource is not None
        if resource not in app.delegated and resource != "https://graph.microsoft.com":
            return _error("invalid_grant", f"AADSTS65001: The user or administrator has not consented to use the "
                          f"application with ID '{app.client_id}' named '{app.name}' for {resource}.", 400, (65001,))
        body = self.state.access_token(resource=resource, tenant_id=user.tenant_id, app=app, user=user,
                                       scopes=scopes, grant=grant)
        body["scope"] = " ".join(s for s in scopes if s not in ("openid", "profile", "offline_access")) or \
            f"{resource}/user_impersonation"
        body["client_info"] = _b64({"uid": user.object_id, "utid": user.tenant_id})
        body["refresh_token"] = self.state.new_refresh_token(app, user, public)
        if "openid" in scopes:
            body["id_token"] = self.state.id_token(app, user, nonce)
        return json_response(body)

    def _token(self, request: Request, tenant: str) -> Response:
        form = request.form
        app = self.state.apps.get(form.get("client_id", ""))
        if app is None:
            return _error("unauthorized_client", f"AADSTS700016: Application with identifier "
                          f"'{form.get('client_id', '')}' was not found in the directory.", 400, (700016,))
        grant = form.get("grant_type", "")
        scopes = form.get("scope", "").split()
        if grant == "client_credentials":
            problem = self._client_auth(request, app, public_grant=False)
            if problem is not None:
                return problem
            if len(scopes) != 1 or not scopes[0].endswith("/.default"):
                return _error("invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client "
                              "credential flows must have a scope value with /.default suffixed to the resource "
                              "identifier (application ID URI).", 400, (1002012,))
            resource = scopes[0][: -len("/.default")].rstrip("/")
            tenant_id = PARTNER_TENANT if tenant in ("common", "organizations") else tenant
            return json_response(self.state.access_token(resource=resource, tenant_id=tenant_id, app=app, user=None,
                                                         scopes=scopes, grant=grant,
                                                         lifetime=self.state.app_token_lifetime))
        if grant == "authorization_code":
            with self.state.lock:
                entry = self.state.codes.pop(form.get("code", ""), None)
            if entry is None or entry["expires"] < time.time() or entry["client_id"] != app.client_id:
                return _error("invalid_grant", "AADSTS70008: The provided authorization code or refresh token has "
                              "expired due to inactivity.", 400, (70008,))
            if entry["redirect_uri"] != form.get("redirect_uri"):
                return _error("invalid_grant", "AADSTS50148: The redirect_uri does not match the one in the "
                              "authorization request.", 400, (50148,))
            verifier = form.get("code_verifier", "")
            if entry["challenge"]:
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                expected = digest if entry["method"] == "S256" else verifier
                if expected != entry["challenge"]:
                    return _error("invalid_grant", "AADSTS501481: The Code_Verifier does not match the code_challenge "
                                  "supplied in the authorization request.", 400, (501481,))
            public = app.public_client and not form.get("client_secret") and not form.get("client_assertion")
            problem = self._client_auth(request, app, public_grant=True if public else False)
            if problem is not None:
                return problem
            return self._user_tokens(app, entry["user"], scopes or entry["scopes"], grant, public, entry["nonce"])
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            with self.state.lock:
                entry = self.state.refresh_tokens.get(token)
                if entry is None or not entry["active"] or entry["client_id"] != app.client_id:
                    return _error("invalid_grant", "AADSTS70008: The provided authorization code or refresh token "
                                  "has expired due to inactivity. (or it was already redeemed: refresh tokens "
                                  "rotate)", 400, (70008,))
                problem = self._client_auth(request, app, public_grant=entry["public"])
                if problem is not None:
                    return problem
                entry["active"] = False  # rotation: the redeemed token is retired
                user = self.state.users[entry["user"]]
            return self._user_tokens(app, user, scopes, grant, entry["public"])
        if grant in ("urn:ietf:params:oauth:grant-type:device_code", "device_code"):
            code = form.get("device_code", "")
            with self.state.lock:
                entry = self.state.device_codes.get(code)
                if entry is None:
                    return _error("invalid_grant", "AADSTS70000: unknown device code", 400, (70000,))
                if entry["expires"] < time.time():
                    return _error("expired_token", "AADSTS70020: The provided value for the input parameter "
                                  "'device_code' is not valid. This device code has expired.", 400, (70020,))
                status = entry["status"]
                if status == "pending":
                    return _error("authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. "
                                  "Authorization is pending. Continue polling.", 400, (70016,))
                if status == "declined":
                    return _error("authorization_declined", "AADSTS70019: the user declined the sign-in", 400,
                                  (70019,))
                if status == "mfa_required":
                    return _error("invalid_grant", "AADSTS50076: Due to a configuration change made by your "
                                  "administrator, or because you moved to a new location, you must use "
                                  "multi-factor authentication to access this resource.", 400, (50076,))
                entry["status"] = "redeemed"
            problem = self._client_auth(request, app, public_grant=True)
            if problem is not None:
                return problem
            return self._user_tokens(app, entry["user"], entry["scopes"] or scopes, "device_code", True)
        return _error("unsupported_grant_type", f"AADSTS70003: unsupported grant_type {grant!r}", 400, (70003,))


def build_app(state_dir: Path | None = None, state: EntraState | None = None) -> SandboxApp:
    sandbox = EntraSandbox(state)
    app = SandboxApp(sandbox)
    app.entra = sandbox.state  # type: ignore[attr-defined]
    return app
