"""The sandbox's new commerce catalog: products, SKUs, availabilities, markets and license prices.

Prices are derived, not stored: a USD monthly list price per SKU, scaled by term/billing plan and
converted with the fixed sandbox exchange rates, so the price sheet, carts, subscriptions and
invoice recon lines all agree to the cent without sharing a database.

Price rules (mirroring Microsoft's new commerce list):
- P1Y billed annually is the reference; P1Y billed monthly costs 5% more; P1M costs 20% more;
  P3Y has the P1Y price (and is only offered for some SKUs).
- Price sheet UnitPrice is the partner price for one billing period (month or year, or the full
  three years for P3Y billed triennially); "ERP Price" is the estimated retail price (+ 25%).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sandbox.partnercenter.usage_file import EXCHANGE_RATES

# The 16 currencies of new commerce license pricing plus USD (copied from billing/money.py:
# the sandbox must not import app code).
ALL_PRICING_CURRENCIES: tuple[str, ...] = (
    "AUD", "BRL", "CAD", "CHF", "DKK", "EUR", "GBP", "INR", "JPY", "KRW", "NOK", "NZD", "SEK", "TWD", "ZAR", "MXN",
    "USD",
)
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW"})

# market (ISO country) -> (currency, culture, sample city)
MARKETS: dict[str, tuple[str, str, str]] = {
    "US": ("USD", "en-US", "Redmond"), "CA": ("CAD", "en-CA", "Toronto"), "GB": ("GBP", "en-GB", "London"),
    "DE": ("EUR", "de-DE", "Berlin"), "FR": ("EUR", "fr-FR", "Paris"), "NL": ("EUR", "nl-NL", "Utrecht"),
    "ES": ("EUR", "es-ES", "Madrid"), "AU": ("AUD", "en-AU", "Sydney"), "NZ": ("NZD", "en-NZ", "Auckland"),
    "JP": ("JPY", "ja-JP", "Tokyo"), "KR": ("KRW", "ko-KR", "Seoul"), "IN": ("INR", "en-IN", "Bengaluru"),
    "BR": ("BRL", "pt-BR", "Sao Paulo"), "CH": ("CHF", "de-CH", "Zurich"), "DK": ("DKK", "da-DK", "Aarhus"),
    "NO": ("NOK", "nb-NO", "Oslo"), "SE": ("SEK", "sv-SE", "Stockholm"), "TW": ("TWD", "zh-TW", "Taipei"),
    "ZA": ("ZAR", "en-ZA", "Cape Town"), "MX": ("MXN", "es-MX", "Monterrey"),
}

# (productId, skuId, availabilityId, product title, sku title, family, USD monthly price at P1Y/annual, P3Y offered)
LICENSE_SKUS: tuple[tuple[str, str, str, str, str, str, str, bool], ...] = (
    ("CFQ7TTC0LH18", "0001", "CFQ7TTC0K59J", "Microsoft 365 Business Basic", "Microsoft 365 Business Basic",
     "Microsoft 365", "6.00", False),
    ("CFQ7TTC0LDPB", "0001", "CFQ7TTC0K5DJ", "Microsoft 365 Business Standard", "Microsoft 365 Business Standard",
     "Microsoft 365", "12.50", False),
    ("CFQ7TTC0LCHC", "0002", "CFQ7TTC0K5BQ", "Microsoft 365 Business Premium", "Microsoft 365 Business Premium",
     "Microsoft 365", "22.00", True),
    ("CFQ7TTC0LFLX", "0001", "CFQ7TTC0K8P5", "Microsoft 365 E3", "Microsoft 365 E3", "Microsoft 365", "36.00", True),
    ("CFQ7TTC0LFLZ", "0002", "CFQ7TTC0K8RP", "Microsoft 365 E5", "Microsoft 365 E5", "Microsoft 365", "57.00", True),
    ("CFQ7TTC0LF8Q", "0001", "CFQ7TTC0K5BF", "Office 365 E3", "Office 365 E3", "Office 365", "23.00", True),
    ("CFQ7TTC0LH16", "0001", "CFQ7TTC0K5BH", "Exchange Online (Plan 1)", "Exchange Online (Plan 1)",
     "Exchange", "4.00", False),
    ("CFQ7TTC0L3PB", "0001", "CFQ7TTC0KXG6", "Power BI Pro", "Power BI Pro", "Power Platform", "14.00", False),
    ("CFQ7TTC0LHSF", "0001", "CFQ7TTC0KBZ2", "Dynamics 365 Sales Enterprise", "Dynamics 365 Sales Enterprise",
     "Dynamics 365", "105.00", True),
    ("CFQ7TTC0HD33", "0002", "CFQ7TTC0K7Q8", "Visio Plan 2", "Visio Plan 2", "Visio", "15.00", False),
    ("CFQ7TTC0LFK5", "0001", "CFQ7TTC0K5F3", "Microsoft Entra ID P1", "Microsoft Entra ID P1", "Security",
     "6.00", True),
    ("CFQ7TTC0LGZT", "0001", "CFQ7TTC0K8C9", "Microsoft Defender for Endpoint P2", "Defender for Endpoint P2",
     "Security", "5.20", False),
)
AZURE_PLAN = ("DZH318Z0BPS6", "0001", "DZH318Z09P8V", "Azure plan", "Azure plan")

# (termDuration, billingCycle, price factor vs P1Y-annual monthly price, months in one billing period)
TERMS: tuple[tuple[str, str, Decimal, int], ...] = (
    ("P1M", "monthly", Decimal("1.20"), 1),
    ("P1Y", "monthly", Decimal("1.05"), 1),
    ("P1Y", "annual", Decimal("1.00"), 12),
    ("P3Y", "monthly", Decimal("1.05"), 1),
    ("P3Y", "annual", Decimal("1.00"), 12),
)
PARTNER_DISCOUNT = Decimal("0.80")  # UnitPrice = ERP x 0.8


def catalog_item_id(product_id: str, sku_id: str, availability_id: str) -> str:
    return f"{product_id}:{sku_id}:{availability_id}"


def quantum(currency: str) -> Decimal:
    return Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def erp_price(usd_monthly: str, term: str, billing: str, currency: str) -> Decimal:
    """Estimated retail price for one billing period, in the market currency."""
    factor, months = next((f, m) for t, b, f, m in TERMS if t == term and b == billing)
    usd = Decimal(usd_monthly) * factor * months
    return (usd * EXCHANGE_RATES[currency]).quantize(quantum(currency), ROUND_HALF_UP)


def unit_price(usd_monthly: str, term: str, billing: str, currency: str) -> Decimal:
    """Partner price for one billing period (what Microsoft charges the partner)."""
    return (erp_price(usd_monthly, term, billing, currency) * PARTNER_DISCOUNT).quantize(
        quantum(currency), ROUND_HALF_UP)


def terms_for(sku: tuple[str, str, str, str, str, str, str, bool]) -> list[tuple[str, str]]:
    return [(t, b) for t, b, _f, _m in TERMS if t != "P3Y" or sku[7]]


def find_sku(catalog_item: str) -> tuple[str, str, str, str, str, str, str, bool] | None:
    for sku in LICENSE_SKUS:
        if catalog_item_id(sku[0], sku[1], sku[2]) == catalog_item or f"{sku[0]}:{sku[1]}" == catalog_item:
            return sku
    return None
