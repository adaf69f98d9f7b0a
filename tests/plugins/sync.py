"""pytest fixtures for the sync area (sandboxes started on 127.0.0.1, port 0).

- `price_sheet_rows`: a small license price sheet (USD + EUR) built from the Partner Center
  sandbox catalog, in the price sheet's column names.
"""

from __future__ import annotations

import pytest


def sheet_rows(skus: int = 3, currencies: tuple[str, ...] = ("USD", "EUR")) -> list[dict[str, str]]:
    from sandbox.partnercenter import catalog

    rows = []
    for sku in catalog.LICENSE_SKUS[:skus]:
        for currency in currencies:
            for term, billing, _factor, _months in catalog.TERMS:
                rows.append({"ProductId": sku[0], "SkuId": sku[1], "ProductTitle": sku[3], "SkuTitle": sku[4],
                             "TermDuration": term, "BillingPlan": billing.title(), "Currency": currency,
                             "UnitPrice": str(catalog.unit_price(sku[6], term, billing, currency))})
    return rows


@pytest.fixture
def price_sheet_rows() -> list[dict[str, str]]:
    return sheet_rows()
