"""Recon results into Dataverse (cspb_usagesummary, cspb_reconfile) and Blob Storage paths.

Column names: solution/TABLES.md. Summaries are upserted on their alternate key, so re-running a
period replaces its numbers instead of adding to them; cspb_billed / cspb_invoice belong to the
billing run and are never written here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing.models import UsageSource, UsageSummary
from billing.money import round_places
from dataverse.tables import EntitySet, ReconFileStatus, Table
from recon.aggregate import UsageGroup
from recon.reconcile import TenantAccount
from shared.errors import ValidationError

# Dataverse money columns hold at most 4 decimal places, quantities 10; the exact sums stay in the recon files.
MONEY_DECIMALS, QTY_DECIMALS = 4, 10
# The same as quanta: recon/run.py and recon/revisions.py quantize with them.
MONEY_PLACES = Decimal(1).scaleb(-MONEY_DECIMALS)
QTY_PLACES = Decimal(1).scaleb(-QTY_DECIMALS)


def blob_prefix(period: str, kind: str, currency: str) -> str:
    return f"recon/{period}/{kind}/{currency}"


def file_key(period: str, kind: str, currency: str) -> str:
    return f"{period}|{kind}|{currency}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def summaries_from_groups(groups: Iterable[UsageGroup],
                          provider_accounts: Mapping[str, str] | None = None,
                          source: UsageSource = UsageSource.BILLED) -> list[UsageSummary]:
    """One UsageSummary per key. `provider_accounts` maps customer tenant id (lower case) -> the
    cspb_provideraccount id, so each summary can point at its provider account. `source` says
    whose figures these are: Microsoft's billed usage, or the unbilled (estimated) export."""
    accounts = {k.lower(): v for k, v in (provider_accounts or {}).items()}
    merged: dict[str, UsageSummary] = {}
    pricing: dict[str, str] = {}
    for g in groups:
        key = g.key
        if key in merged:
            # Same billing key in two pricing currencies: pricing totals can't be added up.
            if pricing[key] != g.pricing_currency:
                raise ValidationError(f"usage {key} is priced in both {pricing[key]} and {g.pricing_currency}")
            s = merged[key]
            merged[key] = replace(s, quantity=s.quantity + g.quantity, cost=s.cost + g.cost,
                                  cost_before_pec=s.cost_before_pec + g.cost_before_pec,
                                  pec_amount=s.pec_amount + g.pec_amount, pricing_total=s.pricing_total + g.pricing_total,
                                  row_count=s.row_count + g.row_count)
            continue
        pricing[key] = g.pricing_currency
        merged[key] = UsageSummary(
            summary_key=key, subscription_id=g.subscription_id, period=g.period, currency=g.currency, cost=g.cost,
            provider_account_id=accounts.get(g.customer_id.lower()), customer_id=g.customer_id,
            entitlement_id=g.entitlement_id, meter_category=g.meter_category, quantity=g.quantity,
            cost_before_pec=g.cost_before_pec, pec_amount=g.pec_amount, pricing_total=g.pricing_total,
            row_count=g.row_count, source=source)
    return [merged[k] for k in sorted(merged)]


def _money(value: Decimal) -> Decimal:
    return round_places(value, MONEY_DECIMALS)


def usage_summary_record(s: UsageSummary) -> dict[str, Any]:
    record: dict[str, Any] = {
        "cspb_summarykey": s.summary_key,
        "cspb_name": f"{s.customer_id} {s.meter_category} {s.period}"[:100],
        "cspb_customerid": s.customer_id,
        "cspb_subscriptionid": s.subscription_id,
        "cspb_entitlementid": s.entitlement_id,
        "cspb_metercategory": s.meter_category,
        "cspb_period": s.period,
        "cspb_currencycode": s.currency,
        "cspb_quantity": round_places(s.quantity, QTY_DECIMALS),
        "cspb_costbeforepec": _money(s.cost_before_pec),
        "cspb_pecamount": _money(s.pec_amount),
        "cspb_cost": _money(s.cost),
        "cspb_pricingtotal": _money(s.pricing_total),
        "cspb_rowcount": s.row_count,
        # Billing bills Microsoft's billed figures, and trues up an estimate once they replace it.
        "cspb_usagesource": s.source.value,
    }
    if s.resource_group_tag:
        record["cspb_resourcegrouptag"] = s.resource_group_tag
    if s.provider_account_id:
        record["cspb_provideraccount@odata.bind"] = f"/{EntitySet.PROVIDER_ACCOUNTS}({s.provider_account_id})"
    return record


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


def recon_file_record(row: ReconFileRow) -> dict[str, Any]:
    return {
        "cspb_filekey": row.key, "cspb_name": row.key, "cspb_period": row.period, "cspb_kind": row.kind,
        "cspb_currencycode": row.currency, "cspb_blobpath": row.blob_path, "cspb_checksum": row.checksum,
        "cspb_rowsread": row.rows_read, "cspb_rowsaggregated": row.rows_aggregated,
        "cspb_rowsquarantined": row.rows_quarantined, "cspb_status": int(row.status),
        "cspb_error": row.error[:4000],
    }


def write_summaries(dv: Any, summaries: Sequence[UsageSummary]) -> int:
    records = [usage_summary_record(s) for s in summaries]
    return dv.bulk_upsert(EntitySet.USAGE_SUMMARIES, Table.USAGE_SUMMARY, ["cspb_summarykey"], records)


def write_recon_file(dv: Any, row: ReconFileRow) -> str:
    return dv.upsert(EntitySet.RECON_FILES, {"cspb_filekey": row.key}, recon_file_record(row)).id


def load_tenants(dv: Any) -> tuple[dict[str, TenantAccount], dict[str, str]]:
    """Partner Center provider accounts: tenant id -> TenantAccount, and tenant id -> provider account id."""
    tenants: dict[str, TenantAccount] = {}
    provider_accounts: dict[str, str] = {}
    for row in dv.list(EntitySet.PROVIDER_ACCOUNTS, filter="cspb_provider eq 1",
                       select=["cspb_provideraccountid", "cspb_externalid", "cspb_name", "_cspb_account_value",
                               "cspb_mappingstatus"]):
        tenant = (row.get("cspb_externalid") or "").lower()
        if not tenant:
            continue
        account = row.get("_cspb_account_value") if row.get("cspb_mappingstatus") != 2 else None
        tenants[tenant] = TenantAccount(tenant, account, row.get("cspb_name") or "")
        provider_accounts[tenant] = row["cspb_provideraccountid"]
    return tenants, provider_accounts
