"""Outgoing mail through one interface, chosen by settings (CSPB_MAIL_BACKEND):

- `smtp`: any SMTP relay (STARTTLS and login when configured), e.g. Exchange Online or SendGrid;
- `graph`: Microsoft Graph `POST /users/{sender}/sendMail` with an app-only token (Mail.Send), the
  documented way for a Microsoft 365 mailbox without SMTP AUTH;
- `outbox`: no delivery; the message is kept in Blob Storage (outbox/mail/...), for environments that
  deliver mail some other way.

Every message carries a Message-ID derived from the caller's key, so a resend after a crash between the
send and the status write is recognisable as the same message by the receiving side.
"""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from hashlib import sha256
from typing import Protocol

from shared.config import Settings, get_settings
from shared.errors import FatalError, RetriableError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)
SMTP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    to: tuple[str, ...]
    subject: str
    html: str
    text: str
    language: str = "en"
    attachments: tuple[Attachment, ...] = ()
    key: str = ""  # the caller's idempotency key (e.g. "invoice:<id>"); becomes the Message-ID
    cc: tuple[str, ...] = field(default=())

    def message_id(self, domain: str) -> str:
        if not self.key:
            return make_msgid(domain=domain)
        return f"<{sha256(self.key.encode()).hexdigest()[:32]}@{domain}>"


class Mailer(Protocol):
    name: str

    def send(self, mail: OutgoingMail) -> str:
        """Deliver (or hand over) the message; returns its Message-ID."""
        ...


def _check(mail: OutgoingMail) -> None:
    if not mail.to or not all("@" in address for address in mail.to):
        raise ValidationError(f"mail has no valid recipient: {list(mail.to)!r}")


def to_mime(mail: OutgoingMail, sender: str, sender_name: str = "") -> EmailMessage:
    domain = sender.rsplit("@", 1)[-1] or "localhost"
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender)) if sender_name else sender
    message["To"] = ", ".join(mail.to)
    if mail.cc:
        message["Cc"] = ", ".join(mail.cc)
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id(domain)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=attachment.filename)
    # After the body: set_content() drops Content-* headers set before it.
    message["Content-Language"] = mail.language
    return message


class SmtpMailer:
    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, sender_name: str = "", username: str = "",
                 password: str = "", starttls: bool = False, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        if not host or not sender:
            raise FatalError("SMTP mail needs CSPB_SMTP_HOST and CSPB_MAIL_FROM")
        self.host, self.port, self.sender, self.sender_name = host, port, sender, sender_name
        self.username, self._password, self.starttls, self.timeout = username, password, starttls, timeout

    def send(self, mail: OutgoingMail) -> str:
        _check(mail)
        message = to_mime(mail, self.sender, self.sender_name)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password)
                smtp.send_message(message, from_addr=self.sender, to_addrs=[*mail.to, *mail.cc])
        except smtplib.SMTPRecipientsRefused as exc:
            raise ValidationError(f"the mail server refused the recipients {sorted(exc.recipients)}") from None
        except smtplib.SMTPAuthenticationError:
            raise FatalError("the mail server refused the SMTP login (check CSPB_SMTP_USERNAME/PASSWORD)") from None
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, 4xx: the relay may take it later.
            raise RetriableError(f"SMTP {self.host}:{self.port} failed: {type(exc).__name__}") from None
        return str(message["Message-ID"])


class GraphMailer:
    """Graph sendMail answers 202 with no body; the message id is ours (internetMessageId)."""

    name = "graph"

    def __init__(self, graph_url: str, sender: str, token_provider: Callable[[], str], *,
                 timeout: float = 30.0) -> None:
        from shared.http import HttpClient, RetryPolicy

        if not sender:
            raise FatalError("Graph mail needs CSPB_MAIL_FROM (the mailbox the app may send as)")
        self.sender = sender
        self.http = HttpClient(graph_url.rstrip("/") + "/v1.0", token_provider=token_provider,
                               retry=RetryPolicy(max_attempts=3), timeout=timeout, service="graph")

    def send(self, mail: OutgoingMail) -> str:
        _check(mail)
        domain = self.sender.rsplit("@", 1)[-1]
        message_id = mail.message_id(domain)
        body = {
            "message": {
                "subject": mail.subject,
                "body": {"contentType": "HTML", "content": mail.html},
                "toRecipients": [{"emailAddress": {"address": a}} for a in mail.to],
                "ccRecipients": [{"emailAddress": {"address": a}} for a in mail.cc],
                "internetMessageId": message_id,
                "attachments": [{
                    "@odata.type": "#microsoft.graph.fileAttachment", "name": a.filename,
                    "contentType": a.content_type, "contentBytes": base64.b64encode(a.data).decode(),
                } for a in mail.attachments],
            },
            "saveToSentItems": True,
        }
        self.http.request("POST", f"users/{self.sender}/sendMail", json=body, ok=(202,))
        return message_id


class OutboxMailer:
    name = "outbox"

    def __init__(self, sender: str = "", store: object | None = None) -> None:
        self.sender = sender or "billing@localhost"
        self._store = store

    def send(self, mail: OutgoingMail) -> str:
        from shared.blobstore import BlobStore, blob_store_from_settings

        _check(mail)
        store: BlobStore = self._store or blob_store_from_settings()  # type: ignore[assignment]
        message = to_mime(mail, self.sender)
        stem = sha256((mail.key or str(message["Message-ID"])).encode()).hexdigest()[:16]
        store.put(f"outbox/mail/{stem}.eml", message.as_bytes(), content_type="message/rfc822")
        store.put(f"outbox/mail/{stem}.json", json.dumps({"to": list(mail.to), "subject": mail.subject,
                                                          "message_id": str(message["Message-ID"])}).encode(),
                  content_type="application/json")
        return str(message["Message-ID"])


def mailer_from_settings(settings: Settings | None = None) -> Mailer:
    s = settings or get_settings()
    backend = s.mail_backend
    if backend == "smtp":
        return SmtpMailer(s.smtp_host, s.smtp_port, s.mail_from, sender_name=s.mail_from_name,
                          username=s.smtp_username, password=s.smtp_password.reveal(), starttls=s.smtp_starttls)
    if backend == "graph":
        from shared.auth import token_provider_for

        return GraphMailer(s.graph_url, s.mail_from, token_provider_for(s, "https://graph.microsoft.com"))
    if backend == "outbox":
        return OutboxMailer(s.mail_from)
    raise FatalError(f"CSPB_MAIL_BACKEND={backend!r} is not one of smtp, graph, outbox")
