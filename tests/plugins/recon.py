"""pytest fixtures and file builders for the recon area.

- `usage_row(**overrides)` / `invoice_row(**overrides)`: one valid row with Microsoft's column names.
- `write_csv(path, rows, columns=..., bom=, crlf=, gz=)`: a recon CSV as the portal writes it.
- `write_jsonl(path, rows)`: camelCase JSON lines as the Graph export writes them; a str row is
  written verbatim (for malformed lines).
- `usage_file`: fixture wrapping write_csv into tmp_path.
Integration tests use the `pc`/`pc_server` (partnercenter), `dv`/`dv_server` (dataverse) and
`azurite` fixtures; no recon-specific servers exist.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recon.columns import INVOICE_COLUMNS, USAGE_COLUMNS


def usage_row(**overrides: Any) -> dict[str, str]:
    """One valid daily-rated usage row (Microsoft's columns), with overrides."""
    row = {c: "" for c in USAGE_COLUMNS}
    row.update({
        "PartnerId": "0e195b37-4574-4539-bc42-0e539b9684c0", "CustomerId": "cust-a", "CustomerName": "Contoso",
        "SubscriptionId": "sub-1", "EntitlementId": "ent-1", "UsageDate": "2026-10-03T00:00:00Z",
        "MeterCategory": "Virtual Machines", "UnitPrice": "0.10", "Quantity": "10", "EffectiveUnitPrice": "0.085",
        "BillingPreTaxTotal": "0.85", "BillingCurrency": "USD", "PricingPreTaxTotal": "0.85",
        "PricingCurrency": "USD", "PCToBCExchangeRate": "1", "PartnerEarnedCreditPercentage": "15",
        "ChargeType": "new",
    })
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def invoice_row(**overrides: Any) -> dict[str, str]:
    row = {c: "" for c in INVOICE_COLUMNS}
    row.update({
        "PartnerId": "0e195b37-4574-4539-bc42-0e539b9684c0", "CustomerId": "cust-a", "CustomerName": "Contoso",
        "InvoiceNumber": "G000012345", "ProductId": "CFQ7TTC0LH18", "SkuId": "0001",
        "ProductName": "Microsoft 365 Business Basic", "SkuName": "Microsoft 365 Business Basic",
        "SubscriptionId": "sub-m365", "ChargeType": "new", "UnitPrice": "6.00", "EffectiveUnitPrice": "6.00",
        "Quantity": "10", "BillableQuantity": "10", "Subtotal": "60.00", "TaxTotal": "0", "Total": "60.00",
        "Currency": "USD", "PCToBCExchangeRate": "1", "ChargeStartDate": "10/1/2026",
        "ChargeEndDate": "10/31/2026", "UnitType": "Licenses",
    })
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def write_csv(path: Path, rows: list[dict[str, str]], *, columns: tuple[str, ...] | list[str] = USAGE_COLUMNS,
              bom: bool = False, crlf: bool = False, gz: bool = False) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    data = (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_jsonl(path: Path, rows: list[dict[str, str] | str], *, gz: bool = True) -> Path:
    """Rows as camelCase JSON objects (the Graph export shape); a str is written as-is (malformed lines)."""
    lines = []
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
        else:
            lines.append(json.dumps({("pc" + k[2:]) if k.startswith("PCTo") else k[0].lower() + k[1:]: v
                                     for k, v in row.items()}))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def usage_file(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1_000_000))

    def make(rows: list[dict[str, str]], *, name: str | None = None, **kwargs: Any) -> Path:
        return write_csv(tmp_path / (name or f"usage-{next(counter)}.csv"), rows, **kwargs)

    return make
