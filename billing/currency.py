"""Exchange rates of the month. A price or cost in another currency is converted into the
contract's currency with the rate of the month being billed; the rate table is an input (the
ExchangeRates table), never fetched here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing.models import ExchangeRate
from shared.errors import ValidationError

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
        raise ValidationError(f"no exchange rate {src}->{dst} for {month}")

    def convert(self, amount: Decimal, from_currency: str, to_currency: str, month: str) -> Decimal:
        return amount * self.rate(from_currency, to_currency, month)
