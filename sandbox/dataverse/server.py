"""WSGI front of the Dataverse sandbox: `build_app(state_dir)` -> SandboxApp serving /api/data/v9.2/.

Tests reach the model through the app: `app.api` (tables, store, stats, dop_hint,
multiple_unsupported), `app.register_webhook(...)`, `app.wait_for_webhooks()`,
`app.webhook_deliveries`, `app.faults` (429/latency from sandbox._server), and `app.protection`
(service protection limits, sandbox.dataverse.service_protection; None = off, the default unless
CSPB_SANDBOX_SERVICE_PROTECTION is set).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp
from sandbox.dataverse.api import API_PREFIX, Api, ODataError, Req, Result
from sandbox.dataverse.batch import run_batch
from sandbox.dataverse.schema import build_tables
from sandbox.dataverse.service_protection import Limits, ServiceProtection
from sandbox.dataverse.store import Store
from sandbox.dataverse.values import dumps


def _response(result: Result, api: Api) -> Response:
    headers = {"OData-Version": "4.0", "x-ms-dop-hint": str(api.dop_hint), **result.headers}
    if result.body is None:
        return Response(status=result.status, headers=headers)
    return Response(dumps(result.body), status=result.status, headers=headers,
                    content_type="application/json; odata.metadata=minimal; charset=utf-8")


class DataverseSandbox(SandboxApp):
    def __init__(self, api: Api, protection: ServiceProtection | None = None) -> None:
        self.api = api
        self.protection = protection
        super().__init__(self.handle)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        protection = self.protection
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if protection is None or "/_sandbox/" in environ.get("PATH_INFO", "") or not auth.startswith("Bearer "):
            return super().__call__(environ, start_response)
        # Admitted before the injected latency: a slow round trip holds its concurrency slot, as a
        # slow request does on a real web server.
        with protection.request(auth, cpu_clock=time.thread_time) as refusal:
            if refusal is not None:
                body = Response(dumps({"error": {"code": refusal.code, "message": refusal.message}}), status=429,
                                headers={"Retry-After": str(refusal.retry_after), "OData-Version": "4.0",
                                         **protection.remaining(protection.user_of(auth))},
                                content_type="application/json; odata.metadata=minimal; charset=utf-8")
                return body(environ, start_response)

            def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                headers.extend(protection.remaining(protection.user_of(auth)).items())
                return start_response(status, headers, exc_info)

            return super().__call__(environ, start)

    def handle(self, request: Request) -> Response:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path = raw.split("?", 1)[0]
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("://", 1)[1].split("/", 1)[1]
        if not raw_path.startswith(API_PREFIX):
            return _response(Result(404, {"error": {"code": "0x80060888",
                                                    "message": f"Resource not found for '{request.path}'."}}), self.api)
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _response(Result(401, {"error": {"code": "0x80072560", "message": "The user is not authenticated."}}),
                             self.api)
        self.api.count("requests")
        req = Req(
            method=request.method,
            path=raw_path[len(API_PREFIX):],
            query={k: v for k, v in request.args.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.get_data(),
            base_url=request.host_url.rstrip("/") + API_PREFIX,
        )
        if req.path == "$batch" and req.method == "POST":
            try:
                with self.api.bypassing(req.headers):  # on the $batch request, it covers every part
                    content_type, body = run_batch(self.api, req)
            except ODataError as exc:
                return _response(Result(exc.status, {"error": {"code": exc.code, "message": exc.message}}), self.api)
            return Response(body, status=200, headers={"OData-Version": "4.0", "x-ms-dop-hint": str(self.api.dop_hint)},
                            content_type=content_type)
        return _response(self.api.dispatch(req), self.api)

    def register_webhook(self, url: str, key: str, entities: list[str],
                         messages: list[str] | tuple[str, ...] = ("Create", "Update"), **kwargs: Any) -> str:
        return self.api.register_webhook(url, key, entities, messages, **kwargs)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self.api.webhooks.wait(timeout)

    @property
    def webhook_deliveries(self) -> list[Any]:
        return self.api.webhooks.deliveries

    def close(self) -> None:
        self.api.webhooks.close()
        self.api.store.close()


def build_app(state_dir: Path, *, tables: dict[str, Any] | None = None,
              service_protection: Limits | None | str = "from-env") -> DataverseSandbox:
    """`tables`: logical name -> solution.schema.Table (or sandbox TableDef); default: the solution's.
    `service_protection`: Limits to enforce, None for none, default: the CSPB_SANDBOX_SERVICE_PROTECTION setting."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    limits = Limits.from_env() if service_protection == "from-env" else service_protection
    store = Store(state_dir / "dataverse.sqlite3")
    return DataverseSandbox(Api(build_tables(tables), store),
                            ServiceProtection(limits) if isinstance(limits, Limits) else None)
