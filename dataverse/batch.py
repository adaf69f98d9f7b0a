"""`$batch` bodies: multipart/mixed with optional changesets (OData 4.0 section 11.7).

Dataverse specifics: at most 1000 requests per batch; every request in a changeset needs a
Content-ID; when one request in a changeset fails, the whole changeset is rolled back and the
response holds just that failure in its place; without `Prefer: odata.continue-on-error` the batch
stops at the first failure.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

from dataverse import odata

MAX_BATCH_REQUESTS = 1000


@dataclass
class BatchRequest:
    method: str
    path: str                      # relative to the API root, e.g. "accounts" or "accounts(<guid>)"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None  # referenced later in the changeset as "$<content_id>"


@dataclass
class BatchResponse:
    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def entity_id(self) -> str | None:
        return odata.id_from_entity_url(self.headers.get("OData-EntityId") or self.headers.get("Location"))


def _http_part(req: BatchRequest, api_root: str, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    target = req.path if req.path.startswith(("$", "http://", "https://")) else f"{api_root}/{req.path.lstrip('/')}"
    lines += ["", f"{req.method.upper()} {target} HTTP/1.1"]
    headers = dict(req.headers)
    payload = None
    if req.body is not None:
        payload = odata.dumps(req.body)
        headers.setdefault("Content-Type", "application/json; type=entry")
        # Dataverse rejects writes inside a batch that lack a length ("stream not readable").
        headers["Content-Length"] = str(len(payload.encode()))
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("")
    lines.append(payload or "")
    return "\r\n".join(lines)


def encode(requests: list[BatchRequest], api_root: str, *, changeset: bool) -> tuple[str, bytes]:
    """Returns (Content-Type header, body). `api_root` is the absolute path, e.g. /api/data/v9.2."""
    batch = f"batch_{uuid.uuid4().hex}"
    out: list[str] = []
    if changeset:
        cs = f"changeset_{uuid.uuid4().hex}"
        parts = []
        for n, req in enumerate(requests, start=1):
            parts.append(f"--{cs}\r\n" + _http_part(req, api_root, req.content_id or str(n)))
        inner = "\r\n".join(parts) + f"\r\n--{cs}--"
        out.append(f"--{batch}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n{inner}")
    else:
        for req in requests:
            out.append(f"--{batch}\r\n" + _http_part(req, api_root, None))
    body = "\r\n".join(out) + f"\r\n--{batch}--\r\n"
    return f"multipart/mixed; boundary={batch}", body.encode()


_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.I)


def boundary_of(content_type: str) -> str:
    found = _BOUNDARY_RE.search(content_type or "")
    if not found:
        raise ValueError(f"no multipart boundary in {content_type!r}")
    return found.group(1)


def split_parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.strip(b"\r\n"))
    return parts


def _headers_and_rest(part: bytes) -> tuple[dict[str, str], bytes]:
    sep = b"\r\n\r\n" if b"\r\n\r\n" in part else b"\n\n"
    head, _, rest = part.partition(sep)
    parsed = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
    return {k: v for k, v in parsed.items()}, rest


def _decode_http_response(part_headers: dict[str, str], payload: bytes) -> BatchResponse:
    text = payload.decode("utf-8")
    head, _, body_text = text.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip()] = v.strip()
    body: Any = None
    if body_text.strip():
        try:
            body = odata.loads(body_text)
        except ValueError:
            body = body_text
    content_id = next((v for k, v in part_headers.items() if k.lower() == "content-id"), None)
    return BatchResponse(status, headers, body, content_id)


def decode(content_type: str, body: bytes) -> list[BatchResponse]:
    """Flattens changeset responses into one list, in request order."""
    responses: list[BatchResponse] = []
    for part in split_parts(body, boundary_of(content_type)):
        headers, rest = _headers_and_rest(part)
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if ctype.lower().startswith("multipart/mixed"):
            for inner in split_parts(rest, boundary_of(ctype)):
                inner_headers, inner_rest = _headers_and_rest(inner)
                responses.append(_decode_http_response(inner_headers, inner_rest))
        else:
            responses.append(_decode_http_response(headers, rest))
    return responses
