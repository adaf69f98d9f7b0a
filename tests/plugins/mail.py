"""The mail sandbox: a real SMTP server on 127.0.0.1 and Graph sendMail over HTTP, one shared mailbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def mail_server() -> Iterator:
    from sandbox._server import RunningServer
    from sandbox.mail.server import build_app

    app = build_app()
    server = RunningServer(app, port=0).start()
    try:
        yield server
    finally:
        server.stop()
        app.sandbox.stop_smtp()


@pytest.fixture
def smtp_env(monkeypatch, mail_server):
    """Settings that send through the sandbox's SMTP server."""
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_MAIL_BACKEND", "smtp")
    monkeypatch.setenv("CSPB_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CSPB_SMTP_PORT", str(mail_server.app.sandbox.smtp_port))
    monkeypatch.setenv("CSPB_MAIL_FROM", "billing@partner.example")
    monkeypatch.setenv("CSPB_MAIL_FROM_NAME", "Fabrikam Cloud")
    reset_settings()
    return mail_server.app.sandbox
