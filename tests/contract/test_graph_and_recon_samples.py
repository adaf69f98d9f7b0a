"""Graph partner-billing export samples and the recon column lists.

(a) our client reads Microsoft's operation, manifest and 202 answers (served by a replay server);
(b) the same calls against our sandbox answer in the documented shape; (c) every documented recon
column is one the product reads and the sandbox writes (case-insensitive: portal CSVs are PascalCase
with `MPNID`, the Graph export keys vary in case), and a file with exactly the documented header
reads through the product's recon readers.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.errors import FatalError
from tests.contract.wire import SAMPLES, shape_problems

pytestmark = pytest.mark.integration
GRAPH = "/v1.0/reports/partners/billing"


def _graph(name: str, wire_sample):
    return wire_sample(name, "graph")


def test_client_begins_an_export_and_keeps_the_location(wire_sample, replay, replay_pc):
    for name, path, call in (
        ("billedusage-export", "usage/billed/export", lambda: replay_pc.begin_export("usage/billed/export", {})),
        ("unbilledusage-export", "usage/unbilled/export",
         lambda: replay_pc.begin_export("usage/unbilled/export", {})),
        ("billedreconciliation-export", "reconciliation/billed/export",
         lambda: replay_pc.begin_export("reconciliation/billed/export", {})),
    ):
        sample = _graph(name, wire_sample)
        replay.replay.add("POST", f"{GRAPH}/{path}", sample)
        assert call() == sample.header("Location")


def test_client_polls_running_then_succeeded_and_reads_the_manifest(wire_sample, replay, replay_pc):
    running, done = _graph("operation-running", wire_sample), _graph("operation-succeeded", wire_sample)
    manifest = _graph("manifest-get", wire_sample)
    answers = iter([running, done])
    replay.replay.add("GET", f"{GRAPH}/operations/op1", lambda _r: next(answers))
    replay.replay.add("GET", f"{GRAPH}/manifests/m1", manifest)
    op = replay_pc.wait_for_export(replay.url + f"{GRAPH}/operations/op1")
    assert op.status == "succeeded" and op.manifest_url.endswith("/manifests/8fe347d7-1e0f-4bd6-9091-4672691f32db")
    m = replay_pc.get_manifest(replay.url + f"{GRAPH}/manifests/m1")
    assert m.blob_count == 1 and m.data_format == "compressedJSON" and m.partner_tenant_id.startswith("0e195b37")
    assert m.blobs[0].name.endswith(".json.gz") and "sig=" in m.blob_url(m.blobs[0])
    assert "sig=" not in repr(m)  # the SAS token is a secret


def test_client_reports_a_failed_export(wire_sample, replay, replay_pc):
    replay.replay.add("GET", f"{GRAPH}/operations/op2", _graph("operation-failed", wire_sample))
    with pytest.raises(FatalError, match="No data available"):
        replay_pc.wait_for_export(replay.url + f"{GRAPH}/operations/op2")


def _assert_shape(sample, body) -> None:
    problems = shape_problems(sample.json, body)
    assert not problems, "\n".join(problems)


def test_sandbox_export_flow_shapes(wire_sample, pc_raw, pc_server):
    invoice = pc_server.app.state.invoices[0]
    bodies = {"billedusage-export": ("usage/billed/export", {"invoiceId": invoice["id"], "attributeSet": "full"}),
              "unbilledusage-export": ("usage/unbilled/export",
                                       {"currencyCode": invoice["currencyCode"], "billingPeriod": "current",
                                        "attributeSet": "full"}),
              "billedreconciliation-export": ("reconciliation/billed/export",
                                              {"invoiceId": invoice["id"], "attributeSet": "full"})}
    for name, (path, body) in bodies.items():
        sample = _graph(name, wire_sample)
        response = pc_raw.call("POST", f"{GRAPH}/{path}", json=body)
        assert response.status_code == 202 and f"{GRAPH}/operations/" in response.headers["Location"]
        location = response.headers["Location"]
        running = pc_raw.call("GET", location[len(pc_raw.base_url):])
        _assert_shape(_graph("operation-running", wire_sample), running.json())
        done = pc_raw.call("GET", location[len(pc_raw.base_url):]).json()
        _assert_shape(_graph("operation-succeeded", wire_sample), done)
        manifest = pc_raw.call("GET", done["resourceLocation@odata.navigationLink"][len(pc_raw.base_url):])
        _assert_shape(_graph("manifest-get", wire_sample), manifest.json())
        assert manifest.json()["blobCount"] == len(manifest.json()["blobs"]) >= 1, sample.name


def test_sandbox_failed_export_shape(wire_sample, pc_raw):
    response = pc_raw.call("POST", f"{GRAPH}/usage/billed/export", json={"invoiceId": "G000000000"})
    path = response.headers["Location"][len(pc_raw.base_url):]
    pc_raw.call("GET", path)
    _assert_shape(_graph("operation-failed", wire_sample), pc_raw.call("GET", path).json())


# ------------------------------------------------------------------------- recon column lists
def _documented(name: str) -> list[str]:
    with open(SAMPLES / "recon" / name, encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _missing(documented: list[str], ours: list[str] | tuple[str, ...]) -> list[str]:
    have = {c.lower() for c in ours}
    return [c for c in documented if c.lower() not in have]


def _export_columns(pc, kind: str, tmp_path: Path, invoice_id: str) -> list[str]:
    export = (pc.export_billed_usage if kind == "usage" else pc.export_billed_reconciliation)(invoice_id, tmp_path)
    with gzip.open(export.files[0], "rt", encoding="utf-8") as fh:
        return list(json.loads(fh.readline()))


def test_daily_rated_usage_columns_are_read_by_the_product_and_written_by_the_sandbox(uses_sample, pc, pc_server,
                                                                                      tmp_path):
    from recon.columns import USAGE_COLUMNS

    uses_sample("recon/daily-rated-usage-recon-files.columns.csv")
    documented = _documented("daily-rated-usage-recon-files.columns.csv")
    assert not _missing(documented, USAGE_COLUMNS)
    invoice = pc_server.app.state.invoices[0]["id"]
    assert not _missing(documented, _export_columns(pc, "usage", tmp_path, invoice))


def test_invoice_recon_columns_are_read_by_the_product_and_written_by_the_sandbox(uses_sample, pc, pc_server,
                                                                                  tmp_path):
    from recon.columns import INVOICE_COLUMNS

    uses_sample("recon/modern-invoice-reconciliation-file.columns.csv")
    documented = _documented("modern-invoice-reconciliation-file.columns.csv")
    assert not _missing(documented, INVOICE_COLUMNS)
    invoice = pc_server.app.state.invoices[0]["id"]
    assert not _missing(documented, _export_columns(pc, "recon", tmp_path, invoice))


def test_a_portal_csv_with_the_documented_invoice_header_reads_through(uses_sample, tmp_path):
    from recon.invoice_file import read_invoice_file

    uses_sample("recon/modern-invoice-reconciliation-file.columns.csv")
    header = _documented("modern-invoice-reconciliation-file.columns.csv")
    row = {c: "" for c in header}
    row.update(CustomerId="c1", InvoiceNumber="G000024135", ProductId="CFQ7TTC0LH18", SkuId="0001",
               SubscriptionId="s1", ChargeType="new", UnitPrice="6.00", Quantity="5", BillableQuantity="5",
               Subtotal="30.00", TaxTotal="0", Total="30.00", Currency="USD", ChargeStartDate="2026-10-01",
               ChargeEndDate="2026-10-31", MPNID="1234567")
    path = tmp_path / "recon.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerow(row)
    result = read_invoice_file(path, quarantine_path=tmp_path / "q.csv")
    (line,) = result.lines
    assert line.total == Decimal("30.00") and line.subscription_id == "s1"


def test_a_portal_csv_with_the_documented_usage_header_aggregates(uses_sample, tmp_path):
    from recon.aggregate import aggregate_usage

    uses_sample("recon/daily-rated-usage-recon-files.columns.csv")
    header = _documented("daily-rated-usage-recon-files.columns.csv")
    row = {c: "" for c in header}
    row.update(CustomerId="c1", SubscriptionId="s1", UsageDate="2026-10-03", MeterCategory="Virtual Machines",
               UnitPrice="0.10", Quantity="10", BillingPreTaxTotal="1.00", BillingCurrency="USD",
               PricingPreTaxTotal="1.00", PricingCurrency="USD", PCToBCExchangeRate="1", MPNID="1234567")
    path = tmp_path / "usage.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerow(row)
    result = aggregate_usage(path, quarantine_path=tmp_path / "q.csv")
    assert result.totals_by_currency() == {"USD": Decimal("1.00")}


# ------------------------------------------------ one list of Microsoft's columns (recon/columns.py)
def _header(path: Path) -> list[str]:
    """The column names of a usage file: a JSON lines file's first object's keys, or a CSV's header."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        first = fh.readline()
    return list(json.loads(first)) if first.startswith("{") else next(csv.reader([first]))


def _extends_documented(documented: list[str], ours: tuple[str, ...]) -> bool:
    """Our list starts with the documented one, in its order (case aside: `MPNID`), newer columns after."""
    return [c.lower() for c in ours[:len(documented)]] == [c.lower() for c in documented]


@pytest.mark.parametrize("fmt", ["jsonl.gz", "csv.gz", "csv"])
def test_the_sandbox_usage_generator_writes_exactly_the_products_column_list(uses_sample, tmp_path, fmt):
    from recon.columns import USAGE_COLUMNS
    from sandbox.partnercenter.usage_file import write_usage_file

    uses_sample("recon/daily-rated-usage-recon-files.columns.csv")
    written = write_usage_file(tmp_path / f"usage.{fmt}", 5, seed=1, fmt=fmt)
    assert tuple(_header(Path(written["path"]))) == USAGE_COLUMNS
    assert _extends_documented(_documented("daily-rated-usage-recon-files.columns.csv"), USAGE_COLUMNS)


def test_the_sandbox_exports_write_the_products_column_lists(uses_sample, pc, pc_server, tmp_path):
    from recon.columns import INVOICE_COLUMNS, USAGE_BASIC_COLUMNS, USAGE_COLUMNS

    uses_sample("recon/modern-invoice-reconciliation-file.columns.csv")
    invoice = pc_server.app.state.invoices[0]["id"]
    assert tuple(_export_columns(pc, "usage", tmp_path / "full", invoice)) == USAGE_COLUMNS
    basic = pc.export_billed_usage(invoice, tmp_path / "basic", attribute_set="basic")
    assert tuple(_header(Path(basic.files[0]))) == USAGE_BASIC_COLUMNS
    assert tuple(_export_columns(pc, "recon", tmp_path / "recon", invoice)) == INVOICE_COLUMNS
    assert _extends_documented(_documented("modern-invoice-reconciliation-file.columns.csv"), INVOICE_COLUMNS)
