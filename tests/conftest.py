"""Suite-wide fixtures. Area fixtures live in tests/plugins/<area>.py so areas don't edit one file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI explores a fixed set of examples so a red build is reproducible; local runs stay random.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

pytest_plugins = [
    "tests.plugins.dataverse",
    "tests.plugins.partnercenter",
    "tests.plugins.billing",
    "tests.plugins.recon",
    "tests.plugins.sync",
    "tests.plugins.distributors",
    "tests.plugins.portal",
    "tests.plugins.contract",
    "tests.plugins.mail",
    "tests.plugins.identity",
    "tests.plugins.payments",
]

REPO = Path(__file__).resolve().parents[1]

# Azurite's documented development account. It is public, the same on every machine, and only
# opens the local emulator; it is not a secret of ours.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Every test starts from sandbox settings with a private blob folder."""
    from shared.config import reset_settings

    for key in list(os.environ):
        if key.startswith("CSPB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CSPB_MODE", "sandbox")
    monkeypatch.setenv("CSPB_LOCAL_BLOB_ROOT", str(tmp_path / "blobs"))
    reset_settings()
    yield
    reset_settings()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory):
    """Azurite (blob + queue) on 127.0.0.1. Yields a connection string."""
    binary = REPO / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        found = shutil.which("azurite")
        if not found:
            pytest.fail("Azurite is not installed: run `npm install` (make test does it)")
        binary = Path(found)
    blob_port, queue_port = _free_port(), _free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [str(binary), "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--inMemoryPersistence",
         "--blobHost", "127.0.0.1", "--blobPort", str(blob_port),
         "--queueHost", "127.0.0.1", "--queuePort", str(queue_port),
         "--tableHost", "127.0.0.1", "--tablePort", str(_free_port())],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for port in (blob_port, queue_port):
            if proc.poll() is not None:
                pytest.fail(f"Azurite exited with code {proc.returncode}")
            _wait_port(port)
        _wait_port(queue_port)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{blob_port}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{queue_port}/{AZURITE_ACCOUNT};"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
