import gzip
import hashlib

import pytest

from shared.blobstore import AzureBlobStore, LocalBlobStore
from shared.errors import NotFoundError, ValidationError


def _exercise(store, tmp_path):
    info = store.put("recon/2026-10/usage/USD/part-0.json.gz", gzip.compress(b'{"a":1}\n'))
    assert info.sha256 == hashlib.sha256(store.get(info.path)).hexdigest()
    assert store.exists(info.path)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (3 << 20))
    file_info = store.put_file("recon/2026-10/usage/USD/big.bin", big)
    assert file_info.size == 3 << 20
    with store.open_read(file_info.path) as fh:
        assert len(fh.read()) == 3 << 20
    assert list(store.list("recon/2026-10/")) == sorted(["recon/2026-10/usage/USD/big.bin", info.path])
    store.delete(info.path)
    assert not store.exists(info.path)
    with pytest.raises(NotFoundError):
        store.get(info.path)
    with pytest.raises(ValidationError):
        store.put("../escape", b"")


def test_local_blob_store(tmp_path):
    _exercise(LocalBlobStore(tmp_path / "blobs"), tmp_path)


@pytest.mark.integration
def test_azure_blob_store_against_azurite(azurite, tmp_path):
    _exercise(AzureBlobStore("cspbridge-test", connection_string=azurite), tmp_path)
