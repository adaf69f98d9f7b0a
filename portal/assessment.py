"""The partner's CSP-business assessment: load facts, compute KPIs (billing/kpis.py), store a dated
snapshot (a KPI snapshot row), compare with the previous one, and write CSV / HTML with an inline
SVG trend. Used by `cspbridge assess` and the portal's /admin/assessment page."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape

from billing import kpis
from portal.i18n import Translator


@dataclass
class Facts:
    subscriptions: list[kpis.SubscriptionFact] = field(default_factory=list)
    changes: list[kpis.ChangeFact] = field(default_factory=list)
    invoices: list[kpis.InvoiceFact] = field(default_factory=list)
    seat_billing: list[kpis.SeatBillingFact] = field(default_factory=list)
    recon_leaks: list[kpis.ReconLeakFact] = field(default_factory=list)


class AssessmentSource(Protocol):
    def load_facts(self, as_of: date) -> Facts: ...
    def list_snapshots(self) -> list[dict[str, Any]]: ...
    def save_snapshot(self, as_of: date, metrics: dict[str, Any]) -> None: ...


class InMemorySource:
    def __init__(self, facts: Facts | None = None) -> None:
        self.facts = facts or Facts()
        self.snapshots: dict[str, dict[str, Any]] = {}

    def load_facts(self, as_of: date) -> Facts:
        return self.facts

    def list_snapshots(self) -> list[dict[str, Any]]:
        return list(self.snapshots.values())

    def save_snapshot(self, as_of: date, metrics: dict[str, Any]) -> None:
        self.snapshots[as_of.isoformat()] = metrics


@dataclass
class Assessment:
    report: kpis.KpiReport
    current: dict[str, Any]
    previous: dict[str, Any] | None
    deltas: dict[str, dict[str, Decimal | None]]
    history: list[dict[str, Any]]

    @property
    def currency(self) -> str | None:
        return self.report.primary_currency()

    def trend_svg(self, metric: str = "mrr") -> str:
        return trend_svg(kpis.series(self.history, self.currency or "", metric))


def run(source: AssessmentSource, *, as_of: date | None = None, store: bool = True,
        window_days: int = 30) -> Assessment:
    """Compute today's KPIs. With store=True the snapshot is saved under its date (re-running the
    same day replaces that day's snapshot, it never adds a second one)."""
    as_of = as_of or datetime.now(UTC).date()
    facts = source.load_facts(as_of)
    report = kpis.compute(as_of=as_of, subscriptions=facts.subscriptions, changes=facts.changes,
                          invoices=facts.invoices, seat_billing=facts.seat_billing,
                          recon_leaks=facts.recon_leaks, window_days=window_days)
    current = report.to_json()
    earlier = sorted((s for s in source.list_snapshots() if str(s.get("as_of", "")) < as_of.isoformat()),
                     key=lambda s: str(s["as_of"]))
    previous = earlier[-1] if earlier else None
    if store:
        source.save_snapshot(as_of, current)
    history = earlier + [current]
    return Assessment(report, current, previous, kpis.compare(current, previous), history)


CSV_FIELDS = ("as_of", "currency", "mrr", "arr", "mrc", "gross_margin_pct", "seats", "new_mrr", "expansion_mrr",
              "contraction_mrr", "churned_mrr", "churn_rate_pct", "contraction_rate_pct", "receivables",
              "dso_days", "leaked_seats", "leakage_mrr", "recon_unbilled_seats", "recon_unbilled_cost",
              "recon_cost_missing", "recon_unmapped_cost", "recon_usage_revised", "touchless_pct")


def to_csv(assessment: Assessment) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    cur = assessment.current
    for currency, values in cur["currencies"].items():
        row = {k: values.get(k) for k in CSV_FIELDS if k in values}
        row.update(as_of=cur["as_of"], currency=currency, touchless_pct=cur.get("touchless_pct"))
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def trend_svg(points: list[tuple[str, Decimal]], width: int = 480, height: int = 140) -> str:
    """A small line chart as inline SVG (no JavaScript, no chart library)."""
    if not points:
        return ""
    pad = 24
    values = [float(v) for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    coords = [(pad + i * step, height - pad - (v - low) / span * (height - 2 * pad)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{d}: {v}</title></circle>'
                   for (x, y), (d, v) in zip(coords, points, strict=True))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><polyline fill="none" stroke="#0b5cad" stroke-width="2" '
            f'points="{path}"/><g fill="#0b5cad">{dots}</g>'
            f'<text x="{pad}" y="{height - 6}" font-size="10">{points[0][0]}</text>'
            f'<text x="{width - pad}" y="{height - 6}" font-size="10" text-anchor="end">{points[-1][0]}</text></svg>')


def to_html(assessment: Assessment, language: str = "en") -> str:
    from pathlib import Path

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html"]))
    t = Translator(language)
    return env.get_template("assessment_report.html").render(a=assessment, t=t, _=t, lang=t.language)
