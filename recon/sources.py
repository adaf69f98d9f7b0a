"""What kind of file is this, and what is its header? Cheap looks at the first bytes only.

Recon files arrive as CSV (portal download, optionally gzip'd) or as gzip'd JSON lines (the Graph
export blobs). The header check runs before any heavy reading, so a wrong file fails in milliseconds
with the missing column names instead of producing a quarantine file full of identical rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ValidationError

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    fmt: str          # "csv" | "jsonl"
    gzipped: bool
    header: tuple[str, ...]   # CSV header, or the keys of the first JSON object


def _open_text(path: Path, gzipped: bool) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if gzipped else path.open("rb")
    # utf-8-sig drops a BOM; newline="" lets csv see CRLF inside quoted fields correctly.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def inspect(path: Path) -> SourceInfo:
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"recon file not found: {path}")
    with path.open("rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    try:
        with _open_text(path, gzipped) as fh:
            first = ""
            while not first.strip():
                first = fh.readline()
                if first == "":
                    raise ValidationError(f"{path.name}: file is empty", code="EmptyFile")
            if first.lstrip().startswith("{"):
                try:
                    obj = json.loads(first)
                except ValueError:
                    raise ValidationError(f"{path.name}: first line is not valid JSON", code="WrongHeader") from None
                if not isinstance(obj, dict):
                    raise ValidationError(f"{path.name}: first line is not a JSON object", code="WrongHeader")
                return SourceInfo(path, "jsonl", gzipped, tuple(obj))
            header = next(csv.reader([first]))
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValidationError(f"{path.name}: corrupt or truncated gzip ({exc})", code="CorruptFile") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name}: not UTF-8 text", code="CorruptFile") from None
    return SourceInfo(path, "csv", gzipped, tuple(h.strip() for h in header))
