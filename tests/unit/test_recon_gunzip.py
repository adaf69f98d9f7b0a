"""recon._gunzip deals whole CSV records out over several FIFOs: no record may be cut, lost or doubled,
whatever falls on a block boundary (quoted line breaks, quoted fields longer than a block)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import threading
from collections import Counter
from pathlib import Path

import pytest

import recon._gunzip as gunzip


def _records(text: str) -> list[tuple[str, ...]]:
    return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""))]


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_split_keeps_every_record_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(gunzip, "CHUNK", chunk)
    rows = [["id", "name", "amount"]]
    for i in range(400):
        name = f"n{i}"
        if i % 7 == 0:
            name = f'Contoso "{i}"\nsecond line, with comma'
        if i % 53 == 0:
            name = "x" * (3 * chunk) + '"\n' * 3  # longer than a block, quotes and breaks inside
        rows.append([str(i), name, f"{i}.5"])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    src = tmp_path / "u.csv.gz"
    src.write_bytes(gzip.compress(buf.getvalue().encode()))

    fifos = [tmp_path / f"f{i}" for i in range(3)]
    got: dict[Path, bytes] = {}

    def read(path: Path) -> None:
        with path.open("rb") as fh:
            got[path] = fh.read()

    for f in fifos:
        os.mkfifo(f)
    readers = [threading.Thread(target=read, args=(f,)) for f in fifos]
    for t in readers:
        t.start()
    gunzip._split(str(src), [str(f) for f in fifos])
    for t in readers:
        t.join(timeout=30)

    seen: Counter[tuple[str, ...]] = Counter()
    for f in fifos:
        records = _records(got[f].decode())
        assert records[0] == ("id", "name", "amount")  # every stream starts with the header
        seen.update(records[1:])
    assert seen == Counter(tuple(r) for r in rows[1:])


def test_inflater_exits_when_its_reader_dies(tmp_path: Path) -> None:
    """A killed reader (a host timeout) must not leave the inflater blocked on a FIFO nobody opens."""
    import subprocess
    import sys
    import time

    src = tmp_path / "u.csv.gz"
    src.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    repo = Path(__file__).resolve().parents[2]
    parent = subprocess.run(
        [sys.executable, "-c",
         "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'recon._gunzip', sys.argv[1], "
         "sys.argv[2]]); print(p.pid, flush=True); import time; time.sleep(0.5)", str(src), str(fifo)],
        cwd=repo, capture_output=True, text=True, timeout=60, check=True)
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
            state = Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return
        if state in ("Z", "X"):
            return  # exited; an init that does not reap leaves it a zombie
        time.sleep(0.1)
    os.kill(child, 9)
    raise AssertionError("the inflater outlived its reader")
