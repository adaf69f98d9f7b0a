"""The post-invoice timer is registered and runs the pending jobs through the service."""

from __future__ import annotations

from types import SimpleNamespace

from functions import BLUEPRINT_MODULES
from functions.post_invoice import post_invoice_timer


def test_timer_runs_pending_jobs(monkeypatch, dv_server, dv, seed_invoice, tmp_path):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_ACCOUNTING_TARGET", "none")
    reset_settings()
    ids = seed_invoice(autocharge=False)
    timer = SimpleNamespace(past_due=False)
    post_invoice_timer.build().get_user_function()(timer)
    assert dv.get("invoices", ids["invoice"])["cspb_sendstatus"].startswith("Queued to ann")
    assert {"payment_webhook", "post_invoice"} <= set(BLUEPRINT_MODULES)
