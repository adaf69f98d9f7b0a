"""Usage summaries (rated Azure plan / marketplace usage per customer, subscription, meter category,
period and currency) as the recon ingest writes them. Upserted on their alternate key (the summary
key), so re-running a period replaces its numbers instead of adding to them. Whether a summary was
billed, and on which invoice, belongs to the billing run and is never written here.

Dataverse money columns hold at most four decimal places and decimal columns ten: amounts are held
to those with billing's rounding (billing/money.py); the exact sums stay in the recon files."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from billing.models import UsageSummary
from billing.money import round_places
from dataverse.client import DataverseClient
from dataverse.tables import EntitySet, Table

MONEY_DECIMALS, QUANTITY_DECIMALS = 4, 10


def _money(value: Decimal) -> Decimal:
    return round_places(value, MONEY_DECIMALS)


def record(s: UsageSummary) -> dict[str, Any]:
    row: dict[str, Any] = {
        "cspb_summarykey": s.summary_key,
        "cspb_name": f"{s.customer_id} {s.meter_category} {s.period}"[:100],
        "cspb_customerid": s.customer_id,
        "cspb_subscriptionid": s.subscription_id,
        "cspb_entitlementid": s.entitlement_id,
        "cspb_metercategory": s.meter_category,
        "cspb_period": s.period,
        "cspb_currencycode": s.currency,
        "cspb_quantity": round_places(s.quantity, QUANTITY_DECIMALS),
        "cspb_costbeforepec": _money(s.cost_before_pec),
        "cspb_pecamount": _money(s.pec_amount),
        "cspb_cost": _money(s.cost),
        "cspb_pricingtotal": _money(s.pricing_total),
        "cspb_rowcount": s.row_count,
        # Billing bills Microsoft's billed figures, and trues up an estimate once they replace it.
        "cspb_usagesource": s.source.value,
    }
    if s.resource_group_tag:
        row["cspb_resourcegrouptag"] = s.resource_group_tag
    if s.provider_account_id:
        row["cspb_provideraccount@odata.bind"] = f"/{EntitySet.PROVIDER_ACCOUNTS}({s.provider_account_id})"
    return row


def write(dv: DataverseClient, summaries: Sequence[UsageSummary]) -> int:
    return int(dv.bulk_upsert(EntitySet.USAGE_SUMMARIES, Table.USAGE_SUMMARY, ["cspb_summarykey"],
                              [record(s) for s in summaries]))
