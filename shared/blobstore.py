"""Blob store port: the local-folder default and an Azure Blob adapter (Azurite in tests).

Paths are '/'-separated, relative to the container (for example `recon/2026-10/usage/USD/part-0.json.gz`).
Every put returns the SHA-256 of what was stored, so callers can record a checksum.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from shared.errors import NotFoundError, ValidationError


@dataclass(frozen=True)
class BlobInfo:
    path: str
    size: int
    sha256: str


class BlobStore(Protocol):
    def put(self, path: str, data: bytes, *, content_type: str | None = None,
            metadata: dict[str, str] | None = None) -> BlobInfo: ...
    def put_file(self, path: str, source: Path, *, content_type: str | None = None) -> BlobInfo: ...
    def get(self, path: str) -> bytes: ...
    def open_read(self, path: str) -> BinaryIO: ...
    def exists(self, path: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def delete(self, path: str) -> None: ...


def _clean(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValidationError(f"invalid blob path {path!r}")
    return "/".join(parts)


def _sha256_file(source: Path) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(target: Path) -> Path:
    # One name per write: two writers of the same blob (a webhook and the return page) would
    # otherwise share one temp file, and the second os.replace finds it gone.
    return target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")


class LocalBlobStore:
    """A folder on disk. The default outside Azure, so the demo writes real, inspectable files."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, path: str) -> Path:
        return self.root / _clean(path)

    def put(self, path: str, data: bytes, *, content_type: str | None = None,
            metadata: dict[str, str] | None = None) -> BlobInfo:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(target)
        tmp.write_bytes(data)
        os.replace(tmp, target)  # readers never see half a file
        return BlobInfo(_clean(path), len(data), hashlib.sha256(data).hexdigest())

    def put_file(self, path: str, source: Path, *, content_type: str | None = None) -> BlobInfo:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(target)
        with source.open("rb") as src, tmp.open("wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(chunk)
        os.replace(tmp, target)
        return BlobInfo(_clean(path), target.stat().st_size, _sha256_file(target))

    def get(self, path: str) -> bytes:
        target = self._path(path)
        if not target.is_file():
            raise NotFoundError(f"blob not found: {_clean(path)}", status=404)
        return target.read_bytes()

    def open_read(self, path: str) -> BinaryIO:
        target = self._path(path)
        if not target.is_file():
            raise NotFoundError(f"blob not found: {_clean(path)}", status=404)
        return target.open("rb")

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for file in sorted(self.root.rglob("*")):
            if file.is_file() and not file.name.endswith(".tmp"):
                rel = file.relative_to(self.root).as_posix()
                if rel.startswith(prefix):
                    yield rel

    def delete(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)


class AzureBlobStore:
    """Azure Blob Storage through azure-storage-blob. Uploads are chunked, so big recon files stream."""

    def __init__(self, container: str, *, connection_string: str | None = None,
                 account_url: str | None = None, credential: Any = None, **client_options: Any) -> None:
        from azure.storage.blob import BlobServiceClient

        if connection_string:
            service = BlobServiceClient.from_connection_string(connection_string, **client_options)
        elif account_url:
            # Identity-based: a token credential (DefaultAzureCredential, managed identity); needs the
            # "Storage Blob Data Contributor" role on the account or container.
            service = BlobServiceClient(account_url=account_url, credential=credential, **client_options)
        else:
            raise ValidationError("AzureBlobStore needs a connection string or an account URL")
        self._container = service.get_container_client(container)
        try:
            self._container.create_container()
        except Exception as exc:  # noqa: BLE001 - ResourceExistsError is the normal case
            if type(exc).__name__ != "ResourceExistsError":
                raise

    @property
    def container_client(self) -> Any:
        """The azure.storage.blob ContainerClient (shared/locks.py leases blobs in it)."""
        return self._container

    def put(self, path: str, data: bytes, *, content_type: str | None = None,
            metadata: dict[str, str] | None = None) -> BlobInfo:
        from azure.storage.blob import ContentSettings

        name = _clean(path)
        digest = hashlib.sha256(data).hexdigest()
        meta = dict(metadata or {}, sha256=digest)
        self._container.upload_blob(name, data, overwrite=True, metadata=meta,
                                    content_settings=ContentSettings(content_type=content_type) if content_type else None)
        return BlobInfo(name, len(data), digest)

    def put_file(self, path: str, source: Path, *, content_type: str | None = None) -> BlobInfo:
        from azure.storage.blob import ContentSettings

        name = _clean(path)
        digest = _sha256_file(source)
        with source.open("rb") as fh:
            self._container.upload_blob(name, fh, overwrite=True, metadata={"sha256": digest},
                                        content_settings=ContentSettings(content_type=content_type) if content_type else None)
        return BlobInfo(name, source.stat().st_size, digest)

    def get(self, path: str) -> bytes:
        data: bytes = self._download(path).readall()
        return data

    def open_read(self, path: str) -> BinaryIO:
        import io

        # StorageStreamDownloader is not a file object; chunks() keeps memory bounded.
        downloader = self._download(path)

        class _Reader(io.RawIOBase):
            def __init__(self) -> None:
                self._chunks = downloader.chunks()
                self._buf = b""

            def readable(self) -> bool:
                return True

            def readinto(self, b: bytearray) -> int:  # type: ignore[override]
                while not self._buf:
                    try:
                        self._buf = next(self._chunks)
                    except StopIteration:
                        return 0
                n = min(len(b), len(self._buf))
                b[:n] = self._buf[:n]
                self._buf = self._buf[n:]
                return n

        return io.BufferedReader(_Reader(), buffer_size=1 << 20)  # type: ignore[type-var]

    def _download(self, path: str):  # type: ignore[no-untyped-def]
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._container.download_blob(_clean(path))
        except ResourceNotFoundError as exc:
            raise NotFoundError(f"blob not found: {_clean(path)}", status=404) from exc

    def exists(self, path: str) -> bool:
        return bool(self._container.get_blob_client(_clean(path)).exists())

    def list(self, prefix: str = "") -> Iterator[str]:
        for blob in self._container.list_blobs(name_starts_with=prefix or None):
            yield blob.name

    def delete(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._container.delete_blob(_clean(path))
        except ResourceNotFoundError:
            pass


def blob_store_from_settings(settings: object | None = None) -> BlobStore:
    from shared.config import get_settings

    s: Any = settings or get_settings()
    conn = s.storage_connection_string.reveal()
    if conn:
        return AzureBlobStore(s.blob_container, connection_string=conn)
    if s.blob_service_uri:
        # Identity-based (CSPB_STORAGE__serviceUri / __blobServiceUri / __accountName), as the host reads it.
        from shared.auth import connection_credential, sdk_options

        return AzureBlobStore(s.blob_container, account_url=s.blob_service_uri,
                              credential=connection_credential(s, "storage"), **sdk_options(s))
    return LocalBlobStore(s.local_blob_root)
