"""pytest fixtures for the distributors area (sandboxes started on 127.0.0.1, port 0)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sandbox._server import RunningServer

if TYPE_CHECKING:
    from accounting.base import Customer, Invoice
    from distributors.pax8 import Pax8Adapter


def _serve(module: str, state_dir: Path) -> Iterator[RunningServer]:
    import importlib

    app = importlib.import_module(module).build_app(state_dir)
    with RunningServer(app, port=0) as server:
        yield server


@pytest.fixture
def pax8_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.pax8.server", tmp_path / "pax8")


@pytest.fixture
def pax8(pax8_server, quick_retry) -> Pax8Adapter:
    """The Pax8 adapter against its sandbox, with retries that do not sleep."""
    from distributors.pax8 import Pax8Adapter

    return Pax8Adapter(pax8_server.url, "client", "secret",
                       retry=quick_retry, timeout=5)


@pytest.fixture
def stripe_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.stripe.server", tmp_path / "stripe")


@pytest.fixture
def authorizenet_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.authorizenet.server", tmp_path / "authorizenet")


@pytest.fixture
def quickbooks_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.quickbooks.server", tmp_path / "quickbooks")


@pytest.fixture
def businesscentral_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.businesscentral.server", tmp_path / "businesscentral")


def accounting_invoice(customer: Customer, number: str = "INV-0001", due_date: date | None = None) -> Invoice:
    """The March invoice the accounting target tests push: two license lines, 124.80 USD."""
    from accounting.base import Invoice, InvoiceLine

    return Invoice(number, customer, date(2026, 3, 1), "USD", (
        InvoiceLine("CFQ7TTC0LH18:0001", "Microsoft 365 Business Basic", Decimal("10"), Decimal("7.20"),
                    Decimal("72.00")),
        InvoiceLine("CFQ7TTC0LCHC:0002", "Microsoft 365 Business Premium", Decimal("2"), Decimal("26.40"),
                    Decimal("52.80")),
    ), due_date=due_date)


@pytest.fixture
def quick_retry():
    """A retry policy that does not sleep, so fault-injection tests stay fast."""
    from shared.http import RetryPolicy

    return RetryPolicy(max_attempts=4, sleep=lambda _s: None)


@pytest.fixture
def seed_invoice(dv):
    """Writes account, billing contact, contract, products, an invoice and its lines to the
    Dataverse sandbox. Returns a function; call it with overrides, get back the ids."""
    from decimal import Decimal

    counter = {"n": 0}

    def make(*, language: str = "en", provider: str = "stripe", token: str = "", autocharge: bool = True,
             autosync: bool = True, autosend: bool = True, contact: bool = True, currency: str = "USD",
             lines: tuple[tuple[str, str, int, str], ...] = (
                 ("CFQ7TTC0LH18:0001", "Microsoft 365 Business Basic", 10, "7.20"),
                 ("CFQ7TTC0LCHC:0002", "Microsoft 365 Business Premium", 2, "26.40"))) -> dict[str, str]:
        counter["n"] += 1
        n = counter["n"]
        account = dv.create("accounts", {"name": f"Contoso {n}", "emailaddress1": f"ap{n}@contoso.example"})
        contract: dict = {"cspb_name": f"CON-{n}", "cspb_account@odata.bind": f"/accounts({account})",
                          "cspb_language": language, "cspb_currencycode": currency, "cspb_paymentprovider": provider,
                          "cspb_paymenttoken": token or None, "cspb_autocharge": autocharge,
                          "cspb_autosync": autosync, "cspb_autosend": autosend}
        if contact:
            contact_id = dv.create("contacts", {"firstname": "Ann", "lastname": "Lee",
                                                "emailaddress1": f"ann{n}@contoso.example",
                                                "parentcustomerid_account@odata.bind": f"/accounts({account})"})
            contract["cspb_primarybillingcontact@odata.bind"] = f"/contacts({contact_id})"
        contract_id = dv.upsert("cspb_billingcontracts", {"cspb_contractnumber": f"CON-{n}"}, contract).id
        total = sum(Decimal(price) * qty for _sku, _name, qty, price in lines)
        invoice = dv.upsert("invoices", {"cspb_invoicekey": f"CON-{n}|2026-03-01|cycle"}, {
            "name": f"CON-{n} March 2026", "invoicenumber": f"INV-{n:04d}",
            "customerid_account@odata.bind": f"/accounts({account})",
            "cspb_billingcontract@odata.bind": f"/cspb_billingcontracts({contract_id})",
            "totalamount": str(total), "cspb_currencycode": currency, "cspb_balance": str(total),
            "cspb_amountpaid": "0", "cspb_paymentstatus": 1, "cspb_accountingstatus": 1,
            "cspb_periodstart": "2026-03-01", "cspb_periodend": "2026-03-31", "cspb_language": language}).id
        for i, (sku, name, qty, price) in enumerate(lines):
            product = dv.upsert("products", {"productnumber": sku}, {"name": name}).id
            amount = Decimal(price) * qty
            dv.upsert("invoicedetails", {"cspb_linekey": f"CON-{n}|{i}"}, {
                "invoiceid@odata.bind": f"/invoices({invoice})", "productid@odata.bind": f"/products({product})",
                "productdescription": name, "quantity": qty, "priceperunit": price, "baseamount": str(amount),
                "manualdiscountamount": "0", "tax": "0", "extendedamount": str(amount), "cspb_linetype": 1})
        return {"account": account, "contract": contract_id, "contract_number": f"CON-{n}", "invoice": invoice,
                "total": str(total)}

    return make


@pytest.fixture
def money_cli_env(monkeypatch, dv_server, stripe_server, quickbooks_server, businesscentral_server):
    """Settings pointing the CLI (which builds every client from settings) at the sandboxes."""
    from shared.config import reset_settings

    for name, value in {"DATAVERSE_URL": dv_server.url, "STRIPE_API_BASE": stripe_server.url,
                        "QUICKBOOKS_URL": quickbooks_server.url, "BUSINESS_CENTRAL_URL": businesscentral_server.url,
                        "HTTP_MAX_ATTEMPTS": "3", "HTTP_BACKOFF_CAP_SECONDS": "0.05",
                        "HTTP_TIMEOUT_SECONDS": "10"}.items():
        monkeypatch.setenv(f"CSPB_{name}", value)
    reset_settings()
    return {"stripe": stripe_server, "quickbooks": quickbooks_server, "businesscentral": businesscentral_server}


@pytest.fixture
def stripe_method_token(stripe_server, quick_retry):
    """Returns a function card -> stored method token (what a redeemed payment link leaves on a contract)."""
    from payments.stripe_adapter import StripeProcessor

    processor = StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=5)

    def make(card: str = "pm_card_visa") -> str:
        return processor.save_method("Contoso", "ap@contoso.example", card, f"{card}-seed").token()

    return make


@pytest.fixture
def tdsynnex_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.tdsynnex.server", tmp_path / "tdsynnex")


@pytest.fixture
def tdsynnex(tdsynnex_server, quick_retry, tmp_path):  # type: ignore[no-untyped-def]
    """The TD SYNNEX adapter against its sandbox: the rotating refresh token in a file store."""
    from distributors.tdsynnex import SANDBOX_ACCOUNT_ID, TdSynnexAdapter
    from distributors.tdsynnex_auth import SANDBOX_REFRESH_TOKEN, TdSynnexTokens
    from shared.secret_files import FileSecretStore

    tokens = TdSynnexTokens(tdsynnex_server.url + "/oauth/token", FileSecretStore(tmp_path / "secrets"),
                            "tdsynnex-rt", seed=SANDBOX_REFRESH_TOKEN, timeout=2)
    return TdSynnexAdapter(tdsynnex_server.url, SANDBOX_ACCOUNT_ID, tokens, retry=quick_retry, timeout=2)


@pytest.fixture
def ingram_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.ingram.server", tmp_path / "ingram")


@pytest.fixture
def ingram(ingram_server, quick_retry):  # type: ignore[no-untyped-def]
    """The Ingram Micro (Cloud Marketplace) adapter against its sandbox."""
    from distributors.ingram import IngramAdapter
    from sandbox.ingram.server import PASSWORD, SUBSCRIPTION_KEY, USER

    return IngramAdapter(ingram_server.url + "/marketplace/na", USER, PASSWORD, SUBSCRIPTION_KEY, retry=quick_retry,
                         timeout=2)
