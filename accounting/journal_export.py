"""Generic journal export (CSV or JSON) for accounting systems without a connector.

Columns: entry, date, currency, account, debit, credit, description. Amounts are written as
plain decimal strings (no float) so the file re-imports to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable

from accounting import flat_file
from accounting.base import JournalEntry
from shared.errors import ValidationError

COLUMNS = ("entry", "date", "currency", "account", "debit", "credit", "description")


def rows(entries: Iterable[JournalEntry]) -> list[dict[str, str]]:
    out = []
    for entry in entries:
        if not entry.balanced():
            raise ValidationError(f"journal {entry.key} does not balance")
        for line in entry.lines:
            out.append({"entry": entry.key, "date": entry.posting_date.isoformat(), "currency": entry.currency,
                        "account": line.account, "debit": str(line.debit), "credit": str(line.credit),
                        "description": line.description})
    return out


def render(entries: Iterable[JournalEntry], fmt: str = "csv") -> bytes:
    return flat_file.encode(COLUMNS, rows(entries), fmt, "journal")
