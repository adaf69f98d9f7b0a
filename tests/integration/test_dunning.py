"""Dunning with a frozen clock: a declined card is retried on schedule, reminders and the final notice
leave through the local SMTP server, a person gets a task at the suspension day, every step is recorded on
the invoice, and a rerun on the same day does nothing twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from jobs.dunning import run

pytestmark = pytest.mark.integration
DUE = date(2026, 4, 30)


@pytest.fixture
def env(monkeypatch, dv_server, smtp_env):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    return smtp_env


def _overdue_invoice(dv, seed_invoice, token: str, *, due: date, language: str = "en", **policy) -> dict:
    ids = seed_invoice(language=language, token=token, autocharge=True)
    dv.update("cspb_billingcontracts", ids["contract"], {
        "cspb_dunningreminderdays": policy.get("reminders", "7,14"), "cspb_dunningretrydays": policy.get("retries", "3,7"),
        "cspb_dunningfinalday": policy.get("final", 30), "cspb_dunningsuspendday": policy.get("suspend", 45)})
    dv.update("invoices", ids["invoice"], {"duedate": due.isoformat()})
    return ids


def _events(dv, invoice_id):
    rows = dv.list("cspb_dunningevents", select=["cspb_kind", "cspb_step", "cspb_daysoverdue", "cspb_outcome"],
                   filter=f"_cspb_invoice_value eq {invoice_id}")
    return sorted((r["cspb_kind"], r["cspb_step"], r["cspb_daysoverdue"]) for r in rows)


def test_the_policy_runs_on_schedule_with_a_frozen_clock(env, dv, seed_invoice, stripe_method_token, stripe_server,
                                                         quick_retry):
    from payments.stripe_adapter import StripeProcessor

    processor = StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=5)
    ids = _overdue_invoice(dv, seed_invoice, stripe_method_token("pm_card_chargeDeclined"), due=DUE)
    mailbox = env.messages

    day3 = run(DUE + timedelta(3), dv=dv, processor=processor)
    assert dict(day3.done) == {"retry": 1} and not mailbox
    assert "declined" in day3.lines[0].lower()

    day7 = run(DUE + timedelta(7), dv=dv, processor=processor)
    assert dict(day7.done) == {"retry": 1, "reminder": 1}

    assert len(mailbox) == 1 and "is 7 days overdue" in mailbox[0].subject
    assert mailbox[0].attachments[0][2].startswith(b"%PDF")

    again = run(DUE + timedelta(7), dv=dv, processor=processor)
    assert dict(again.done) == {} and len(mailbox) == 1

    assert dict(run(DUE + timedelta(20), dv=dv, processor=processor).done) == {"reminder": 1}
    assert dict(run(DUE + timedelta(31), dv=dv, processor=processor).done) == {"final": 1}
    assert mailbox[-1].subject.startswith("Final notice:")
    assert dict(run(DUE + timedelta(46), dv=dv, processor=processor).done) == {"flag": 1}

    assert _events(dv, ids["invoice"]) == [(1, 1, 7), (1, 2, 20), (2, 1, 3), (2, 2, 7), (3, 1, 31), (4, 1, 46)]
    tasks = list(dv.list("tasks", select=["subject", "_regardingobjectid_value"]))
    assert len(tasks) == 1 and tasks[0]["_regardingobjectid_value"] == ids["account"]
    assert "46 days overdue" in tasks[0]["subject"]
    status = dv.get("invoices", ids["invoice"], select=["cspb_dunningstatus", "cspb_paymentstatus"])
    assert status["cspb_dunningstatus"].startswith("flag 1") and status["cspb_paymentstatus"] != 3
    payments = list(dv.list("cspb_payments", select=["cspb_paymentkey", "cspb_status"]))
    assert len(payments) == 2  # one per retry, each with its own idempotency key


def test_a_paid_invoice_gets_no_reminder(env, dv, seed_invoice, stripe_method_token, stripe_server, quick_retry):
    from payments.stripe_adapter import StripeProcessor

    processor = StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=5)
    ids = _overdue_invoice(dv, seed_invoice, stripe_method_token("pm_card_visa"), due=DUE)
    report = run(DUE + timedelta(7), dv=dv, processor=processor)
    assert report.done["retry"] == 1 and "succeeded" in report.lines[0]
    # The retry paid it: the reminder of the same run and later steps are not sent.
    assert dv.get("invoices", ids["invoice"], select=["cspb_paymentstatus"])["cspb_paymentstatus"] == 3
    assert dict(run(DUE + timedelta(31), dv=dv, processor=processor).done) == {}


def test_a_bad_policy_fails_that_invoice_with_the_contract_named(env, dv, seed_invoice):
    ids = _overdue_invoice(dv, seed_invoice, "", due=DUE, reminders="7, later")
    report = run(DUE + timedelta(8), dv=dv)
    assert report.failed and "dunning policy reminder days: 'later'" in report.failed[0]
    assert ids["contract_number"] in report.failed[0]


def test_the_timer_sends_todays_reminder_in_the_contracts_language(env, dv, seed_invoice):
    from functions.dunning_timer import dunning_timer

    today = datetime.now(UTC).date()
    _overdue_invoice(dv, seed_invoice, "", due=today - timedelta(8), language="es")
    dunning_timer.build().get_user_function()(SimpleNamespace(past_due=False))
    [mail] = env.messages
    assert mail.language == "es" and mail.subject.startswith("Recordatorio: la factura")
