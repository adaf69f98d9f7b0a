"""Portal e-mails (the invitation), rendered in the contact's language. Sending belongs to
whichever mail channel the partner uses; this module only produces subject, HTML and text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from portal.i18n import Translator
from portal.models import Contact

_ENV = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                   autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    html: str
    text: str


def invitation(contact: Contact, account_name: str, portal_url: str, language: str, partner_name: str = "") -> Email:
    t = Translator(language)
    role = t(f"role.{int(contact.role)}")
    partner = partner_name or t("app.name")
    subject = t("email.invite_subject", partner=partner)
    html = _ENV.get_template("email_invite.html").render(
        _=t, lang=t.language, contact=contact, account=account_name, url=portal_url, role=role, partner=partner)
    text = "\n\n".join([
        t("email.greeting", name=contact.first_name),
        t("email.invite_body", partner=partner, account=account_name, role=role),
        f"{t('email.invite_button')}: {portal_url}",
        t("email.invite_signin"),
    ])
    return Email(contact.email, subject, html, text)
