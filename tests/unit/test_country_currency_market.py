"""One country -> currency -> market table (billing/currency.py): the billing run's contract
assignment and the subscription and catalog syncs must agree, for every country, on the currency a
customer is billed in, the price list its seats are priced from, and the market sheet that feeds it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing import catalog_pricing as cp
from billing.contract_assignment import MappedAccount, account_currency, license_currency, plan_assignments
from billing.currency import COUNTRY_CURRENCY, MARKET_FOR_CURRENCY, currency_for_country, price_sheet_market
from billing.models import Subscription
from billing.money import ALL_PRICING_CURRENCIES, MINOR_UNITS
from dataverse.catalog_repo import PriceItem
from dataverse.stores.provider_accounts import SyncAccount
from dataverse.stores.subscriptions import WantedSubscription
from sync.catalog_sync import markets_for
from sync.subscription_sync import AccountRef, catalog_price

# Were priced from the USD list by the subscription sync while billing assigned them EUR.
ONCE_DISAGREED = ("CY", "EE", "GR", "HR", "LT", "LV", "MT", "SI", "SK")
UNLISTED = ("SG", "AR", "", "zz")
COUNTRIES = sorted(COUNTRY_CURRENCY) + [c.lower() for c in ONCE_DISAGREED] + list(UNLISTED)

PRODUCT, SKU = "CFQ7TTC0LH18", "0001"
UNIT = cp.unit_name("P1Y", "monthly")


def _prices() -> dict[str, Decimal]:
    """One price per pricing currency, each different, so the amount says which list it came from."""
    return {cp.price_key(cp.price_list_name(code), cp.product_number(PRODUCT, SKU), UNIT): Decimal(10 + i)
            for i, code in enumerate(ALL_PRICING_CURRENCIES)}


def _sync_currency(country: str) -> str:
    account = SyncAccount("pa-1", 1, "tenant-1", currency=None, country=country)
    return str(AccountRef.of(account).message()["currency"])


@pytest.mark.parametrize("country", COUNTRIES)
def test_sync_and_billing_agree_on_the_customers_currency_price_list_and_market(country: str) -> None:
    account = MappedAccount("pa-1", "acct-1", name="Contoso", country=country)
    billed_in = account_currency(account)
    assert _sync_currency(country) == billed_in == currency_for_country(country)

    prices = _prices()
    want = WantedSubscription(
        provider_subscription_id="sub-1", provider=1, provider_account_id="pa-1", product_id=PRODUCT, sku_id=SKU,
        availability_id=None, quantity=3, status=1, term="P1Y", billing_frequency="P1M", start_date=None,
        commitment_end=None, auto_renew=None, unit_cost=None, currency=None, order_id=None)
    sync_amount, _cost, sync_list = catalog_price({k: PriceItem(v, v) for k, v in prices.items()}, want, billed_in)

    sub = Subscription("sub-1", 3, Decimal(0), provider_account_id="pa-1", provider_product_id=PRODUCT, sku_id=SKU,
                       term="P1Y", billing_frequency="P1M")
    plan = plan_assignments([account], [sub], [], prices, ALL_PRICING_CURRENCIES, on_date=date(2026, 11, 2))
    assigned = plan.assignments[0].subscription
    assert (assigned.currency, assigned.unit_price) == (sync_list, sync_amount)
    assert license_currency(account, ALL_PRICING_CURRENCIES) == sync_list == cp.pricing_currency(billed_in)

    # The catalog sync reads that price list from the market sheet the table names for it.
    assert list(markets_for([billed_in])) == [price_sheet_market(billed_in)]
    assert currency_for_country(price_sheet_market(billed_in)) == cp.pricing_currency(billed_in)


@pytest.mark.parametrize("country", ONCE_DISAGREED)
def test_euro_area_customers_price_from_the_eur_list(country: str) -> None:
    assert _sync_currency(country) == "EUR"
    assert price_sheet_market(currency_for_country(country)) == "DE"


def test_the_table_is_closed() -> None:
    # Every currency the table bills in has minor units; every pricing currency has a market sheet,
    # and that market's customers are billed in it.
    assert set(COUNTRY_CURRENCY.values()) <= set(MINOR_UNITS)
    assert set(MARKET_FOR_CURRENCY) == set(ALL_PRICING_CURRENCIES)
    for currency, market in MARKET_FOR_CURRENCY.items():
        assert COUNTRY_CURRENCY[market] == currency
    assert currency_for_country(None) == "USD" and price_sheet_market("XOF") == "US"
