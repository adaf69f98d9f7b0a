"""The catalog's price lists as the billing run's preparation and the transitions read them: which
list holds each currency, the Dataverse currency rows, and list prices by the catalog sync's price key."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from billing.catalog_pricing import price_list_name
from dataverse.client import DataverseClient
from dataverse.odata import any_of, chunks
from dataverse.tables import EntitySet


def price_lists(dv: DataverseClient) -> dict[str, str]:
    """Currency -> id of the catalog's price list in it ("CSP EUR", written by the catalog sync)."""
    found = {}
    for row in dv.list(EntitySet.PRICE_LEVELS, select=["pricelevelid", "name", "cspb_currencycode"]):
        name = row.get("name") or ""
        code = (row.get("cspb_currencycode") or name.removeprefix(price_list_name("")).strip()).upper()
        if code and name == price_list_name(code):
            found[code] = row["pricelevelid"]
    return found


def currency_ids(dv: DataverseClient) -> dict[str, str]:
    """ISO currency code -> its transactioncurrency row id."""
    return {(r.get("isocurrencycode") or "").upper(): r["transactioncurrencyid"] for r in dv.list(
        EntitySet.TRANSACTION_CURRENCIES, select=["transactioncurrencyid", "isocurrencycode"])}


def load_prices(dv: DataverseClient, keys: Iterable[str]) -> dict[str, Decimal]:
    """Price list amounts by price key (catalog sync's productpricelevel.cspb_pricekey); a key with
    no item (or an item with no amount) is left out."""
    prices: dict[str, Decimal] = {}
    for chunk in chunks(sorted({k for k in keys if k})):
        for row in dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=["cspb_pricekey", "amount"],
                           filter=any_of("cspb_pricekey", chunk)):
            if row.get("amount") is not None:
                prices[row["cspb_pricekey"]] = Decimal(str(row["amount"]))
    return prices
