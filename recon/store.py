"""Recon results into Dataverse (usage summaries and recon file rows, through dataverse/stores/) and
Blob Storage paths. Summaries are upserted on their alternate key, so re-running a period replaces
its numbers instead of adding to them; whether one was billed belongs to the billing run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from billing.models import UsageSource, UsageSummary
from dataverse.client import DataverseClient
from dataverse.stores import provider_accounts as provider_accounts_store
from dataverse.stores import recon_files, usage_summaries
from dataverse.stores.recon_files import ReconFileRow
from dataverse.tables import MappingStatus, Provider
from recon.aggregate import UsageGroup
from recon.reconcile import TenantAccount
from shared.errors import ValidationError

# The places Dataverse keeps (dataverse/stores/usage_summaries.py), and the same as quanta.
MONEY_DECIMALS, QTY_DECIMALS = usage_summaries.MONEY_DECIMALS, usage_summaries.QUANTITY_DECIMALS
MONEY_PLACES = Decimal(1).scaleb(-MONEY_DECIMALS)
QTY_PLACES = Decimal(1).scaleb(-QTY_DECIMALS)
usage_summary_record = usage_summaries.record


def blob_prefix(period: str, kind: str, currency: str) -> str:
    return f"recon/{period}/{kind}/{currency}"


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
    provider account id, so each summary can point at its provider account. `source` says
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


def write_summaries(dv: DataverseClient, summaries: Sequence[UsageSummary]) -> int:
    return usage_summaries.write(dv, summaries)


def write_recon_file(dv: DataverseClient, row: ReconFileRow) -> str:
    return recon_files.write(dv, row)


def load_tenants(dv: DataverseClient) -> tuple[dict[str, TenantAccount], dict[str, str]]:
    """Partner Center provider accounts: tenant id -> TenantAccount, and tenant id -> provider account id."""
    tenants: dict[str, TenantAccount] = {}
    provider_accounts: dict[str, str] = {}
    for account in provider_accounts_store.list_accounts(dv):
        tenant = (account.external_id or "").lower()
        if account.provider != int(Provider.PARTNER_CENTER) or not tenant:
            continue
        mapped = account.account_id if account.mapping_status != int(MappingStatus.UNMAPPED) else None
        tenants[tenant] = TenantAccount(tenant, mapped, account.name or "")
        provider_accounts[tenant] = account.id
    return tenants, provider_accounts
