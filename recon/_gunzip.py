"""`python -m recon._gunzip SRC DST [DST ...]`: inflate a gzip file with ISA-L into FIFOs.

Run as a separate process so inflating overlaps with DuckDB parsing and aggregating: DuckDB
inflates gzip on the same thread that parses, and ISA-L inflates ~2.5x faster than zlib.

With one DST the bytes are copied as they are (order kept: the exact path numbers records). With
several, SRC must be CSV: each DST gets the header line, then whole-record chunks go to whichever
writer is free, so DuckDB parses the FIFOs on several threads. A chunk is only cut at a newline
outside quotes (even number of `"` so far), so a quoted field with a line break never splits.

Exit status 1 and a one-line message on stderr for a corrupt or truncated file, so the reader can
tell "file ended early" from "file was short"; 2 when the reader went away first.
"""

from __future__ import annotations

import fcntl
import io
import os
import queue
import shutil
import sys
import threading
import zlib

CHUNK = 4 << 20
PIPE_BYTES = 1 << 20


def _copy(src: str, dst: str) -> None:
    from isal import igzip

    with igzip.open(src, "rb") as fin, open(dst, "wb") as fout:  # type: ignore[no-untyped-call]
        shutil.copyfileobj(fin, fout, CHUNK)


def _grow_pipe(fd: int) -> None:
    """A 64 KB pipe means a wake-up of reader and writer per 64 KB; a bigger one measured cheaper."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size for this user: keep the default


def _write_all(out: io.FileIO, piece: bytes | memoryview) -> None:
    view = memoryview(piece)
    while view:
        view = view[out.write(view) or 0:]  # a pipe write can come back short (a signal)


def _split(src: str, dsts: list[str]) -> None:
    from isal import igzip

    # Each item is (tail of the previous block, whole records from this block): written back to back,
    # never joined, because copying the blocks in Python cost more than inflating them.
    chunks: queue.Queue[tuple[bytes, memoryview] | None] = queue.Queue(maxsize=2 * len(dsts))
    failed: list[BaseException] = []

    def writer(path: str, header: bytes) -> None:
        try:
            # Opening blocks until DuckDB opens this FIFO; meanwhile the other writers take the chunks.
            with open(path, "wb", buffering=0) as out:
                _grow_pipe(out.fileno())
                _write_all(out, header)
                while (item := chunks.get()) is not None:
                    for piece in item:
                        _write_all(out, piece)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failed.append(exc)

    with igzip.open(src, "rb") as fin:  # type: ignore[no-untyped-call]
        header = fin.readline()
        threads = [threading.Thread(target=writer, args=(d, header), daemon=True) for d in dsts]
        for t in threads:
            t.start()
        carry = b""   # the start of a record, cut off at the end of the previous block
        quotes = 0    # quote characters before `carry` (even: it starts a record)
        while block := fin.read(CHUNK):
            in_carry = carry.count(b'"')
            cut = block.rfind(b"\n") + 1
            in_block = block.count(b'"', 0, cut)
            while cut and (quotes + in_carry + in_block) % 2:
                earlier = block.rfind(b"\n", 0, cut - 1) + 1  # that newline is inside quotes: cut earlier
                in_block -= block.count(b'"', earlier, cut)
                cut = earlier
            if cut:
                chunks.put((carry, memoryview(block)[:cut]))
                quotes += in_carry + in_block
                carry = block[cut:]
            else:
                carry += block  # no record ends in this block (a huge quoted field)
            if failed:
                raise failed[0]
        if carry:
            chunks.put((carry, memoryview(b"")))
    for _ in threads:
        chunks.put(None)
    for t in threads:
        t.join()
    if failed:
        raise failed[0]


def main(src: str, dsts: list[str]) -> int:
    try:
        if len(dsts) == 1:
            _copy(src, dsts[0])
        else:
            _split(src, dsts)
    except BrokenPipeError:
        return 2  # the reader stopped early (it failed on its own); it reports why
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _die_with_parent() -> None:
    """Exit when the reading process dies (killed by a host timeout, say) instead of waiting forever in
    open() on a FIFO nobody will read: Linux's parent-death signal, where it exists."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:
        os._exit(2)  # the parent was already gone before the signal was armed


if __name__ == "__main__":
    _die_with_parent()
    code = main(sys.argv[1], sys.argv[2:])
    sys.stdout.flush()
    # Writer threads may still be blocked on a FIFO nobody will open; don't wait for them.
    os._exit(code)
