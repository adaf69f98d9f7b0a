"""cspb_provideraccount rows: tenants at a provider, whether one may be billed (mapped to a CRM account) and why
not, the account sync's writes, and the MCA attestation flag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores._rows import bind
from dataverse.tables import EntitySet, MappingStatus, Provider, Table
from shared.dates import iso
from shared.errors import NotFoundError

UNMAPPED_VIEW_NAME = "Unmapped Provider Accounts"
PROVIDER_LABELS = {Provider.PARTNER_CENTER: "Partner Center", Provider.PAX8: "Pax8", Provider.MANUAL: "Manual",
                   Provider.TDSYNNEX: "TD SYNNEX", Provider.INGRAM: "Ingram Micro"}
COLUMNS = ["cspb_provideraccountid", "cspb_provider", "cspb_externalid", "cspb_name", "cspb_domain", "cspb_country",
           "cspb_currencycode", "_cspb_account_value", "cspb_mappingstatus"]


def billing_block_reason(provider_account: Mapping[str, Any] | None) -> str | None:
    """Why billing must not run for this tenant, or None. Takes a cspb_provideraccount row."""
    if provider_account is None:
        return "the subscription has no provider account; run the provider account sync and map the tenant"
    mapped = provider_account.get("_cspb_account_value") or provider_account.get("cspb_account")
    if mapped and provider_account.get("cspb_mappingstatus") != MappingStatus.UNMAPPED:
        return None
    code = provider_account.get("cspb_provider")
    provider = PROVIDER_LABELS.get(Provider(code), "provider") if code in PROVIDER_LABELS else "provider"
    name = provider_account.get("cspb_name") or provider_account.get("cspb_externalid") or "?"
    domain = provider_account.get("cspb_domain") or "no domain"
    return (f"{provider} tenant '{name}' ({domain}) is not mapped to a CRM account, so it cannot be billed; "
            f"set its Account in the '{UNMAPPED_VIEW_NAME}' view")


def billing_block_reason_by_id(dv: DataverseClient, provider_account_id: str | None) -> str | None:
    if not provider_account_id:
        return billing_block_reason(None)
    return billing_block_reason(dv.get(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, select=COLUMNS))


# ---- the provider account sync and MCA attestation ------------------------------------------------

# The tenant facts the account sync copies from the provider, by field name (ProviderAccount.fields()).
FIELD_COLUMNS = {"name": "cspb_name", "domain": "cspb_domain", "country": "cspb_country",
                 "currency": "cspb_currencycode"}


@dataclass(frozen=True)
class ProviderAccount:
    id: str
    provider: int | None
    external_id: str | None
    name: str | None
    domain: str | None
    country: str | None
    currency: str | None
    account_id: str | None  # the CRM account it is mapped to
    mapping_status: int | None

    def fields(self) -> dict[str, str | None]:
        return {"name": self.name, "domain": self.domain, "country": self.country, "currency": self.currency}


@dataclass(frozen=True)
class AccountChange:
    """One tenant's write: only the fields that changed, the CRM account to map it to, its mapping status."""

    provider: int
    external_id: str
    synced_on: datetime
    fields: Mapping[str, str | None] = field(default_factory=dict)
    map_to: str | None = None
    mapping_status: MappingStatus | None = None


def _account(row: Mapping[str, Any]) -> ProviderAccount:
    return ProviderAccount(id=str(row["cspb_provideraccountid"]), provider=row.get("cspb_provider"),
                           external_id=row.get("cspb_externalid"), name=row.get("cspb_name"),
                           domain=row.get("cspb_domain"), country=row.get("cspb_country"),
                           currency=row.get("cspb_currencycode"), account_id=row.get("_cspb_account_value"),
                           mapping_status=row.get("cspb_mappingstatus"))


def list_accounts(dv: DataverseClient) -> list[ProviderAccount]:
    return [_account(r) for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=COLUMNS)]


def get_account(dv: DataverseClient, provider_account_id: str) -> ProviderAccount:
    """Raises NotFoundError when there is no such row."""
    return _account(dv.get(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, select=COLUMNS))


def map_to_account(dv: DataverseClient, provider_account_id: str, account_id: str) -> None:
    """An admin's mapping by hand (the Unmapped view), for a tenant whose domain matched no single CRM account."""
    dv.update(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, {
        "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, account_id),
        "cspb_mappingstatus": int(MappingStatus.MAPPED)})


def crm_account_domains(dv: DataverseClient) -> list[tuple[str, tuple[str | None, str | None]]]:
    """(CRM account id, (its domain, its website)) for every account, for matching tenants by domain."""
    return [(str(a["accountid"]), (a.get("cspb_domain"), a.get("websiteurl")))
            for a in dv.list(EntitySet.ACCOUNTS, select=["accountid", "cspb_domain", "websiteurl"])]


def _change_row(change: AccountChange) -> dict[str, Any]:
    row: dict[str, Any] = {FIELD_COLUMNS[name]: value for name, value in change.fields.items()}
    if change.map_to is not None:
        row["cspb_account@odata.bind"] = bind(EntitySet.ACCOUNTS, change.map_to)
    if change.mapping_status is not None:
        row["cspb_mappingstatus"] = change.mapping_status
    row.update({"cspb_provider": change.provider, "cspb_externalid": change.external_id,
                "cspb_lastsyncedon": iso(change.synced_on)})
    return row


def write_changes(dv: DataverseClient, changes: Sequence[AccountChange]) -> int:
    """Upsert the changed tenants on (provider, external id); how many rows were written."""
    return dv.bulk_upsert(EntitySet.PROVIDER_ACCOUNTS, Table.PROVIDER_ACCOUNT, ["cspb_provider", "cspb_externalid"],
                          [_change_row(c) for c in changes])


@dataclass(frozen=True)
class Tenant:
    provider: int | None
    external_id: str | None


def tenant(dv: DataverseClient, provider_account_id: str) -> Tenant:
    row = dv.get(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, select=["cspb_externalid", "cspb_provider"])
    return Tenant(row.get("cspb_provider"), row.get("cspb_externalid"))


def mark_mca_attested(dv: DataverseClient, provider_account_id: str) -> None:
    dv.update(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, {"cspb_mcaattested": True})


def mca_attested(dv: DataverseClient, provider_account_id: str) -> bool:
    row = dv.get(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, select=["cspb_mcaattested"])
    return bool(row.get("cspb_mcaattested"))


@dataclass(frozen=True)
class OrderingAccount:
    """The tenant a change is provisioned for, as the provisioning worker reads it."""

    id: str
    external_id: str | None
    mca_attested: bool
    mapping_status: int | None
    account_id: str | None  # the CRM account it is mapped to
    domain: str | None


def ordering_account(dv: DataverseClient, provider_account_id: str | None) -> OrderingAccount | None:
    """The provider account, or None when there is no id or no such row."""
    if not provider_account_id:
        return None
    try:
        row = dv.get(EntitySet.PROVIDER_ACCOUNTS, provider_account_id,
                     select=["cspb_provideraccountid", "cspb_externalid", "cspb_mcaattested", "cspb_mappingstatus",
                             "_cspb_account_value", "cspb_domain"])
    except NotFoundError:
        return None
    return OrderingAccount(id=str(row["cspb_provideraccountid"]), external_id=row.get("cspb_externalid"),
                           mca_attested=bool(row.get("cspb_mcaattested")), mapping_status=row.get("cspb_mappingstatus"),
                           account_id=row.get("_cspb_account_value"), domain=row.get("cspb_domain"))


@dataclass(frozen=True)
class SyncAccount:
    """A provider account as the subscription sync's fan-out reads it."""

    id: str
    provider: int | None  # None: no adapter will take it (the worker skips it)
    external_id: str | None
    currency: str | None
    country: str | None


def fan_out_rows(dv: DataverseClient) -> list[SyncAccount]:
    """Every provider account, in tenant order (provider, then its tenant or company id): the same
    order in every org that holds the same customers, whatever ids Dataverse gave the rows, so the
    fan-out builds the same batches everywhere (and again when the timer fires twice)."""
    rows = dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_provider", "cspb_externalid",
                                                        "cspb_currencycode", "cspb_country"])
    return sorted((SyncAccount(str(r["cspb_provideraccountid"]), r.get("cspb_provider"), r.get("cspb_externalid"),
                               r.get("cspb_currencycode"), r.get("cspb_country")) for r in rows),
                  key=lambda a: (a.provider or 0, (a.external_id or "").lower(), a.id))
