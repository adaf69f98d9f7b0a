"""Common plumbing for the loopback sandbox servers: a threaded WSGI server, JSON helpers, and
fault injection (429 + Retry-After, 500, latency, a timeout after the work was done).

Sandboxes import no app code; they speak the provider's wire format and nothing else.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

WsgiApp = Callable[..., Any]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, default=str), status=status, headers=headers or {},
                    content_type="application/json; charset=utf-8")


@dataclass
class FaultPlan:
    """What to break. Counters apply to requests whose path contains `path_contains` (all if empty)."""

    throttle_every: int = 0          # every Nth matching request answers 429
    retry_after_seconds: float = 1.0
    fail_every: int = 0              # every Nth matching request answers 500
    latency_ms: float = 0.0          # added to every request
    timeout_after_commit: int = 0    # the next N matching requests do the work, then stall past the client's timeout
    stall_seconds: float = 5.0
    path_contains: str = ""
    method: str = ""                 # only requests with this method ("" = any)


@dataclass
class FaultInjector:
    plan: FaultPlan = field(default_factory=FaultPlan)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    injected: dict[str, int] = field(default_factory=lambda: {"429": 0, "500": 0, "timeout": 0})
    # The service's own error shape for an injected 429/500: (status, request) -> Response. A
    # sandbox sets it so that throttling looks like the real service's, not like Dataverse's.
    fault_response: Callable[[int, Request], Response] | None = None

    def set(self, **changes: Any) -> None:
        with self._lock:
            self.plan = FaultPlan(**changes)
            self._count = 0

    def clear(self) -> None:
        self.set()

    def _matches(self, request: Request) -> bool:
        p = self.plan
        return (not p.path_contains or p.path_contains in request.path) and (not p.method or p.method == request.method)

    def before(self, request: Request) -> Response | None:
        """Called before the handler. Returns a fault response, or None to go on."""
        p = self.plan
        if p.latency_ms:
            time.sleep(p.latency_ms / 1000.0)
        if not self._matches(request):
            return None
        with self._lock:
            self._count += 1
            n = self._count
        if p.throttle_every and n % p.throttle_every == 0:
            self.injected["429"] += 1
            if self.fault_response is not None:
                reply = self.fault_response(429, request)
                reply.headers["Retry-After"] = str(p.retry_after_seconds)
                return reply
            return json_response({"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}},
                                 429, {"Retry-After": str(p.retry_after_seconds)})
        if p.fail_every and n % p.fail_every == 0:
            self.injected["500"] += 1
            if self.fault_response is not None:
                return self.fault_response(500, request)
            return json_response({"error": {"code": "InternalServerError", "message": "sandbox injected failure"}}, 500)
        return None

    def after(self, request: Request) -> None:
        """Called after the handler did its work: simulates a response lost after the server committed."""
        if not self._matches(request):
            return
        with self._lock:
            if self.plan.timeout_after_commit <= 0:
                return
            self.plan.timeout_after_commit -= 1
            self.injected["timeout"] += 1
        time.sleep(self.plan.stall_seconds)


class SandboxApp:
    """Wraps a handler `(request) -> Response` with fault injection and a control endpoint.

    `POST /_sandbox/faults` with a FaultPlan JSON body changes the faults at run time;
    `DELETE /_sandbox/faults` clears them.
    """

    def __init__(self, handler: Callable[[Request], Response], faults: FaultInjector | None = None) -> None:
        self.handler = handler
        self.faults = faults or FaultInjector()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path.endswith("/_sandbox/faults"):
            if request.method == "DELETE":
                self.faults.clear()
            else:
                self.faults.set(**(request.get_json(silent=True) or {}))
            return json_response({"ok": True})(environ, start_response)
        fault = self.faults.before(request)
        if fault is not None:
            return fault(environ, start_response)
        try:
            response = self.handler(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must show as a 500, not a dropped socket
            response = json_response({"error": {"code": "SandboxError", "message": f"{type(exc).__name__}: {exc}"}}, 500)
        self.faults.after(request)
        return response(environ, start_response)


class RunningServer:
    """A WSGI app served on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: WsgiApp, port: int = 0, host: str = "127.0.0.1", ssl_context: Any = None) -> None:
        self.app = app
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the demo output
        # TLS for stand-ins whose real clients refuse plain HTTP (msal authorities, bearer tokens in azure-core).
        self.scheme = "https" if ssl_context is not None else "http"
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> RunningServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
