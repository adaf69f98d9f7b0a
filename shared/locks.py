"""Cross-process locks: one holder at a time among every process and instance of the app.

Used where a read-then-write on shared state must not interleave between Function instances, e.g.
redeeming a refresh token that rotates on every use (shared/rotating_token.py): two instances
refreshing at once would each spend the same token, and one of them would strand the connection.

- `FileLock`: an exclusive flock(2) on a file. Every process on one machine (sandbox mode, the CLI, a
  single-instance host) shares it; it is released by the OS if the holder dies.
- `BlobLeaseLock`: an Azure Blob lease on a small blob in the app's container, which every instance
  of the Function App sees. A lease has a fixed duration (15-60 s), so a holder that dies frees it
  when the lease runs out; the holder renews nothing (a token refresh takes a second or two).
- `lock_for(settings, name)`: the blob lease when the app has Azure Storage, else the file lock.

Waiting longer than `wait_seconds` raises RetriableError: the message is re-delivered later.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from shared.errors import RetriableError

LOCK_PREFIX = "_locks"


class CrossProcessLock(Protocol):
    name: str

    def hold(self) -> AbstractContextManager[None]: ...


class FileLock:
    def __init__(self, path: Path | str, *, wait_seconds: float = 60.0, poll_seconds: float = 0.05,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock

    @contextmanager
    def hold(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = self.clock() + self.wait_seconds
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.clock() >= deadline:
                        raise RetriableError(f"lock {self.name} is held by another process; "
                                             f"waited {self.wait_seconds:.0f} s") from None
                    time.sleep(self.poll_seconds)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class BlobLeaseLock:
    """A lease on `<container>/_locks/<name>`; `container` is an azure.storage.blob ContainerClient."""

    def __init__(self, container: Any, name: str, *, lease_seconds: int = 60, wait_seconds: float = 60.0,
                 poll_seconds: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        if not 15 <= lease_seconds <= 60:
            raise ValueError("a blob lease lasts 15 to 60 seconds")
        self.container = container
        self.name = name
        self.blob = container.get_blob_client(f"{LOCK_PREFIX}/{name}")
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock

    def _ensure_blob(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            # if_none_match="*": never overwrite (a write to a leased blob without the lease is refused anyway).
            self.blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass

    @contextmanager
    def hold(self) -> Iterator[None]:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        deadline = self.clock() + self.wait_seconds
        lease = None
        while lease is None:
            try:
                lease = self.blob.acquire_lease(lease_duration=self.lease_seconds)
            except ResourceNotFoundError:
                self._ensure_blob()
            except (ResourceExistsError, HttpResponseError) as exc:
                # 409 LeaseAlreadyPresent: another instance holds it.
                if getattr(exc, "status_code", None) != 409:
                    raise RetriableError(f"lock {self.name}: blob lease failed ({getattr(exc, 'status_code', '?')})",
                                         status=getattr(exc, "status_code", None)) from None
                if self.clock() >= deadline:
                    raise RetriableError(f"lock {self.name} is held by another instance; "
                                         f"waited {self.wait_seconds:.0f} s") from None
                time.sleep(self.poll_seconds)
        try:
            yield
        finally:
            try:
                lease.release()
            except HttpResponseError:
                pass  # expired meanwhile: it is free either way


class LazyLock:
    """A lock built at its first use: building a blob lease lock reaches Storage (it creates the
    container), which a provider constructed at start-up or in a command that never refreshes need not."""

    def __init__(self, build: Callable[[], CrossProcessLock], name: str) -> None:
        self.name = name
        self._build = build
        self._lock: CrossProcessLock | None = None
        self._guard = threading.Lock()

    def hold(self) -> AbstractContextManager[None]:
        with self._guard:
            if self._lock is None:
                self._lock = self._build()
        return self._lock.hold()


def lock_for(settings: Any, name: str) -> CrossProcessLock:
    """The lock every instance of this deployment shares for `name`."""
    from shared.blobstore import AzureBlobStore, blob_store_from_settings

    store = blob_store_from_settings(settings)
    if isinstance(store, AzureBlobStore):
        return BlobLeaseLock(store.container_client, name)
    return FileLock(Path(settings.local_blob_root) / LOCK_PREFIX / f"{name}.lock")
