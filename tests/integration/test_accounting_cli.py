"""`cspbridge accounting export|journal|post-invoice` through click's CliRunner against the
Dataverse, Stripe, QuickBooks and Business Central sandboxes."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from cli.main import cli

pytestmark = pytest.mark.integration


def _run(*args: str):
    return CliRunner().invoke(cli, ["accounting", *args])


def test_export_to_quickbooks_marks_synced_and_failed(money_cli_env, dv, seed_invoice):
    good, bad = seed_invoice(), seed_invoice()
    dv.update("invoices", bad["invoice"], {"invoicenumber": "INV-THIS-IS-TOO-LONG-1"})
    result = _run("export", "--target", "quickbooks")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["synced"] == 1 and body["failed"] == 1 and "21 characters" in body["errors"][bad["invoice"]]
    assert dv.get("invoices", good["invoice"])["cspb_accountingstatus"] == 2
    dv.update("invoices", bad["invoice"], {"invoicenumber": "INV-FIXED"})
    again = _run("export")  # the configured target (quickbooks by default) retries the failure
    assert again.exit_code == 0 and json.loads(again.stdout)["synced"] == 1
    assert len(money_cli_env["quickbooks"].app.sandbox.data["Invoice"]) == 2


def test_export_one_invoice_to_business_central(money_cli_env, dv, seed_invoice):
    ids, other = seed_invoice(), seed_invoice()
    number = dv.get("invoices", ids["invoice"])["invoicenumber"]
    result = _run("export", "--target", "businesscentral", "--invoice", number)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["synced"] == 1
    invoices = money_cli_env["businesscentral"].app.sandbox.tables["salesInvoices"]
    assert [i["externalDocumentNumber"] for i in invoices.values()] == [number]
    assert dv.get("invoices", other["invoice"])["cspb_accountingstatus"] == 1


def test_export_to_csv_and_json_files(money_cli_env, dv, seed_invoice, tmp_path):
    ids = seed_invoice()
    rows = list(csv.DictReader(io.StringIO(_run("export", "--target", "csv", "--invoice", ids["invoice"]).stdout)))
    assert sorted((r["sku"], r["quantity"], r["amount"]) for r in rows) == [
        ("CFQ7TTC0LCHC:0002", "2", "52.80"), ("CFQ7TTC0LH18:0001", "10", "72.00")]
    assert {r["invoice_total"] for r in rows} == {"124.80"}
    out = tmp_path / "invoices.json"
    assert _run("export", "--target", "json", "-o", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())["rows"]) == 2
    assert dv.get("invoices", ids["invoice"])["cspb_accountingstatus"] == 1  # a file is not a sync


def test_journal_file_and_push(money_cli_env, dv, seed_invoice):
    ids = seed_invoice()
    for n, amount in enumerate(("40.00", "10.00")):
        dv.upsert("cspb_revenueschedules", {"cspb_schedulekey": f"k{n}|2026-03"}, {
            "cspb_name": f"k{n}", "cspb_invoice@odata.bind": f"/invoices({ids['invoice']})", "cspb_month": "2026-03",
            "cspb_amount": amount, "cspb_currencycode": "USD", "cspb_exported": False})
    text = _run("journal", "--month", "2026-03").stdout
    assert {(r["account"], r["debit"], r["credit"]) for r in csv.DictReader(io.StringIO(text))} == {
        ("2400", "50.00", "0"), ("4000", "0", "50.00")}
    assert json.loads(_run("journal", "--month", "2026-03", "--format", "json").stdout)["rows"]
    pushed = _run("journal", "--month", "2026-03", "--push", "quickbooks")
    assert pushed.exit_code == 0 and len(json.loads(pushed.stdout)["entries"]) == 1
    assert _run("journal", "--month", "2026-13").exit_code == 2


def test_post_invoice_runs_pending_jobs_with_progress(money_cli_env, dv, seed_invoice, stripe_method_token):
    paid = seed_invoice(token=stripe_method_token(), language="es")
    no_contact = seed_invoice(contact=False, autocharge=False, autosync=False)
    result = _run("post-invoice", "--as-of", "2026-03-31")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["invoices"] == 2
    assert summary["outcomes"]["charge"] == {"succeeded": 1, "skipped": 1}
    assert summary["outcomes"]["send"] == {"queued": 1, "failed": 1}
    assert "invoices" in result.stderr  # the tqdm bar
    invoice = dv.get("invoices", paid["invoice"])
    assert invoice["cspb_paymentstatus"] == 3 and invoice["cspb_accountingstatus"] == 2
    assert "primary billing contact" in dv.get("invoices", no_contact["invoice"])["cspb_sendstatus"]
    assert invoice["cspb_sendstatus"].endswith(" on 2026-03-31")
    assert _run("post-invoice", "--as-of", "2026-02-30").exit_code == 2
