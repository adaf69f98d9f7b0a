"""Provider accounts: customers at Partner Center and the distributors -> provider account rows,
auto-mapped to a CRM account when the domains match.

A mapping someone made by hand is never replaced. Tenants nobody mapped stay Unmapped, show in
the "Unmapped Provider Accounts" view, and block billing for that tenant (dataverse.stores.provider_accounts.billing_block_reason).
Only rows whose values changed are written, so a quiet day writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores import provider_accounts as store
from dataverse.stores.provider_accounts import PROVIDER_LABELS, AccountChange, ProviderAccount
from dataverse.tables import MappingStatus, Provider
from distributors.base import Adapters, Company
from shared.errors import IntegrationError, RetriableError
from sync import runs


def normalize_domain(domain: str | None) -> str:
    text = (domain or "").strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/")[0]
    return text[4:] if text.startswith("www.") else text


@dataclass
class AccountsResult:
    run: dict[str, Any]
    unmapped: list[str]


def _account_domains(dv: DataverseClient) -> dict[str, list[str]]:
    domains: dict[str, list[str]] = {}
    for account_id, raws in store.crm_account_domains(dv):
        for raw in set(raws):
            domain = normalize_domain(raw)
            if domain and account_id not in domains.get(domain, []):
                domains.setdefault(domain, []).append(account_id)
    return domains


def _match(domains: Mapping[str, list[str]], domain: str) -> tuple[str | None, str]:
    hits = domains.get(normalize_domain(domain), []) if domain else []
    if len(hits) == 1:
        return hits[0], ""
    if len(hits) > 1:
        return None, f"{len(hits)} accounts share the domain {domain}"
    return None, "no account has this domain"


def run_provider_account_sync(dv: DataverseClient, sources: Adapters, *, progress: runs.Progress = runs.no_progress,
                              run_key: str | None = None, now: datetime | None = None) -> AccountsResult:
    """`sources`: the adapters whose `list_companies()` (distributors.base.Company) are synced."""
    now = now or datetime.now(UTC)
    run = runs.start(dv, "accounts", run_key)
    unmapped: list[str] = []
    try:
        existing = {(r.provider, r.external_id): r for r in store.list_accounts(dv)}
        domains = _account_domains(dv)
        writes: list[AccountChange] = []
        for provider, adapter in sources.items():
            try:
                companies: Iterable[Company] = list(adapter.list_companies())
            except IntegrationError as exc:
                # One provider being down must not stop the others; its tenants are kept as they were.
                run.error(f"{PROVIDER_LABELS.get(Provider(provider), provider)}: {exc}")
                continue
            for company in companies:
                run.bump("seen")
                progress(1)
                write, still_unmapped = _row_for(int(provider), company, existing.get((int(provider), company.id)),
                                                 domains, now)
                if write is not None:
                    writes.append(write)
                if still_unmapped:
                    unmapped.append(f"{PROVIDER_LABELS.get(Provider(provider))}:{company.id}")
        if writes:
            run.bump("written", store.write_changes(dv, writes))
        run.bump("mappedNow", sum(1 for w in writes if w.map_to is not None))
        run.bump("unmapped", len(unmapped))
    except RetriableError:
        runs.finish(run, failed=True)
        raise
    runs.finish(run)
    return AccountsResult(run.as_dict(), unmapped)


def _row_for(provider: int, company: Company, have: ProviderAccount | None, domains: Mapping[str, list[str]],
             now: datetime) -> tuple[AccountChange | None, bool]:
    want: dict[str, str | None] = {
        "name": (company.name or company.id)[:100], "domain": company.domain or None,
        "country": company.country or None, "currency": (company.currency or "").upper() or None,
    }
    had = have.fields() if have is not None else {}
    fields = {k: v for k, v in want.items() if have is None or had.get(k) != v}
    already_mapped = bool(have and have.account_id)
    unmapped = False
    map_to: str | None = None
    status: MappingStatus | None = None
    if not already_mapped:
        account_id, _why = _match(domains, company.domain)
        if account_id:
            map_to, status = account_id, MappingStatus.MAPPED
        else:
            unmapped = True
            if have is None or have.mapping_status != MappingStatus.UNMAPPED:
                status = MappingStatus.UNMAPPED
    elif have is not None and have.mapping_status != MappingStatus.MAPPED:
        status = MappingStatus.MAPPED
    if not fields and map_to is None and status is None:
        return None, unmapped
    return AccountChange(provider, company.id, now, fields, map_to, status), unmapped
