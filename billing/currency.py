"""Exchange rates of the month. A price or cost in another currency is converted into the
contract's currency with a dated rate: the month being billed for a full license line, the month a
change took effect for a change-log line, the usage month for usage. The rate table is an input
(the exchange-rate table in Dataverse: from, to, month, rate, source), never fetched here.

Microsoft prices new-commerce licenses in 16 currencies plus USD (billing/money.py); a customer
whose currency is not one of them is priced from USD and converted (`price_currency`).

It is also the one home of the country -> currency -> market table: the currency a customer in a
country is billed in (`currency_for_country`) and the market whose price sheet holds a currency's
prices (`price_sheet_market`). Billing's contract assignment and the subscription and catalog syncs
all read it, so a customer is never billed in one currency and priced from another's list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing.catalog_pricing import FALLBACK_CURRENCY, pricing_currency
from billing.models import BillingContract, ExchangeRate, Subscription
from shared.errors import ValidationError


class MissingRateError(ValidationError):
    """No rate for a currency pair and month: fails the one contract that needs it."""


def price_currency(sub: Subscription, contract: BillingContract) -> str:
    """The currency a subscription's price is in: its own, else what Microsoft prices the contract's
    currency in. Never silently the contract's currency when Microsoft does not price in it."""
    return (sub.currency or pricing_currency(contract.currency)).upper()


# The currency Microsoft bills a CSP customer in, by the country of its billing address (Microsoft
# Learn, "Geographic availability and currency support for the commercial marketplace"). The euro area
# and the EU/EFTA countries without a CSP currency of their own are billed in EUR; a country not listed
# is billed in USD. Partner Center's customer resource carries only the country, so this is how a
# provider account whose currency the provider did not report gets one.
_EUR_COUNTRIES = (
    # euro area
    "AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT",
    "SI", "SK",
    # EU/EFTA without a CSP currency of their own, and the euro microstates
    "BG", "CZ", "HU", "PL", "RO", "IS", "LI", "AD", "MC", "VA",
)
COUNTRY_CURRENCY: dict[str, str] = {
    "US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD", "NZ": "NZD", "JP": "JPY", "KR": "KRW", "IN": "INR",
    "BR": "BRL", "CH": "CHF", "DK": "DKK", "FO": "DKK", "NO": "NOK", "SE": "SEK", "TW": "TWD", "ZA": "ZAR",
    "MX": "MXN",
    **{c: "EUR" for c in _EUR_COUNTRIES},
}

# The market whose price sheet holds each pricing currency's prices (Partner Center publishes one
# sheet per market; every euro market carries the same EUR prices, so one sheet serves them all).
MARKET_FOR_CURRENCY: dict[str, str] = {
    "USD": "US", "CAD": "CA", "GBP": "GB", "EUR": "DE", "AUD": "AU", "NZD": "NZ", "JPY": "JP", "KRW": "KR",
    "INR": "IN", "BRL": "BR", "CHF": "CH", "DKK": "DK", "NOK": "NO", "SEK": "SE", "TWD": "TW", "ZAR": "ZA",
    "MXN": "MX",
}


def currency_for_country(country: str | None) -> str:
    """The currency a customer in `country` (ISO 3166 alpha-2) is billed in; USD when unknown."""
    return COUNTRY_CURRENCY.get((country or "").strip().upper(), FALLBACK_CURRENCY)


def price_sheet_market(currency: str) -> str:
    """The market whose price sheet prices a price list in `currency` (the US sheet for a currency
    Microsoft does not price in: it is converted from USD)."""
    return MARKET_FOR_CURRENCY[pricing_currency(currency)]


def price_sheet_market_for_country(country: str | None) -> str:
    return price_sheet_market(currency_for_country(country))


ONE = Decimal(1)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


ANY_MONTH = "*"


class RateTable:
    """Rates keyed by month; a rate stored with month "*" (e.g. today's rate from Dataverse's
    transactioncurrency table) is used for any month that has no rate of its own."""

    def __init__(self, rates: Iterable[ExchangeRate] = ()) -> None:
        self._rates: dict[tuple[str, str, str], Decimal] = {}
        for r in rates:
            if r.rate <= 0:
                raise ValidationError(f"exchange rate {r.from_currency}->{r.to_currency} {r.month} must be > 0")
            self._rates[(r.month, r.from_currency.upper(), r.to_currency.upper())] = r.rate

    def rate(self, from_currency: str, to_currency: str, month: str) -> Decimal:
        src, dst = from_currency.upper(), to_currency.upper()
        if not src or src == dst:
            return ONE
        for when in (month, ANY_MONTH):
            if (when, src, dst) in self._rates:
                return self._rates[(when, src, dst)]
            if (when, dst, src) in self._rates:
                # Only the reverse quote is stored; invert it at full precision, rounding happens per line.
                return ONE / self._rates[(when, dst, src)]
        raise MissingRateError(f"no exchange rate {src}->{dst} for {month}: add it to the exchange-rate table "
                               f"(from {src}, to {dst}, month {month})")

    def convert(self, amount: Decimal, from_currency: str, to_currency: str, month: str) -> Decimal:
        return amount * self.rate(from_currency, to_currency, month)

    def conversion(self, from_currency: str, to_currency: str, month: str) -> tuple[Decimal, tuple[str, Decimal, str] | None]:
        """(rate, what the line records about it: None when no conversion happened)."""
        src, dst = (from_currency or to_currency).upper(), to_currency.upper()
        if src == dst:
            return ONE, None
        rate = self.rate(src, dst, month)
        return rate, (src, rate, month)

