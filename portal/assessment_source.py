"""Assessment facts read from Dataverse (dataverse/stores/kpi_facts.py), and the KPI snapshots stored there."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billing import kpis
from dataverse.client import DataverseClient
from dataverse.stores import kpi_facts
from portal.assessment import Facts

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
        out.append(kpis.ReconLeakFact(currency, Decimal(row.get("amount") or 0),
                                      Decimal(quantity) if quantity and kind == UNBILLED_FINDING else None,
                                      kind=kind, customer=row.get("customer") or row.get("tenant_id") or ""))
    return out


class DataverseAssessmentSource:
    def __init__(self, dv: DataverseClient, *, store: Any | None = None, window_days: int = 120) -> None:
        self.dv = dv
        self.store = store
        # change logs older than this never affect a 30-day churn window; not reading them keeps a
        # large tenant's assessment to a few pages
        self.window_days = window_days

    def load_facts(self, as_of: date) -> Facts:
        subs = kpi_facts.subscriptions(self.dv)
        changes = kpi_facts.changes_since(self.dv, as_of - timedelta(days=self.window_days))
        leaks = recon_leaks(self.store, as_of) if self.store is not None else []
        return Facts(subs, changes, kpi_facts.invoices(self.dv), self._seat_billing(subs), leaks)

    def _seat_billing(self, subs: list[kpis.SubscriptionFact]) -> list[kpis.SeatBillingFact]:
        """Seats on the provider (the synced quantity) vs seats on the latest license line we
        invoiced for each subscription. Subscriptions never invoiced yet are left out: a brand-new
        one is not leakage until its first cycle has run."""
        invoiced = kpi_facts.last_invoiced_seats(self.dv)
        return [kpis.SeatBillingFact(s.id, s.quantity, int(invoiced[s.id]))
                for s in subs if s.recurring and s.id in invoiced]

    def list_snapshots(self) -> list[dict[str, Any]]:
        return kpi_facts.snapshots(self.dv)

    def save_snapshot(self, as_of: date, metrics: dict[str, Any]) -> None:
        kpi_facts.save_snapshot(self.dv, as_of, metrics)
