"""Build and load recon/usage_scan.c, the compiled scanner, with the system C compiler and ctypes.

The library is built once per source version (its name carries the source's hash, and `isal-` when it
links ISA-L, which it then carries beside it) into
`CSPB_NATIVE_DIR`, else `recon/_native/` beside the source when that is writable, else the user's
cache directory; `make install` and `python -m recon.native` build it ahead of time, so a deployed
app (read-only on Azure Functions run-from-package) ships it. Without a compiler or a library,
`load()` returns None and recon uses DuckDB's reader for every file: slower, never different.
Builds go to a temporary name and are renamed into place, so concurrent builders never see half a
library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("usage_scan.c")
# Portable code (the compiler's baseline for the architecture: SSE2 on x86-64), so a library built on a
# build machine runs wherever the app runs.
CFLAGS = ("-O3", "-std=gnu11", "-fPIC", "-shared", "-fno-strict-aliasing")
# With ISA-L's headers (Debian: libisal-dev) the library also inflates gzip itself, with the GIL released
# (python-isal holds it while it inflates, which stalls the scanning threads). The ISA-L library is
# copied next to ours and found there ($ORIGIN), so the directory ships as it is.
ISAL_FLAGS = ("-DRECON_WITH_ISAL", "-Wl,-rpath,$ORIGIN")
ISAL_LIB = "libisal.so.2"

_lock = threading.Lock()
_loaded: ctypes.CDLL | None = None
_tried = False


def _candidates() -> list[Path]:
    dirs = []
    if os.environ.get("CSPB_NATIVE_DIR"):
        dirs.append(Path(os.environ["CSPB_NATIVE_DIR"]))
    dirs.append(SOURCE.parent / "_native")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dirs.append(Path(cache) / "cspbridge")
    dirs.append(Path(tempfile.gettempdir()) / "cspbridge-native")
    return dirs


def library_name(with_isal: bool = False) -> str:
    flags = CFLAGS + (ISAL_FLAGS if with_isal else ())
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(flags).encode()).hexdigest()[:12]
    return f"usage_scan-{'isal-' if with_isal else ''}{digest}{'.dll' if sys.platform == 'win32' else '.so'}"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _isal_library(cc: str) -> Path | None:
    """ISA-L's shared library as the linker would find it, if its headers are installed too."""
    found = subprocess.run([cc, "-print-file-name=libisal.so"], capture_output=True, text=True, timeout=30)
    path = Path(found.stdout.strip())
    if not path.is_absolute() or not path.exists():
        return None
    header = subprocess.run([cc, "-E", "-x", "c", "-"], input="#include <isa-l/igzip_lib.h>\n",
                            capture_output=True, text=True, timeout=30)
    return path.resolve() if header.returncode == 0 else None


def build(directory: Path, with_isal: bool | None = None) -> Path:
    """Compile into `directory` (if not there already) and return the library's path. `with_isal`:
    None builds with ISA-L when its headers are there, and without otherwise."""
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    isal = _isal_library(cc) if with_isal is not False else None
    if with_isal and isal is None:
        raise RuntimeError("ISA-L's headers or library are not installed (Debian: libisal-dev)")
    target = directory / library_name(isal is not None)
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".build-", suffix=".so")
    os.close(fd)
    try:
        flags = [*CFLAGS, *(ISAL_FLAGS if isal else ())]
        libs = ["-lisal"] if isal else []
        done = subprocess.run([cc, *flags, "-o", tmp, str(SOURCE), *libs], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{cc} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        if isal is not None and not (directory / ISAL_LIB).exists():
            copy = directory / f".{ISAL_LIB}.{os.getpid()}"
            shutil.copyfile(isal, copy)
            os.replace(copy, directory / ISAL_LIB)
        os.replace(tmp, target)
        for old in directory.glob("usage_scan-*"):
            if old != target:
                old.unlink(missing_ok=True)  # a build of an older source; a process that loaded it keeps its copy
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
    lib.recon_table_new.restype = p
    lib.recon_table_new.argtypes = [i64]
    lib.recon_table_free.restype = None
    lib.recon_table_free.argtypes = [p]
    for name in ("recon_table_groups", "recon_table_records"):
        getattr(lib, name).restype = i64
        getattr(lib, name).argtypes = [p]
    for name in ("key_len", "key_off", "key_bytes", "name_off", "name_len", "name_bytes", "sums", "counts"):
        fn = getattr(lib, f"recon_table_{name}")
        fn.restype = p
        fn.argtypes = [p]
    lib.recon_scan_csv.restype = i64
    lib.recon_scan_csv.argtypes = [p, p, i64, i64, i32, i64, p, ctypes.POINTER(i64)]
    if hasattr(lib, "recon_inflate"):
        lib.recon_inflater_new.restype = p
        lib.recon_inflater_new.argtypes = []
        lib.recon_inflater_free.restype = None
        lib.recon_inflater_free.argtypes = [p]
        lib.recon_inflate.restype = i64
        lib.recon_inflate.argtypes = [p, p, i64, p, i64, ctypes.POINTER(i64), ctypes.POINTER(i64)]
    lib.recon_scan_jsonl.restype = i64
    lib.recon_scan_jsonl.argtypes = [p, p, i64, i64, i32, p, p, p, i64, ctypes.POINTER(i64)]
    return lib


def load() -> ctypes.CDLL | None:
    """The scanner library, building it on first use if needed; None when it cannot be had."""
    global _loaded, _tried
    with _lock:
        if _tried:
            return _loaded
        _tried = True
        if os.environ.get("CSPB_NATIVE_SCAN", "1").lower() in ("0", "false", "off", "no"):
            return None
        for directory in _candidates():
            try:
                built = [p for p in (directory / library_name(True), directory / library_name(False)) if p.exists()]
                path = built[0] if built else build(directory)
                _loaded = _declare(ctypes.CDLL(str(path)))
                return _loaded
            except (OSError, RuntimeError, subprocess.SubprocessError):
                continue
        return None


def main() -> int:
    """`python -m recon.native`: build the library ahead of time (make install, a deployment build)."""
    errors = []
    for directory in _candidates():
        try:
            print(build(directory))
            return 0
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            errors.append(f"{directory}: {exc}")
    print("could not build the recon scanner (recon falls back to DuckDB): " + "; ".join(errors), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
