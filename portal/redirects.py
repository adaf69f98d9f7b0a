"""Where a portal page may send the browser next (`?next=`): same-site relative paths only.

Browsers strip tabs and newlines from URLs and read a backslash as a slash, so `/\\t/evil.example` and
`/\\evil.example` both mean `//evil.example`, another site. The value is normalized the way a browser
would first, then accepted only if it is a plain path under the portal."""

from __future__ import annotations

from urllib.parse import urlsplit

_STRIPPED = {"\t", "\n", "\r"}


def safe_next(target: str, mount: str, fallback: str) -> str:
    """`target` if it is a same-site path inside `mount` (the portal's path prefix), else `fallback`."""
    cleaned = "".join(ch for ch in target if ch not in _STRIPPED).strip().replace("\\", "/")
    if not cleaned or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        return fallback
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return fallback
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return fallback
    prefix = mount.rstrip("/")
    if prefix and parts.path != prefix and not parts.path.startswith(prefix + "/"):
        return fallback
    return cleaned
