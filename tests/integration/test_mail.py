"""Invoice mail leaves through a real SMTP server on 127.0.0.1 (and Graph sendMail), in the contract's
language, with the PDF and the usage CSV, and is read back from the mailbox."""

from __future__ import annotations

from datetime import date

import pytest

from accounting.post_invoice import run_post_invoice_jobs
from shared.errors import RetriableError, ValidationError
from shared.mail import Attachment, GraphMailer, OutgoingMail, SmtpMailer

pytestmark = pytest.mark.integration


def _add_usage_line(dv, invoice_id: str) -> None:
    dv.create("invoicedetails", {
        "invoiceid@odata.bind": f"/invoices({invoice_id})", "productdescription": "Usage Virtual Machines (2026-03)",
        "quantity": 1, "priceperunit": "42.10", "baseamount": "42.10", "manualdiscountamount": "0", "tax": "0",
        "extendedamount": "42.10", "cspb_linetype": 4, "cspb_linekey": f"usage|{invoice_id}"})


def test_posted_invoice_is_mailed_to_the_billing_contact_in_spanish_with_pdf_and_usage_csv(
        dv, dv_server, seed_invoice, smtp_env, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    ids = seed_invoice(language="es", autocharge=False, autosync=False)
    _add_usage_line(dv, ids["invoice"])

    outcome = run_post_invoice_jobs(ids["invoice"], today=date(2026, 3, 31), dv=dv, jobs=("send",))

    assert outcome["send"].startswith("Sent to ann") and " on 2026-03-31 (smtp " in outcome["send"]
    [mail] = smtp_env.messages
    assert mail.channel == "smtp" and mail.to == [dv.get("contacts", _contact_id(dv, ids))["emailaddress1"]]
    assert mail.subject.startswith("Factura INV-") and "Fabrikam Cloud" in mail.subject
    assert mail.language == "es" and "Adjuntamos la factura" in mail.text
    names = {name: (ctype, data) for name, ctype, data in mail.attachments}
    pdf = next(v for k, v in names.items() if k.endswith(".pdf"))
    usage = next(v for k, v in names.items() if k.endswith("-usage.csv"))
    assert pdf[0] == "application/pdf" and pdf[1].startswith(b"%PDF")
    assert usage[0] == "text/csv" and b"Usage Virtual Machines" in usage[1] and b"42.10" in usage[1]
    assert mail.message_id and "factura" in mail.html.lower()

    # A second run finds the status and sends nothing.
    assert run_post_invoice_jobs(ids["invoice"], today=date(2026, 4, 1), dv=dv, jobs=("send",))["send"] == "already sent"
    assert len(smtp_env.messages) == 1


def _contact_id(dv, ids) -> str:
    contract = dv.get("cspb_billingcontracts", ids["contract"], select=["_cspb_primarybillingcontact_value"])
    return contract["_cspb_primarybillingcontact_value"]


def test_an_invoice_without_usage_has_only_the_pdf(dv, dv_server, seed_invoice, smtp_env, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    ids = seed_invoice(language="en", autocharge=False, autosync=False)
    run_post_invoice_jobs(ids["invoice"], today=date(2026, 3, 31), dv=dv, jobs=("send",))
    [mail] = smtp_env.messages
    assert [name.rsplit(".", 1)[-1] for name, _, _ in mail.attachments] == ["pdf"]
    assert mail.subject.startswith("Invoice INV-") and mail.language == "en"


def test_graph_sendmail_delivers_to_the_same_mailbox(mail_server):
    mailer = GraphMailer(mail_server.url, "billing@partner.example", lambda: "sandbox-token")
    mail = OutgoingMail(to=("ap@contoso.example",), subject="Invoice INV-1", html="<p>hi</p>", text="hi",
                        attachments=(Attachment("INV-1.pdf", "application/pdf", b"%PDF-1.4 x"),), key="invoice:1")
    message_id = mailer.send(mail)
    [delivered] = mail_server.app.sandbox.messages
    assert delivered.channel == "graph" and delivered.sender == "billing@partner.example"
    assert delivered.to == ["ap@contoso.example"] and delivered.message_id == message_id
    assert delivered.attachments == [("INV-1.pdf", "application/pdf", b"%PDF-1.4 x")]
    # The same key gives the same Message-ID: a resend after a crash is recognisable.
    assert mailer.send(mail) == message_id


def test_bad_recipients_and_an_unreachable_relay_are_told_apart(mail_server):
    import socket

    with pytest.raises(ValidationError, match="no valid recipient"):
        SmtpMailer("127.0.0.1", mail_server.app.sandbox.smtp_port, "b@p.example").send(
            OutgoingMail(to=("not-an-address",), subject="s", html="", text=""))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(RetriableError, match="SMTP 127.0.0.1"):
        SmtpMailer("127.0.0.1", closed_port, "b@p.example", timeout=2).send(
            OutgoingMail(to=("a@c.example",), subject="s", html="", text=""))
