"""shared/dates.py is the one date parser: every wire shape the app reads, and nothing else in the
app parses dates by hand (the sandboxes stand in for other services and keep their own)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from shared.dates import parse_date, parse_datetime, parse_wcf_date, require_date

ROOT = Path(__file__).resolve().parents[2]
NOT_YET: set[Path] = set()


@pytest.mark.parametrize("text,expected", [
    ("2026-03-31", date(2026, 3, 31)),
    ("2026-03-31T23:00:00-05:00", date(2026, 3, 31)),  # the day as written, not the UTC day
    ("2026-03-31T23:00:00Z", date(2026, 3, 31)),
    ("2026-03-31 10:00:00", date(2026, 3, 31)),
    ("2/1/2019 12:00:00 AM", date(2019, 2, 1)),  # Microsoft's price sheet and portal recon files
    ("3/31/2026", date(2026, 3, 31)),
])
def test_parse_date_reads_every_shape_the_services_send(text: str, expected: date) -> None:
    assert parse_date(text) == expected == require_date(text)


def test_parse_datetime_is_aware_and_naive_means_utc() -> None:
    assert parse_datetime("2026-03-31T10:00:00Z") == datetime(2026, 3, 31, 10, tzinfo=UTC)
    assert parse_datetime("2026-03-31T10:00:00") == datetime(2026, 3, 31, 10, tzinfo=UTC)
    assert parse_datetime("2026-03-31") == datetime(2026, 3, 31, tzinfo=UTC)
    assert parse_datetime("2020-12-01T13:20:13.153-07:00").utcoffset().total_seconds() == -7 * 3600  # type: ignore[union-attr]
    assert parse_datetime("") is None and parse_datetime("soon", strict=False) is None
    with pytest.raises(ValueError, match="unreadable"):
        parse_datetime("soon")


def test_require_date_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="runDate: None is not a date"):
        require_date(None, "runDate")
    with pytest.raises(ValueError, match="Jan 2"):
        require_date("Jan 2")


def test_wcf_dates_from_the_dataverse_webhook() -> None:
    assert parse_wcf_date("/Date(1534208052000)/") == datetime(2018, 8, 14, 0, 54, 12, tzinfo=UTC)
    # The offset is the sender's zone; the milliseconds are the instant.
    assert parse_wcf_date("/Date(1534208052000+0100)/") == parse_wcf_date("/Date(1534208052000)/")
    with pytest.raises(ValueError, match="not a /Date"):
        parse_wcf_date("2018-08-14")
    with pytest.raises(ValueError, match="out of range"):
        parse_wcf_date("/Date(99999999999999999999)/")


def test_no_app_module_parses_dates_by_hand() -> None:
    by_hand = re.compile(r"\.(strptime|fromisoformat)\(")
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "node_modules", "tests", "sandbox", "bench", "var") or rel in NOT_YET \
                or rel == Path("shared/dates.py"):
            continue
        offenders += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if by_hand.search(line)]
    assert not offenders, offenders
