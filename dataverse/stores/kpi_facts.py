"""What the KPI assessment reads, as billing.kpis facts: every subscription, the change logs of a recent
window, the invoices with their balance, the seats each subscription was last invoiced for; and the
snapshots it stores (cspb_kpisnapshot, one per day, the metrics as JSON)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from billing import kpis
from billing.models import LineType
from dataverse.client import DataverseClient
from dataverse.stores._rows import as_money, as_text
from dataverse.tables import EntitySet
from shared.dates import parse_date, parse_datetime

SUBSCRIPTION_COLUMNS = ["cspb_subscriptionid", "cspb_currencycode", "cspb_quantity", "cspb_unitprice", "cspb_unitcost",
                        "cspb_billingfrequency", "cspb_kind", "cspb_status", "cspb_provider"]
CHANGE_COLUMNS = ["_cspb_subscription_value", "cspb_changetype", "cspb_oldquantity", "cspb_newquantity",
                  "cspb_effectivedate", "cspb_provisioningstatus", "cspb_error", "cspb_archived"]


def subscriptions(dv: DataverseClient) -> list[kpis.SubscriptionFact]:
    return [kpis.SubscriptionFact(
        id=str(r["cspb_subscriptionid"]), currency=as_text(r.get("cspb_currencycode")) or "USD",
        quantity=int(r.get("cspb_quantity") or 0), unit_price=as_money(r.get("cspb_unitprice")),
        unit_cost=as_money(r.get("cspb_unitcost")), billing_frequency=as_text(r.get("cspb_billingfrequency")) or "P1M",
        kind=int(r.get("cspb_kind") or 1), status=int(r.get("cspb_status") or 1),
        provider=int(r.get("cspb_provider") or 1),
    ) for r in dv.list(EntitySet.SUBSCRIPTIONS, select=SUBSCRIPTION_COLUMNS)]


def changes_since(dv: DataverseClient, since: date) -> list[kpis.ChangeFact]:
    """Change logs effective on or after `since` (archived ones included, marked)."""
    found = []
    for r in dv.list(EntitySet.LICENSE_CHANGE_LOGS, filter=f"cspb_effectivedate ge {since.isoformat()}",
                     select=CHANGE_COLUMNS):
        effective = parse_datetime(r.get("cspb_effectivedate"))
        if effective is None:
            continue
        found.append(kpis.ChangeFact(
            subscription_id=as_text(r.get("_cspb_subscription_value")), change_type=int(r.get("cspb_changetype") or 0),
            old_quantity=int(r.get("cspb_oldquantity") or 0), new_quantity=int(r.get("cspb_newquantity") or 0),
            effective=effective, status=int(r.get("cspb_provisioningstatus") or 1),
            error=as_text(r.get("cspb_error")), archived=bool(r.get("cspb_archived"))))
    return found


def invoices(dv: DataverseClient) -> list[kpis.InvoiceFact]:
    """Invoices with a period; the period start is the issue date the KPIs count by."""
    found = []
    for r in dv.list(EntitySet.INVOICES, select=["totalamount", "cspb_balance", "cspb_currencycode",
                                                 "cspb_periodstart"]):
        issued = parse_date(r.get("cspb_periodstart"))
        if issued is not None:
            found.append(kpis.InvoiceFact(as_text(r.get("cspb_currencycode")) or "USD", as_money(r.get("totalamount")),
                                          as_money(r.get("cspb_balance")), issued))
    return found


def last_invoiced_seats(dv: DataverseClient) -> dict[str, Decimal]:
    """Subscription id -> the quantity of its latest license line (by service period)."""
    latest: dict[str, tuple[str, Decimal]] = {}
    for r in dv.list(EntitySet.INVOICE_DETAILS, filter=f"cspb_linetype eq {int(LineType.LICENSE)}",
                     select=["_cspb_subscription_value", "quantity", "cspb_periodstart"]):
        sub_id = as_text(r.get("_cspb_subscription_value"))
        if not sub_id:
            continue
        period = as_text(r.get("cspb_periodstart"))
        if sub_id not in latest or period > latest[sub_id][0]:
            latest[sub_id] = (period, as_money(r.get("quantity")))
    return {sub_id: qty for sub_id, (_, qty) in latest.items()}


def snapshots(dv: DataverseClient) -> list[dict[str, Any]]:
    """Stored snapshots that read as JSON objects with an as-of date; unreadable ones are skipped."""
    out: list[dict[str, Any]] = []
    for r in dv.list(EntitySet.KPI_SNAPSHOTS, select=["cspb_snapshotkey", "cspb_metrics"]):
        try:
            out.append(json.loads(r.get("cspb_metrics") or "{}"))
        except json.JSONDecodeError:
            continue
    return [s for s in out if s.get("as_of")]


def save_snapshot(dv: DataverseClient, as_of: date, metrics: dict[str, Any]) -> None:
    dv.upsert(EntitySet.KPI_SNAPSHOTS, {"cspb_snapshotkey": as_of.isoformat()}, {
        "cspb_name": f"KPIs {as_of.isoformat()}", "cspb_asof": as_of.isoformat(),
        "cspb_metrics": json.dumps(metrics, separators=(",", ":"))})
