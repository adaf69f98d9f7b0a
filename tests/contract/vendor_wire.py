"""Helpers for the vendor contract tests (Pax8, QuickBooks, Business Central, Authorize.Net).

`data/vendors/*.json` are copies of ../shared/reference/wire/vendors/ (each names its sources:
the vendors' OpenAPI, schema and docs files, summarised field by field); CI has only the repo.

`Recorder` wraps a sandbox WSGI app and keeps every request the product's client sent with the
answer it got, so a test can check both sides of every call: the client sent what the vendor
documents, and the sandbox answered in the documented shape.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def vendor_spec(name: str) -> dict[str, Any]:
    return json.loads((DATA / "vendors" / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Call:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response: bytes = b""

    def json(self) -> Any:
        text = self.response.decode("utf-8-sig")
        return json.loads(text) if text else None

    def request_json(self) -> Any:
        return json.loads(self.body.decode("utf-8-sig")) if self.body else None


class Recorder:
    """WSGI middleware: records (request, response) pairs of the wrapped app, in order."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # tests reach app.sandbox / app.faults through the recorder
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        call = Call(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                    headers, body)
        captured: dict[str, Any] = {}

        def capture(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(response_headers)
            return start_response(status, response_headers, exc_info)

        chunks = list(self.app(environ, capture))
        call.status = captured.get("status", 0)
        call.response_headers = captured.get("headers", {})
        call.response = b"".join(chunks)
        with self._lock:
            self.calls.append(call)
        return chunks

    def matching(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.fullmatch(c.path)]


def undocumented(obj: dict[str, Any], documented: Iterable[str]) -> set[str]:
    """Keys of `obj` the vendor does not document (field names may carry notes: "size (max 20)")."""
    names = {str(d).split(" ")[0].split("[")[0] for d in documented}
    return set(obj) - names


def numbers_are_numbers(obj: dict[str, Any], fields: Iterable[str]) -> list[str]:
    """The fields among `fields` present in `obj` whose value is not a JSON number."""
    bad = []
    for name in fields:
        value = obj.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            bad.append(name)
    return bad
