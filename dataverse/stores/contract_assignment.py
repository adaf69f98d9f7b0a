"""What putting synced subscriptions on billing contracts reads and writes (jobs/contracts.py runs it,
billing.contract_assignment decides): the provider accounts that may be billed, the subscriptions on
no contract, the contracts by their deterministic number, the sync's unbilled New logs, and the writes
(contracts upserted on cspb_contractnumber, change logs on cspb_changekey, subscriptions on
cspb_providersubscriptionid), each safe to repeat."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from billing.contract_assignment import Assignment, MappedAccount
from billing.models import BillingContract, ChangeLog, Subscription
from dataverse import map_billing as m
from dataverse.client import DataverseClient, Row
from dataverse.odata import FILTER_CHUNK, any_of, bind, chunks
from dataverse.stores._rows import midnight
from dataverse.stores.provider_accounts import COLUMNS as PROVIDER_ACCOUNT_COLUMNS
from dataverse.stores.provider_accounts import billing_block_reason
from dataverse.tables import EntitySet

# Past this many filtered requests one paged read of the whole table is cheaper.
MAX_FILTER_CHUNKS = 4


def billable_accounts(dv: DataverseClient) -> tuple[list[MappedAccount], dict[str, tuple[str, str]]]:
    """Provider accounts that may be billed, and the others by id: (name, why not)."""
    mapped, blocked = [], {}
    for row in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=PROVIDER_ACCOUNT_COLUMNS):
        reason = billing_block_reason(row)
        name = row.get("cspb_name") or row.get("cspb_externalid") or row["cspb_provideraccountid"]
        if reason is None:
            mapped.append(MappedAccount(row["cspb_provideraccountid"], row["_cspb_account_value"], name,
                                        (row.get("cspb_currencycode") or "").upper(),
                                        (row.get("cspb_country") or "").upper()))
        else:
            blocked[row["cspb_provideraccountid"]] = (name, reason)
    return mapped, blocked


def unassigned_subscriptions(dv: DataverseClient) -> list[Subscription]:
    """Every subscription on no billing contract."""
    return [m.subscription_from_row(r) for r in dv.list(
        EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT, filter="_cspb_billingcontract_value eq null")]


def contracts_by_number(dv: DataverseClient, numbers: Sequence[str]) -> dict[str, BillingContract]:
    """The billing contracts among these numbers that exist, by number."""
    wanted = sorted(set(numbers))
    if len(wanted) > MAX_FILTER_CHUNKS * FILTER_CHUNK:
        rows: Iterable[Row] = dv.list(EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT)
    else:
        rows = (row for chunk in chunks(wanted) for row in dv.list(
            EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT, filter=any_of("cspb_contractnumber", chunk)))
    keep = set(wanted)
    return {c.number: c for c in (m.contract_from_row(r) for r in rows) if c.number in keep}


def discovery_logs(dv: DataverseClient, subscription_ids: Sequence[str]) -> list[ChangeLog]:
    """The sync's New logs of these subscriptions that no invoice has billed yet."""
    wanted = sorted(set(subscription_ids))
    base = "cspb_changetype eq 1 and cspb_origin eq 3 and _cspb_invoice_value eq null"
    if len(wanted) > MAX_FILTER_CHUNKS * FILTER_CHUNK:
        filters = [base]
    else:
        filters = [f"{base} and ({any_of('_cspb_subscription_value', chunk, quote_values=False)})"
                   for chunk in chunks(wanted)]
    keep = set(wanted)
    return [log for flt in filters for log in (m.change_log_from_row(r) for r in dv.list(
        EntitySet.LICENSE_CHANGE_LOGS, select=m.CHANGE_LOG_SELECT, filter=flt)) if log.subscription_id in keep]


def write_contracts(dv: DataverseClient, contracts: Sequence[BillingContract]) -> None:
    """Create (or find, on a re-run) the contracts by number."""
    dv.bulk_upsert(EntitySet.BILLING_CONTRACTS, "cspb_billingcontract", ["cspb_contractnumber"],
                   [m.contract_row(c) for c in contracts])


def write_onboarding_logs(dv: DataverseClient, logs: Sequence[ChangeLog]) -> None:
    """The onboarding fixes of discovery logs: their effective date and whether billing skips them."""
    if logs:
        dv.bulk_upsert(EntitySet.LICENSE_CHANGE_LOGS, "cspb_licensechangelog", ["cspb_changekey"], [
            {"cspb_changekey": log.change_key, "cspb_effectivedate": midnight(log.effective_date),
             "cspb_archived": log.archived} for log in logs])


def write_assignments(dv: DataverseClient, assignments: Sequence[Assignment],
                      contracts: Mapping[str, BillingContract]) -> int:
    """Link each subscription to its contract (by number in `contracts`, which holds their ids), with
    its currency, and its unit price when the price list gave it; how many were written. The last write
    of an assignment: "has a contract" is what a re-run skips on."""
    rows = []
    for a in assignments:
        contract = contracts[a.contract_number]
        row: dict[str, Any] = {
            "cspb_providersubscriptionid": a.subscription.provider_subscription_id,
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, contract.id or ""),
            "cspb_currencycode": a.subscription.currency,
        }
        if a.price_source:
            row["cspb_unitprice"] = a.subscription.unit_price
        rows.append(row)
    dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, "cspb_subscription", ["cspb_providersubscriptionid"], rows)
    return len(rows)
