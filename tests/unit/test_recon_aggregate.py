from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from recon.aggregate import aggregate_usage
from recon.columns import USAGE_COLUMNS
from recon.quarantine import read_quarantine
from shared.errors import ValidationError
from tests.plugins.recon import usage_row, write_csv, write_jsonl


def test_sums_are_exact_decimals_grouped_by_customer_subscription_meter_month(tmp_path: Path) -> None:
    rows = [
        usage_row(Quantity="0.1", BillingPreTaxTotal="0.1", PricingPreTaxTotal="0.1"),
        usage_row(Quantity="0.2", BillingPreTaxTotal="0.2", PricingPreTaxTotal="0.2"),
        usage_row(MeterCategory="Storage", BillingPreTaxTotal="1.005"),
        usage_row(UsageDate="11/2/2026", BillingPreTaxTotal="2"),  # portal date format, next month
        usage_row(CustomerId="cust-b", BillingCurrency="EUR", PricingCurrency="USD", PCToBCExchangeRate="0.9"),
    ]
    result = aggregate_usage(write_csv(tmp_path / "u.csv", rows))
    assert (result.rows_read, result.rows_aggregated, result.rows_quarantined) == (5, 5, 0)
    by_key = {(g.customer_id, g.meter_category, g.period, g.currency): g for g in result.groups}
    vm = by_key[("cust-a", "Virtual Machines", "2026-10", "USD")]
    assert vm.quantity == Decimal("0.3") and vm.cost == Decimal("0.3") and vm.row_count == 2
    assert isinstance(vm.cost, Decimal)
    # PEC earned = UnitPrice x Quantity x rate x 15%; cost before PEC = cost + PEC.
    assert vm.pec_amount == Decimal("0.1") * Decimal("0.3") * Decimal("0.15")
    assert vm.cost_before_pec == vm.cost + vm.pec_amount
    assert by_key[("cust-a", "Storage", "2026-10", "USD")].cost == Decimal("1.005")
    assert by_key[("cust-a", "Virtual Machines", "2026-11", "USD")].cost == Decimal("2")
    assert by_key[("cust-b", "Virtual Machines", "2026-10", "EUR")].pricing_currency == "USD"
    assert result.totals_by_currency() == {"USD": Decimal("3.305"), "EUR": Decimal("0.85")}


def test_bom_crlf_quoted_commas_credits_and_negative_quantities(tmp_path: Path) -> None:
    rows = [
        usage_row(CustomerName='Contoso, "Ltd"', Tags='{"a": "x,y"}'),
        usage_row(ChargeType="refund", Quantity="-3.5", BillingPreTaxTotal="-0.30", PricingPreTaxTotal="-0.30"),
    ]
    path = write_csv(tmp_path / "u.csv.gz", rows, bom=True, crlf=True, gz=True)
    result = aggregate_usage(path)
    assert result.rows_quarantined == 0
    [group] = result.groups
    assert group.customer_name == 'Contoso, "Ltd"'
    assert group.quantity == Decimal("6.5") and group.cost == Decimal("0.55")


def test_bad_rows_are_quarantined_with_line_and_reason(tmp_path: Path) -> None:
    rows = [
        usage_row(),                                       # line 2
        usage_row(Quantity="1,5"),                         # line 3: decimal comma
        usage_row(BillingCurrency="XXX"),                  # line 4
        usage_row(),                                       # line 5
        usage_row(BillingPreTaxTotal="abc"),               # line 6
        usage_row(UsageDate="yesterday"),                  # line 7
        usage_row(CustomerId=""),                          # line 8
    ]
    path = write_csv(tmp_path / "u.csv", rows)
    # A line with too few columns in the middle (line 6 after insertion) must shift later line numbers.
    lines = path.read_text().splitlines()
    lines.insert(5, "only,three,columns")
    path.write_text("\n".join(lines) + "\n")
    result = aggregate_usage(path, quarantine_path=tmp_path / "q.jsonl")
    assert result.rows_read == 8 and result.rows_aggregated == 2 and result.rows_quarantined == 6
    got = {(q.line, q.reason.split(":")[0]) for q in read_quarantine(tmp_path / "q.jsonl")}
    assert got == {
        (3, "bad decimal in Quantity"), (4, "unknown currency in BillingCurrency"), (6, "missing columns"),
        (7, "bad decimal in BillingPreTaxTotal"), (8, "bad UsageDate"), (9, "missing CustomerId"),
    }
    assert result.groups[0].row_count == 2


def test_jsonl_with_malformed_line_and_numbers(tmp_path: Path) -> None:
    good = usage_row()
    numeric = usage_row()
    path = write_jsonl(tmp_path / "u.jsonl.gz", [good, '{"customerId": "x", broken', numeric, "", good])
    result = aggregate_usage(path)
    assert (result.rows_read, result.rows_aggregated, result.rows_quarantined) == (4, 3, 1)
    [q] = result.quarantine_sample
    assert q.line == 2 and q.reason == "invalid JSON" and "broken" in q.raw


def test_jsonl_missing_key_is_quarantined(tmp_path: Path) -> None:
    row = usage_row()
    partial = {k: v for k, v in usage_row().items() if k != "Quantity"}
    result = aggregate_usage(write_jsonl(tmp_path / "u.jsonl.gz", [row, partial]))
    assert result.rows_quarantined == 1
    assert result.quarantine_sample[0].line == 2
    assert result.quarantine_sample[0].reason == "bad decimal in Quantity: <missing>"


def test_wrong_header_names_missing_columns(tmp_path: Path) -> None:
    columns = [c for c in USAGE_COLUMNS if c not in ("BillingPreTaxTotal", "MeterCategory")]
    path = write_csv(tmp_path / "u.csv", [usage_row()], columns=columns)
    with pytest.raises(ValidationError, match="MeterCategory, BillingPreTaxTotal") as err:
        aggregate_usage(path)
    assert err.value.code == "WrongHeader"


def test_header_is_matched_case_insensitively(tmp_path: Path) -> None:
    columns = [c.lower() for c in USAGE_COLUMNS]
    path = tmp_path / "u.csv"
    row = usage_row()
    path.write_text(",".join(columns) + "\n" + ",".join(row[c] for c in USAGE_COLUMNS) + "\n")
    assert aggregate_usage(path).rows_aggregated == 1


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    full = write_csv(tmp_path / "u.csv.gz", [usage_row() for _ in range(2000)], gz=True)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    with pytest.raises(ValidationError, match="cut.csv.gz") as err:
        aggregate_usage(cut)
    assert err.value.code == "CorruptFile"


def test_not_gzip_behind_gz_magic_and_empty_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(ValidationError, match="corrupt or truncated gzip"):
        aggregate_usage(bad)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match="empty"):
        aggregate_usage(empty)


def test_header_only_file_gives_zero_rows(tmp_path: Path) -> None:
    result = aggregate_usage(write_csv(tmp_path / "u.csv", []))
    assert (result.rows_read, result.groups) == (0, [])


def test_gzip_roundtrip_is_gzip(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv.gz", [usage_row()], gz=True)
    assert gzip.decompress(path.read_bytes()).startswith(b"PartnerId")


@pytest.mark.parametrize("fast_gunzip", [True, False])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_truncated_gzip_fails_on_every_read_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 fast_gunzip: bool, fmt: str) -> None:
    import recon.aggregate as agg

    if not fast_gunzip:
        monkeypatch.setattr(agg, "_isal_available", lambda: False)
    rows = [usage_row(Quantity=str(i)) for i in range(3000)]
    full = (write_csv(tmp_path / "u.csv.gz", rows, gz=True) if fmt == "csv"
            else write_jsonl(tmp_path / "u.jsonl.gz", rows))
    cut = tmp_path / f"cut.{fmt}.gz"
    cut.write_bytes(full.read_bytes()[: int(len(full.read_bytes()) * 0.7)])
    with pytest.raises(ValidationError) as err:
        aggregate_usage(cut)
    assert err.value.code == "CorruptFile" and "cut." in str(err.value)
    # The intact file still adds up exactly on the same path.
    result = aggregate_usage(full)
    assert result.rows_aggregated == 3000
    assert sum(g.quantity for g in result.groups) == Decimal(sum(range(3000)))


def test_fast_and_exact_paths_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recon.aggregate as agg

    rows = [usage_row(BillingCurrency=" usd", CustomerId=" cust-a", Quantity="1.25"),
            usage_row(BillingCurrency="USD", Quantity="2", PartnerEarnedCreditPercentage=""),
            usage_row(UsageDate="10/30/2026 0:00", MeterCategory="Storage", BillingPreTaxTotal="-0.5"),
            usage_row(CustomerId="cust-b", EntitlementId="", PCToBCExchangeRate="1.1")]
    path = write_csv(tmp_path / "u.csv.gz", rows, gz=True)
    original = agg._fold
    calls: list[tuple[bool, bool]] = []

    def spy(rows, *, strict):  # type: ignore[no-untyped-def]
        out = original(rows, strict=strict)
        calls.append((strict, out is not None))
        return out

    monkeypatch.setattr(agg, "_fold", spy)
    fast = aggregate_usage(path)
    assert calls == [(True, True)]  # the clean file took the fast path
    monkeypatch.setattr(agg, "_fold", lambda rows, *, strict: None if strict else original(rows, strict=False))
    exact = aggregate_usage(path)
    assert fast.groups == exact.groups and len(fast.groups) == 3
    assert (fast.rows_read, fast.rows_aggregated) == (exact.rows_read, exact.rows_aggregated) == (4, 4)


@pytest.mark.parametrize("fmt", ["jsonl.gz", "csv.gz", "csv"])
def test_totals_match_the_sandbox_generator_exactly(tmp_path: Path, fmt: str) -> None:
    """The Partner Center sandbox's usage files (JSON numbers in the export) sum to its own Decimal totals."""
    from sandbox.partnercenter.usage_file import write_usage_file

    info = write_usage_file(tmp_path / f"u.{fmt}", 3000, seed=5, fmt=fmt)
    result = aggregate_usage(tmp_path / f"u.{fmt}")
    assert (result.rows_read, result.rows_quarantined) == (3000, 0)
    assert result.totals_by_currency() == info["billing_totals"]
    assert all(g.pec_amount >= 0 and g.cost_before_pec == g.cost + g.pec_amount for g in result.groups)


@pytest.mark.parametrize("threads", [1, 2])
def test_split_gzip_csv_keeps_every_row_and_quoted_newlines(tmp_path: Path, threads: int) -> None:
    """Several MB, so the inflater deals several chunks over the FIFOs; names with line breaks and
    quotes must never be cut, and one DuckDB thread reading the FIFOs one after the other must not hang."""
    rows = [usage_row(CustomerName=f'Contoso "{i}"\nLine two' if i % 97 == 0 else f"Customer {i}",
                      CustomerId="cust-nl" if i % 97 == 0 else "cust-a",
                      Quantity=str(i % 50), Tags='{"k": "v,' + "x" * 200 + '"}')
            for i in range(12_000)]
    path = write_csv(tmp_path / "big.csv.gz", rows, gz=True)
    assert len(gzip.decompress(path.read_bytes())) > 3 << 20  # several 1 MB chunks
    result = aggregate_usage(path, threads=threads)
    assert (result.rows_read, result.rows_quarantined) == (12_000, 0)
    assert sum(g.quantity for g in result.groups) == Decimal(sum(i % 50 for i in range(12_000)))
    assert all("\nLine two" in g.customer_name for g in result.groups if g.customer_id == "cust-nl")


def _json_rows() -> list[dict[str, str] | str]:
    rows: list[dict[str, str] | str] = []
    for i in range(400):
        row: dict[str, Any] = usage_row(
            CustomerId=f"cust-{i % 7}", SubscriptionId=f"sub-{i % 3}", MeterCategory=("Storage", "VM")[i % 2],
            UsageDate="10/30/2026 0:00" if i % 11 == 0 else f"2026-{10 + i % 2}-0{1 + i % 9}T00:00:00Z",
            BillingCurrency=("USD", "EUR")[i % 2], PCToBCExchangeRate=("1", "0.9231")[i % 2],
            PartnerEarnedCreditPercentage="" if i % 5 == 0 else "15", EntitlementId="" if i % 13 == 0 else "ent-1")
        # The Graph export writes amounts as JSON numbers; some producers quote them.
        for c, v in (("Quantity", f"{i % 17}.{i:04d}"), ("BillingPreTaxTotal", f"-0.{i:06d}" if i % 9 == 0
                                                                                else f"{i}.{i % 7:02d}")):
            row[c] = float(v) if i % 2 else v
        rows.append(row)
    return rows


def _spy_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which path produced the result: "fast" (the fast path's groups were clean) or "exact"."""
    import recon.aggregate as agg

    original = agg._fold
    taken: list[str] = []

    def spy(rows, *, strict):  # type: ignore[no-untyped-def]
        out = original(rows, strict=strict)
        if strict and out is not None:
            taken.append("fast")
        elif not strict:
            taken.append("exact")
        return out

    monkeypatch.setattr(agg, "_fold", spy)
    return taken


@pytest.mark.parametrize("polars", [True, False])
def test_jsonl_fast_path_agrees_with_the_exact_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    polars: bool) -> None:
    """JSON lines go through polars in blocks (several here, folded together) when asked for and
    installed, through DuckDB's reader otherwise; either way the groups equal the exact path's, to the digit."""
    import recon.aggregate as agg
    import recon.jsonl_fast as jf

    monkeypatch.setattr(jf, "BLOCK", 4096)
    monkeypatch.setattr(jf, "FOLD_EVERY", 3)
    if not polars:
        monkeypatch.setattr(jf, "available", lambda: False)
    used: list[bool] = []
    original_subgroups = jf.subgroups
    monkeypatch.setattr(jf, "subgroups", lambda *a: used.append(True) or original_subgroups(*a))
    path = write_jsonl(tmp_path / "u.jsonl.gz", _json_rows())
    taken = _spy_paths(monkeypatch)
    fast = aggregate_usage(path, jsonl_engine="polars")
    assert taken == ["fast"] and bool(used) == polars
    original = agg._fold
    monkeypatch.setattr(agg, "_fold", lambda rows, *, strict: None if strict else original(rows, strict=False))
    exact = aggregate_usage(path)
    assert fast.groups == exact.groups and len(fast.groups) > 20
    assert (fast.rows_read, fast.rows_aggregated, fast.rows_quarantined) == (400, 400, 0)
    assert fast.totals_by_currency() == exact.totals_by_currency()


@pytest.mark.parametrize("amount, expected", [
    ("0.00000000005", Decimal("1E-10")),   # half at the 11th place: DuckDB rounds away from zero, polars to even
    ("-0.00000000005", Decimal("-1E-10")),
    ("5e-11", Decimal("1E-10")),
    (" 2.5 ", Decimal("2.5")),             # blanks around a number
])
def test_jsonl_amounts_polars_reads_differently_take_the_exact_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    amount: str, expected: Decimal) -> None:
    path = write_jsonl(tmp_path / "u.jsonl", [usage_row(Quantity="1"), usage_row(Quantity=amount)], gz=False)
    taken = _spy_paths(monkeypatch)
    result = aggregate_usage(path, jsonl_engine="polars")
    assert taken == ["exact"] and result.rows_quarantined == 0
    [group] = result.groups
    assert group.quantity == 1 + expected


def test_ragged_csv_rows_fail_loudly_whatever_side_they_lean(tmp_path: Path) -> None:
    """An unquoted comma (one field too many) and a dropped field are quarantined with their lines,
    never read shifted or padded."""
    path = write_csv(tmp_path / "u.csv", [usage_row(), usage_row(), usage_row(), usage_row()])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("Contoso", "Contoso, Ltd", 1)      # line 3: 56 fields
    lines[3] = lines[3].replace(",Contoso,", ",", 1)                # line 4: 54 fields
    path.write_text("\n".join(lines) + "\n")
    result = aggregate_usage(path, quarantine_path=tmp_path / "q.jsonl")
    assert (result.rows_read, result.rows_aggregated, result.rows_quarantined) == (4, 2, 2)
    assert {q.line for q in read_quarantine(tmp_path / "q.jsonl")} == {3, 4}
