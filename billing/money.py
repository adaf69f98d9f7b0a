"""Money: Decimal only, rounded once per line to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from shared.errors import ValidationError

# ISO 4217 minor units for the currencies CSP new commerce prices in (plus a few common ones).
MINOR_UNITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "AUD": 2, "CAD": 2, "NZD": 2, "JPY": 0, "KRW": 0, "INR": 2,
    "BRL": 2, "CHF": 2, "DKK": 2, "NOK": 2, "SEK": 2, "TWD": 2, "ZAR": 2, "MXN": 2, "SGD": 2,
    "HKD": 2, "CNY": 2, "PLN": 2, "CZK": 2, "ARS": 2, "CLP": 0, "COP": 2, "PEN": 2, "ILS": 2,
    "AED": 2, "SAR": 2, "TRY": 2, "MYR": 2, "THB": 2, "IDR": 2, "PHP": 2, "VND": 0, "HUF": 2,
}

# The 16 currencies of new commerce license-based pricing, plus USD which is the fallback.
NCE_PRICING_CURRENCIES: tuple[str, ...] = (
    "AUD", "BRL", "CAD", "CHF", "DKK", "EUR", "GBP", "INR", "JPY", "KRW", "NOK", "NZD", "SEK", "TWD", "ZAR", "MXN",
)
ALL_PRICING_CURRENCIES: tuple[str, ...] = NCE_PRICING_CURRENCIES + ("USD",)


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency.upper()]
    except KeyError:
        raise ValidationError(f"unknown currency {currency!r}") from None


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(quantum(currency), rounding=rounding)


def round_places(amount: Decimal, places: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    """`amount` held to `places` decimals, with the same rounding as money (half-up): for amounts
    kept finer than a currency's minor unit (recon sums, Dataverse's four-place money columns)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def round_down(amount: Decimal, places: int = 2) -> Decimal:
    """Microsoft's ROUNDDOWN (towards zero), used in its recon Subtotal formulas."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def parse_decimal(text: str | int | float | Decimal, what: str = "amount") -> Decimal:
    """Parse a decimal from provider text; floats are converted through str so no binary noise leaks in."""
    if isinstance(text, Decimal):
        return text
    if isinstance(text, bool):
        raise ValidationError(f"bad {what}: {text!r}")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValidationError(f"bad {what}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValidationError(f"bad {what}: {text!r} is not finite")
    return value
