"""The price-change preview as people read it: one self-contained HTML page (inline SVG charts, no
script, opens offline) and two CSV files. Products and customers appear by name."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape

from billing.money import MINOR_UNITS, round_money
from billing.price_outlook import ADDED, CHANGED, REMOVED, CustomerImpact, ItemChange
from recon.report import _Bar, _bar_chart, _table

ITEM_COLUMNS = ("change", "product", "term_and_billing", "currency", "cost_now", "cost_next", "cost_change_pct",
                "price_now", "price_next", "product_number")
CUSTOMER_COLUMNS = ("customer", "currency", "subscriptions", "seats", "margin_now", "margin_next_prices_kept",
                    "margin_next_repriced_at_current_markup", "change_prices_kept", "change_repriced",
                    "seats_on_removed_items")
KIND_COLORS = {ADDED: "#1565c0", CHANGED: "#ef6c00", REMOVED: "#c62828"}


def _m(value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    return str(round_money(value, currency) if currency in MINOR_UNITS else value)


def items_csv(changes: Sequence[ItemChange], names: Mapping[str, str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ITEM_COLUMNS)
    for c in changes:
        pct = c.cost_change_pct
        writer.writerow([c.kind, names.get(c.productnumber, c.productnumber), c.unit, c.currency,
                         _m(c.cost_now, c.currency), _m(c.cost_next, c.currency), "" if pct is None else pct,
                         _m(c.price_now, c.currency), _m(c.price_next, c.currency), c.productnumber])
    return buf.getvalue()


def customers_csv(rows: Sequence[CustomerImpact]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CUSTOMER_COLUMNS)
    for r in rows:
        writer.writerow([r.customer, r.currency, r.subscriptions, r.seats, _m(r.margin_now, r.currency),
                         _m(r.margin_kept, r.currency), _m(r.margin_repriced, r.currency),
                         _m(r.change_kept, r.currency), _m(r.change_repriced, r.currency), r.removed_seats])
    return buf.getvalue()


def _count_chart(title: str, counts: Mapping[str, Counter[str]], *, width: int = 640) -> str:
    """Grouped bars: items added / changed / removed per currency."""
    if not counts:
        return ""
    groups = sorted(counts)
    row_h, label_w = 18, 90
    height = 40 + len(groups) * (row_h * 3 + 10)
    peak = max((n for c in counts.values() for n in c.values()), default=1) or 1
    plot_w = width - label_w - 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<text x="{label_w}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    y = 30
    for group in groups:
        parts.append(f'<text x="{label_w - 8}" y="{y + row_h * 1.5 + 4:.0f}" text-anchor="end" font-size="12" '
                     f'font-weight="bold">{escape(group)}</text>')
        for kind in (ADDED, CHANGED, REMOVED):
            n = counts[group].get(kind, 0)
            w = plot_w * n / peak
            parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row_h - 4}" '
                         f'fill="{KIND_COLORS[kind]}"/>')
            parts.append(f'<text x="{label_w + max(w, 1) + 4:.1f}" y="{y + row_h - 5}" font-size="11">'
                         f'{n} {kind}</text>')
            y += row_h
        y += 10
    parts.append("</svg>")
    return "".join(parts)


def html_report(changes: Sequence[ItemChange], customers: Sequence[CustomerImpact], names: Mapping[str, str], *,
                month_label: str, source: str, in_force: str, top: int = 15, rows_shown: int = 200) -> str:
    counts: dict[str, Counter[str]] = {}
    for c in changes:
        counts.setdefault(c.currency, Counter())[c.kind] += 1
    totals = Counter(c.kind for c in changes)
    sections = [
        f"<p class='kpi'>Compared: <b>{escape(source)}</b> against the prices in force on <b>{escape(in_force)}</b>. "
        f"Items added <b>{totals[ADDED]}</b> · changed <b>{totals[CHANGED]}</b> · removed <b>{totals[REMOVED]}</b> · "
        f"customers affected <b>{len({r.customer for r in customers})}</b></p>",
        _count_chart("Price list items by change and currency", counts),
    ]
    by_currency: dict[str, list[CustomerImpact]] = {}
    for r in customers:
        by_currency.setdefault(r.currency, []).append(r)
    for currency, rows in sorted(by_currency.items()):
        worst = sorted(rows, key=lambda r: (r.change_kept, r.customer))[:top]
        kept = sum((r.change_kept for r in rows), Decimal(0))
        repriced = sum((r.change_repriced for r in rows), Decimal(0))
        sections.append(
            f"<h2>Margin impact per customer ({escape(currency)}, per billing period)</h2>"
            f"<p class='kpi'>Prices kept: <b>{_m(kept, currency)}</b> · repriced at current markups: "
            f"<b>{_m(repriced, currency)}</b></p>"
            + _bar_chart(f"Margin change with today's prices kept, worst first ({currency})",
                         [_Bar(r.customer, r.change_kept) for r in worst], currency)
            + _bar_chart(f"Margin change repriced at current markups ({currency})",
                         [_Bar(r.customer, r.change_repriced) for r in worst], currency)
            + _table(["Customer", "Subscriptions", "Seats", "Margin now", "Next month, prices kept",
                      "Next month, repriced", "Change (kept)", "Change (repriced)"],
                     [(r.customer, r.subscriptions, r.seats, _m(r.margin_now, currency), _m(r.margin_kept, currency),
                       _m(r.margin_repriced, currency), _m(r.change_kept, currency),
                       _m(r.change_repriced, currency)) for r in rows]))
    moved = [c for c in changes if c.kind == CHANGED and c.cost_change_pct is not None]
    biggest = sorted(moved, key=lambda c: (-abs(c.cost_change_pct or Decimal(0)), c.productnumber))[:top]
    if biggest:
        sections.append("<h2>Largest cost changes</h2>" + _pct_chart(biggest, names))
    shown = sorted(changes, key=lambda c: (c.kind != CHANGED, -abs(c.cost_change_pct or Decimal(0)), c.productnumber))
    sections.append(
        f"<h2>Items ({min(len(shown), rows_shown)} of {len(shown)}; every item is in price-changes.csv)</h2>"
        + _table(["Change", "Product", "Term and billing", "Currency", "Cost now", "Cost next", "Cost change %",
                  "Price now", "Price next"],
                 [(c.kind, names.get(c.productnumber, c.productnumber), c.unit, c.currency,
                   _m(c.cost_now, c.currency), _m(c.cost_next, c.currency),
                   "" if c.cost_change_pct is None else f"{c.cost_change_pct} %", _m(c.price_now, c.currency),
                   _m(c.price_next, c.currency)) for c in shown[:rows_shown]]))
    style = ("body{font-family:Segoe UI,Arial,sans-serif;margin:24px;color:#222}"
             "table{border-collapse:collapse;margin:12px 0;font-size:13px}"
             "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}"
             ".kpi{font-size:15px}svg{display:block;margin:8px 0}")
    title = f"CSPBridge price changes ahead — {month_label}"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{escape(title)}</h1>" + "".join(sections) + "</body></html>")


def _pct_chart(changes: Sequence[ItemChange], names: Mapping[str, str], *, width: int = 720) -> str:
    """Cost change in %, one bar per item: dearer for the partner in red (right), cheaper in green (left)."""
    title = "Cost change in % (red: Microsoft charges more)"
    row_h, label_w = 22, 340
    height = 36 + row_h * len(changes)
    values = [float(c.cost_change_pct or 0) for c in changes]
    span = max(max((abs(v) for v in values), default=1.0), 1.0)
    half = (width - label_w - 60) / 2
    zero_x = label_w + half
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<text x="{label_w}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, (c, v) in enumerate(zip(changes, values, strict=True)):
        y = 26 + i * row_h
        w = half * abs(v) / span
        x = zero_x if v >= 0 else zero_x - w
        label = f"{names.get(c.productnumber, c.productnumber)[:36]} · {c.unit} · {c.currency}"
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                     f'fill="{"#c62828" if v > 0 else "#2e7d32"}"/>')
        parts.append(f'<text x="{(x + w + 4) if v >= 0 else (x - 4):.1f}" y="{y + 14}" font-size="11" '
                     f'text-anchor="{"start" if v >= 0 else "end"}">{c.cost_change_pct} %</text>')
    parts.append(f'<line x1="{zero_x:.1f}" y1="22" x2="{zero_x:.1f}" y2="{height - 4}" stroke="#555"/></svg>')
    return "".join(parts)
