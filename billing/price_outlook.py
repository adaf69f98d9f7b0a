"""Next month's prices against the ones in force, pure: which items are added, changed and removed,
and what that does to each customer's margin at the partner's current markups.

Subscriptions keep their price until renewal, so two margins are shown per customer: with today's
prices kept (Microsoft's cost moves, ours does not), and repriced at the current markup rules (what
the customer pays once the new list price reaches them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from billing.catalog_pricing import DesiredPrice
from billing.money import round_money

ZERO = Decimal(0)
ADDED, CHANGED, REMOVED = "added", "changed", "removed"


@dataclass(frozen=True)
class ItemChange:
    kind: str  # added | changed | removed
    key: str
    currency: str
    productnumber: str
    unit: str
    cost_now: Decimal | None
    cost_next: Decimal | None
    price_now: Decimal | None
    price_next: Decimal | None

    @property
    def cost_change_pct(self) -> Decimal | None:
        if not self.cost_now or self.cost_next is None:
            return None
        return ((self.cost_next - self.cost_now) * 100 / self.cost_now).quantize(Decimal("0.01"))


def compare(now: Iterable[DesiredPrice], upcoming: Iterable[DesiredPrice]) -> list[ItemChange]:
    """Items whose cost, price or tiers differ, plus those only in one of the two, by key."""
    before = {p.key: p for p in now}
    after = {p.key: p for p in upcoming}
    out = []
    for key, nxt in after.items():
        cur = before.get(key)
        if cur is None:
            out.append(ItemChange(ADDED, key, nxt.currency, nxt.productnumber, nxt.unit, None, nxt.cost, None,
                                  nxt.amount))
        elif (cur.cost, cur.amount, cur.tiers_text) != (nxt.cost, nxt.amount, nxt.tiers_text):
            out.append(ItemChange(CHANGED, key, nxt.currency, nxt.productnumber, nxt.unit, cur.cost, nxt.cost,
                                  cur.amount, nxt.amount))
    for key, cur in before.items():
        if key not in after:
            out.append(ItemChange(REMOVED, key, cur.currency, cur.productnumber, cur.unit, cur.cost, None,
                                  cur.amount, None))
    return sorted(out, key=lambda c: (c.kind, c.currency, c.productnumber, c.unit))


@dataclass(frozen=True)
class Holding:
    """One live subscription, as the outlook needs it."""

    customer: str
    price_key: str
    seats: int
    unit_price: Decimal | None  # what the customer pays today; None: the item's current price


@dataclass
class CustomerImpact:
    customer: str
    currency: str
    subscriptions: int = 0
    seats: int = 0
    margin_now: Decimal = ZERO
    margin_kept: Decimal = ZERO  # next month, today's customer prices kept
    margin_repriced: Decimal = ZERO  # next month, repriced at the current markup rules
    removed_seats: int = 0  # seats on items Microsoft stops selling
    items: set[str] = field(default_factory=set)

    @property
    def change_kept(self) -> Decimal:
        return self.margin_kept - self.margin_now

    @property
    def change_repriced(self) -> Decimal:
        return self.margin_repriced - self.margin_now


def customer_impact(changes: Sequence[ItemChange], holdings: Iterable[Holding],
                    now: Mapping[str, DesiredPrice]) -> list[CustomerImpact]:
    """Per customer and currency, for the subscriptions on changed or removed items (per billing period)."""
    by_key = {c.key: c for c in changes if c.kind != ADDED}
    out: dict[tuple[str, str], CustomerImpact] = {}
    for h in holdings:
        change = by_key.get(h.price_key)
        if change is None or change.cost_now is None:
            continue
        item = now.get(h.price_key)
        price = h.unit_price if h.unit_price is not None else (item.amount if item else change.price_now) or ZERO
        row = out.setdefault((h.customer, change.currency), CustomerImpact(h.customer, change.currency))
        row.subscriptions += 1
        row.seats += h.seats
        row.items.add(change.productnumber)
        seats = Decimal(h.seats)
        row.margin_now += seats * (price - change.cost_now)
        if change.kind == REMOVED:
            # Nothing to buy next month: the margin stays as it is until the subscription ends.
            row.margin_kept += seats * (price - change.cost_now)
            row.margin_repriced += seats * (price - change.cost_now)
            row.removed_seats += h.seats
            continue
        cost_next = change.cost_next if change.cost_next is not None else change.cost_now
        row.margin_kept += seats * (price - cost_next)
        row.margin_repriced += seats * ((change.price_next if change.price_next is not None else price) - cost_next)
    for row in out.values():
        row.margin_now = round_money(row.margin_now, row.currency)
        row.margin_kept = round_money(row.margin_kept, row.currency)
        row.margin_repriced = round_money(row.margin_repriced, row.currency)
    return sorted(out.values(), key=lambda r: (r.currency, r.change_kept, r.customer))
