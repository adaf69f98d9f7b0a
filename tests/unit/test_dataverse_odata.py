"""Pure helpers: literals, key segments, Decimal JSON, error decoding, $batch codec."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import requests

from dataverse import batch, odata
from dataverse.errors import decode_error, error_from_parts, is_missing_row
from shared.errors import ConflictError, NotFoundError, ThrottledError, ValidationError


@pytest.mark.parametrize("value, expected", [
    ("O'Neil", "'O''Neil'"), (5, "5"), (Decimal("1.50"), "1.50"), (True, "true"), (None, "null"),
    (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "2024-05-01T12:00:00Z"), (date(2024, 5, 1), "2024-05-01"),
])
def test_literals(value, expected):
    assert odata.literal(value) == expected


def test_key_segments_escape_what_would_break_the_url():
    assert odata.key_segment("accounts", {"accountnumber": "A1"}) == "accounts(accountnumber='A1')"
    assert odata.key_segment("x", {"a": 1, "b": "p/q?r"}) == "x(a=1,b='p%2Fq%3Fr')"
    assert odata.key_segment("x", {"b": "p/q"}, encode=False) == "x(b='p/q')"
    with pytest.raises(ValueError):
        odata.key_segment("x", {})


def test_ids():
    guid = "7D577253-3EF0-4A0A-BB7F-8335C2596E70"
    assert odata.id_segment("accounts", guid) == f"accounts({guid.lower()})"
    assert odata.bind("accounts", guid) == f"/accounts({guid.lower()})"
    assert odata.id_from_entity_url(f"https://org/api/data/v9.2/accounts({guid})") == guid.lower()
    assert odata.id_from_entity_url(None) is None
    with pytest.raises(ValueError):
        odata.id_segment("accounts", "not-a-guid")


def test_decimals_travel_exactly():
    text = odata.dumps({"amount": Decimal("12345678901234.1234"), "n": [Decimal("-0.10")], "when": date(2024, 1, 2)})
    assert text == '{"amount":12345678901234.1234,"n":[-0.10],"when":"2024-01-02"}'
    assert odata.loads(text)["amount"] == Decimal("12345678901234.1234")


def test_query_string_uses_percent_20():
    assert odata.query_string({"$filter": "name eq 'a b'", "$top": None}) == "$filter=name%20eq%20'a%20b'"


def _response(status: int, body: bytes, headers: dict | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content = status, body
    r.headers.update(headers or {})
    return r


@pytest.mark.parametrize("status, kind", [(404, NotFoundError), (412, ConflictError), (400, ValidationError),
                                          (429, ThrottledError)])
def test_error_decoding(status, kind):
    err = decode_error(_response(status, b'{"error":{"code":"0x80040217","message":"gone"}}', {"Retry-After": "3"}))
    assert isinstance(err, kind) and err.code == "0x80040217" and err.message == "gone"
    assert err.retry_after == 3.0


def test_missing_row_vs_missing_table():
    assert is_missing_row(error_from_parts(404, {"error": {"code": "0x80040217", "message": "x"}}))
    assert not is_missing_row(error_from_parts(404, {"error": {"code": "0x80060888", "message": "segment"}}))


def test_batch_round_trip_through_the_codec():
    reqs = [batch.BatchRequest("POST", "accounts", {"name": "a"}), batch.BatchRequest("GET", "accounts?$top=1")]
    ctype, body = batch.encode(reqs, "/api/data/v9.2", changeset=True)
    text = body.decode()
    assert ctype.startswith("multipart/mixed; boundary=batch_")
    assert "Content-ID: 1" in text and "Content-ID: 2" in text
    assert "POST /api/data/v9.2/accounts HTTP/1.1" in text and 'Content-Length: 12' in text

    answer = (
        b"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        b"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: https://o/api/data/v9.2/accounts("
        b"00000000-0000-0000-0000-000000000002)\r\n\r\n\r\n--changesetresponse_2--\r\n"
        b"--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"value\":[{\"p\":1.5}]}\r\n"
        b"--batchresponse_1--\r\n"
    )
    out = batch.decode("multipart/mixed; boundary=batchresponse_1", answer)
    assert [r.status for r in out] == [204, 200]
    assert out[0].entity_id == "00000000-0000-0000-0000-000000000002" and out[0].content_id == "1"
    assert out[1].body == {"value": [{"p": Decimal("1.5")}]}


def test_or_filters_in_chunks_quote_text_and_leave_guids_bare():
    from dataverse.odata import FILTER_CHUNK, any_of, chunks

    values = [f"k{i}" for i in range(FILTER_CHUNK * 2 + 1)]
    assert [len(c) for c in chunks(values)] == [FILTER_CHUNK, FILTER_CHUNK, 1]
    assert any_of("cspb_pricekey", ["a", "O'Brien"]) == "cspb_pricekey eq 'a' or cspb_pricekey eq 'O''Brien'"
    guid = "7d5a1f8e-0000-4000-8000-000000000001"
    assert any_of("_cspb_subscription_value", [guid], quote_values=False) == f"_cspb_subscription_value eq {guid}"


def test_option_values_in_an_or_filter_come_out_bare():
    from dataverse.odata import any_of

    assert any_of("cspb_kind", (6, 2)) == "cspb_kind eq 6 or cspb_kind eq 2"


def test_or_filters_are_built_by_any_of_only():
    """One home for the OR chain (dataverse/odata.any_of): a store that joins its own `x eq a or x eq b`
    drifts from the quoting and chunking rules the others follow."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    joined_or = re.compile(r"""["']\s*or\s*["']\s*\.join\(""")
    found = [f"{p.relative_to(root)}:{n}" for package in ("dataverse", "sync", "portal", "recon", "payments",
                                                          "accounting", "jobs", "billing", "distributors")
             for p in sorted((root / package).rglob("*.py")) if p.name != "odata.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if joined_or.search(line)]
    assert not found, "build these OR filters with dataverse.odata.any_of:\n" + "\n".join(found)
