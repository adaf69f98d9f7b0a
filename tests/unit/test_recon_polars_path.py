"""Plain CSV goes through polars first (recon._polars_csv); it must agree with DuckDB exactly and hand
back every file it cannot vouch for, so quarantine and rounding stay DuckDB's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import recon._polars_csv as pcsv
import recon.aggregate as agg
from recon.aggregate import AggregateResult, aggregate_usage
from tests.plugins.recon import usage_row, write_csv


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AggregateResult, AggregateResult, list[bool]]:
    """(result with polars first, result with DuckDB only, whether polars' sub-groups were usable)."""
    used: list[bool] = []

    def spy(info, cols):  # type: ignore[no-untyped-def]
        rows = pcsv.subgroups(info, cols)
        used.append(rows is not None and agg._fold(rows, strict=True) is not None)
        return rows

    monkeypatch.setattr(agg, "polars_subgroups", spy)
    first = aggregate_usage(path, quarantine_path=path.with_suffix(".q1"))
    monkeypatch.setattr(agg, "polars_subgroups", lambda info, cols: None)
    duck = aggregate_usage(path, quarantine_path=path.with_suffix(".q2"))
    return first, duck, used


def _same(a: AggregateResult, b: AggregateResult) -> None:
    assert a.groups == b.groups
    assert (a.rows_read, a.rows_aggregated, a.rows_quarantined) == (b.rows_read, b.rows_aggregated, b.rows_quarantined)
    assert [(q.line, q.reason) for q in a.quarantine_sample] == [(q.line, q.reason) for q in b.quarantine_sample]


def test_clean_csv_takes_polars_and_matches_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [usage_row(Quantity=str(i), BillingPreTaxTotal=f"{i}.0000000001", CustomerName=f'Contoso, "{i % 3}"',
                      Tags='{"a": "x,y"}', UnitPrice="0.123", PCToBCExchangeRate="0.79",
                      CustomerId=f"cust-{i % 4}", MeterCategory="Storage" if i % 2 else "Virtual Machines")
            for i in range(200)]
    rows.append(usage_row(UsageDate="2026-11-02T00:00:00Z", PartnerEarnedCreditPercentage="0", Quantity="-3.5"))
    first, duck, used = _both(write_csv(tmp_path / "u.csv", rows, bom=True, crlf=True), monkeypatch)
    assert used == [True]
    _same(first, duck)
    assert first.rows_aggregated == 201 and isinstance(first.groups[0].cost, Decimal)
    assert sum(g.quantity for g in first.groups) == Decimal(sum(range(200))) - Decimal("3.5")


@pytest.mark.parametrize("override", [
    {"Quantity": "1.00000000005"},          # a tie at the 11th place: DuckDB rounds half-up, polars half-even
    {"BillingPreTaxTotal": "5e-11"},        # exponent, same tie
    {"PartnerEarnedCreditPercentage": ""},  # empty PEC %: a row cut short looks like this
    {"UnitPrice": " 0.10"},                 # blanks DuckDB ignores
    {"EntitlementId": ""},
    {"UsageDate": "10/30/2026 0:00"},       # portal date format
    {"Quantity": "1,5"},                    # bad row: DuckDB quarantines it
    {"BillingCurrency": "XXX"},
])
def test_unusual_values_are_left_to_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           override: dict[str, str]) -> None:
    path = write_csv(tmp_path / "u.csv", [usage_row(), usage_row(**override), usage_row()])
    first, duck, used = _both(path, monkeypatch)
    assert used == [False]
    _same(first, duck)
    assert first.rows_read == 3


def test_truncated_last_line_is_quarantined_not_padded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "u.csv", [usage_row(), usage_row(), usage_row(CreditType="Partner Earned Credit")])
    data = path.read_bytes().rstrip(b"\n")
    path.write_bytes(data[: data.rfind(b",")])  # cut inside the last row, after every field we read
    first, duck, used = _both(path, monkeypatch)
    assert used == [False]
    _same(first, duck)
    assert (first.rows_read, first.rows_aggregated, first.rows_quarantined) == (3, 2, 1)
    assert first.quarantine_sample[0].line == 4


def test_structurally_broken_csv_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "u.csv", [usage_row(), usage_row()])
    lines = path.read_text().splitlines()
    lines.insert(2, lines[1] + ",extra")  # one field too many
    path.write_text("\n".join(lines) + "\n")
    first, duck, used = _both(path, monkeypatch)
    assert used == [False]
    _same(first, duck)
    assert first.rows_quarantined == 1


@pytest.mark.parametrize("column", ["CustomerName", "MeterCategory", "PartnerEarnedCreditPercentage", "BenefitType"])
def test_line_broken_in_two_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str) -> None:
    """An unquoted line break splits a row into two short ones; polars would pad both."""
    marker = "1\x005" if column == "PartnerEarnedCreditPercentage" else "Left\x00Right"
    path = write_csv(tmp_path / "u.csv", [usage_row(), usage_row(**{column: marker}), usage_row()])
    path.write_bytes(path.read_bytes().replace(b"\x00", b"\n"))
    first, duck, used = _both(path, monkeypatch)
    assert used == [False]
    _same(first, duck)
