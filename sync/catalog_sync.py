"""Catalog sync: Partner Center price sheet -> products, units, price lists and price list items.

At the size of Microsoft's real sheet (about 50,000 rows and 42 MB per market) the job fans out:
one queue message per market, carrying the price-list currencies that market's sheet feeds. A
worker streams its sheet row by row into compact items (billing.catalog_pricing.SheetItems),
keeps only the selected products (sync.catalog_selection), compares with what its price lists
hold, and bulk-upserts only the difference, in chunks. A market that finished is checkpointed
(its own sync run row), so a redelivered message does nothing.

- An unchanged sheet writes nothing but the run rows.
- A Microsoft price already in force that differs becomes one price change row per item
  (PendingReview, old and new price, effective date, margin impact on the subscriptions using
  it); the item keeps its price and is tagged PendingReview.
- A price announced ahead (a future EffectiveStartDate) becomes a scheduled price change,
  applied on its date unless a reviewer rejected it. It is never today's price.
- Tier rows are stored on the item as its volume pricing (its price tiers); tier 1 is its amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from billing import catalog_pricing as cp
from dataverse import catalog_repo as repo
from dataverse.client import DataverseClient
from shared.dates import require_date
from shared.errors import FatalError, IntegrationError, RetriableError, ValidationError
from shared.logging import get_logger
from shared.queue import Queue
from sync import catalog_selection, runs

log = get_logger(__name__)

REVIEW_CURRENT, REVIEW_PENDING = 1, 2
PRICE_CHANGE_PENDING = cp.CHANGE_PENDING
MAX_ROW_ERRORS = 20
SHEET_REQUIRED = ("ProductId", "SkuId", "UnitPrice", "TermDuration", "BillingPlan", "Currency")


class PriceSheetSource(Protocol):
    """Where a market's license price sheet comes from (distributors.partnercenter_adapter.PartnerCenterAdapter)."""

    def iter_price_sheet(self, market: str, *, month: str | None = None) -> Iterable[Mapping[str, str]]: ...


@dataclass
class CatalogResult:
    run: dict[str, Any]
    written: dict[str, int] = field(default_factory=dict)
    currency_sources: dict[str, str] = field(default_factory=dict)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


@dataclass
class Context:
    """What every market needs from Dynamics, read once per invocation."""

    group_id: str
    units: dict[str, str]
    levels: dict[str, str]  # price list name -> id
    rules: list[cp.MarkupRule]
    selection: catalog_selection.Selection
    impact: dict[str, tuple[int, int]]  # price key -> (live subscriptions, seats)
    unpriced: list[repo.SubscriptionUse]  # subscriptions synced before their product was in the catalog
    products: dict[str, tuple[str, str]]  # productnumber -> (name, family) as Dynamics has them
    today: date
    written: dict[str, int] = field(default_factory=dict)

    def wrote(self, name: str, count: int) -> None:
        if count:
            self.written[name] = self.written.get(name, 0) + count


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


# ---------------------------------------------------------------- units, price lists, rules

def _standard_units() -> dict[str, int]:
    units = {cp.BASE_UNIT_NAME: 1}
    for term, plan in cp.STANDARD_UNITS:
        units.setdefault(cp.unit_name(term, plan), cp.BILLING_MONTHS.get(plan, 1))
    return units


def _ensure_price_lists(dv: DataverseClient, currencies: Iterable[str], written: dict[str, int]) -> dict[str, str]:
    levels = repo.price_list_ids(dv)
    currency_ids = repo.currency_ids(dv)
    for currency in currencies:
        name = cp.price_list_name(currency)
        if name in levels:
            continue
        levels[name] = repo.ensure_price_list(dv, name, currency, currency_ids.get(currency))
        written["pricelevels"] = written.get("pricelevels", 0) + 1
    return levels


def load_rules(dv: DataverseClient, level_ids: Mapping[str, str]) -> list[cp.MarkupRule]:
    return repo.markup_rules(dv, {v: k for k, v in level_ids.items()})


def prepare(dv: DataverseClient, currencies: Iterable[str], *, today: date | None = None, everything: bool = False,
            units_only: bool = False) -> Context:
    currencies = [c.upper() for c in currencies]
    written: dict[str, int] = {}
    group_id, units = repo.ensure_units(dv, _standard_units(), written)
    levels = _ensure_price_lists(dv, currencies, written)
    ctx = Context(group_id, units, levels, [], catalog_selection.Selection(everything=True), {}, [], {},
                  _today(today), written)
    if units_only:
        return ctx
    ctx.rules = load_rules(dv, levels)
    uses = repo.subscription_uses(dv)
    ctx.selection = catalog_selection.load(dv, uses, everything=everything)
    for use in uses:
        if use.live and use.price_key:
            count, seats = ctx.impact.get(use.price_key, (0, 0))
            ctx.impact[use.price_key] = (count + 1, seats + use.quantity)
        if use.unit_price is None and use.subscription_id:
            ctx.unpriced.append(use)
    ctx.products = repo.catalog_products(dv)
    return ctx


# ---------------------------------------------------------------- the sheet

def read_sheet(rows: Iterable[Mapping[str, Any]], run: runs.SyncRun, progress: runs.Progress = runs.no_progress,
               ) -> cp.SheetItems:
    """Fold streamed sheet rows into items. A row Microsoft sent malformed is skipped and named in
    the run (by its line), never guessed at; the other rows still sync."""
    items = cp.SheetItems()
    bad = 0
    for n, raw in enumerate(rows, start=2):  # line 1 is the CSV header
        if n == 2:
            missing = [c for c in SHEET_REQUIRED if c not in raw]
            if missing:
                raise FatalError(f"the price sheet has no {', '.join(missing)} column(s): is it the "
                                 f"updatedlicensebased view? (columns: {', '.join(list(raw)[:8])}...)")
        try:
            items.add(cp.parse_sheet_row(raw))
        except ValidationError as exc:
            bad += 1
            if bad <= MAX_ROW_ERRORS:
                run.error(f"price sheet line {n}: {exc.message}")
    progress(items.rows)
    run.bump("sheetRows", items.rows + bad)
    if bad:
        run.bump("badRows", bad)
    return items


# ---------------------------------------------------------------- one price list

def _name(items: cp.SheetItems, want: cp.DesiredPrice) -> str:
    info = items.products.get(want.productnumber)
    title = info.title if info else want.productnumber
    return f"{title} · {want.unit} · {want.currency}"


def _impact(ctx: Context, key: str, old_cost: Decimal | None, new_cost: Decimal, currency: str) -> repo.Impact:
    count, seats = ctx.impact.get(key, (0, 0))
    return repo.Impact(count, seats, cp.margin_change(seats, old_cost, new_cost, currency))


def _sync_products(dv: DataverseClient, ctx: Context, items: cp.SheetItems, numbers: Iterable[str]) -> None:
    def writes() -> Iterable[dict[str, Any]]:
        for number in dict.fromkeys(numbers):
            info = items.products[number]
            name, family = info.title[:100], info.family
            have = ctx.products.get(number)
            if have is None:
                yield repo.product_create(number, name, family, info.product_id, info.sku_id, ctx.group_id,
                                          ctx.units[cp.BASE_UNIT_NAME])
            elif have != (name, family):
                yield repo.product_update(number, name, family)
            else:
                continue
            ctx.products[number] = (name, family)

    # Written in chunks as they are made: 14,000 new products are never all request bodies at once.
    ctx.wrote("products", repo.write_products(dv, writes()))


def sync_price_list(dv: DataverseClient, ctx: Context, items: cp.SheetItems, currency: str, run: runs.SyncRun, *,
                    release: bool = False) -> str:
    """Bring one price list in line with the sheet. Returns the currency whose prices fed it.
    `release`: this is the last price list the sheet feeds, so its rows can go once planned."""
    currency = currency.upper()
    plan = cp.plan_prices(items, [currency], ctx.rules, ctx.today, selected=ctx.selection, consume=release)
    source = plan.sources[currency]
    selected_numbers = {w.productnumber for w in plan.wanted} | {s.want.productnumber for s in plan.scheduled}
    run.bump("itemsSelected", len(plan.wanted))
    run.bump("productsNotSelected", len({k[1] for k in items.keys(source)} - selected_numbers))
    run.bump("notYetEffective", plan.not_yet_effective)
    missing_units = {w.unit for w in plan.wanted} - set(ctx.units)
    if missing_units:
        _, ctx.units = repo.ensure_units(dv, {u: cp.BILLING_MONTHS.get(u.split(" ")[-1], 1) for u in missing_units},
                                     ctx.written)
    if release:
        items.drop_rows()
    level_id = ctx.levels[cp.price_list_name(currency)]
    changes = repo.price_changes(dv, cp.price_list_name(currency))
    # Compare page by page: the price list's items are never all in memory next to the plan.
    wanted = {w.key: w for w in plan.wanted}
    plan.wanted = []
    unpriced = {u.item_key for u in ctx.unpriced if u.item_key}
    existing: dict[str, cp.ExistingPrice] = {}  # only the items unpriced subscriptions need
    existing_keys: set[str] = set()
    diff = cp.PriceDiff()
    for page in repo.existing_item_pages(dv, level_id):
        diff.merge(cp.diff_prices([wanted.pop(k) for k in page if k in wanted], page, changes, (), ctx.today))
        existing_keys.update(page)
        existing.update((k, v) for k, v in page.items() if tuple(k.split("|", 2)[1:]) in unpriced)
    diff.merge(cp.diff_prices(list(wanted.values()), {}, changes, plan.scheduled, ctx.today))
    del wanted, changes
    _sync_products(dv, ctx, items, sorted(selected_numbers))

    ctx.wrote("productpricelevels", repo.write_items(
        dv, (repo.item_create(w, level_id, ctx.units[w.unit]) for w in diff.create)))
    ctx.wrote("costUpdates", repo.write_items(dv, (repo.item_cost(w) for w in diff.cost_only)))
    ctx.wrote("pricesApplied", repo.write_items(dv, (repo.item_applied(w) for _h, w in diff.apply)))
    if diff.review:
        ctx.wrote("pricechanges", repo.write_changes(dv, (repo.price_change(
            cp.change_key(want.key, want.effective), _name(items, want), source, want.key,
            old_amount=have.amount, new_amount=want.amount, old_cost=have.cost, new_cost=want.cost,
            effective=want.effective, scheduled=False, impact=_impact(ctx, want.key, have.cost, want.cost, source),
            item_exists=True) for have, want in diff.review)))
        ctx.wrote("reviewTags", repo.write_items(dv, (repo.item_for_review(have.key) for have, _ in diff.review)))
    created = {w.key for w in diff.create}
    ctx.wrote("scheduledChanges", repo.write_changes(dv, (repo.price_change(
        s.key, _name(items, s.want), source, s.want.key, old_amount=s.old_amount, new_amount=s.want.amount,
        old_cost=s.old_cost, new_cost=s.want.cost, effective=s.want.effective, scheduled=True,
        impact=_impact(ctx, s.want.key, s.old_cost, s.want.cost, source),
        item_exists=s.want.key in existing_keys or s.want.key in created) for s in diff.schedule)))
    ctx.wrote("changesSettled", repo.write_changes(dv, (repo.change_applied(k) for k in diff.settle)))

    _price_new_subscriptions(dv, ctx, currency, existing, diff.create, run)
    run.bump("pricesUnchanged", diff.unchanged)
    run.bump("pricesCreated", len(diff.create))
    run.bump("pricesForReview", len(diff.review))
    run.bump("pricesScheduled", len(diff.schedule))
    run.bump("pricesApplied", len(diff.apply))
    if source != currency:
        # Not an error: Microsoft has no prices in that currency, so its price list carries USD amounts.
        run.bump("currencyFallbacks")
    return source


def _price_new_subscriptions(dv: DataverseClient, ctx: Context, currency: str, existing: Mapping[str, cp.ExistingPrice],
                             created: Iterable[cp.DesiredPrice], run: runs.SyncRun) -> None:
    """A subscription synced before its product was in the catalog starts at the item's price now,
    priced by its quantity's tier; after that only a renewal changes it. It takes its currency's
    price list, else (no such list) the one Microsoft prices that currency in, else USD's, as the
    subscription sync does."""
    if not ctx.unpriced:
        return
    new = {w.key: w for w in created}
    price_list = cp.price_list_name(currency)
    writes = []
    for use in ctx.unpriced:
        if use.item_key is None:
            continue
        own = cp.price_list_name(use.currency)
        fallback = next((c for c in (use.currency, cp.pricing_currency(use.currency), cp.FALLBACK_CURRENCY)
                         if cp.price_list_name(c) in ctx.levels), None)
        if price_list != own and (fallback is None or cp.price_list_name(fallback) != price_list):
            continue
        key = cp.price_key(price_list, *use.item_key)
        have, want = existing.get(key), new.get(key)
        if have is not None:
            price, cost = cp.unit_price_for_quantity(have.amount, have.tiers_text, use.quantity), have.cost
        elif want is not None:
            price, cost = cp.unit_price_for_quantity(want.amount, want.tiers, use.quantity), want.cost
        else:
            continue
        writes.append((use.subscription_id, price, cost if use.unit_cost is None else None, currency))
    if writes:
        ctx.wrote("subscriptionPrices", repo.write_subscription_prices(dv, writes))
        done = {w[0] for w in writes}
        ctx.unpriced = [u for u in ctx.unpriced if u.subscription_id not in done]
        run.bump("subscriptionsPriced", len(writes))


def _finish_counts(run: runs.SyncRun, written: Mapping[str, int]) -> None:
    for name, count in written.items():
        run.bump(f"written.{name}", count)


def run_catalog_sync(dv: DataverseClient, price_sheet: Iterable[Mapping[str, Any]], *, currencies: Iterable[str] = ("USD",),
                     progress: runs.Progress = runs.no_progress, run_key: str | None = None,
                     today: date | None = None, everything: bool = False) -> CatalogResult:
    """One process, every currency: `price_sheet` rows (Partner Center's price sheet columns, any
    markets) stream through once. The fan-out path (fan_out + handle_market) does one market each."""
    run = runs.start(dv, "catalog", run_key)
    currencies = list(dict.fromkeys(c.upper() for c in currencies))
    written: dict[str, int] = {}
    sources: dict[str, str] = {}
    try:
        ctx = prepare(dv, currencies, today=today, everything=everything)
        written = ctx.written
        items = read_sheet(price_sheet, run, progress)
        for n, currency in enumerate(currencies, start=1):
            sources[currency] = sync_price_list(dv, ctx, items, currency, run, release=n == len(currencies))
        _finish_counts(run, written)
    except RetriableError:
        runs.finish(run, failed=True)
        raise
    except IntegrationError as exc:
        run.error(str(exc))
        runs.finish(run, failed=True)
        return CatalogResult(run.as_dict(), written)
    runs.finish(run)
    return CatalogResult(run.as_dict(), written, sources)


# ---------------------------------------------------------------- fan-out: one message per market

def markets_for(currencies: Iterable[str]) -> dict[str, list[str]]:
    """Market -> the price-list currencies its sheet feeds (USD's also feeds the currencies Microsoft
    does not price in)."""
    from billing.currency import MARKET_FOR_CURRENCY

    out: dict[str, list[str]] = {}
    for currency in dict.fromkeys(c.upper() for c in currencies):
        out.setdefault(MARKET_FOR_CURRENCY[cp.pricing_currency(currency)], []).append(currency)
    return dict(sorted(out.items()))


def fan_out(dv: DataverseClient, queue: Queue, currencies: Iterable[str], *, run: runs.SyncRun, today: date | None = None,
            month: str | None = None) -> int:
    """Timer side: make the units and price lists every market shares (so parallel workers never race
    to create them), then enqueue one message per market. Message ids carry the run key."""
    currencies = list(dict.fromkeys(c.upper() for c in currencies))
    ctx = prepare(dv, currencies, units_only=True)
    _finish_counts(run, ctx.written)
    sent = 0
    for market, feeds in markets_for(currencies).items():
        body = {"runKey": run.run_key, "market": market, "currencies": feeds,
                "today": _today(today).isoformat(), "month": month}
        if queue.send(body, message_id=f"catalog:{run.run_key}:{market}"):
            sent += 1
    run.bump("enqueued", sent)
    return sent


def handle_market(body: Mapping[str, Any], *, dv: DataverseClient | None = None, pc: PriceSheetSource | None = None,
                  run: runs.SyncRun | None = None, everything: bool = False) -> dict[str, Any]:
    """Worker side: sync one market's sheet into the price lists it feeds. Checkpointed: a market
    whose run row says Succeeded is not done twice. Only RetriableError escapes."""
    from dataverse.client import client_or_default

    dv = client_or_default(dv)
    if pc is None:
        from distributors.partnercenter_adapter import PartnerCenterAdapter

        pc = PartnerCenterAdapter.from_settings()
    market = str(body.get("market") or "").upper()
    currencies = [str(c).upper() for c in body.get("currencies") or ()]
    if not market or not currencies:
        raise ValidationError("catalog message needs a market and its currencies")
    checkpoint = f"{body.get('runKey') or 'catalog'}|{market}"
    if runs.succeeded(dv, checkpoint):
        return {"market": market, "skipped": "already synced in this run"}
    today = require_date(body["today"], "today") if body.get("today") else None
    own = runs.start(dv, "catalog-market", checkpoint)
    try:
        ctx = prepare(dv, currencies, today=today, everything=everything)
        items = read_sheet(pc.iter_price_sheet(market, month=body.get("month")), own)
        for n, currency in enumerate(currencies, start=1):
            sync_price_list(dv, ctx, items, currency, own, release=n == len(currencies))
        del items
        _finish_counts(own, ctx.written)
    except RetriableError:
        runs.finish(own, failed=True)
        raise
    except IntegrationError as exc:
        own.error(f"{market}: {exc}")
        runs.finish(own, failed=True)
        _merge(run, own)
        return own.as_dict()
    runs.finish(own)
    _merge(run, own)
    return own.as_dict()


def _merge(run: runs.SyncRun | None, part: runs.SyncRun) -> None:
    if run is None:
        return
    for name, value in part.counts.items():
        run.bump(name, value)
    for error in part.errors:
        run.error(error)
