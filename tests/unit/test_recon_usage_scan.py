"""The compiled usage scanner (recon/usage_scan.c): it takes clean files, gives up on anything it would
have to interpret, and whatever it does, aggregate_usage's answer is DuckDB's to the digit."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recon.usage_scan as us
from recon import native
from recon.aggregate import aggregate_usage
from recon.columns import USAGE_COLUMNS, USAGE_OPTIONAL, USAGE_REQUIRED, resolve
from recon.quarantine import read_quarantine
from recon.sources import inspect
from shared.errors import ValidationError
from tests.plugins.recon import usage_row, write_csv, write_jsonl

OPTIONAL = USAGE_OPTIONAL + ("PartnerEarnedCreditPercentage",)


@pytest.fixture(autouse=True)
def _scanner_built() -> None:
    # CI installs a C compiler (.ci/run): the scanner must be there, or these tests would test nothing.
    assert us.available(), "the recon scanner did not build (is a C compiler installed?)"


def _scan(path: Path, threads: int = 2) -> us.Outcome:
    info = inspect(path)
    return us.scan(info, resolve(info.header, USAGE_REQUIRED, OPTIONAL, what="test"), threads)


def _same(path: Path, tmp_path: Path) -> None:
    """Same groups, counts and quarantine; or, for a file DuckDB cannot read at all, the same error."""
    try:
        duck = aggregate_usage(path, quarantine_path=tmp_path / "duck.q.jsonl", scanner=False)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            aggregate_usage(path, quarantine_path=tmp_path / "fast.q.jsonl")
        assert str(raised.value) == str(exc)
        return
    fast = aggregate_usage(path, quarantine_path=tmp_path / "fast.q.jsonl")
    assert fast.groups == duck.groups  # type: ignore[attr-defined]
    assert (fast.rows_read, fast.rows_aggregated, fast.rows_quarantined) == (  # type: ignore[attr-defined]
        duck.rows_read, duck.rows_aggregated, duck.rows_quarantined)  # type: ignore[attr-defined]
    if duck.quarantine_path:  # type: ignore[attr-defined]
        assert read_quarantine(fast.quarantine_path) == read_quarantine(duck.quarantine_path)  # type: ignore[attr-defined]


def _awkward_rows(n: int) -> list[dict[str, str]]:
    names = ["Contoso, \"Ltd\"", "Compañía Ñandú S.A.", "Fabrikam\nMultiline", "東京商事", "Plain"]
    rows = []
    for i in range(n):
        rows.append(usage_row(
            CustomerId=f"cust-{i % 7}", CustomerName=names[i % len(names)] if i % 11 else "",
            SubscriptionId=f"sub-{i % 1500}", EntitlementId="" if i % 13 == 0 else f"ent-{i % 3}",
            MeterCategory=("Virtual Machines", "Storage", "Bandwidth, Egress")[i % 3],
            UsageDate=("2026-10-03T00:00:00Z", "11/2/2026", "2026-11-30")[i % 3],
            Quantity=("0.1", "-3.5", "12345678.0123456789", "0")[i % 4],
            BillingPreTaxTotal=("0.85", "-0.30", "1.005")[i % 3], PricingPreTaxTotal="0.9",
            BillingCurrency=("USD", "EUR", "COP")[i % 3], PCToBCExchangeRate=("1", "0.9", "4123.5")[i % 3],
            PartnerEarnedCreditPercentage=("15", "", "0")[i % 3],
            Tags=('{"cost center": "a,b", "note": "line\nbreak"}', "", '"quoted"')[i % 3],
            ResourceURI="/subscriptions/x/resourceGroups/rg/" + "r" * (i % 40)))
    return rows


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["csv", "csv-crlf-bom", "csv.gz"])
def test_clean_awkward_files_are_scanned_and_agree_with_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               threads: int, kind: str) -> None:
    """Quoted commas, quotes and line breaks, non-ASCII names, empty optional values, three date forms,
    3,000 groups (the C table grows), and 2 KB buffers, so records and quoted line breaks meet every cut."""
    monkeypatch.setattr(us, "BLOCK", 2048)
    rows = _awkward_rows(3000)
    path = write_csv(tmp_path / f"u.{kind.split('-')[0]}", rows, crlf="crlf" in kind, bom="bom" in kind,
                     gz=kind.endswith(".gz"))
    outcome = _scan(path, threads)
    if outcome.table is None:
        # Only a quoted line break that sits across a cut may send this file to DuckDB: seen from the
        # block before the cut (a record that does not end) or from the one after (it starts mid-field).
        assert outcome.reason in {us.REASONS[r] for r in (10, 1, 2, 3, 4)}, outcome.reason
    else:
        assert outcome.records == 3000
    monkeypatch.setattr(us, "BLOCK", 1 << 20)
    assert _scan(path, threads).table is not None
    _same(path, tmp_path)


def test_absent_optional_columns_read_as_empty(tmp_path: Path) -> None:
    columns = [c for c in USAGE_COLUMNS if c not in ("EntitlementId", "CustomerName", "PartnerEarnedCreditPercentage")]
    path = write_csv(tmp_path / "u.csv", _awkward_rows(50), columns=columns)
    assert _scan(path).table is not None
    _same(path, tmp_path)


def _replace_line(path: Path, line_no: int, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line_no - 1] = new
    path.write_bytes(b"\n".join(lines))


GIVE_UPS = {
    "ragged long": (lambda line: line + b",extra", 1),
    "ragged short": (lambda line: line.rsplit(b",", 1)[0], 1),
    "blank line": (lambda line: b"", 2),
    "stray quote": (lambda line: line.replace(b"Virtual Machines", b'Virtual "Machines'), 3),
    "lone CR": (lambda line: line.replace(b"Virtual Machines", b"Virtual\rMachines"), 4),
    "invalid UTF-8": (lambda line: line.replace(b"Contoso", b"Cont\xffso"), 5),
    "exponent amount": (lambda line: line.replace(b",0.85,USD", b",8.5E-1,USD"), 8),
    "eleven decimals": (lambda line: line.replace(b",0.85,USD", b",0.85000000001,USD"), 8),
    "nine integer digits": (lambda line: line.replace(b",0.85,USD", b",123456789.5,USD"), 8),
    "empty amount": (lambda line: line.replace(b",0.85,USD", b",,USD"), 8),
}


@pytest.mark.parametrize("case", sorted(GIVE_UPS))
def test_anything_to_interpret_is_left_to_duckdb(tmp_path: Path, case: str) -> None:
    """The scanner gives up (and says why); aggregate_usage's groups and quarantine are then exactly
    what DuckDB's paths make of the file, line numbers included."""
    change, reason = GIVE_UPS[case]
    # Long enough that the damage is past what inspect() decodes to read the header.
    path = write_csv(tmp_path / "u.csv", [usage_row(CustomerId=f"cust-{i % 3}") for i in range(200)])
    lines = path.read_bytes().split(b"\n")
    _replace_line(path, 150, change(lines[149]))
    outcome = _scan(path)
    assert outcome.table is None and outcome.reason == us.REASONS[reason]
    _same(path, tmp_path)


def test_blanks_around_values_are_kept_as_duckdb_keeps_them(tmp_path: Path) -> None:
    rows = [usage_row(CustomerId=" cust-a", MeterCategory="VM "), usage_row(CustomerId="cust-a", MeterCategory="VM"),
            usage_row(CustomerName="Contoso\t", UsageDate=" 2026-10-03")]
    path = write_csv(tmp_path / "u.csv", rows)
    assert _scan(path).table is not None
    _same(path, tmp_path)


def test_escaped_quotes_in_needed_values_are_unescaped(tmp_path: Path) -> None:
    rows = [usage_row(CustomerName='Contoso "Ltd"', MeterCategory='Virtual "VM" Machines'),
            usage_row(CustomerName='Contoso "Ltd"', MeterCategory='Virtual "VM" Machines', Quantity="2")]
    path = write_csv(tmp_path / "u.csv", rows)
    assert _scan(path).table is not None
    _same(path, tmp_path)
    [group] = aggregate_usage(path, quarantine_path=tmp_path / "q.jsonl").groups
    assert (group.customer_name, group.meter_category, group.row_count) == ('Contoso "Ltd"', 'Virtual "VM" Machines', 2)


def test_more_groups_than_a_table_keeps_go_to_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(us, "MAX_GROUPS", 100)
    path = write_csv(tmp_path / "u.csv", _awkward_rows(3000))
    outcome = _scan(path, threads=1)
    assert outcome.table is None and outcome.reason == us.REASONS[12]
    _same(path, tmp_path)


def test_ragged_row_is_quarantined_with_its_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", [usage_row() for _ in range(5)])
    lines = path.read_bytes().split(b"\n")
    _replace_line(path, 4, lines[3] + b",unquoted, comma")
    result = aggregate_usage(path, quarantine_path=tmp_path / "q.jsonl")
    assert (result.rows_aggregated, result.rows_quarantined) == (4, 1)
    assert [row.line for row in result.quarantine_sample] == [4]


def test_corrupt_gzip_is_still_a_clear_error(tmp_path: Path) -> None:
    data = gzip.compress(write_csv(tmp_path / "u.csv", [usage_row()] * 2000).read_bytes())
    (tmp_path / "t.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValidationError, match="corrupt or truncated gzip"):
        aggregate_usage(tmp_path / "t.csv.gz", quarantine_path=tmp_path / "q.jsonl")


def test_without_the_library_everything_goes_through_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "u.csv", _awkward_rows(30))
    expected = aggregate_usage(path, quarantine_path=tmp_path / "a.jsonl").groups
    monkeypatch.setenv("CSPB_NATIVE_SCAN", "0")
    monkeypatch.setattr(native, "_tried", False)
    monkeypatch.setattr(native, "_loaded", None)
    assert native.load() is None and not us.available()
    assert _scan(path).table is None
    assert aggregate_usage(path, quarantine_path=tmp_path / "b.jsonl").groups == expected


def test_build_is_keyed_by_source_and_reused(tmp_path: Path) -> None:
    first = native.build(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert native.build(tmp_path) == first and first.stat().st_mtime_ns == mtime
    assert first.name in (native.library_name(True), native.library_name(False))
    assert not list(tmp_path.glob(".build-*"))


def test_the_scanner_inflates_gzip_itself_when_built_with_isa_l() -> None:
    # CI installs ISA-L's headers (.ci/run), so the GIL-free inflater must be there.
    lib = native.load()
    assert lib is not None and hasattr(lib, "recon_inflate")


def test_multi_member_gzip_is_read_through(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "u.csv", _awkward_rows(400)).read_bytes()
    cut = plain.index(b"\n", len(plain) // 2) + 1
    (tmp_path / "m.csv.gz").write_bytes(gzip.compress(plain[:cut]) + gzip.compress(plain[cut:]))
    (tmp_path / "one.csv.gz").write_bytes(gzip.compress(plain))
    assert _scan(tmp_path / "m.csv.gz").table is not None
    assert (aggregate_usage(tmp_path / "m.csv.gz", quarantine_path=tmp_path / "a.jsonl").groups
            == aggregate_usage(tmp_path / "one.csv.gz", quarantine_path=tmp_path / "b.jsonl").groups)


@pytest.mark.parametrize("damage", ["truncated", "bad crc", "garbage"])
def test_damaged_gzip_is_refused_by_the_scanner_and_explained(tmp_path: Path, damage: str) -> None:
    data = bytearray(gzip.compress(write_csv(tmp_path / "u.csv", _awkward_rows(2000)).read_bytes()))
    if damage == "truncated":
        data = data[: len(data) - 100]
    elif damage == "bad crc":
        data[-8] ^= 0xFF
    else:
        data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    path = tmp_path / "d.csv.gz"
    path.write_bytes(bytes(data))
    outcome = _scan(path)
    assert outcome.table is None and outcome.reason and outcome.reason.startswith("cannot read")
    with pytest.raises(ValidationError, match="corrupt or truncated gzip|cannot read file"):
        aggregate_usage(path, quarantine_path=tmp_path / "q.jsonl")


_text = st.text(alphabet=st.sampled_from(list("ab ,\"\n\r;é東-")), max_size=6)
_amount = st.one_of(st.decimals(min_value=-10**8, max_value=10**8, places=4, allow_nan=False).map(str),
                    st.sampled_from(["", "1e3", " 1", "0.00000000001", "123456789.1", "-0", "abc"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({
    "CustomerId": st.sampled_from(["c1", "c2", "", " c1"]), "CustomerName": _text,
    "SubscriptionId": st.sampled_from(["s1", "s2"]), "MeterCategory": st.sampled_from(["VM", "Storage", "a,b"]),
    "UsageDate": st.sampled_from(["2026-10-03", "11/2/2026", "bad", ""]), "Quantity": _amount,
    "BillingPreTaxTotal": _amount, "PricingPreTaxTotal": _amount, "BillingCurrency": st.sampled_from(["USD", "EUR", "XXX"]),
    "Tags": _text}), min_size=1, max_size=25), gz=st.booleans(), crlf=st.booleans())
def test_any_file_aggregates_exactly_as_duckdb_does(tmp_path: Path, rows: list[dict[str, str]], gz: bool,
                                                     crlf: bool) -> None:
    path = write_csv(tmp_path / ("u.csv.gz" if gz else "u.csv"), [usage_row(**r) for r in rows], crlf=crlf, gz=gz)
    _same(path, tmp_path)


def _camel(row: dict[str, object]) -> dict[str, object]:
    return {("pc" + k[2:]) if k.startswith("PCTo") else k[0].lower() + k[1:]: v for k, v in row.items()}


def _json_line(**values: object) -> str:
    row: dict[str, object] = dict(usage_row())
    row.update(values)
    return json.dumps(_camel(row))


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_json_lines_are_scanned_and_agree_with_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      gz: bool, threads: int) -> None:
    """\\u escapes (json.dumps writes non-ASCII that way), quotes and backslashes in values, nested
    objects and arrays in keys nobody reads, numbers where strings usually are, missing optional keys,
    small buffers, 1,600 groups."""
    monkeypatch.setattr(us, "BLOCK", 4096)
    rows: list[dict[str, str] | str] = []
    for i, row in enumerate(_awkward_rows(1600)):
        if i % 5 == 0:
            # (a float with more than 15 significant digits would send the file to DuckDB: kept as text)
            quantity: object = row["Quantity"] if len(row["Quantity"]) > 15 else float(row["Quantity"])
            rows.append(json.dumps(_camel({**row, "Quantity": quantity, "UnitPrice": 0.10,
                                           "PCToBCExchangeRate": 1, "AdditionalInfo": {"a": [1, {"b": None}], "c": "x\"y"},
                                           "Tags": ["t", 2.5e3, True]})))
        elif i % 7 == 0:
            rows.append(json.dumps(_camel({k: v for k, v in row.items() if k not in ("EntitlementId", "CustomerName")})))
        else:
            rows.append(json.dumps(_camel({**row, "CustomerName": row["CustomerName"] + ' \\ "q" \t'}),
                                   ensure_ascii=bool(i % 2)))
    path = write_jsonl(tmp_path / "u.jsonl.gz", rows, gz=gz)
    outcome = _scan(path, threads)
    assert outcome.table is not None, outcome.reason
    assert outcome.records == 1600
    _same(path, tmp_path)


def test_json_numbers_group_as_duckdb_prints_them(tmp_path: Path) -> None:
    """DuckDB reads a JSON number as its double's shortest text: 0.10 and 0.1 are one sub-group, so
    PEC is computed once for both, as on DuckDB's path."""
    lines = [_json_line(UnitPrice=0.10, Quantity=3, PCToBCExchangeRate=1, PartnerEarnedCreditPercentage=15),
             _json_line(UnitPrice=0.1, Quantity=0.333, PCToBCExchangeRate=1.0, PartnerEarnedCreditPercentage=15.00),
             _json_line(UnitPrice="0.1", Quantity=-0, PCToBCExchangeRate=1, PartnerEarnedCreditPercentage="15")]
    path = write_jsonl(tmp_path / "u.jsonl", lines, gz=False)
    path.write_text(path.read_text().replace('"unitPrice": 0.1,', '"unitPrice": 0.10,', 1))
    assert '"unitPrice": 0.10,' in path.read_text()
    assert _scan(path).table is not None
    _same(path, tmp_path)


JSON_GIVE_UPS = {
    "malformed line": ('{"customerId": "x", broken', 9),
    "not an object": ("[1, 2]", 9),
    "blank line": ("", 2),
    "duplicate wanted key": (_json_line().replace('{"partnerId"', '{"quantity": "1", "partnerId"'), 11),
    "exponent amount": (_json_line(Quantity=1e-7), 8),
    "sixteen digits": (_json_line(Quantity=0.1234567890123456), 8),
    "null amount": (_json_line(Quantity=None), 8),
    "object where a value is wanted": (_json_line(MeterCategory={"a": 1}), 9),
    "escaped unknown key": (_json_line().replace('"partnerId"', '"partner\\u0049d"'), 6),
    "lone surrogate": (_json_line(CustomerName="x").replace('"x"', '"\\ud800"'), 6),
    "trailing garbage": (_json_line() + " x", 9),
}


@pytest.mark.parametrize("case", sorted(JSON_GIVE_UPS))
def test_json_lines_to_interpret_are_left_to_duckdb(tmp_path: Path, case: str) -> None:
    line, reason = JSON_GIVE_UPS[case]
    rows: list[dict[str, str] | str] = [usage_row(CustomerId=f"c{i % 3}") for i in range(60)]
    rows[40] = line
    path = write_jsonl(tmp_path / "u.jsonl.gz", rows)
    outcome = _scan(path)
    assert outcome.table is None and outcome.reason == us.REASONS[reason]
    _same(path, tmp_path)


_json_value = st.one_of(
    st.text(alphabet=st.sampled_from(list('ab "\\\n\té東\U0001F600-')), max_size=5),
    st.integers(min_value=-10**17, max_value=10**17),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False).map(lambda d: float(d)),
    st.none(), st.booleans(), st.just({"nested": [1, "x"]}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries(
    {"CustomerId": st.sampled_from(["c1", "c2", ""]), "MeterCategory": st.sampled_from(["VM", "Storage"])},
    optional={"Quantity": _json_value, "UnitPrice": _json_value, "PCToBCExchangeRate": _json_value,
              "BillingPreTaxTotal": _json_value, "CustomerName": _json_value, "Tags": _json_value,
              "PartnerEarnedCreditPercentage": _json_value}), min_size=1, max_size=20),
    ascii_only=st.booleans())
def test_any_json_lines_aggregate_exactly_as_duckdb_does(tmp_path: Path, rows: list[dict[str, object]],
                                                         ascii_only: bool) -> None:
    lines: list[dict[str, str] | str] = [json.dumps(_camel({**usage_row(), **row}), ensure_ascii=ascii_only)
                                         for row in rows]
    _same(write_jsonl(tmp_path / "u.jsonl.gz", lines), tmp_path)


def test_a_worker_that_fails_sends_the_file_to_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scanning thread that dies must not leave its blocks out of the sums (the row counts would still
    add up, so nothing else would notice): the scan gives up and DuckDB reads the file."""
    monkeypatch.setattr(us, "BLOCK", 4096)
    calls: list[int] = []
    lib = native.load()
    assert lib is not None
    real_scan = lib.recon_scan_csv

    def flaky(*args: object) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker died")
        return int(real_scan(*args))

    monkeypatch.setattr(lib, "recon_scan_csv", flaky)
    path = write_csv(tmp_path / "u.csv", _awkward_rows(2000))
    outcome = _scan(path, threads=3)
    assert outcome.table is None and outcome.reason == "scan failed (RuntimeError)"
    monkeypatch.setattr(lib, "recon_scan_csv", real_scan)
    _same(path, tmp_path)
