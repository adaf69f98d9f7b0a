"""Catalog sync: Partner Center price sheet -> products, units, price lists and price list items.

Read everything once, compare in memory (billing.catalog_pricing), then bulk-upsert only what
differs. A second run over an unchanged sheet writes nothing but its cspb_syncrun row.
A changed Microsoft price does not touch the existing price list item: it becomes a
cspb_pricechange (PendingReview) and the item is tagged cspb_reviewstatus = PendingReview.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billing import catalog_pricing as cp
from billing.money import parse_decimal
from dataverse.tables import EntitySet
from shared.errors import IntegrationError, RetriableError
from sync import runs
from sync.records import bind

REVIEW_CURRENT, REVIEW_PENDING = 1, 2
PRICE_CHANGE_PENDING = 1  # cspb_pricechange.cspb_status PendingReview


@dataclass
class CatalogResult:
    run: dict[str, Any]
    written: dict[str, int] = field(default_factory=dict)
    currency_sources: dict[str, str] = field(default_factory=dict)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


def _units_wanted(rows: Iterable[cp.SheetPrice]) -> dict[str, int]:
    units = {cp.BASE_UNIT_NAME: 1}
    for row in rows:
        units.setdefault(row.unit, cp.BILLING_MONTHS.get(row.billing_plan, 1))
    return units


def _ensure_units(dv: Any, wanted: Mapping[str, int], written: dict[str, int]) -> tuple[str, dict[str, str]]:
    group = next(iter(dv.list(EntitySet.UOM_SCHEDULES, select=["uomscheduleid", "name"],
                              filter=f"name eq '{cp.UNIT_GROUP_NAME}'")), None)
    if group is None:
        group_id = dv.create(EntitySet.UOM_SCHEDULES, {"name": cp.UNIT_GROUP_NAME, "baseuomname": cp.BASE_UNIT_NAME})
        written["uomschedules"] = written.get("uomschedules", 0) + 1
    else:
        group_id = group["uomscheduleid"]
    units = {u["name"]: u["uomid"] for u in dv.list(EntitySet.UOMS, select=["uomid", "name", "_uomscheduleid_value"],
                                                     filter=f"_uomscheduleid_value eq {group_id}")}
    base_id = units.get(cp.BASE_UNIT_NAME)
    for name, months in wanted.items():
        if name in units:
            continue
        record: dict[str, Any] = {"name": name, "quantity": months,
                                  "uomscheduleid@odata.bind": bind(EntitySet.UOM_SCHEDULES, group_id)}
        if base_id:
            record["baseuom@odata.bind"] = bind(EntitySet.UOMS, base_id)
        units[name] = dv.create(EntitySet.UOMS, record)
        written["uoms"] = written.get("uoms", 0) + 1
        if name == cp.BASE_UNIT_NAME:
            base_id = units[name]
    return group_id, units


def _load_rules(dv: Any) -> list[cp.MarkupRule]:
    levels = {p["pricelevelid"]: p["name"] for p in dv.list(EntitySet.PRICE_LEVELS, select=["pricelevelid", "name"])}
    rules = []
    for r in dv.list(EntitySet.MARKUP_RULES, select=["cspb_rulekey", "cspb_productfamily", "cspb_markuppct",
                                                      "cspb_fixedprice", "cspb_currencycode", "_cspb_pricelevel_value"]):
        rules.append(cp.MarkupRule(
            key=r.get("cspb_rulekey") or "",
            family=r.get("cspb_productfamily") or "",
            markup_pct=None if r.get("cspb_markuppct") is None else parse_decimal(r["cspb_markuppct"]),
            fixed_price=None if r.get("cspb_fixedprice") is None else parse_decimal(r["cspb_fixedprice"]),
            currency=(r.get("cspb_currencycode") or None),
            price_list=levels.get(r.get("_cspb_pricelevel_value")),
        ))
    return rules


def _dec(value: Any) -> Decimal | None:
    return None if value is None else parse_decimal(value)


def run_catalog_sync(dv: Any, price_sheet: Iterable[Mapping[str, Any]], *, currencies: Iterable[str] = ("USD",),
                     progress: runs.Progress = runs.no_progress, run_key: str | None = None) -> CatalogResult:
    """`price_sheet` rows use Partner Center's price sheet columns (see billing.catalog_pricing)."""
    run = runs.start(dv, "catalog", run_key)
    written: dict[str, int] = {}
    try:
        rows = [cp.parse_sheet_row(r) for r in price_sheet]
        run.bump("sheetRows", len(rows))
        progress(len(rows))
        group_id, units = _ensure_units(dv, _units_wanted(rows), written)

        # Products: one per productId:skuId.
        existing_products = {p["productnumber"]: p for p in dv.list(
            EntitySet.PRODUCTS, select=["productid", "productnumber", "name", "cspb_productfamily"],
            filter="cspb_productid ne null")}
        wanted_products: dict[str, dict[str, Any]] = {}
        for row in rows:
            wanted_products.setdefault(row.productnumber, {
                "productnumber": row.productnumber, "name": row.title[:100], "cspb_productid": row.product_id,
                "cspb_skuid": row.sku_id, "cspb_productfamily": row.family, "cspb_billingtype": "License",
            })
        product_writes = []
        for number, want in wanted_products.items():
            have = existing_products.get(number)
            if have is None:
                product_writes.append({**want, "quantitydecimal": 0,
                                       "defaultuomscheduleid@odata.bind": bind(EntitySet.UOM_SCHEDULES, group_id),
                                       "defaultuomid@odata.bind": bind(EntitySet.UOMS, units[cp.BASE_UNIT_NAME])})
            elif have.get("name") != want["name"] or have.get("cspb_productfamily") != want["cspb_productfamily"]:
                product_writes.append({"productnumber": number, "name": want["name"],
                                       "cspb_productfamily": want["cspb_productfamily"]})
        if product_writes:
            written["products"] = dv.bulk_upsert(EntitySet.PRODUCTS, "product", ["productnumber"], product_writes)
        if any(w.get("quantitydecimal") == 0 for w in product_writes):
            existing_products = {p["productnumber"]: p for p in dv.list(
                EntitySet.PRODUCTS, select=["productid", "productnumber"], filter="cspb_productid ne null")}

        # Price lists: one per requested currency.
        levels = {p["name"]: p["pricelevelid"] for p in dv.list(EntitySet.PRICE_LEVELS, select=["pricelevelid", "name"])}
        currency_ids = {c["isocurrencycode"].upper(): c["transactioncurrencyid"] for c in dv.list(
            EntitySet.TRANSACTION_CURRENCIES, select=["transactioncurrencyid", "isocurrencycode"])}
        currencies = [c.upper() for c in currencies]
        for currency in currencies:
            name = cp.price_list_name(currency)
            if name in levels:
                continue
            record: dict[str, Any] = {"name": name, "cspb_currencycode": currency}
            if currency in currency_ids:
                record["transactioncurrencyid@odata.bind"] = bind(EntitySet.TRANSACTION_CURRENCIES,
                                                                  currency_ids[currency])
            levels[name] = dv.upsert(EntitySet.PRICE_LEVELS, {"name": name}, record).id
            written["pricelevels"] = written.get("pricelevels", 0) + 1

        # Price list items: compare, then write the difference.
        rules = _load_rules(dv)
        wanted, sources = cp.desired_prices(rows, currencies, rules)
        pending = {c["cspb_changekey"]: _dec(c.get("cspb_newamount")) for c in dv.list(
            EntitySet.PRICE_CHANGES, select=["cspb_changekey", "cspb_newamount", "cspb_status"],
            filter=f"cspb_status eq {PRICE_CHANGE_PENDING}")}
        existing: dict[str, cp.ExistingPrice] = {}
        item_ids: dict[str, str] = {}
        for item in dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=["productpricelevelid", "cspb_pricekey", "amount",
                                                                     "cspb_cost"], filter="cspb_pricekey ne null"):
            key = item["cspb_pricekey"]
            item_ids[key] = item["productpricelevelid"]
            existing[key] = cp.ExistingPrice(key, _dec(item.get("amount")) or Decimal(0), _dec(item.get("cspb_cost")),
                                             pending.get(key))
        diff = cp.diff_prices(wanted, existing)
        run.bump("pricesUnchanged", diff.unchanged)
        creates = [{
            "cspb_pricekey": w.key, "amount": w.amount, "cspb_cost": w.cost, "cspb_reviewstatus": REVIEW_CURRENT,
            "pricelevelid@odata.bind": bind(EntitySet.PRICE_LEVELS, levels[w.price_list]),
            "productid@odata.bind": bind(EntitySet.PRODUCTS, existing_products[w.productnumber]["productid"]),
            "uomid@odata.bind": bind(EntitySet.UOMS, units[w.unit]),
        } for w in diff.create]
        if creates:
            written["productpricelevels"] = dv.bulk_upsert(EntitySet.PRODUCT_PRICE_LEVELS, "productpricelevel",
                                                           ["cspb_pricekey"], creates)
        if diff.cost_only:
            written["costUpdates"] = dv.bulk_upsert(
                EntitySet.PRODUCT_PRICE_LEVELS, "productpricelevel", ["cspb_pricekey"],
                [{"cspb_pricekey": w.key, "cspb_cost": w.cost} for w in diff.cost_only])
        if diff.review:
            written["pricechanges"] = dv.bulk_upsert(EntitySet.PRICE_CHANGES, "cspb_pricechange", ["cspb_changekey"], [{
                "cspb_changekey": want.key, "cspb_name": f"{want.productnumber} {want.unit} {want.currency}"[:100],
                "cspb_oldamount": have.amount, "cspb_newamount": want.amount, "cspb_status": PRICE_CHANGE_PENDING,
                "cspb_productpricelevel@odata.bind": bind(EntitySet.PRODUCT_PRICE_LEVELS, item_ids[have.key]),
            } for have, want in diff.review])
            written["reviewTags"] = dv.bulk_upsert(
                EntitySet.PRODUCT_PRICE_LEVELS, "productpricelevel", ["cspb_pricekey"],
                [{"cspb_pricekey": have.key, "cspb_reviewstatus": REVIEW_PENDING} for have, _ in diff.review])
        run.bump("pricesCreated", len(diff.create))
        run.bump("pricesForReview", len(diff.review))
        # Not an error: Microsoft has no prices in that currency, so its price list carries USD amounts.
        run.bump("currencyFallbacks", sum(1 for c, s in sources.items() if s != c))
        for name, count in written.items():
            run.bump(f"written.{name}", count)
    except RetriableError:
        runs.finish(run, failed=True)
        raise
    except IntegrationError as exc:
        run.error(str(exc))
        runs.finish(run, failed=True)
        return CatalogResult(run.as_dict(), written)
    runs.finish(run)
    return CatalogResult(run.as_dict(), written, sources)
