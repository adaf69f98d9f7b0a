"""`cspbridge pay charge|link` through click's CliRunner against the Dataverse and Stripe sandboxes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from cli.main import cli
from payments.links import verify_token

pytestmark = pytest.mark.integration


def _run(*args: str):
    return CliRunner().invoke(cli, ["pay", *args])


def test_charge_by_number_pays_once(money_cli_env, dv, seed_invoice, stripe_method_token):
    ids = seed_invoice(token=stripe_method_token())
    number = dv.get("invoices", ids["invoice"])["invoicenumber"]
    first = _run("charge", "--invoice", number)
    assert first.exit_code == 0, first.output
    body = json.loads(first.stdout)
    assert body["status"] == "succeeded" and body["amount"] == "124.80" and body["balance"] == "0.00"
    again = json.loads(_run("charge", "--invoice", ids["invoice"]).stdout)
    assert again["replayed"] and again["key"] == body["key"]
    assert len(money_cli_env["stripe"].app.sandbox.intents) == 1
    assert dv.get("invoices", ids["invoice"])["cspb_paymentstatus"] == 3


def test_partial_charge_then_the_rest(money_cli_env, dv, seed_invoice, stripe_method_token):
    ids = seed_invoice(token=stripe_method_token())
    part = json.loads(_run("charge", "--invoice", ids["invoice"], "--amount", "24.80").stdout)
    assert part["amount"] == "24.80" and Decimal(part["balance"]) == Decimal("100.00")
    # The same command again is the same payment, not a second one.
    assert json.loads(_run("charge", "--invoice", ids["invoice"], "--amount", "24.80").stdout)["replayed"]
    rest = json.loads(_run("charge", "--invoice", ids["invoice"]).stdout)
    assert rest["amount"] == "100.00" and Decimal(rest["balance"]) == 0
    assert len(money_cli_env["stripe"].app.sandbox.intents) == 2


def test_charge_failures_exit_non_zero(money_cli_env, dv, seed_invoice, stripe_method_token):
    declined = seed_invoice(token=stripe_method_token("pm_card_chargeDeclined"))
    result = _run("charge", "--invoice", declined["invoice"])
    assert result.exit_code == 1 and json.loads(result.stdout)["status"] == "failed"
    again = _run("charge", "--invoice", declined["invoice"])
    assert again.exit_code == 1 and "--purpose" in again.stderr
    assert _run("charge", "--invoice", "INV-NOPE").exit_code == 1
    assert _run("charge", "--invoice", declined["invoice"], "--amount", "-3").exit_code == 2


def test_link_prints_a_single_use_link_for_a_real_contract(money_cli_env, dv, seed_invoice):
    ids = seed_invoice(token="")
    result = _run("link", "--contract", ids["contract_number"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("http") and "/pay/" in url
    assert verify_token(url.rsplit("/", 1)[1]).contract_number == ids["contract_number"]
    missing = _run("link", "--contract", "CON-404")
    assert missing.exit_code == 1 and "no billing contract" in missing.output
