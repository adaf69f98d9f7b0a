"""Mail sandbox: a real SMTP server on 127.0.0.1 (aiosmtpd) and Microsoft Graph's sendMail
(`POST /v1.0/users/{id | userPrincipalName}/sendMail`, 202 with no body), both delivering into one
mailbox that tests and the demo read back (`GET /_sandbox/messages`, or `app.sandbox.messages`).

Graph rules kept: a bearer token is required (401 InvalidAuthenticationToken), the body is
{"message": {...}, "saveToSentItems": bool}, recipients are {"emailAddress": {"address"}}, file
attachments carry "@odata.type": "#microsoft.graph.fileAttachment" and base64 contentBytes; a message
without recipients is refused with 400 ErrorInvalidRecipients.
https://learn.microsoft.com/graph/api/user-sendmail
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response


@dataclass
class Delivered:
    channel: str  # smtp | graph
    sender: str
    to: list[str]
    subject: str
    language: str
    html: str
    text: str
    message_id: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (filename, content type, data)

    def summary(self) -> dict[str, Any]:
        return {"channel": self.channel, "from": self.sender, "to": self.to, "subject": self.subject,
                "language": self.language, "messageId": self.message_id,
                "attachments": [{"name": n, "contentType": c, "size": len(d)} for n, c, d in self.attachments]}


def _graph_error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


class MailSandbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Delivered] = []
        self.smtp_port: int | None = None
        self._controller: Any = None

    # --- SMTP -------------------------------------------------------------------------------
    def start_smtp(self, port: int = 0) -> int:
        from aiosmtpd.controller import Controller

        sandbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                sandbox.deliver_mime("smtp", envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
                return "250 Message accepted for delivery"

        if port == 0:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self._controller.start()
        self.smtp_port = port
        return port

    def stop_smtp(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def deliver_mime(self, channel: str, sender: str, to: list[str], raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        html = text = ""
        attachments: list[tuple[str, str, bytes]] = []
        for part in message.walk():
            if part.is_multipart():
                continue
            filename = part.get_filename()
            decoded = part.get_payload(decode=True)
            payload = decoded if isinstance(decoded, bytes) else b""
            if filename:
                attachments.append((filename, part.get_content_type(), payload))
            elif part.get_content_type() == "text/html":
                html = payload.decode(part.get_content_charset() or "utf-8")
            elif part.get_content_type() == "text/plain":
                text = payload.decode(part.get_content_charset() or "utf-8")
        with self.lock:
            self.messages.append(Delivered(channel, sender, to, str(message["Subject"] or ""),
                                           str(message["Content-Language"] or ""), html, text,
                                           str(message["Message-ID"] or ""), attachments))

    # --- Graph sendMail ---------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        if request.path == "/_sandbox/messages" and request.method == "GET":
            with self.lock:
                return json_response({"value": [m.summary() for m in self.messages]})
        match = re.fullmatch(r"/v1\.0/users/([^/]+)/sendMail", request.path)
        if not match:
            return _graph_error(404, "ResourceNotFound", f"no route {request.path}")
        if request.method != "POST":
            return _graph_error(405, "MethodNotAllowed", "sendMail takes POST")
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return _graph_error(400, "ErrorInvalidRequest", "The request body must hold a message object.")
        message = body["message"]
        to = [r.get("emailAddress", {}).get("address", "") for r in message.get("toRecipients") or []
              if isinstance(r, dict)]
        if not to or not all("@" in a for a in to):
            return _graph_error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        attachments = []
        for item in message.get("attachments") or []:
            if item.get("@odata.type") != "#microsoft.graph.fileAttachment":
                return _graph_error(400, "ErrorInvalidRequest", "Only fileAttachment is supported here.")
            try:
                data = base64.b64decode(item.get("contentBytes") or "", validate=True)
            except (binascii.Error, ValueError):
                return _graph_error(400, "ErrorInvalidRequest", "contentBytes is not base64.")
            attachments.append((item.get("name", ""), item.get("contentType", "application/octet-stream"), data))
        content = message.get("body") or {}
        html = content.get("content", "") if content.get("contentType", "").lower() == "html" else ""
        text = "" if html else content.get("content", "")
        with self.lock:
            self.messages.append(Delivered("graph", match.group(1), to, message.get("subject", ""), "", html, text,
                                           message.get("internetMessageId", ""), attachments))
        return Response(status=202)


def build_app(state_dir: Path | None = None, *, smtp_port: int = 0) -> SandboxApp:
    """The HTTP app (Graph sendMail); its SMTP server is already listening on `app.sandbox.smtp_port`."""
    sandbox = MailSandbox()
    sandbox.start_smtp(smtp_port)
    app = SandboxApp(sandbox)
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
