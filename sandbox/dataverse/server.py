"""WSGI front of the Dataverse sandbox: `build_app(state_dir)` -> SandboxApp serving /api/data/v9.2/.

Tests reach the model through the app: `app.api` (tables, store, stats, dop_hint,
multiple_unsupported), `app.register_webhook(...)`, `app.wait_for_webhooks()`,
`app.webhook_deliveries`, and `app.faults` (429/latency from sandbox._server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp
from sandbox.dataverse.api import API_PREFIX, Api, ODataError, Req, Result
from sandbox.dataverse.batch import run_batch
from sandbox.dataverse.schema import build_tables
from sandbox.dataverse.store import Store
from sandbox.dataverse.values import dumps


def _response(result: Result, api: Api) -> Response:
    headers = {"OData-Version": "4.0", "x-ms-dop-hint": str(api.dop_hint), **result.headers}
    if result.body is None:
        return Response(status=result.status, headers=headers)
    return Response(dumps(result.body), status=result.status, headers=headers,
                    content_type="application/json; odata.metadata=minimal; charset=utf-8")


class DataverseSandbox(SandboxApp):
    def __init__(self, api: Api) -> None:
        self.api = api
        super().__init__(self.handle)

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


def build_app(state_dir: Path, *, tables: dict[str, Any] | None = None) -> DataverseSandbox:
    """`tables`: logical name -> solution.schema.Table (or sandbox TableDef); default: the solution's."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(state_dir / "dataverse.sqlite3")
    return DataverseSandbox(Api(build_tables(tables), store))
