"""Provider accounts: customers at Partner Center and the distributors -> cspb_provideraccount,
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

from dataverse.stores.provider_accounts import COLUMNS, PROVIDER_LABELS
from dataverse.tables import EntitySet, MappingStatus, Provider
from distributors.base import Adapters
from shared.errors import IntegrationError, RetriableError
from sync import runs
from sync.records import bind, iso

_COLUMNS = COLUMNS


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


def _account_domains(dv: Any) -> dict[str, list[str]]:
    domains: dict[str, list[str]] = {}
    for account in dv.list(EntitySet.ACCOUNTS, select=["accountid", "cspb_domain", "websiteurl"]):
        for raw in {account.get("cspb_domain"), account.get("websiteurl")}:
            domain = normalize_domain(raw)
            if domain and account["accountid"] not in domains.get(domain, []):
                domains.setdefault(domain, []).append(account["accountid"])
    return domains


def _match(domains: Mapping[str, list[str]], domain: str) -> tuple[str | None, str]:
    hits = domains.get(normalize_domain(domain), []) if domain else []
    if len(hits) == 1:
        return hits[0], ""
    if len(hits) > 1:
        return None, f"{len(hits)} accounts share the domain {domain}"
    return None, "no account has this domain"


def run_provider_account_sync(dv: Any, sources: Adapters, *, progress: runs.Progress = runs.no_progress,
                              run_key: str | None = None, now: datetime | None = None) -> AccountsResult:
    """`sources`: the adapters whose `list_companies()` (distributors.base.Company) are synced."""
    now = now or datetime.now(UTC)
    run = runs.start(dv, "accounts", run_key)
    unmapped: list[str] = []
    try:
        existing = {(r["cspb_provider"], r["cspb_externalid"]): r
                    for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=_COLUMNS)}
        domains = _account_domains(dv)
        writes: list[dict[str, Any]] = []
        for provider, adapter in sources.items():
            try:
                companies: Iterable[Any] = list(adapter.list_companies())
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
            run.bump("written", dv.bulk_upsert(EntitySet.PROVIDER_ACCOUNTS, "cspb_provideraccount",
                                               ["cspb_provider", "cspb_externalid"], writes))
        run.bump("mappedNow", sum(1 for w in writes if "cspb_account@odata.bind" in w))
        run.bump("unmapped", len(unmapped))
    except RetriableError:
        runs.finish(run, failed=True)
        raise
    runs.finish(run)
    return AccountsResult(run.as_dict(), unmapped)


def _row_for(provider: int, company: Any, have: Mapping[str, Any] | None, domains: Mapping[str, list[str]],
             now: datetime) -> tuple[dict[str, Any] | None, bool]:
    want: dict[str, Any] = {
        "cspb_name": (company.name or company.id)[:100], "cspb_domain": company.domain or None,
        "cspb_country": company.country or None, "cspb_currencycode": (company.currency or "").upper() or None,
    }
    changes = {k: v for k, v in want.items() if have is None or have.get(k) != v}
    already_mapped = bool(have and have.get("_cspb_account_value"))
    unmapped = False
    if not already_mapped:
        account_id, _why = _match(domains, company.domain)
        if account_id:
            changes["cspb_account@odata.bind"] = bind(EntitySet.ACCOUNTS, account_id)
            changes["cspb_mappingstatus"] = MappingStatus.MAPPED
        else:
            unmapped = True
            if have is None or have.get("cspb_mappingstatus") != MappingStatus.UNMAPPED:
                changes["cspb_mappingstatus"] = MappingStatus.UNMAPPED
    elif have is not None and have.get("cspb_mappingstatus") != MappingStatus.MAPPED:
        changes["cspb_mappingstatus"] = MappingStatus.MAPPED
    if not changes:
        return None, unmapped
    changes.update({"cspb_provider": provider, "cspb_externalid": company.id, "cspb_lastsyncedon": iso(now)})
    return changes, unmapped
