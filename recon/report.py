"""Margin and variance report: CSV files plus one self-contained HTML page (jinja2 template
recon/templates/recon_report.html, English or Spanish from the portal's shared message catalog).

The charts are inline SVG built here (no CDN, no script), so the page opens offline, survives being
mailed, and can be stored as a single blob next to the recon files. The page shows the top of each
list; margin.csv and findings.csv carry every row.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from html import escape
from pathlib import Path

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from billing.money import MINOR_UNITS, round_money
from recon.reconcile import Finding, FindingKind, MarginRow, ReconResult, UsageRevision

ZERO = Decimal(0)
MARGIN_COLUMNS = ("customer", "account_id", "product_family", "currency", "revenue", "cost", "margin", "margin_pct",
                  "revenue_without_cost", "microsoft_cost", "cost_without_revenue")
FINDING_COLUMNS = ("kind", "customer", "tenant_id", "account_id", "subscription_id", "currency", "amount",
                   "provider_quantity", "crm_quantity", "description")


REVISION_COLUMNS = ("customer", "tenant_id", "account_id", "subscription_id", "entitlement_id", "meter_category", "period",
                    "currency", "billed_cost", "cost", "delta", "microsoft_figures")


def _money(amount: Decimal, currency: str) -> Decimal:
    # + 0 turns a rounded -0.00 into 0.00.
    return (round_money(amount, currency) if currency in MINOR_UNITS else amount) + 0


def margin_csv(rows: Sequence[MarginRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MARGIN_COLUMNS)
    for r in rows:
        pct = r.margin_pct
        # margin_pct is empty when there is no cost to compare with (cost missing / prepaid), never 100.
        writer.writerow([r.customer, r.account_id or "", r.product_family, r.currency,
                         _money(r.revenue, r.currency), _money(r.cost, r.currency), _money(r.margin, r.currency),
                         "" if pct is None else pct, _money(r.revenue_without_cost, r.currency),
                         "; ".join(f"{_money(v, c)} {c}" for c, v in r.provider_cost),
                         _money(r.cost_without_revenue, r.currency)])
    return buf.getvalue()


def revisions_csv(rows: Sequence[UsageRevision]) -> str:
    """Every usage summary invoiced on other figures than Microsoft's current ones, with the delta
    the next bill run trues up (cost before markup, in Microsoft's billing currency)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REVISION_COLUMNS)
    for r in rows:
        writer.writerow([r.customer, r.tenant_id, r.account_id or "", r.subscription_id, r.entitlement_id,
                         r.meter_category, r.period, r.currency, r.billed_cost, r.cost, r.delta,
                         "estimate" if r.estimate_now else "billed"])
    return buf.getvalue()


def findings_csv(findings: Sequence[Finding]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FINDING_COLUMNS)
    for f in findings:
        writer.writerow([f.kind.value, f.customer, f.tenant_id, f.account_id or "", f.subscription_id, f.currency,
                         _money(f.amount, f.currency) if f.currency else "",
                         "" if f.provider_quantity is None else f.provider_quantity,
                         "" if f.crm_quantity is None else f.crm_quantity, f.description])
    return buf.getvalue()


@dataclass(frozen=True)
class _Bar:
    label: str
    value: Decimal
    shown: str = ""  # the value as the reader sees it (babel money); default: the rounded amount


def _bar_chart(title: str, bars: Sequence[_Bar], currency: str = "", *, width: int = 520, color: str = "") -> str:
    """Horizontal bars; negative values (losses) grow left of the zero line, in red. Inline SVG, so
    the page opens offline and survives being mailed. (sync/price_preview_report.py uses it too.)"""
    if not bars:
        return ""
    row_h, label_w = 20, 170
    height = 26 + row_h * len(bars)
    lo = min([ZERO] + [b.value for b in bars])
    hi = max([ZERO] + [b.value for b in bars])
    span = (hi - lo) or Decimal(1)
    plot_w = width - label_w - 110
    zero_x = label_w + float((-lo) / span) * plot_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
             f'<text x="4" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, bar in enumerate(bars):
        y = 22 + i * row_h
        w = float(abs(bar.value) / span) * plot_w
        x = zero_x if bar.value >= 0 else zero_x - w
        fill = color or ("#2e7d32" if bar.value >= 0 else "#c62828")
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="11">'
                     f'{escape(bar.label[:28])}</text><rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" '
                     f'height="{row_h - 6}" fill="{fill}"/><text x="{max(x + w, zero_x) + 4:.1f}" y="{y + 13}" '
                     f'font-size="10">{escape(bar.shown or str(_money(bar.value, currency)))}</text>')
    parts.append(f'<line x1="{zero_x:.1f}" y1="20" x2="{zero_x:.1f}" y2="{height - 2}" stroke="#555"/></svg>')
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# Findings whose amount is money at risk (a quantity mismatch is a seat count, the cost is shown
# with it but is not lost; a mapped tenant with no charges is a check with no amount).
AT_RISK_KINDS = (FindingKind.PROVIDER_NOT_BILLED, FindingKind.BILLED_NO_PROVIDER_LINE, FindingKind.UNMAPPED_TENANT,
                 FindingKind.INVOICE_TOTAL_MISMATCH)


def _chart(title: str, bars: Sequence[_Bar], color: str = "") -> Markup:
    return Markup(_bar_chart(title, bars, color=color))  # built from escaped parts above


@cache
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def html_report(result: ReconResult, *, period: str, counts: dict[str, int] | None = None, top: int = 25,
                language: str = "en", title: str = "") -> str:
    """The page a billing admin reads: money at risk by kind and by customer and margin by customer
    and product family (per currency, with charts) first, then the findings grouped by customer
    (the top `top` customers, ten findings each; findings.csv has every one), then the margin rows of
    the customers shown. Names, never GUIDs, where a name is known; money formatted by babel."""
    from portal.i18n import Translator

    t = Translator(language)

    def money(amount: Decimal, currency: str) -> str:
        return t.money(_money(amount, currency), currency) if currency else ""

    def kind_label(kind: FindingKind) -> str:
        return t(f"recon.kind.{kind.value}")

    # Money at risk: per kind and currency (never summed across currencies), and per customer.
    risk: dict[FindingKind, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    kind_counts: dict[FindingKind, int] = defaultdict(int)
    by_customer_risk: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        name = f.customer or f.tenant_id or f.account_id or t("recon.unknown_customer")
        groups[name].append(f)
        kind_counts[f.kind] += 1
        if f.kind in AT_RISK_KINDS and f.currency:
            risk[f.kind][f.currency] += abs(f.amount)
            by_customer_risk[name][f.currency] += abs(f.amount)
    risk_kinds = [{"label": kind_label(k), "count": kind_counts[k],
                   "amounts": [money(v, c) for c, v in sorted(risk[k].items())]}
                  for k in FindingKind if kind_counts.get(k)]
    risk_charts = []
    for currency in sorted({c for per in by_customer_risk.values() for c in per}):
        ranked = sorted(((n, per[currency]) for n, per in by_customer_risk.items() if per.get(currency)),
                        key=lambda kv: (-kv[1], kv[0]))[:10]
        risk_charts.append(_chart(t("recon.chart.risk_by_customer", currency=currency),
                                      [_Bar(n, v, money(v, currency)) for n, v in ranked], color="#e65100"))

    by_currency: dict[str, list[MarginRow]] = defaultdict(list)
    for r in result.margin:
        by_currency[r.currency].append(r)
    currencies = []
    for currency, rows in sorted(by_currency.items()):
        per_customer: dict[str, Decimal] = defaultdict(lambda: ZERO)
        per_family: dict[str, Decimal] = defaultdict(lambda: ZERO)
        revenue = cost = without = unrecovered = ZERO
        for r in rows:
            per_customer[r.customer] += r.margin
            per_family[r.product_family] += r.margin
            revenue += r.revenue
            cost += r.cost
            without += r.revenue_without_cost
            unrecovered += r.cost_without_revenue
        if not (revenue or cost):
            continue  # a currency with nothing in it is left out
        base = revenue - without
        margin = base - (cost - unrecovered)
        worst = sorted(per_customer.items(), key=lambda kv: (kv[1], kv[0]))[:12]
        families = sorted(per_family.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
        currencies.append({
            "currency": currency, "revenue": money(revenue, currency), "cost": money(cost, currency),
            "margin": money(margin, currency),
            "pct": t.percent((margin * 100 / base).quantize(Decimal("0.1"))) if base and cost - unrecovered else "—",
            "without_cost": money(without, currency) if without else "",
            "without_revenue": money(unrecovered, currency) if unrecovered else "",
            "by_customer": _chart(t("recon.chart.margin_by_customer", currency=currency),
                                      [_Bar(k, v, money(v, currency)) for k, v in worst]),
            "by_family": _chart(t("recon.chart.margin_by_family", currency=currency),
                                    [_Bar(k, v, money(v, currency)) for k, v in families]),
        })

    def at_risk_rank(item: tuple[str, list[Finding]]) -> tuple[int, int, str]:
        name, items = item
        return (-sum(1 for f in items if f.kind in AT_RISK_KINDS), -len(items), name)

    ordered = sorted(groups.items(), key=at_risk_rank)
    shown = ordered[:top]
    per_customer_rows = 10
    group_views = []
    for name, items in shown:
        items = sorted(items, key=lambda f: (AT_RISK_KINDS.index(f.kind) if f.kind in AT_RISK_KINDS else 9,
                                             -abs(f.amount), f.description))
        tally: dict[str, int] = defaultdict(int)
        for f in items:
            tally[kind_label(f.kind)] += 1
        group_views.append({
            "name": name, "summary": ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())),
            "rows": [{"kind": kind_label(f.kind), "detail": f.description, "amount": money(f.amount, f.currency),
                      "pq": "" if f.provider_quantity is None else t.number(f.provider_quantity),
                      "cq": "" if f.crm_quantity is None else t.number(f.crm_quantity)}
                     for f in items[:per_customer_rows]],
            "more": max(0, len(items) - per_customer_rows)})

    shown_names = {name for name, _ in shown}
    wanted = [r for r in result.margin if r.customer in shown_names] or list(result.margin[:200])
    margin_rows = [{"customer": r.customer, "family": r.product_family, "revenue": money(r.revenue, r.currency),
                    "cost": money(r.cost, r.currency),
                    "microsoft": "; ".join(money(v, c) for c, v in r.provider_cost),
                    "margin": money(r.margin, r.currency),
                    "pct": t.percent(r.margin_pct) if r.margin_pct is not None else
                    t("recon.cost_missing_short") if r.revenue_without_cost else "—"}
                   for r in wanted[:400]]
    revision_totals = []
    for currency in sorted({r.currency for r in result.revisions}):
        deltas = [r.delta for r in result.revisions if r.currency == currency]
        revision_totals.append(t("recon.revised_total", count=len(deltas), currency=currency,
                                 up=money(sum((d for d in deltas if d > 0), ZERO), currency),
                                 down=money(sum((-d for d in deltas if d < 0), ZERO), currency),
                                 net=money(sum(deltas, ZERO), currency)))
    revision_rows = [{"customer": r.customer, "meter": r.meter_category, "period": r.period,
                      "billed": money(r.billed_cost, r.currency), "now": money(r.cost, r.currency),
                      "delta": money(r.delta, r.currency),
                      "then": t("recon.revised_then_estimate") if r.estimate_now else
                      t("recon.revised_then_trueup") if r.delta > 0 else t("recon.revised_then_credit")}
                     for r in sorted(result.revisions, key=lambda r: (-abs(r.delta), r.customer, r.meter_category))[:30]]
    counts_line = " · ".join(f"{t('recon.count.' + k)}: {t.number(v)}" for k, v in (counts or {}).items())
    year, month = (int(p) for p in period.split("-")) if "-" in period else (0, 0)
    period_label = format_date(date(year, month, 1), "LLLL y", locale=t.locale) if year else period
    return _env().get_template("recon_report.html").render(
        t=t, lang=t.language, period=period, period_label=period_label, counts_line=counts_line,
        risk_kinds=risk_kinds, risk_charts=risk_charts, currencies=currencies, groups=group_views,
        shown_customers=len(shown), total_customers=len(groups), margin_rows=margin_rows,
        revision_totals=revision_totals, revision_rows=revision_rows, revision_total=len(result.revisions),
        margin_total=len(result.margin))
