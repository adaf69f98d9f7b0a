"""Quarantine file: one JSON object per malformed row, with the file's line number and the reason.

JSON lines rather than CSV so a raw row containing quotes, commas or newlines survives unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class QuarantineRow:
    line: int       # 1-based line in the source file (the CSV header is line 1)
    reason: str
    raw: str        # the row as read (CSV: the columns we read, as a JSON object; JSONL: the line)


class QuarantineWriter:
    def __init__(self, path: Path, *, source: str) -> None:
        self.path = Path(path)
        self.source = source
        self.count = 0
        self._fh = None

    def __enter__(self) -> QuarantineWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", encoding="utf-8", newline="\n")  # type: ignore[assignment]
        return self

    def write(self, row: QuarantineRow) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps({"source": self.source, **asdict(row)}, ensure_ascii=False) + "\n")
        self.count += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._fh is not None
        self._fh.close()


def read_quarantine(path: Path) -> list[QuarantineRow]:
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for text in fh:
            if text.strip():
                obj = json.loads(text)
                rows.append(QuarantineRow(line=obj["line"], reason=obj["reason"], raw=obj["raw"]))
    return rows


def write_quarantine(rows: list[QuarantineRow], source: Path, quarantine_path: str | Path | None) -> Path | None:
    """Write the bad rows of `source` to `quarantine_path` (default: beside the source), or nothing if none."""
    if not rows:
        return None
    target = Path(quarantine_path) if quarantine_path else source.with_name(source.name + ".quarantine.jsonl")
    with QuarantineWriter(target, source=source.name) as writer:
        for row in rows:
            writer.write(row)
    return target
