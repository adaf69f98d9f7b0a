"""Reading cspb_provideraccount rows: whether a tenant may be billed (mapped to a CRM account), and why not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet, MappingStatus, Provider

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
