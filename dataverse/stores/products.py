"""Products and price list items as the portal's shop reads them: what a contract's price list offers
(portal-visible, active products at each unit), and a product's Microsoft catalog ids for a new order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores._rows import as_money, as_text
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


PRICE_COLUMNS = ["_productid_value", "_uomid_value", "amount"]
OFFER_PRODUCT_COLUMNS = ["productid", "name", "productnumber", "cspb_portalvisible"]
# Products a customer may buy in the portal.
PORTAL_OFFERS = "cspb_portalvisible eq true and statecode eq 0"


def offer_from_row(item: Mapping[str, Any], currency: str) -> Offer | None:
    """A price list item read with its product (`productid`) and unit (`uomid`) expanded; None for an
    item with no product."""
    if not item.get("_productid_value"):
        return None
    product, unit = item.get("productid") or {}, item.get("uomid") or {}
    return Offer(product_id=str(item["_productid_value"]), name=as_text(product.get("name")),
                 sku=as_text(product.get("productnumber")), unit_id=as_text(item.get("_uomid_value")),
                 unit_name=as_text(unit.get("name")), price=as_money(item.get("amount")), currency=currency)


def catalog_ids(dv: DataverseClient, product_id: str) -> CatalogIds:
    row = dv.get(EntitySet.PRODUCTS, product_id, select=["productid", "cspb_productid", "cspb_skuid",
                                                         "cspb_productfamily"])
    return CatalogIds(row.get("cspb_productid"), row.get("cspb_skuid"), row.get("cspb_productfamily"))


@dataclass(frozen=True)
class Item:
    """A product as an accounting item: its number (the SKU) and name."""

    number: str
    name: str


def numbered_items(dv: DataverseClient) -> list[Item]:
    """Every product that has a product number."""
    rows = dv.list(EntitySet.PRODUCTS, select=["productid", "name", "productnumber"])
    return [Item(as_text(r["productnumber"]), as_text(r.get("name")) or as_text(r["productnumber"]))
            for r in rows if r.get("productnumber")]
