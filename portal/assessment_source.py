"""Assessment facts read from Dataverse, and KPI snapshots stored in cspb_kpisnapshot."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billing import kpis
from dataverse.tables import EntitySet
from portal.assessment import Facts
from portal.dataverse_repo import _date, _dt, _money

LICENSE_LINE = 1
UNBILLED_FINDING = "billed_by_provider_not_to_customer"
_FINDINGS = re.compile(r"^recon/(\d{4}-\d{2})/report/findings\.csv$")


def recon_leaks(store: Any, as_of: date) -> list[kpis.ReconLeakFact]:
    """The findings of the latest recon report (findings.csv, written by recon/run.py) of a period
    that started on or before `as_of`: leaks, cost missing, unmapped tenants, seat mismatches and
    usage revised after billing, each with its customer."""
    periods = sorted(m.group(1) for m in (_FINDINGS.match(p) for p in store.list("recon/")) if m)
    periods = [p for p in periods if p <= as_of.strftime("%Y-%m")]
    if not periods:
        return []
    text = store.get(f"recon/{periods[-1]}/report/findings.csv").decode("utf-8")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        kind = row.get("kind") or ""
        quantity = row.get("provider_quantity") or ""
        currency = row.get("currency") or ("USD" if kind == UNBILLED_FINDING else "")
        out.append(kpis.ReconLeakFact(currency, _money(row.get("amount")),
                                      Decimal(quantity) if quantity and kind == UNBILLED_FINDING else None,
                                      kind=kind, customer=row.get("customer") or row.get("tenant_id") or ""))
    return out


class DataverseAssessmentSource:
    def __init__(self, dv: Any, *, store: Any | None = None, window_days: int = 120) -> None:
        self.dv = dv
        self.store = store
        # change logs older than this never affect a 30-day churn window; not reading them keeps a
        # large tenant's assessment to a few pages
        self.window_days = window_days

    def load_facts(self, as_of: date) -> Facts:
        subs = [kpis.SubscriptionFact(
            id=r["cspb_subscriptionid"], currency=r.get("cspb_currencycode") or "USD",
            quantity=int(r.get("cspb_quantity") or 0), unit_price=_money(r.get("cspb_unitprice")),
            unit_cost=_money(r.get("cspb_unitcost")), billing_frequency=r.get("cspb_billingfrequency") or "P1M",
            kind=int(r.get("cspb_kind") or 1), status=int(r.get("cspb_status") or 1),
            provider=int(r.get("cspb_provider") or 1),
        ) for r in self.dv.list(EntitySet.SUBSCRIPTIONS, select=[
            "cspb_subscriptionid", "cspb_currencycode", "cspb_quantity", "cspb_unitprice", "cspb_unitcost",
            "cspb_billingfrequency", "cspb_kind", "cspb_status", "cspb_provider"])]
        since = (as_of - timedelta(days=self.window_days)).isoformat()
        changes = []
        for r in self.dv.list(EntitySet.LICENSE_CHANGE_LOGS, filter=f"cspb_effectivedate ge {since}", select=[
                "_cspb_subscription_value", "cspb_changetype", "cspb_oldquantity", "cspb_newquantity",
                "cspb_effectivedate", "cspb_provisioningstatus", "cspb_error", "cspb_archived"]):
            effective = _dt(r.get("cspb_effectivedate"))
            if effective is None:
                continue
            changes.append(kpis.ChangeFact(
                subscription_id=r.get("_cspb_subscription_value") or "", change_type=int(r.get("cspb_changetype") or 0),
                old_quantity=int(r.get("cspb_oldquantity") or 0), new_quantity=int(r.get("cspb_newquantity") or 0),
                effective=effective, status=int(r.get("cspb_provisioningstatus") or 1),
                error=r.get("cspb_error") or "", archived=bool(r.get("cspb_archived"))))
        invoices = []
        for r in self.dv.list(EntitySet.INVOICES, select=["totalamount", "cspb_balance", "cspb_currencycode",
                                                          "cspb_periodstart"]):
            issued = _date(r.get("cspb_periodstart"))
            if issued is not None:
                invoices.append(kpis.InvoiceFact(r.get("cspb_currencycode") or "USD", _money(r.get("totalamount")),
                                                 _money(r.get("cspb_balance")), issued))
        leaks = recon_leaks(self.store, as_of) if self.store is not None else []
        return Facts(subs, changes, invoices, self._seat_billing(subs), leaks)

    def _seat_billing(self, subs: list[kpis.SubscriptionFact]) -> list[kpis.SeatBillingFact]:
        """Seats on the provider (the synced quantity) vs seats on the latest license line we
        invoiced for each subscription. Subscriptions never invoiced yet are left out: a brand-new
        one is not leakage until its first cycle has run."""
        latest: dict[str, tuple[str, Decimal]] = {}
        for r in self.dv.list(EntitySet.INVOICE_DETAILS, filter=f"cspb_linetype eq {LICENSE_LINE}",
                              select=["_cspb_subscription_value", "quantity", "cspb_periodstart"]):
            sub_id = r.get("_cspb_subscription_value")
            if not sub_id:
                continue
            period = str(r.get("cspb_periodstart") or "")
            if sub_id not in latest or period > latest[sub_id][0]:
                latest[sub_id] = (period, _money(r.get("quantity")))
        invoiced: dict[str, Decimal] = defaultdict(Decimal)
        for sub_id, (_, qty) in latest.items():
            invoiced[sub_id] = qty
        return [kpis.SeatBillingFact(s.id, s.quantity, int(invoiced[s.id]))
                for s in subs if s.recurring and s.id in latest]

    def list_snapshots(self) -> list[dict[str, Any]]:
        out = []
        for r in self.dv.list(EntitySet.KPI_SNAPSHOTS, select=["cspb_snapshotkey", "cspb_metrics"]):
            try:
                out.append(json.loads(r.get("cspb_metrics") or "{}"))
            except json.JSONDecodeError:
                continue
        return [s for s in out if s.get("as_of")]

    def save_snapshot(self, as_of: date, metrics: dict[str, Any]) -> None:
        self.dv.upsert(EntitySet.KPI_SNAPSHOTS, {"cspb_snapshotkey": as_of.isoformat()}, {
            "cspb_name": f"KPIs {as_of.isoformat()}", "cspb_asof": as_of.isoformat(),
            "cspb_metrics": json.dumps(metrics, separators=(",", ":"))})
