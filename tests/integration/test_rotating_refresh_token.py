"""One writer of a rotating refresh token across processes (shared/rotating_token.py + shared/locks.py).

TD SYNNEX's refresh token dies on use. Two Function instances that refresh at the same moment would
both redeem the same token, and the loser would strand the connection. With the cross-process lock
(a file lock locally, a blob lease in Azure: here on Azurite) the second waits, reads the rotated
token and redeems that one: both get an access token and the store holds the live refresh token.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from distributors.tdsynnex_auth import SANDBOX_REFRESH_TOKEN, TdSynnexTokens
from shared.blobstore import AzureBlobStore
from shared.errors import RetriableError
from shared.locks import BlobLeaseLock, FileLock
from shared.secret_files import FileSecretStore

pytestmark = pytest.mark.integration
NAME = "tdsynnex-rt"


def _tokens(url: str, folder: Path, lock: Any) -> TdSynnexTokens:
    return TdSynnexTokens(url + "/oauth/token", FileSecretStore(folder / "secrets"), NAME,
                          seed=SANDBOX_REFRESH_TOKEN, timeout=10, lock=lock)


def _in_child(url: str, folder: str, start: Any, out: Any) -> None:
    start.wait(10)
    try:
        token = _tokens(url, Path(folder), FileLock(Path(folder) / "locks" / f"{NAME}.lock"))()
        out.put(("ok", bool(token)))
    except Exception as exc:  # noqa: BLE001 - the parent reports what the child saw
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def test_two_processes_refreshing_at_once_both_get_a_token(tdsynnex_server, tmp_path):
    # Each token answer takes 0.5 s, so without the lock both processes would redeem the seed.
    tdsynnex_server.app.faults.set(latency_ms=500, path_contains="/oauth/token")
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    children = [ctx.Process(target=_in_child, args=(tdsynnex_server.url, str(tmp_path), start, out)) for _ in range(2)]
    for child in children:
        child.start()
    start.set()
    results = [out.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)
    assert results == [("ok", True), ("ok", True)], results
    sandbox = tdsynnex_server.app.sandbox
    assert sandbox.token_requests == 2
    assert FileSecretStore(tmp_path / "secrets").get(NAME).reveal() == sandbox.state["refreshToken"]


def test_two_instances_share_a_blob_lease(tdsynnex_server, azurite, tmp_path):
    tdsynnex_server.app.faults.set(latency_ms=500, path_contains="/oauth/token")
    container = AzureBlobStore("locks-test", connection_string=azurite).container_client
    instances = [_tokens(tdsynnex_server.url, tmp_path, BlobLeaseLock(container, NAME, poll_seconds=0.1))
                 for _ in range(2)]
    barrier, got, errors = threading.Barrier(2), [], []

    def refresh(tokens: TdSynnexTokens) -> None:
        barrier.wait()
        try:
            got.append(tokens())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(t,)) for t in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(got) == 2
    sandbox = tdsynnex_server.app.sandbox
    assert sandbox.token_requests == 2
    assert instances[0].stored() == sandbox.state["refreshToken"]


def test_a_lock_held_too_long_is_retriable_not_fatal(azurite, tmp_path):
    file_lock = FileLock(tmp_path / "held.lock", wait_seconds=0.2)
    with file_lock.hold(), pytest.raises(RetriableError, match="held by another"):
        with FileLock(tmp_path / "held.lock", wait_seconds=0.2).hold():
            pass
    container = AzureBlobStore("locks-test", connection_string=azurite).container_client
    lease = BlobLeaseLock(container, "held", wait_seconds=0.3, poll_seconds=0.1)
    with lease.hold(), pytest.raises(RetriableError, match="held by another"):
        with BlobLeaseLock(container, "held", wait_seconds=0.3, poll_seconds=0.1).hold():
            pass
    with lease.hold():  # released: free again
        pass
