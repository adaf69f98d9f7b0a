"""Recon files: one row per recon export (period, kind, currency) with its blob path, checksum and
row counts (read = aggregated + quarantined) and status. Upserted on the file key."""

from __future__ import annotations

from dataclasses import dataclass

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet, ReconFileStatus


def file_key(period: str, kind: str, currency: str) -> str:
    return f"{period}|{kind}|{currency}"


@dataclass(frozen=True)
class ReconFileRow:
    period: str
    kind: str          # invoice | billed_usage | unbilled_usage | import
    currency: str
    blob_path: str
    checksum: str
    rows_read: int
    rows_aggregated: int
    rows_quarantined: int
    status: ReconFileStatus
    error: str = ""

    @property
    def key(self) -> str:
        return file_key(self.period, self.kind, self.currency)


def record(row: ReconFileRow) -> dict[str, object]:
    return {
        "cspb_filekey": row.key, "cspb_name": row.key, "cspb_period": row.period, "cspb_kind": row.kind,
        "cspb_currencycode": row.currency, "cspb_blobpath": row.blob_path, "cspb_checksum": row.checksum,
        "cspb_rowsread": row.rows_read, "cspb_rowsaggregated": row.rows_aggregated,
        "cspb_rowsquarantined": row.rows_quarantined, "cspb_status": int(row.status),
        "cspb_error": row.error[:4000],
    }


def write(dv: DataverseClient, row: ReconFileRow) -> str:
    return str(dv.upsert(EntitySet.RECON_FILES, {"cspb_filekey": row.key}, record(row)).id)
