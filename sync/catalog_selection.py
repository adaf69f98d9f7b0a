"""Which price sheet products enter Dynamics.

A 17-market partner that imports the whole sheet ends up with ~9,000 products and ~700,000 price
list items, most never sold. So, by default, the catalog sync brings in:
- every product a synced subscription references ("in use"), automatically, and
- what the tenant admin put on the allow-list (the catalog selection table): product ids, SKUs
  (productId:skuId), product families and publishers.
"Everything" is an explicit choice: a selection row of kind Everything (or `everything=True`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from billing.catalog_pricing import ProductInfo, product_number
from dataverse import catalog_repo
from dataverse.catalog_repo import SelectionEntry, SubscriptionUse
from dataverse.client import DataverseClient
from dataverse.tables import CatalogSelectionKind
from shared.errors import ValidationError

KIND_NAMES = {"product": CatalogSelectionKind.PRODUCT, "sku": CatalogSelectionKind.SKU,
              "family": CatalogSelectionKind.FAMILY, "publisher": CatalogSelectionKind.PUBLISHER,
              "everything": CatalogSelectionKind.EVERYTHING}


@dataclass(frozen=True)
class Selection:
    everything: bool = False
    product_ids: frozenset[str] = field(default_factory=frozenset)
    skus: frozenset[str] = field(default_factory=frozenset)  # productId:skuId, upper case
    families: frozenset[str] = field(default_factory=frozenset)  # case-folded
    publishers: frozenset[str] = field(default_factory=frozenset)
    in_use: frozenset[str] = field(default_factory=frozenset)  # productId:skuId of synced subscriptions

    def __call__(self, info: ProductInfo) -> bool:
        if self.everything:
            return True
        number = product_number(info.product_id, info.sku_id).upper()
        return (number in self.in_use or number in self.skus or info.product_id.upper() in self.product_ids
                or info.family.casefold() in self.families or info.publisher.casefold() in self.publishers)

    def describe(self) -> str:
        if self.everything:
            return "everything"
        return (f"in use ({len(self.in_use)} SKUs) + allow-list ({len(self.product_ids)} products, "
                f"{len(self.skus)} SKUs, {len(self.families)} families, {len(self.publishers)} publishers)")


def build(entries: Iterable[SelectionEntry], uses: Iterable[SubscriptionUse], *,
          everything: bool = False) -> Selection:
    by_kind: dict[CatalogSelectionKind, set[str]] = {k: set() for k in CatalogSelectionKind}
    for e in entries:
        by_kind[e.kind].add(e.value)
    return Selection(
        everything=everything or bool(by_kind[CatalogSelectionKind.EVERYTHING]),
        product_ids=frozenset(v.upper() for v in by_kind[CatalogSelectionKind.PRODUCT]),
        skus=frozenset(v.upper() for v in by_kind[CatalogSelectionKind.SKU]),
        families=frozenset(v.casefold() for v in by_kind[CatalogSelectionKind.FAMILY]),
        publishers=frozenset(v.casefold() for v in by_kind[CatalogSelectionKind.PUBLISHER]),
        in_use=frozenset(product_number(u.product_id, u.sku_id).upper() for u in uses if u.sku_id))


def load(dv: DataverseClient, uses: Iterable[SubscriptionUse], *, everything: bool = False) -> Selection:
    return build(catalog_repo.selection_entries(dv), uses, everything=everything)


def parse_entry(kind: str, value: str = "") -> SelectionEntry:
    """A CLI/admin entry: kind product|sku|family|publisher|everything and its value."""
    try:
        k = KIND_NAMES[kind.strip().lower()]
    except KeyError:
        raise ValidationError(f"unknown selection kind {kind!r}; choose from {', '.join(KIND_NAMES)}") from None
    value = (value or "").strip()
    if k == CatalogSelectionKind.EVERYTHING:
        return SelectionEntry(k, "")
    if not value:
        raise ValidationError(f"a {kind} selection needs a value")
    if k == CatalogSelectionKind.SKU and value.count(":") != 1:
        raise ValidationError(f"a SKU is productId:skuId (e.g. CFQ7TTC0LH18:0001), not {value!r}")
    return SelectionEntry(k, value)
