"""One flat table (a list of rows with fixed columns) as CSV or JSON bytes, for the file exports
that stand in for a connector (invoice_file, journal_export). Values are already strings, so
amounts keep every digit."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

from shared.errors import ValidationError


def encode(columns: Sequence[str], rows: Sequence[Mapping[str, str]], fmt: str, what: str) -> bytes:
    """`what` names the export in the error for an unknown format ("journal", "invoice file")."""
    if fmt == "json":
        return json.dumps({"columns": list(columns), "rows": list(rows)}, indent=1).encode()
    if fmt != "csv":
        raise ValidationError(f"unknown {what} format {fmt!r} (csv | json)")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()
