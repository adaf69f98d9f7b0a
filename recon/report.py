"""Margin and variance report: CSV files plus one self-contained HTML page.

The charts are inline SVG built here (no CDN, no script), so the page opens offline, survives being
mailed, and can be stored as a single blob next to the recon files.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from billing.money import MINOR_UNITS, round_money
from recon.reconcile import Finding, FindingKind, MarginRow, ReconResult

ZERO = Decimal(0)
MARGIN_COLUMNS = ("customer", "account_id", "product_family", "currency", "revenue", "cost", "margin", "margin_pct",
                  "revenue_without_cost", "microsoft_cost")
FINDING_COLUMNS = ("kind", "customer", "tenant_id", "account_id", "subscription_id", "currency", "amount",
                   "provider_quantity", "crm_quantity", "description")


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
                         "; ".join(f"{_money(v, c)} {c}" for c, v in r.provider_cost)])
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


def _bar_chart(title: str, bars: Sequence[_Bar], currency: str, *, width: int = 640) -> str:
    """Horizontal bars; negative values (losses) grow left of the zero line, in red."""
    if not bars:
        return ""
    row_h, label_w, pad = 22, 200, 8
    height = pad * 2 + row_h * len(bars) + 20
    lo = min([ZERO] + [b.value for b in bars])
    hi = max([ZERO] + [b.value for b in bars])
    span = (hi - lo) or Decimal(1)
    plot_w = width - label_w - 90
    zero_x = label_w + float((-lo) / span) * plot_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, bar in enumerate(bars):
        y = pad + 20 + i * row_h
        w = float(abs(bar.value) / span) * plot_w
        x = zero_x if bar.value >= 0 else zero_x - w
        color = "#2e7d32" if bar.value >= 0 else "#c62828"
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
                     f'{escape(bar.label[:30])}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" fill="{color}"/>')
        parts.append(f'<text x="{max(x + w, zero_x) + 4:.1f}" y="{y + 14}" font-size="11">'
                     f'{escape(str(_money(bar.value, currency)))}</text>')
    parts.append(f'<line x1="{zero_x:.1f}" y1="{pad + 16}" x2="{zero_x:.1f}" y2="{height - pad}" stroke="#555"/>')
    parts.append(f'<text x="{label_w}" y="{pad + 8}" font-size="13" font-weight="bold">{escape(title)}</text></svg>')
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(result: ReconResult, *, period: str, title: str = "CSPBridge reconciliation",
                counts: dict[str, int] | None = None, top: int = 15) -> str:
    by_currency: dict[str, list[MarginRow]] = defaultdict(list)
    for r in result.margin:
        by_currency[r.currency].append(r)
    sections = []
    for currency, rows in sorted(by_currency.items()):
        per_customer: dict[str, Decimal] = defaultdict(lambda: ZERO)
        per_family: dict[str, Decimal] = defaultdict(lambda: ZERO)
        revenue = cost = ZERO
        for r in rows:
            per_customer[r.customer] += r.margin
            per_family[r.product_family] += r.margin
            revenue += r.revenue
            cost += r.cost
        worst_first = sorted(per_customer.items(), key=lambda kv: (kv[1], kv[0]))[:top]
        families = sorted(per_family.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        margin = revenue - cost
        pct = f"{(margin * 100 / revenue).quantize(Decimal('0.01'))} %" if revenue else "n/a"
        sections.append(
            f"<h2>{escape(currency)}</h2>"
            f"<p class='kpi'>Revenue <b>{_money(revenue, currency)}</b> · Cost <b>{_money(cost, currency)}</b> · "
            f"Margin <b>{_money(margin, currency)}</b> ({escape(pct)})</p>"
            + _bar_chart(f"Margin by customer, lowest first ({currency})",
                         [_Bar(k, v) for k, v in worst_first], currency)
            + _bar_chart(f"Margin by product family ({currency})", [_Bar(k, v) for k, v in families], currency)
            + _table(["Customer", "Product family", "Revenue", "Cost", "Margin", "Margin %"],
                     [(r.customer, r.product_family, _money(r.revenue, currency), _money(r.cost, currency),
                       _money(r.margin, currency), "" if r.margin_pct is None else r.margin_pct) for r in rows]))
    kinds = [(k.value, result.count(k)) for k in FindingKind]
    findings_table = _table(
        ["Kind", "Tenant", "Subscription", "Currency", "Amount", "Provider qty", "Dynamics qty", "Detail"],
        [(f.kind.value, f.tenant_id, f.subscription_id, f.currency, _money(f.amount, f.currency),
          "" if f.provider_quantity is None else f.provider_quantity,
          "" if f.crm_quantity is None else f.crm_quantity, f.description) for f in result.findings])
    counts_html = ""
    if counts:
        counts_html = "<p class='counts'>" + " · ".join(
            f"{escape(k.replace('_', ' '))}: <b>{v}</b>" for k, v in counts.items()) + "</p>"
    style = ("body{font-family:Segoe UI,Arial,sans-serif;margin:24px;color:#222}"
             "table{border-collapse:collapse;margin:12px 0;font-size:13px}"
             "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}"
             ".kpi{font-size:15px}svg{display:block;margin:8px 0}")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)} {escape(period)}"
            f"</title><style>{style}</style></head><body><h1>{escape(title)} — {escape(period)}</h1>{counts_html}"
            "<h2>Findings</h2>"
            + _table(["Kind", "Count"], kinds) + findings_table
            + "".join(sections) + "</body></html>")
