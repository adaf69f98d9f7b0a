"""Secrets as files in a local folder: sandbox mode's stand-in for Key Vault, so a refresh token
rotated by one run (QuickBooks, TD SYNNEX) is the one the next run uses."""

from __future__ import annotations

import threading
from pathlib import Path

from shared.config import Secret


class FileSecretStore:
    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def get(self, name: str) -> Secret | None:
        path = self.folder / name
        return Secret(path.read_text(encoding="utf-8")) if path.exists() else None

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{name}.tmp"
            tmp.write_text(value, encoding="utf-8")
            tmp.replace(self.folder / name)
