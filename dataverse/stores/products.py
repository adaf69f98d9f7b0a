"""Products and price list items as the portal's shop reads them: what a contract's price list offers
(portal-visible, active products at each unit), and a product's Microsoft catalog ids for a new order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet


@dataclass(frozen=True)
class Offer:
    """A portal-visible product on a contract's price list, at one unit (term + billing)."""

    product_id: str
    name: str
    sku: str
    unit_id: str
    unit_name: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class CatalogIds:
    """What Microsoft's catalog calls the product: product id, SKU id and family."""

    product_id: str | None
    sku_id: str | None
    family: str | None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _or_filter(column: str, ids: Iterable[str]) -> str | None:
    wanted = list(ids)
    if not wanted:
        return None
    return "(" + " or ".join(f"{column} eq {i}" for i in wanted) + ")"


def offers(dv: DataverseClient, price_level_id: str, currency: str) -> list[Offer]:
    """By name, then unit."""
    prices = list(dv.list(EntitySet.PRODUCT_PRICE_LEVELS, filter=f"_pricelevelid_value eq {price_level_id}",
                          select=["_productid_value", "_uomid_value", "amount"]))
    product_filter = _or_filter("productid", {p["_productid_value"] for p in prices if p.get("_productid_value")})
    if product_filter is None:
        return []
    products = {p["productid"]: p for p in dv.list(
        EntitySet.PRODUCTS, select=["productid", "name", "productnumber", "cspb_portalvisible"],
        filter=f"cspb_portalvisible eq true and statecode eq 0 and {product_filter}")}
    unit_filter = _or_filter("uomid", {p["_uomid_value"] for p in prices if p.get("_uomid_value")})
    units = {u["uomid"]: _text(u.get("name")) for u in dv.list(EntitySet.UOMS, select=["uomid", "name"],
                                                               filter=unit_filter)} if unit_filter else {}
    found = [Offer(product_id=p["_productid_value"], name=_text(products[p["_productid_value"]].get("name")),
                   sku=_text(products[p["_productid_value"]].get("productnumber")), unit_id=_text(p.get("_uomid_value")),
                   unit_name=units.get(p.get("_uomid_value"), ""), price=_money(p.get("amount")), currency=currency)
             for p in prices if p.get("_productid_value") in products]
    return sorted(found, key=lambda o: (o.name, o.unit_name))


def catalog_ids(dv: DataverseClient, product_id: str) -> CatalogIds:
    row = dv.get(EntitySet.PRODUCTS, product_id, select=["productid", "cspb_productid", "cspb_skuid",
                                                         "cspb_productfamily"])
    return CatalogIds(row.get("cspb_productid"), row.get("cspb_skuid"), row.get("cspb_productfamily"))
