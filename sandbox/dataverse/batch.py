"""$batch for the sandbox: parse multipart/mixed (with changesets), run each part through
Api.dispatch, answer multipart/mixed. A failing changeset rolls back and is answered by its one
failing response; the batch stops there unless `Prefer: odata.continue-on-error`.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.dataverse.api import API_PREFIX, Api, ODataError, Req, Result, bad_request, prefer
from sandbox.dataverse.values import dumps

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)


class _Rollback(Exception):
    def __init__(self, result: Result, content_id: str | None) -> None:
        super().__init__()
        self.result, self.content_id = result, content_id


def _boundary(content_type: str) -> str:
    m = _BOUNDARY.search(content_type or "")
    if not m:
        raise bad_request("The batch request needs Content-Type multipart/mixed with a boundary.")
    return m.group(1)


def _parts(body: bytes, boundary: str) -> list[bytes]:
    chunks = body.split(b"--" + boundary.encode())
    out = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        out.append(chunk.strip(b"\r\n"))
    return out


def _head_body(blob: bytes) -> tuple[dict[str, str], bytes]:
    sep = b"\r\n\r\n" if b"\r\n\r\n" in blob else b"\n\n"
    head, _, rest = blob.partition(sep)
    headers = {}
    for line in head.decode("utf-8").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers, rest


def _inner_request(blob: bytes, base_url: str) -> Req:
    text = blob.replace(b"\r\n", b"\n")
    request_line, _, rest = text.partition(b"\n")
    parts = request_line.decode("utf-8").split()
    if len(parts) < 2:
        raise bad_request("Bad request line in batch part.")
    method, target = parts[0], parts[1]
    headers: dict[str, str] = {}
    if rest.startswith(b"\n"):
        body = rest[1:]
    else:
        head, _, body = rest.partition(b"\n\n")
        for line in head.decode("utf-8").split("\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    split = urlsplit(target)
    path = split.path
    if API_PREFIX in path:
        path = path.split(API_PREFIX, 1)[1]
    path = path.lstrip("/")
    return Req(method, path, dict(parse_qsl(split.query, keep_blank_values=True)), headers, body.strip(), base_url)


def _http_part(result: Result, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    reason = HTTPStatus(result.status).phrase if result.status in HTTPStatus._value2member_map_ else ""
    lines += ["", f"HTTP/1.1 {result.status} {reason}", "OData-Version: 4.0"]
    lines += [f"{k}: {v}" for k, v in result.headers.items()]
    payload = ""
    if result.body is not None:
        lines.append("Content-Type: application/json; odata.metadata=minimal")
        payload = dumps(result.body)
    lines += ["", payload]
    return "\r\n".join(lines)


def run_batch(api: Api, req: Req) -> tuple[str, bytes]:
    """Returns (Content-Type, body) of the batch response."""
    outer = _parts(req.body, _boundary(req.headers.get("content-type", "")))
    continue_on_error = "odata.continue-on-error" in prefer(req.headers)
    out_boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    total = 0
    plan: list[tuple[str, Any]] = []
    for part in outer:
        headers, rest = _head_body(part)
        ctype = headers.get("content-type", "")
        if ctype.lower().startswith("multipart/mixed"):
            inner = []
            for p in _parts(rest, _boundary(ctype)):
                h, r = _head_body(p)
                if "content-id" not in h:
                    raise bad_request("Content-ID header not present in a changeset request.", "0x80060888")
                inner.append((h["content-id"], _inner_request(r, req.base_url)))
            total += len(inner)
            plan.append(("changeset", inner))
        else:
            total += 1
            plan.append(("single", (headers.get("content-id"), _inner_request(rest, req.base_url))))
    if total > MAX_REQUESTS:
        raise bad_request(f"The batch holds {total} requests; the limit is {MAX_REQUESTS}.", "0x8006088a")
    api.count("POST $batch")
    for kind, item in plan:
        if kind == "single":
            content_id, inner_req = item
            result = api.dispatch(inner_req)
            chunks.append(f"--{out_boundary}\r\n" + _http_part(result, content_id))
            if result.status >= 400 and not continue_on_error:
                break
            continue
        try:
            results = _run_changeset(api, item)
        except _Rollback as failed:
            chunks.append(f"--{out_boundary}\r\n" + _http_part(failed.result, failed.content_id))
            if not continue_on_error:
                break
            continue
        cs = f"changesetresponse_{uuid.uuid4()}"
        inner_text = "\r\n".join(f"--{cs}\r\n" + _http_part(r, cid) for cid, r in results) + f"\r\n--{cs}--"
        chunks.append(f"--{out_boundary}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n{inner_text}")
    body = "\r\n".join(chunks) + f"\r\n--{out_boundary}--\r\n"
    return f"multipart/mixed; boundary={out_boundary}", body.encode()


def _run_changeset(api: Api, items: list[tuple[str, Req]]) -> list[tuple[str, Result]]:
    refs: dict[str, str] = {}
    results: list[tuple[str, Result]] = []
    try:
        with api.store.transaction():
            for content_id, inner_req in items:
                result = api.dispatch(inner_req, refs)
                if result.status >= 400:
                    raise _Rollback(result, content_id)
                entity_url = result.headers.get("OData-EntityId")
                if entity_url and API_PREFIX in entity_url:
                    refs[content_id] = entity_url.split(API_PREFIX, 1)[1]
                results.append((content_id, result))
    except ODataError as exc:  # pragma: no cover - dispatch turns these into results
        raise _Rollback(Result(exc.status, {"error": {"code": exc.code, "message": exc.message}}), None) from exc
    return results
