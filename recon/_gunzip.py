"""`python -m recon._gunzip SRC DST`: decompress a gzip file into DST (a FIFO) with ISA-L.

Run as a separate process so inflating (one core) overlaps with DuckDB parsing and aggregating
(the other): DuckDB inflates gzip on the same thread that parses, and ISA-L inflates ~2.5x faster
than zlib. Exit status 1 and a one-line message on stderr for a corrupt or truncated file, so the
reader can tell "file ended early" from "file was short".
"""

from __future__ import annotations

import shutil
import sys
import zlib


def main(src: str, dst: str) -> int:
    from isal import igzip

    try:
        with igzip.open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except BrokenPipeError:
        return 2  # the reader stopped early (it failed on its own); it reports why
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
