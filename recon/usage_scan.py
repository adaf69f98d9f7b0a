"""The fast path for clean daily-rated usage files: a compiled scanner (recon/usage_scan.c) that groups
rows in one pass.

Why not a general engine: to be strict about structure, DuckDB's reader parses every field as a
typed value, and polars cannot be made to notice a ragged row at all (it stops at the last column a
query needs, and pads a short row). This scanner walks every byte once (16 at a time), counts every
record's fields, keeps only the spans of the columns the aggregation needs, and hashes the group key
straight from the bytes. One thread reads, or inflates with ISA-L inside the library (the GIL released),
into a few recycled buffers; the other threads scan them (recon.usage_blocks), each into a table of
its own.

It is a fast path, never the last word. It gives up (returns no table, and recon.aggregate's DuckDB
paths read the file and explain it) on anything it would have to interpret:
- a ragged record, a blank line, a lone CR, a stray quote, invalid UTF-8, a malformed JSON line;
- in JSON: an escaped key, an escape that is not text (a lone surrogate, NUL), a wanted key twice, an
  object or array where a value is wanted, a null amount, a number with an exponent or more than 15
  significant digits (DuckDB reads JSON numbers as doubles and prints them shortest-first: the
  scanner writes the same text for the rest, so 0.10 and 0.1 are one sub-group on both paths);
- an amount outside `-?digits[.digits]` with at most 8 integer and 10 decimal digits (DuckDB rounds
  longer fractions half away from zero; wider values are rare enough to leave to it).
What it returns is what `_fast_sql`'s `sub` relation holds, so recon.aggregate checks and normalises
the groups with the same SQL as every other path. Amounts are summed exactly, as 128-bit integers of
1E-10, never as floats.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from recon import native
from recon.sources import SourceInfo
from recon.usage_blocks import Block, record_blocks

# Group key slots, in the order of recon.aggregate's `sub` relation, then the carried values. Slot
# numbers are usage_scan.c's.
KEYS = ("CustomerId", "SubscriptionId", "EntitlementId", "MeterCategory", "BillingCurrency", "PricingCurrency",
        "day_key", "UnitPrice", "PCToBCExchangeRate", "PartnerEarnedCreditPercentage")
SUMMED = ("Quantity", "BillingPreTaxTotal", "PricingPreTaxTotal")
SLOT_COLUMNS = (*KEYS[:6], "UsageDate", *KEYS[7:], "CustomerName", *SUMMED)
N_KEY = len(KEYS)

DONE, MORE, GIVE_UP = 0, 2, 3
# Why the scanner gave up (usage_scan.c's R_* codes), for the log line; DuckDB then reads the file.
REASONS = {1: "ragged record", 2: "blank line", 3: "stray quote", 4: "lone CR", 5: "invalid UTF-8",
           6: "escaped needed value", 8: "amount outside the fast format",
           9: "malformed JSON line", 10: "record crosses a block cut", 11: "duplicate JSON key",
           12: "more groups than it keeps in memory", 13: "group key over 4 KB"}
SCALE = 10
# Bytes per buffer the reader fills (a record may not be longer).
BLOCK = 4 << 20
# Groups a thread's table may hold: ~300 bytes each keeps a table near 60 MB and recon under 300 MB;
# a file with more goes to DuckDB, which spills to disk.
MAX_GROUPS = 200_000


def available() -> bool:
    return native.load() is not None


@dataclass
class Outcome:
    # The sub-groups as columns (KEYS, then name, bad_rows, qty, cost, ptotal as plain decimal text, n),
    # handed to DuckDB as lists: building an Arrow table from Python lists imports pandas (0.26 s).
    table: dict[str, list[Any]] | None
    records: int
    reason: str | None = None   # why the fast path gave up


class _Table:
    """A C group table (freed with the object)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.ptr = lib.recon_table_new(MAX_GROUPS)
        if not self.ptr:
            raise MemoryError("recon scanner: no memory for a group table")

    def __del__(self) -> None:
        if getattr(self, "ptr", None):
            self.lib.recon_table_free(self.ptr)
            self.ptr = None

    def _ints(self, name: str, ctype: Any, count: int) -> list[int]:
        address = getattr(self.lib, f"recon_table_{name}")(self.ptr)
        return list((ctype * count).from_address(address)) if count and address else []

    @property
    def records(self) -> int:
        return int(self.lib.recon_table_records(self.ptr))

    def merge_into(self, out: dict[tuple[str, ...], list[Any]]) -> None:
        """Fold this table's groups into `out` (raw key -> [name, qty, cost, ptotal, records])."""
        groups = int(self.lib.recon_table_groups(self.ptr))
        if not groups:
            return
        key_len = self._ints("key_len", ctypes.c_int32, groups * N_KEY)
        key_off = self._ints("key_off", ctypes.c_int64, groups)
        name_off = self._ints("name_off", ctypes.c_int64, groups)
        name_len = self._ints("name_len", ctypes.c_int64, groups)
        sums = self._ints("sums", ctypes.c_int64, groups * 6)
        counts = self._ints("counts", ctypes.c_int64, groups)
        key_bytes = ctypes.string_at(self.lib.recon_table_key_bytes(self.ptr),
                                     key_off[-1] + sum(key_len[-N_KEY:]))
        name_bytes = ctypes.string_at(self.lib.recon_table_name_bytes(self.ptr),
                                      max(o + n for o, n in zip(name_off, name_len, strict=True)))
        for g in range(groups):
            off = key_off[g]
            parts = []
            for length in key_len[g * N_KEY:(g + 1) * N_KEY]:
                parts.append(key_bytes[off:off + length].decode("utf-8"))
                off += length
            key = tuple(parts)
            name = name_bytes[name_off[g]:name_off[g] + name_len[g]].decode("utf-8")
            row = sums[g * 6:(g + 1) * 6]
            amounts = [_amount(row[2 * i], row[2 * i + 1]) for i in range(3)]
            acc = out.get(key)
            if acc is None:
                out[key] = [name, *amounts, counts[g]]
            else:
                acc[0] = max(acc[0], name)
                for i in range(3):
                    acc[1 + i] += amounts[i]
                acc[4] += counts[g]


class _Inflated:
    """A gzip file's content through the scanner's own ISA-L inflater: readinto() fills the caller's
    buffer directly, with the GIL released while ISA-L works. Multi-member files are read through;
    a file that ends inside a member raises EOFError, a corrupt one ValueError."""

    CHUNK = 1 << 20

    def __init__(self, lib: ctypes.CDLL, raw: Any) -> None:
        self.lib, self.raw = lib, raw
        self.ptr = lib.recon_inflater_new()
        if not self.ptr:
            raise MemoryError("recon scanner: no memory for an inflater")
        self.pending = b""
        self.offset = 0
        self.at_member_end = True   # nothing started yet
        self.consumed, self.produced = ctypes.c_int64(0), ctypes.c_int64(0)

    def __del__(self) -> None:
        if getattr(self, "ptr", None):
            self.lib.recon_inflater_free(self.ptr)
            self.ptr = None

    def readinto(self, view: memoryview) -> int:
        out = (ctypes.c_char * len(view)).from_buffer(view)
        address, room, done = ctypes.addressof(out), len(view), 0
        while done < room:
            if self.offset >= len(self.pending):
                self.pending, self.offset = self.raw.read(self.CHUNK), 0
                if not self.pending:
                    if not self.at_member_end:
                        raise EOFError("compressed file ended before the end-of-stream marker was reached")
                    break
            source = ctypes.cast(ctypes.c_char_p(self.pending), ctypes.c_void_p).value or 0
            status = self.lib.recon_inflate(self.ptr, source + self.offset, len(self.pending) - self.offset,
                                            address + done, room - done, ctypes.byref(self.consumed),
                                            ctypes.byref(self.produced))
            if status < 0:
                raise ValueError(f"corrupt gzip data (ISA-L error {status})")
            self.offset += self.consumed.value
            done += self.produced.value
            self.at_member_end = status == 1
        del out
        return done


def _amount(low: int, high: int) -> Decimal:
    return Decimal((high << 64) + (low & ((1 << 64) - 1))).scaleb(-SCALE)


def _slots(header: tuple[str, ...], cols: dict[str, str | None]) -> ctypes.Array[ctypes.c_int64]:
    """Column number -> slot (or -1). An absent optional column never fills its slot: it reads as empty."""
    position = {name: i for i, name in enumerate(header)}
    out = [-1] * len(header)
    for slot, column in enumerate(SLOT_COLUMNS):
        actual = cols.get(column)
        if actual is not None and actual in position:
            out[position[actual]] = slot
    return (ctypes.c_int64 * len(out))(*out)


def _columns(merged: dict[tuple[str, ...], list[Any]]) -> dict[str, list[Any]]:
    keys = list(merged)
    values = list(merged.values())
    columns: dict[str, list[Any]] = {k: [key[i] for key in keys] for i, k in enumerate(KEYS)}
    columns["name"] = [v[0] for v in values]
    columns["bad_rows"] = [0] * len(values)
    for i, name in enumerate(("qty", "cost", "ptotal")):
        columns[name] = [format(v[1 + i], "f") for v in values]
    columns["n"] = [v[4] for v in values]
    return columns


def scan(info: SourceInfo, cols: dict[str, str | None], threads: int | None = None) -> Outcome:
    """A usage file (CSV or JSON lines, plain or gzip'd) -> its sub-groups, or Outcome(None, reason)
    when it has to be DuckDB's."""
    lib = native.load()
    if lib is None:
        return Outcome(None, 0, "no compiled scanner")
    workers = threads or os.cpu_count() or 1
    return (_scan_csv if info.fmt == "csv" else _scan_jsonl)(info, cols, lib, workers)


def _scan_jsonl(info: SourceInfo, cols: dict[str, str | None], lib: ctypes.CDLL, threads: int) -> Outcome:
    """JSON lines: each wanted key (as the file spells it) fills its slot; other keys are validated and skipped."""
    wanted = [(actual.encode("utf-8"), slot) for slot, column in enumerate(SLOT_COLUMNS)
              if (actual := cols.get(column)) is not None]
    names = ctypes.create_string_buffer(b"".join(n for n, _ in wanted) or b"\0")
    ends = [0]
    for n, _ in wanted:
        ends.append(ends[-1] + len(n))
    offsets = (ctypes.c_int64 * len(ends))(*ends)
    name_slots = (ctypes.c_int64 * max(1, len(wanted)))(*(slot for _, slot in wanted))
    pointers = (ctypes.addressof(names), ctypes.addressof(offsets), ctypes.addressof(name_slots))

    def scan(table: _Table, block: Block, nxt: ctypes.c_int64) -> int:
        return int(lib.recon_scan_jsonl(table.ptr, block.address, block.start, block.length, int(block.last),
                                        *pointers, len(wanted), ctypes.byref(nxt)))

    return _scan(info, lib, scan, header=False, threads=threads)


def _scan_csv(info: SourceInfo, cols: dict[str, str | None], lib: ctypes.CDLL, threads: int) -> Outcome:
    """Plain or gzip'd CSV: each needed column's number names its slot."""
    slots = _slots(info.header, cols)
    ncols = len(info.header)
    slot_ptr = ctypes.addressof(slots)

    def scan(table: _Table, block: Block, nxt: ctypes.c_int64) -> int:
        return int(lib.recon_scan_csv(table.ptr, block.address, block.start, block.length, int(block.last), ncols,
                                      slot_ptr, ctypes.byref(nxt)))

    return _scan(info, lib, scan, header=True, threads=threads)


def _scan(info: SourceInfo, lib: ctypes.CDLL, scan: Any, *, header: bool, threads: int) -> Outcome:
    """One thread reads (inflating with ISA-L when gzip'd) and cuts blocks after a newline; `threads`
    workers scan whole blocks into tables of their own, merged at the end. A block whose last record
    does not end at its cut (a quoted field with a line break across the cut) makes the scan give up:
    a wrong cut costs speed, never a row."""
    tables = [_Table(lib) for _ in range(threads)]
    failure: list[str] = []
    inflater = (lambda raw: _Inflated(lib, raw)) if hasattr(lib, "recon_inflate") else None
    with record_blocks(info, header=header, buffers=threads + 2, block_size=BLOCK, inflater=inflater) as blocks:
        def work(part: int) -> None:
            table, nxt = tables[part], ctypes.c_int64(0)
            try:
                for block in blocks.take():
                    code = scan(table, block, nxt)
                    blocks.done(block)
                    if code != DONE:
                        failure.append(REASONS[10] if code == MORE else REASONS.get(code >> 8, "scan"))
                        blocks.stop()
                        return
            except Exception as exc:  # noqa: BLE001 - a worker that dies must not leave its blocks uncounted
                failure.append(f"scan failed ({type(exc).__name__})")
                blocks.stop()
            except BaseException:
                failure.append("scan interrupted")
                blocks.stop()
                raise

        workers = [threading.Thread(target=work, args=(p,), name=f"recon-scan-{p}") for p in range(1, threads)]
        for w in workers:
            w.start()
        work(0)
        for w in workers:
            w.join()
    if blocks.failed:
        return Outcome(None, 0, blocks.failed)
    if failure:
        return Outcome(None, 0, failure[0])
    records = sum(t.records for t in tables)
    if not records:
        return Outcome(None, 0, "no records")
    merged: dict[tuple[str, ...], list[Any]] = {}
    try:
        for t in tables:
            t.merge_into(merged)
    except UnicodeDecodeError:
        return Outcome(None, 0, REASONS[5])
    return Outcome(_columns(merged), records)
