"""The daily billing timer bills what is due today against the sandbox and records a sync run."""

from __future__ import annotations

from unittest import mock

from azure.functions.timer import TimerRequest

from dataverse.tables import EntitySet
from functions.billing_timer import billing_timer
from shared.errors import AuthError


def test_timer_bills_due_cycles_and_records_run(billing_env, dv):
    timer = TimerRequest(past_due=False)
    billing_timer.build().get_user_function()(timer)
    invoices = list(dv.list(EntitySet.INVOICES, select=["cspb_invoicekey", "statuscode"]))
    assert invoices and all(i["statuscode"] == 4 for i in invoices)
    runs = list(dv.list(EntitySet.SYNC_RUNS, select=["cspb_kind", "cspb_status", "cspb_counts"]))
    assert [(r["cspb_kind"], r["cspb_status"]) for r in runs] == [("billing", 2)]
    billing_timer.build().get_user_function()(timer)
    assert len(list(dv.list(EntitySet.INVOICES, select=["invoiceid"]))) == len(invoices)


def test_timer_swallows_fatal_errors(billing_env):
    with mock.patch("jobs.billing_fanout.fan_out", side_effect=AuthError("bad credentials")):
        billing_timer.build().get_user_function()(TimerRequest(past_due=False))
