"""The monthly journal timer releases last month's deferred revenue: the CSV is kept in Blob Storage,
and with an accounting target the journal is pushed and the rows marked exported (never twice)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from functions.journal_timer import journal_export_timer
from jobs.journal_export import previous_month


def test_previous_month_crosses_the_year():
    assert previous_month(date(2027, 1, 1)) == "2026-12"
    assert previous_month(date(2024, 3, 31)) == "2024-02"


def test_timer_keeps_last_months_journal_in_blob_storage(monkeypatch, dv_server, dv):
    from shared.blobstore import blob_store_from_settings
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_ACCOUNTING_TARGET", "none")
    reset_settings()
    month = previous_month(datetime.now(UTC).date())
    for amount, currency in (("100.00", "USD"), ("25.50", "USD"), ("40.00", "EUR")):
        dv.create("cspb_revenueschedules", {"cspb_name": f"{month} {currency}", "cspb_month": month,
                                            "cspb_amount": amount, "cspb_currencycode": currency})
    dv.create("cspb_revenueschedules", {"cspb_name": "other month", "cspb_month": "2001-01", "cspb_amount": "9",
                                        "cspb_currencycode": "USD"})

    journal_export_timer.build().get_user_function()(SimpleNamespace(past_due=False))

    text = blob_store_from_settings().get(f"accounting/journal/{month}.csv").decode()
    assert "125.5" in text and "40" in text and "USD" in text and "EUR" in text
    assert "2001-01" not in text
