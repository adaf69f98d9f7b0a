"""The sandbox usage file: Microsoft's columns, deterministic, and amounts that add up exactly."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from sandbox.partnercenter.usage_file import FORMATS, USAGE_COLUMNS, read_usage_rows, write_usage_file


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_have_microsoft_columns_and_totals_match(tmp_path, fmt):
    result = write_usage_file(tmp_path / f"u.{fmt}", 500, seed=3, fmt=fmt)
    rows = list(read_usage_rows(result["path"]))
    assert len(rows) == 500
    assert tuple(rows[0].keys()) == USAGE_COLUMNS
    sums: dict[str, Decimal] = {}
    six = Decimal("0.000001")
    for row in rows:
        eup, qty = Decimal(row["EffectiveUnitPrice"]), Decimal(row["Quantity"])
        pricing = (eup * qty).quantize(six, ROUND_HALF_UP)
        assert Decimal(row["PricingPreTaxTotal"]) == pricing
        assert Decimal(row["BillingPreTaxTotal"]) == (pricing * Decimal(row["PCToBCExchangeRate"])).quantize(
            six, ROUND_HALF_UP)
        assert str(row["PartnerEarnedCreditPercentage"]) in ("0", "15")
        sums[row["BillingCurrency"]] = sums.get(row["BillingCurrency"], Decimal(0)) + Decimal(row["BillingPreTaxTotal"])
    assert sums == result["billing_totals"]


def test_same_seed_same_bytes(tmp_path):
    a = write_usage_file(tmp_path / "a.jsonl.gz", 300, seed=9)
    b = write_usage_file(tmp_path / "b.jsonl.gz", 300, seed=9)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert a["billing_totals"] == b["billing_totals"]


def test_billed_file_carries_invoice_number(tmp_path):
    result = write_usage_file(tmp_path / "b.csv", 20, seed=1, fmt="csv", invoice_number="G000123456")
    assert {r["InvoiceNumber"] for r in read_usage_rows(result["path"])} == {"G000123456"}


def test_isal_and_zlib_write_the_same_rows(tmp_path, monkeypatch):
    """The seed compresses with ISA-L when python-isal is installed (a fraction of zlib's CPU) and
    with the standard library otherwise: both are plain gzip of the same rows, and each is the same
    bytes on every run."""
    import builtins
    import gzip

    fast = write_usage_file(tmp_path / "isal.json.gz", 3000, seed=5, chunk_rows=700)
    real_import = builtins.__import__

    def no_isal(name, *args, **kwargs):
        if name == "isal" or name.startswith("isal."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_isal)
    plain = write_usage_file(tmp_path / "zlib.json.gz", 3000, seed=5)
    write_usage_file(tmp_path / "zlib-again.json.gz", 3000, seed=5)
    monkeypatch.undo()
    with gzip.open(fast["path"], "rb") as a, gzip.open(plain["path"], "rb") as b:
        assert a.read() == b.read()
    assert fast["billing_totals"] == plain["billing_totals"]
    assert (tmp_path / "zlib.json.gz").read_bytes() == (tmp_path / "zlib-again.json.gz").read_bytes()
    write_usage_file(tmp_path / "isal-again.json.gz", 3000, seed=5, chunk_rows=700)
    assert (tmp_path / "isal.json.gz").read_bytes() == (tmp_path / "isal-again.json.gz").read_bytes()
