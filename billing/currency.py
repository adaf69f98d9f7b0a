"""Exchange rates of the month. A price or cost in another currency is converted into the
contract's currency with a dated rate: the month being billed for a full license line, the month a
change took effect for a change-log line, the usage month for usage. The rate table is an input
(the cspb_exchangerate table in Dataverse: from, to, month, rate, source), never fetched here.

Microsoft prices new-commerce licenses in 16 currencies plus USD (billing/money.py); a customer
whose currency is not one of them is priced from USD and converted (`price_currency`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing.catalog_pricing import pricing_currency
from billing.models import BillingContract, ExchangeRate, Subscription
from shared.errors import ValidationError


class MissingRateError(ValidationError):
    """No rate for a currency pair and month: fails the one contract that needs it."""


def price_currency(sub: Subscription, contract: BillingContract) -> str:
    """The currency a subscription's price is in: its own, else what Microsoft prices the contract's
    currency in. Never silently the contract's currency when Microsoft does not price in it."""
    return (sub.currency or pricing_currency(contract.currency)).upper()


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



# The market whose price sheet is in each pricing currency (Partner Center prices per market).
# One home for sync (which sheet to read) and billing; the country -> currency table joins it here (issue 16).
MARKET_FOR_CURRENCY: dict[str, str] = {
    "USD": "US", "CAD": "CA", "GBP": "GB", "EUR": "DE", "AUD": "AU", "NZD": "NZ", "JPY": "JP", "KRW": "KR",
    "INR": "IN", "BRL": "BR", "CHF": "CH", "DKK": "DK", "NOK": "NO", "SEK": "SE", "TWD": "TW", "ZAR": "ZA",
    "MXN": "MX",
}
