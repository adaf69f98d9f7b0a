"""PartnerCenterClient against the Partner Center + Graph sandbox over real loopback HTTP."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest
import requests

from partnercenter import CartLineItem, iter_price_sheet, request_id_for
from sandbox.partnercenter.usage_file import BASIC_USAGE_COLUMNS, USAGE_COLUMNS, read_usage_rows
from shared.errors import AuthError, ConflictError, FatalError, ValidationError

pytestmark = pytest.mark.integration

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"  # Microsoft 365 Business Basic in the sandbox catalog


def _customer_with_plan(pc):
    for customer in pc.iter_customers(page_size=5):
        plan = next((s for s in pc.list_subscriptions(customer.id) if s.is_azure_plan), None)
        if plan:
            return customer, plan
    raise AssertionError("seed has no Azure plan")


def test_customers_page_with_continuation_token(pc, pc_server):
    before = pc.pc.request_count
    customers = pc.list_customers(page_size=5)
    assert len(customers) == 12 and len({c.id for c in customers}) == 12
    assert pc.pc.request_count - before == 3  # 5 + 5 + 2
    one = pc.get_customer(customers[3].id)
    assert one.company_name == customers[3].company_name and one.domain.endswith(".onmicrosoft.com")
    assert one.country and one.tenant_id == one.id


def test_subscriptions_are_typed(pc):
    customer = pc.list_customers()[0]
    subs = pc.list_subscriptions(customer.id)
    assert subs
    licensed = [s for s in subs if not s.is_azure_plan]
    assert all(s.term_duration in ("P1M", "P1Y", "P3Y") for s in licensed)
    first = licensed[0]
    assert first.product_id and first.sku_id and first.availability_id
    assert first.billing_cycle in ("monthly", "annual", "none") and first.unit_type == "Licenses"
    assert pc.get_subscription(customer.id, first.id).quantity == first.quantity


def test_purchase_then_order_completes_and_provisions(pc):
    customer = pc.list_customers()[1]
    before = {s.id for s in pc.list_subscriptions(customer.id)}
    cart = pc.create_cart(customer.id, [CartLineItem(BASIC, 3, "P1Y", "monthly", friendly_name="Sales team")])
    assert cart.status == "Active" and cart.line_items[0].quantity == 3
    result = pc.checkout(customer.id, cart.id)
    order = result.orders[0]
    assert order.status == "pending" and result.order_errors == []
    assert pc.get_cart(customer.id, cart.id).status == "Ordered"
    assert pc.get_order(customer.id, order.id).status == "completed"
    status = pc.get_provisioning_status(customer.id, order.id)
    assert [s.status for s in status] == ["fulfilled"]
    new = [s for s in pc.list_subscriptions(customer.id) if s.id not in before]
    assert [(s.quantity, s.term_duration, s.billing_cycle, s.status) for s in new] == [(3, "P1Y", "monthly", "active")]
    assert new[0].id == result.subscription_ids[0] and new[0].friendly_name == "Sales team"
    assert any(o.id == order.id for o in pc.list_orders(customer.id))


def test_checkout_that_timed_out_after_commit_buys_exactly_once(pc_server, make_pc):
    # The client gives up after 1 s; the server commits the order, then stalls 3 s.
    client = make_pc(pc_server, timeout=1.0)
    customer = client.list_customers()[2]
    before = len(client.list_subscriptions(customer.id))
    pc_server.app.faults.set(timeout_after_commit=1, stall_seconds=3, path_contains="/checkout")
    result = client.purchase(customer.id, [CartLineItem(BASIC, 2, "P1M", "monthly")], idempotency_key="change-42")
    assert pc_server.app.faults.injected["timeout"] == 1
    assert pc_server.app.state.checkouts == 1
    checkouts = [w for w in pc_server.app.state.write_log if w["path"].endswith("/checkout")]
    assert len(checkouts) == 2 and checkouts[0]["requestId"] == checkouts[1]["requestId"]
    assert [w["replayed"] for w in checkouts] == [False, True]
    assert all(w["correlationId"] == client.correlation_id for w in pc_server.app.state.write_log)
    after = client.list_subscriptions(customer.id)
    assert len(after) == before + 1
    # The same logical purchase, run again (e.g. the queue redelivered it), is a replay too.
    again = client.purchase(customer.id, [CartLineItem(BASIC, 2, "P1M", "monthly")], idempotency_key="change-42")
    assert again.orders[0].id == result.orders[0].id
    assert pc_server.app.state.checkouts == 1
    assert len(client.list_subscriptions(customer.id)) == before + 1


def test_scoped_client_sends_its_own_correlation_id(pc, pc_server):
    op = pc.scoped("11111111-2222-3333-4444-555555555555")
    customer = op.list_customers()[0]
    op.create_cart(customer.id, [CartLineItem(BASIC, 1, "P1M", "monthly")])
    assert pc_server.app.state.write_log[-1]["correlationId"] == "11111111-2222-3333-4444-555555555555"
    assert op.pc is pc.pc  # same connection pool


def test_request_id_reused_for_a_different_body_is_refused(pc):
    customer = pc.list_customers()[0]
    rid = request_id_for("dup")
    pc.create_cart(customer.id, [CartLineItem(BASIC, 1, "P1M", "monthly")], request_id=rid)
    with pytest.raises(ConflictError):
        pc.create_cart(customer.id, [CartLineItem(BASIC, 9, "P1M", "monthly")], request_id=rid)


def test_throttling_and_server_errors_are_retried(pc, pc_server):
    customer = pc.list_customers()[0]
    pc_server.app.faults.set(throttle_every=2, retry_after_seconds=0.01)
    for _ in range(3):
        assert pc.list_subscriptions(customer.id)
    pc_server.app.faults.set(fail_every=2)
    for _ in range(3):
        assert pc.get_customer(customer.id).id == customer.id
    pc_server.app.faults.set(latency_ms=30)  # slow, but inside the client's timeout
    assert pc.list_subscriptions(customer.id)
    assert pc_server.app.faults.injected["429"] >= 1 and pc_server.app.faults.injected["500"] >= 1


def test_subscription_changes_follow_new_commerce_windows(pc):
    customer = pc.list_customers()[3]
    bought = pc.purchase(customer.id, [CartLineItem(BASIC, 5, "P1Y", "annual")], idempotency_key="buy-5")
    sid = bought.subscription_ids[0]
    assert pc.set_quantity(customer.id, sid, 8).quantity == 8
    assert pc.set_quantity(customer.id, sid, 6).quantity == 6  # inside the 7-day window
    assert pc.set_auto_renew(customer.id, sid, False).auto_renew_enabled is False
    assert pc.suspend_subscription(customer.id, sid).status == "suspended"
    assert pc.reactivate_subscription(customer.id, sid).status == "active"
    assert pc.cancel_subscription(customer.id, sid).status == "deleted"
    old = next(s for s in pc.list_subscriptions(customer.id)
               if s.status == "active" and not s.is_azure_plan and s.quantity > 1 and s.id != sid)
    with pytest.raises(ValidationError) as refused:
        pc.set_quantity(customer.id, old.id, old.quantity - 1)
    assert refused.value.status == 400 and refused.value.details["errorName"] == "QuantityReductionNotAllowed"


def test_redelivered_seat_change_replays(pc, pc_server):
    customer = pc.list_customers()[4]
    sid = pc.purchase(customer.id, [CartLineItem(BASIC, 2, "P1M", "monthly")], idempotency_key="buy-2").subscription_ids[0]
    rid = request_id_for("changelog-7")
    first = pc.set_quantity(customer.id, sid, 4, request_id=rid)
    # The queue delivers the same change again: the client re-reads the (already changed) subscription,
    # sends the full resource with the same MS-RequestId, and gets the first answer back.
    again = pc.set_quantity(customer.id, sid, 4, request_id=rid)
    assert again.quantity == first.quantity == 4 and again.etag == first.etag
    patches = [w for w in pc_server.app.state.write_log if w["method"] == "PATCH"]
    assert [w["replayed"] for w in patches] == [False, True]


def test_azure_plan_entitlements(pc):
    customer, plan = _customer_with_plan(pc)
    entitlements = pc.list_azure_entitlements(customer.id, plan.id)
    assert entitlements and all(e.subscription_id == plan.id and e.status == "active" for e in entitlements)


def test_catalog_products_skus_availabilities(pc):
    products = pc.list_products("GB")
    assert any(p.id == "CFQ7TTC0LH18" for p in products)
    skus = pc.list_skus("CFQ7TTC0LH18", "GB")
    availability = pc.list_availabilities("CFQ7TTC0LH18", skus[0].id, "GB")[0]
    assert availability.catalog_item_id == BASIC and availability.currency_code == "GBP"
    assert {(t.duration, t.billing_cycle) for t in availability.terms} >= {("P1M", "monthly"), ("P1Y", "annual")}
    assert pc.list_products("US", target_view="Azure")[0].product_type == "Azure"


def test_price_sheet_download_streams_csv(pc, tmp_path):
    path = pc.download_price_sheet("JP", tmp_path / "jp.csv")
    rows = list(iter_price_sheet(path))
    assert rows and {r.currency for r in rows} == {"JPY"} and {r.market for r in rows} == {"JP"}
    assert all(isinstance(r.unit_price, Decimal) and r.unit_price == r.unit_price.to_integral() for r in rows)
    basic = {(r.term_duration, r.billing_plan): r.unit_price for r in rows if r.product_id == "CFQ7TTC0LH18"}
    assert basic[("P1Y", "Monthly")] * 12 > basic[("P1Y", "Annual")]  # annual term billed monthly costs more
    history = list(iter_price_sheet(pc.download_price_sheet("US", tmp_path / "h.csv", timeline="history",
                                                            month="202609")))
    assert history[0].effective_start.startswith("9/1/2026")


def test_price_sheet_goes_to_the_partner_api_host_on_the_documented_path(pc_server, tmp_path):
    """api.partner.microsoft.com is its own base URL: with the REST v1 host pointed at a dead port the
    price sheet still downloads (the sandbox serves only the documented path)."""
    from partnercenter.client import PartnerCenterClient
    from shared.config import Settings

    settings = Settings(mode="sandbox", partner_center_url="http://127.0.0.1:9", graph_url="http://127.0.0.1:9",
                        partner_api_url=pc_server.url)
    client = PartnerCenterClient.from_settings(settings, timeout=5.0)
    rows = list(iter_price_sheet(client.download_price_sheet("US", tmp_path / "us.csv")))
    assert rows and {r.market for r in rows} == {"US"}
    from partnercenter.client import price_sheet_path

    assert price_sheet_path("us") == "/v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value"
    old = requests.get(pc_server.url + "/sales/v1/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value",
                       headers={"Authorization": "Bearer t"}, timeout=5)
    assert old.status_code == 404


def test_settings_point_the_price_sheet_at_api_partner_microsoft_com():
    from shared.config import Settings

    assert Settings.from_env({"CSPB_MODE": "azure"}).partner_api_url == "https://api.partner.microsoft.com"
    sandbox = Settings.from_env({"CSPB_MODE": "sandbox", "CSPB_PARTNER_CENTER_URL": "http://127.0.0.1:5000"})
    assert sandbox.partner_api_url == "http://127.0.0.1:5000"  # one sandbox serves both hosts


def test_mca_template_and_attestation(pc):
    template = pc.get_mca_template_id()
    customer = pc.list_customers()[5]
    created = pc.create_agreement(customer.id, first_name="Ana", last_name="Silva", email="ana@example.com")
    assert created.template_id == template and created.agreement_type == "MicrosoftCustomerAgreement"
    assert any(a.email == "ana@example.com" for a in pc.list_agreements(customer.id))
    with pytest.raises(ValidationError):
        pc.create_agreement(customer.id, first_name="Ana", last_name="Silva", email="", template_id=template)


def test_invoices_totals_match_recon_and_billed_usage(pc, tmp_path):
    invoices = pc.list_invoices()
    assert invoices and all(isinstance(i.total_charges, Decimal) for i in invoices)
    invoice = max(invoices, key=lambda i: i.total_charges)
    assert pc.get_invoice(invoice.id).total_charges == invoice.total_charges
    recon = pc.export_billed_reconciliation(invoice.id, tmp_path / "recon")
    usage = pc.export_billed_usage(invoice.id, tmp_path / "usage")
    license_total = sum((Decimal(r["Total"]) for f in recon.files for r in read_usage_rows(f)), Decimal(0))
    usage_total = sum((Decimal(r["BillingPreTaxTotal"]) for f in usage.files for r in read_usage_rows(f)), Decimal(0))
    places = Decimal(1) if invoice.currency_code in ("JPY", "KRW") else Decimal("0.01")
    assert invoice.total_charges == license_total + usage_total.quantize(places)


def test_v1_invoice_line_items_page_and_match_the_graph_export(pc, tmp_path):
    invoice = max(pc.list_invoices(), key=lambda i: i.total_charges)
    before = pc.pc.request_count
    lines = list(pc.iter_invoice_line_items(invoice.id, invoice.currency_code, page_size=4))
    assert pc.pc.request_count - before == -(-len(lines) // 4)
    export = pc.export_billed_reconciliation(invoice.id, tmp_path)
    graph_rows = [r for f in export.files for r in read_usage_rows(f)]
    assert [(ln.subscription_id, ln.charge_type, ln.total) for ln in lines] == \
        [(r["SubscriptionId"], r["ChargeType"], r["Total"]) for r in graph_rows]
    assert all(isinstance(ln.billable_quantity, Decimal) and ln.currency == invoice.currency_code for ln in lines)


def test_billed_usage_export_downloads_microsoft_columns(pc, pc_server, tmp_path):
    invoice = pc.list_invoices()[0]
    export = pc.export_billed_usage(invoice.id, tmp_path)
    assert export.manifest.blob_count == len(export.files) == 1
    assert "sig=" not in repr(export.manifest)  # the SAS token never shows in logs or reprs
    with gzip.open(export.files[0], "rt", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    assert tuple(first) == USAGE_COLUMNS and first["InvoiceNumber"] == invoice.id
    assert first["PartnerEarnedCreditPercentage"] in (0, 15)


def test_basic_attribute_set_keeps_microsofts_subset(pc, tmp_path):
    invoice = pc.list_invoices()[0]
    export = pc.export_billed_usage(invoice.id, tmp_path, attribute_set="basic")
    first = next(iter(read_usage_rows(export.files[0])))
    assert tuple(first) == BASIC_USAGE_COLUMNS and "MeterCategory" not in first


def test_recon_export_has_all_charge_kinds(pc, tmp_path):
    kinds = set()
    for invoice in pc.list_invoices():
        export = pc.export_billed_reconciliation(invoice.id, tmp_path / invoice.id)
        kinds |= {r["ChargeType"] for f in export.files for r in read_usage_rows(f)}
    assert kinds >= {"new", "renew", "cycleCharge", "addQuantity", "removeQuantity", "cancelImmediate",
                     "customerCredit"}


def test_unbilled_usage_export_and_failures(pc, tmp_path):
    currency = pc.list_invoices()[0].currency_code
    export = pc.export_unbilled_usage(currency, tmp_path)
    rows = [r for f in export.files for r in read_usage_rows(f)]
    assert rows and {r["InvoiceNumber"] for r in rows} == {""} and {r["BillingCurrency"] for r in rows} == {currency}
    with pytest.raises(FatalError):
        pc.export_billed_usage("G999999999", tmp_path / "none")


def test_blob_download_needs_a_valid_sas(pc, pc_server, tmp_path):
    invoice = pc.list_invoices()[0]
    op = pc.wait_for_export(pc.begin_export("usage/billed/export", {"invoiceId": invoice.id}))
    manifest = pc.get_manifest(op.manifest_url)
    url = manifest.blob_url(manifest.blobs[0])
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url.replace("sig=", "sig=x"), timeout=10).status_code == 403


def test_missing_token_is_an_auth_error(pc_server):
    from partnercenter.errors import decode_error
    from shared.http import HttpClient

    bare = HttpClient(pc_server.url, error_decoder=decode_error)
    with pytest.raises(AuthError):
        bare.get_json("/v1/customers")
