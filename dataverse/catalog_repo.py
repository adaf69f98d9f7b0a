"""Typed reads and writes of the catalog tables (price list items, price changes, the catalog
selection, and what the catalog sync needs of subscriptions), so sync/ never spells a column.

Price list item writes bind their product by its alternate key (`/products(productnumber='...')`,
which the Web API accepts in `@odata.bind`), so a sync never re-reads the products it just created.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from billing import catalog_pricing as cp
from billing.money import parse_decimal
from dataverse import odata
from dataverse.client import DataverseClient, UpsertResult
from dataverse.stores._rows import bind
from dataverse.tables import CatalogSelectionKind, EntitySet, PriceReviewStatus, SubscriptionStatus
from shared.dates import parse_date

ITEM_COLUMNS = ["cspb_pricekey", "amount", "cspb_cost", "cspb_pricetiers"]
CHANGE_COLUMNS = ["cspb_changekey", "cspb_status", "cspb_newamount", "cspb_newcost", "cspb_scheduled",
                  "cspb_effectivedate"]
# Dataverse serves at most 5,000 rows a page: the fewest requests for a large price list.
PAGE = 5000
WRITE_CHUNK = 1000
# Subscriptions whose margin a price change moves (cancelled and expired ones bill nothing more).
LIVE_STATUSES = frozenset({int(SubscriptionStatus.ACTIVE), int(SubscriptionStatus.SUSPENDED),
                           int(SubscriptionStatus.PENDING), int(SubscriptionStatus.TRIAL)})


def _dec(value: Any) -> Decimal | None:
    return None if value is None else parse_decimal(value)


def key_bind(entity_set: str, key: dict[str, Any]) -> str:
    return "/" + odata.key_segment(entity_set, key, encode=False)


def product_bind(productnumber: str) -> str:
    return key_bind(EntitySet.PRODUCTS, {"productnumber": productnumber})


def item_bind(price_key: str) -> str:
    return key_bind(EntitySet.PRODUCT_PRICE_LEVELS, {"cspb_pricekey": price_key})


# ---------------------------------------------------------------- price list items

def existing_item_pages(dv: DataverseClient, price_level_id: str) -> Iterator[dict[str, cp.ExistingPrice]]:
    """The items of one price list, by price key, a page at a time (a 50,000-item list is never
    held whole: the caller compares each page and lets it go)."""
    page: dict[str, cp.ExistingPrice] = {}
    for item in dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=ITEM_COLUMNS, page_size=PAGE,
                        filter=f"_pricelevelid_value eq {price_level_id} and cspb_pricekey ne null"):
        key = item["cspb_pricekey"]
        page[key] = cp.ExistingPrice(key, _dec(item.get("amount")) or Decimal(0), _dec(item.get("cspb_cost")),
                                     tiers_text=item.get("cspb_pricetiers") or None)
        if len(page) >= PAGE:
            yield page
            page = {}
    if page:
        yield page


def existing_items(dv: DataverseClient, price_level_id: str) -> dict[str, cp.ExistingPrice]:
    """The items of one price list, by price key."""
    out: dict[str, cp.ExistingPrice] = {}
    for page in existing_item_pages(dv, price_level_id):
        out.update(page)
    return out


def item_create(want: cp.DesiredPrice, price_level_id: str, unit_id: str) -> dict[str, Any]:
    return {"cspb_pricekey": want.key, "amount": want.amount, "cspb_cost": want.cost,
            "cspb_pricetiers": want.tiers_text, "cspb_reviewstatus": int(PriceReviewStatus.CURRENT),
            "pricelevelid@odata.bind": f"/{EntitySet.PRICE_LEVELS}({price_level_id})",
            "productid@odata.bind": product_bind(want.productnumber),
            "uomid@odata.bind": f"/{EntitySet.UOMS}({unit_id})"}


def item_cost(want: cp.DesiredPrice) -> dict[str, Any]:
    return {"cspb_pricekey": want.key, "cspb_cost": want.cost, "cspb_pricetiers": want.tiers_text}


def item_applied(want: cp.DesiredPrice) -> dict[str, Any]:
    return {"cspb_pricekey": want.key, "amount": want.amount, "cspb_cost": want.cost,
            "cspb_pricetiers": want.tiers_text, "cspb_reviewstatus": int(PriceReviewStatus.CURRENT)}


def item_for_review(key: str) -> dict[str, Any]:
    return {"cspb_pricekey": key, "cspb_reviewstatus": int(PriceReviewStatus.PENDING_REVIEW)}


def write_products(dv: DataverseClient, records: Iterable[dict[str, Any]]) -> int:
    return _write(dv, EntitySet.PRODUCTS, "product", ["productnumber"], records)


def write_items(dv: DataverseClient, records: Iterable[dict[str, Any]]) -> int:
    return _write(dv, EntitySet.PRODUCT_PRICE_LEVELS, "productpricelevel", ["cspb_pricekey"], records)


def _write(dv: DataverseClient, entity_set: str, logical: str, key: list[str], records: Iterable[dict[str, Any]]) -> int:
    """Bulk upsert in chunks, so a 50,000-item price list never sits in memory as request bodies."""
    written, chunk = 0, []
    for record in records:
        chunk.append(record)
        if len(chunk) >= WRITE_CHUNK * 4:
            written += dv.bulk_upsert(entity_set, logical, key, chunk, batch_size=WRITE_CHUNK)
            chunk = []
    if chunk:
        written += dv.bulk_upsert(entity_set, logical, key, chunk, batch_size=WRITE_CHUNK)
    return written


# ---------------------------------------------------------------- price changes

def price_changes(dv: DataverseClient, price_list: str) -> dict[str, cp.ExistingChange]:
    """The price changes of one price list's items (any status), by change key."""
    out: dict[str, cp.ExistingChange] = {}
    for c in dv.list(EntitySet.PRICE_CHANGES, select=CHANGE_COLUMNS, page_size=PAGE,
                     filter=f"startswith(cspb_pricekey,{odata.literal(price_list + '|')})"):
        effective = c.get("cspb_effectivedate")
        out[c["cspb_changekey"]] = cp.ExistingChange(
            c["cspb_changekey"], int(c.get("cspb_status") or cp.CHANGE_PENDING), _dec(c.get("cspb_newamount")),
            _dec(c.get("cspb_newcost")), bool(c.get("cspb_scheduled")),
            parse_date(effective))
    return out


@dataclass(frozen=True)
class Impact:
    subscriptions: int
    seats: int
    margin: Decimal


def price_change(key: str, name: str, currency: str, item_key: str, *, old_amount: Decimal | None,
                 new_amount: Decimal, old_cost: Decimal | None, new_cost: Decimal, effective: date | None,
                 scheduled: bool, impact: Impact, item_exists: bool) -> dict[str, Any]:
    """`currency` is the amounts' currency (USD for a price list Microsoft does not price in)."""
    record: dict[str, Any] = {
        "cspb_changekey": key, "cspb_name": name[:200], "cspb_pricekey": item_key, "cspb_currencycode": currency,
        "cspb_oldamount": old_amount, "cspb_newamount": new_amount, "cspb_oldcost": old_cost,
        "cspb_newcost": new_cost, "cspb_effectivedate": effective.isoformat() if effective else None,
        "cspb_scheduled": scheduled, "cspb_status": cp.CHANGE_PENDING,
        "cspb_subscriptioncount": impact.subscriptions, "cspb_seats": impact.seats,
        "cspb_marginimpact": impact.margin,
    }
    if item_exists:
        record["cspb_productpricelevel@odata.bind"] = item_bind(item_key)
    return record


def change_applied(key: str) -> dict[str, Any]:
    return {"cspb_changekey": key, "cspb_status": cp.CHANGE_APPLIED}


def write_changes(dv: DataverseClient, records: Iterable[dict[str, Any]]) -> int:
    return _write(dv, EntitySet.PRICE_CHANGES, "cspb_pricechange", ["cspb_changekey"], records)


def list_price_changes(dv: DataverseClient, *, status: int | None = None) -> Iterator[dict[str, Any]]:
    """Price changes as plain dicts (name, key, currency, amounts, costs, date, impact, status)."""
    for c in dv.list(EntitySet.PRICE_CHANGES, filter=None if status is None else f"cspb_status eq {status}",
                     select=["cspb_name", "cspb_changekey", "cspb_pricekey", "cspb_currencycode", "cspb_oldamount",
                             "cspb_newamount", "cspb_oldcost", "cspb_newcost", "cspb_effectivedate",
                             "cspb_scheduled", "cspb_status", "cspb_subscriptioncount", "cspb_seats",
                             "cspb_marginimpact"]):
        yield {"name": c.get("cspb_name"), "key": c.get("cspb_changekey"), "item": c.get("cspb_pricekey"),
               "currency": c.get("cspb_currencycode"), "old_amount": _dec(c.get("cspb_oldamount")),
               "new_amount": _dec(c.get("cspb_newamount")), "old_cost": _dec(c.get("cspb_oldcost")),
               "new_cost": _dec(c.get("cspb_newcost")), "effective": c.get("cspb_effectivedate"),
               "scheduled": bool(c.get("cspb_scheduled")), "status": c.get("cspb_status"),
               "subscriptions": c.get("cspb_subscriptioncount") or 0, "seats": c.get("cspb_seats") or 0,
               "margin_impact": _dec(c.get("cspb_marginimpact"))}


# ---------------------------------------------------------------- catalog selection

@dataclass(frozen=True)
class SelectionEntry:
    kind: CatalogSelectionKind
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind.name.lower()}|{self.value.strip().lower()}"


def selection_entries(dv: DataverseClient) -> list[SelectionEntry]:
    out = []
    for r in dv.list(EntitySet.CATALOG_SELECTIONS, select=["cspb_kind", "cspb_value", "statecode"]):
        if r.get("statecode") not in (None, 0):
            continue  # deactivated by the admin
        try:
            kind = CatalogSelectionKind(int(r.get("cspb_kind") or 0))
        except ValueError:
            continue
        out.append(SelectionEntry(kind, str(r.get("cspb_value") or "").strip()))
    return out


def add_selection(dv: DataverseClient, entry: SelectionEntry) -> str:
    label = entry.kind.name.title() if entry.kind != CatalogSelectionKind.EVERYTHING else "Everything"
    result: UpsertResult = dv.upsert(EntitySet.CATALOG_SELECTIONS, {"cspb_selectionkey": entry.key}, {
        "cspb_name": f"{label}: {entry.value}"[:200] if entry.value else label, "cspb_kind": int(entry.kind),
        "cspb_value": entry.value or None})
    return result.id


def remove_selection(dv: DataverseClient, entry: SelectionEntry) -> bool:
    found = dv.get_by_key(EntitySet.CATALOG_SELECTIONS, {"cspb_selectionkey": entry.key},
                          select=["cspb_catalogselectionid"])
    if found is None:
        return False
    dv.delete(EntitySet.CATALOG_SELECTIONS, found["cspb_catalogselectionid"])
    return True


# ---------------------------------------------------------------- subscriptions, as the catalog sees them

@dataclass(frozen=True)
class SubscriptionUse:
    product_id: str
    sku_id: str
    price_key: str | None  # the price list item it is priced from
    quantity: int
    live: bool
    unit_price: Decimal | None
    account_id: str  # provider account
    subscription_id: str = ""  # the provider's subscription id (the row's alternate key)
    unit_cost: Decimal | None = None
    currency: str = ""  # its own, else its provider account's, else USD
    item_key: tuple[str, str] | None = None  # (productnumber, unit): the item in any price list


def subscription_uses(dv: DataverseClient) -> list[SubscriptionUse]:
    account_currency = {a["cspb_provideraccountid"]: str(a.get("cspb_currencycode") or "").upper() for a in dv.list(
        EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_currencycode"])}
    out = []
    for s in dv.list(EntitySet.SUBSCRIPTIONS, page_size=PAGE, select=[
            "cspb_productid", "cspb_skuid", "cspb_term", "cspb_billingfrequency", "cspb_currencycode",
            "cspb_quantity", "cspb_status", "cspb_unitprice", "cspb_unitcost", "cspb_providersubscriptionid",
            "_cspb_provideraccount_value"]):
        if not s.get("cspb_productid"):
            continue
        account = str(s.get("_cspb_provideraccount_value") or "")
        currency = str(s.get("cspb_currencycode") or "").upper() or account_currency.get(account) or "USD"
        key = cp.subscription_price_key(currency, str(s["cspb_productid"]), str(s.get("cspb_skuid") or ""),
                                        str(s.get("cspb_term") or ""), str(s.get("cspb_billingfrequency") or ""))
        out.append(SubscriptionUse(
            str(s["cspb_productid"]), str(s.get("cspb_skuid") or ""), key, int(s.get("cspb_quantity") or 0),
            s.get("cspb_status") in LIVE_STATUSES, _dec(s.get("cspb_unitprice")), account,
            str(s.get("cspb_providersubscriptionid") or ""), _dec(s.get("cspb_unitcost")), currency,
            tuple(key.split("|", 2)[1:]) if key else None))  # type: ignore[arg-type]
    return out


def write_subscription_prices(dv: DataverseClient, prices: Iterable[tuple[str, Decimal, Decimal | None, str]]) -> int:
    """(provider subscription id, unit price, unit cost or None to leave it, the price list's currency)
    for subscriptions that were synced before their product was in the catalog."""
    records = []
    for sub_id, price, cost, currency in prices:
        record: dict[str, Any] = {"cspb_providersubscriptionid": sub_id, "cspb_unitprice": price,
                                  "cspb_currencycode": currency}
        if cost is not None:
            record["cspb_unitcost"] = cost
        records.append(record)
    return _write(dv, EntitySet.SUBSCRIPTIONS, "cspb_subscription", ["cspb_providersubscriptionid"], records)


def provider_account_names(dv: DataverseClient) -> dict[str, str]:
    """Provider account id -> the customer's name (the CRM account's when mapped)."""
    accounts = {a["accountid"]: a.get("name") or "" for a in dv.list(EntitySet.ACCOUNTS, select=["accountid", "name"])}
    out = {}
    for p in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_name", "_cspb_account_value"]):
        out[p["cspb_provideraccountid"]] = accounts.get(p.get("_cspb_account_value") or "") or p.get("cspb_name") or ""
    return out


# ---------------------------------------------------------------- units, price lists, currencies

def ensure_units(dv: DataverseClient, wanted: Mapping[str, int], written: dict[str, int]) -> tuple[str, dict[str, str]]:
    """The catalog's unit group and its units by name (created where missing: `wanted` is name ->
    months), counting what it creates in `written`."""
    group = next(iter(dv.list(EntitySet.UOM_SCHEDULES, select=["uomscheduleid", "name"],
                              filter=f"name eq {odata.literal(cp.UNIT_GROUP_NAME)}")), None)
    if group is None:
        group_id = dv.create(EntitySet.UOM_SCHEDULES, {"name": cp.UNIT_GROUP_NAME, "baseuomname": cp.BASE_UNIT_NAME})
        written["uomschedules"] = written.get("uomschedules", 0) + 1
    else:
        group_id = str(group["uomscheduleid"])
    units = {str(u["name"]): str(u["uomid"]) for u in dv.list(
        EntitySet.UOMS, select=["uomid", "name", "_uomscheduleid_value"], filter=f"_uomscheduleid_value eq {group_id}")}
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


def price_list_ids(dv: DataverseClient) -> dict[str, str]:
    """Price list name -> id."""
    return {str(p["name"]): str(p["pricelevelid"]) for p in dv.list(EntitySet.PRICE_LEVELS,
                                                                    select=["pricelevelid", "name"])}


def currency_ids(dv: DataverseClient) -> dict[str, str]:
    """ISO currency code (upper case) -> the org's transaction currency id."""
    return {str(c["isocurrencycode"]).upper(): str(c["transactioncurrencyid"]) for c in dv.list(
        EntitySet.TRANSACTION_CURRENCIES, select=["transactioncurrencyid", "isocurrencycode"])}


# Products and price list items: the two tables whose newest write dates the catalog.
_NEWEST = ((EntitySet.PRODUCTS, "productid"), (EntitySet.PRODUCT_PRICE_LEVELS, "productpricelevelid"))


def catalog_version(dv: DataverseClient) -> str:
    """The newest write to the catalog and to the price list: "rowversion|rowversion|id|id". The row
    versions order catalog states; the ids tell two environments with equal counters apart."""
    versions, ids = [], []
    for entity_set, id_column in _NEWEST:
        rows = list(dv.list(entity_set, select=["versionnumber", id_column], orderby="versionnumber desc", top=1,
                            page_size=1))
        versions.append(str(rows[0].get("versionnumber") or 0) if rows else "0")
        ids.append(str(rows[0].get(id_column) or "") if rows else "")
    return "|".join(versions + ids)


# ---------------------------------------------------------------- price lists, markup rules, products

def ensure_price_list(dv: DataverseClient, name: str, currency: str, currency_id: str | None) -> str:
    """Create (or find, by name) the price list for `currency`; its id."""
    record: dict[str, Any] = {"name": name, "cspb_currencycode": currency}
    if currency_id:
        record["transactioncurrencyid@odata.bind"] = bind(EntitySet.TRANSACTION_CURRENCIES, currency_id)
    return str(dv.upsert(EntitySet.PRICE_LEVELS, {"name": name}, record).id)


def set_markup_rule(dv: DataverseClient, key: str, name: str, markup_pct: int, *, family: str = "") -> None:
    """The partner's markup for a product family ("" = every family), upserted on its rule key: what an admin
    enters before the first catalog sync."""
    dv.upsert(EntitySet.MARKUP_RULES, {"cspb_rulekey": key}, {"cspb_name": name, "cspb_rulekey": key,
                                                              "cspb_productfamily": family, "cspb_markuppct": markup_pct})


def markup_rules(dv: DataverseClient, level_names: Mapping[str, str]) -> list[cp.MarkupRule]:
    """The partner's markup rules; `level_names`: price list id -> name, for the rules scoped to one."""
    rules = []
    for r in dv.list(EntitySet.MARKUP_RULES, select=["cspb_rulekey", "cspb_productfamily", "cspb_markuppct",
                                                      "cspb_fixedprice", "cspb_currencycode", "_cspb_pricelevel_value"]):
        rules.append(cp.MarkupRule(
            key=r.get("cspb_rulekey") or "",
            family=r.get("cspb_productfamily") or "",
            markup_pct=None if r.get("cspb_markuppct") is None else parse_decimal(r["cspb_markuppct"]),
            fixed_price=None if r.get("cspb_fixedprice") is None else parse_decimal(r["cspb_fixedprice"]),
            currency=(r.get("cspb_currencycode") or None),
            price_list=level_names.get(r.get("_cspb_pricelevel_value") or ""),
        ))
    return rules


def catalog_products(dv: DataverseClient) -> dict[str, tuple[str, str]]:
    """productnumber -> (name, family) of the products the catalog sync made (they carry a Microsoft product id)."""
    return {p["productnumber"]: (p.get("name") or "", p.get("cspb_productfamily") or "") for p in dv.list(
        EntitySet.PRODUCTS, select=["productnumber", "name", "cspb_productfamily"], filter="cspb_productid ne null",
        page_size=PAGE)}


def product_create(number: str, name: str, family: str, product_id: str, sku_id: str, unit_group_id: str,
                   base_unit_id: str) -> dict[str, Any]:
    return {"productnumber": number, "name": name, "cspb_productfamily": family, "cspb_productid": product_id,
            "cspb_skuid": sku_id, "cspb_billingtype": "License", "quantitydecimal": 0,
            "defaultuomscheduleid@odata.bind": bind(EntitySet.UOM_SCHEDULES, unit_group_id),
            "defaultuomid@odata.bind": bind(EntitySet.UOMS, base_unit_id)}


def product_update(number: str, name: str, family: str) -> dict[str, Any]:
    return {"productnumber": number, "name": name, "cspb_productfamily": family}


# ---------------------------------------------------------------- what the subscription sync prices from

class PriceItem(NamedTuple):
    """A catalog price list item as the subscription sync prices from it."""

    amount: Decimal | None
    cost: Decimal | None
    tiers: str | None = None  # volume tiers as stored (billing.catalog_pricing.parse_tiers reads them)


_PRICE_ITEM_COLUMNS = ["cspb_pricekey", "amount", "cspb_cost", "cspb_pricetiers"]


def _price_item(row: Mapping[str, Any]) -> PriceItem:
    return PriceItem(_dec(row.get("amount")), _dec(row.get("cspb_cost")), row.get("cspb_pricetiers"))


def price_items(dv: DataverseClient) -> dict[str, PriceItem]:
    """Catalog price list items by key (price list|product|unit)."""
    return {r["cspb_pricekey"]: _price_item(r) for r in dv.list(
        EntitySet.PRODUCT_PRICE_LEVELS, select=_PRICE_ITEM_COLUMNS, filter="cspb_pricekey ne null")}


def price_item(dv: DataverseClient, key: str) -> PriceItem | None:
    """One item by its price key, None when there is none."""
    rows = list(dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=_PRICE_ITEM_COLUMNS,
                        filter=f"cspb_pricekey eq {odata.literal(key)}"))
    return _price_item(rows[0]) if rows else None


def product_ids(dv: DataverseClient) -> dict[str, str]:
    """productnumber -> product id of the catalog's products (they carry a Microsoft product id)."""
    return {p["productnumber"]: p["productid"] for p in dv.list(
        EntitySet.PRODUCTS, select=["productid", "productnumber"], filter="cspb_productid ne null")}
