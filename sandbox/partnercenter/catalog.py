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

import csv
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import IO

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
# Partner Center sells one Azure plan per customer. A second checkout is refused with 800089, the
# per-customer asset limit error users report from checkout (github.com/microsoft/Partner-Center-
# PowerShell/issues/387); that it is the code for a second plan is an assumption [?].
AZURE_PLAN_LIMIT_CODE = 800089

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


def is_azure_plan_item(catalog_item: str) -> bool:
    """The Azure plan's catalog item (productId:skuId:availabilityId, or productId:skuId)."""
    return catalog_item in (catalog_item_id(*AZURE_PLAN[:3]), f"{AZURE_PLAN[0]}:{AZURE_PLAN[1]}")


def find_sku(catalog_item: str) -> tuple[str, str, str, str, str, str, str, bool] | None:
    for sku in LICENSE_SKUS:
        if catalog_item_id(sku[0], sku[1], sku[2]) == catalog_item or f"{sku[0]}:{sku[1]}" == catalog_item:
            return sku
    return None


# ---------------------------------------------------------------- real-sized price sheets
#
# Microsoft's license-based sheet is about 50,000 rows (42 MB) per market. Its shape, which the
# sandbox reproduces for `--price-rows`:
# - several rows can share one item (product, SKU, term, billing plan): volume tiers
#   (PricingTierRangeMin/Max), and a row announcing next month's price (a future EffectiveStartDate);
# - an item leaving the catalog carries an EffectiveEndDate at the end of the month;
# - optional columns are often empty (SkuDescription, UnitOfMeasure, Tags, ERP Price);
# - the same catalog in every market, in the market's currency, a few items missing per market.
# Everything derives from integer hashes of (item, month), so month M's sheet and month M+1's agree:
# what M announces for the 1st of M+1 is M+1's current price.

PRICE_SHEET_HEADER: tuple[str, ...] = (
    "ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure",
    "TermDuration", "BillingPlan", "Market", "Currency", "UnitPrice", "PricingTierRangeMin",
    "PricingTierRangeMax", "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price", "Segment",
)
_FAMILIES = ("Microsoft 365", "Office 365", "Dynamics 365", "Power Platform", "Windows", "Security", "Teams",
             "Exchange", "SharePoint", "Project", "Visio", "Intune", "Copilot")
_EDITIONS = ("Standard", "Premium", "Plan 1", "Plan 2", "E3", "E5", "F1", "F3", "Basic", "Business",
             "Enterprise", "Frontline", "Add-on", "Unattended", "Attach", "Device")
_PUBLISHERS = ("Microsoft Corporation",) * 9 + ("Contoso Software Ltd",)
_SEGMENTS = ("Commercial",) * 8 + ("Education", "Charity")
_TIERS = ((1, 500, Decimal("1.00")), (501, 1000, Decimal("0.95")), (1001, None, Decimal("0.90")))
_BLURB = ("Cloud service for organizations: identity, devices, apps and data protected across the estate; "
          "includes support, deployment guidance and the compliance features listed in the product terms. "
          "Licensed per user; term and billing frequency as shown. Prices exclude tax. ")


def _h(*parts: int) -> int:
    """A stable 32-bit mix of integers (no random module state: every month's sheet agrees)."""
    x = 0x9E3779B9
    for p in parts:
        x = ((x ^ (p & 0xFFFFFFFF)) * 0x85EBCA6B) & 0xFFFFFFFF
        x ^= x >> 13
        x = (x * 0xC2B2AE35) & 0xFFFFFFFF
        x ^= x >> 16
    return x


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _first_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _sheet_date(d: date, end: bool = False) -> str:
    return f"{d.month}/{d.day}/{d.year} " + ("11:59:59 PM" if end else "12:00:00 AM")


def _price_epoch(item: int, month: int) -> tuple[int, int]:
    """(month index the item's price last changed, its price level in % around the base). Each item
    changes every 12-59 months at its own phase: about 3% of items change in a given month."""
    h = _h(item, 7)
    period = 12 + h % 48
    epoch = month - (month - (h >> 8)) % period
    return epoch, _h(item, epoch, 11) % 21 - 10


def _available(item: int, month: int) -> bool:
    """Items come and go: about 1% of them start in a given month, a few end."""
    born = 24_250 + _h(item, 3) % 80  # a month between 2020-10 and 2027-05
    return born <= month < born + 24 + _h(item, 5) % 600


def big_price_sheet_rows(market: str, month_start: date, rows: int) -> Iterator[dict[str, str]]:
    """About `rows` filler rows for `market`'s sheet of the month of `month_start`, after the real SKUs."""
    currency = MARKETS[market][0]
    rate = EXCHANGE_RATES[currency]
    q = quantum(currency)
    month = _month_index(month_start)
    market_code = sum(ord(c) for c in market)
    written = 0
    product = 0
    while written < rows:
        product += 1
        pid = f"CFQ7TTC0{_base36(product, 4)}"
        family = _FAMILIES[_h(product, 1) % len(_FAMILIES)]
        edition = _EDITIONS[_h(product, 2) % len(_EDITIONS)]
        title = f"{family} {edition} {_base36(product, 3)}"
        publisher = _PUBLISHERS[_h(product, 4) % len(_PUBLISHERS)]
        usd_monthly = Decimal(2 + _h(product, 6) % 120) + Decimal(_h(product, 8) % 100) / 100
        for sku in range(1, 2 + _h(product, 9) % 3):
            sku_id = f"{sku:04d}"
            segment = _SEGMENTS[_h(product, sku, 10) % len(_SEGMENTS)]
            three_year = _h(product, sku, 12) % 5 == 0
            for t, (term, billing, factor, months) in enumerate(TERMS):
                if term == "P3Y" and not three_year:
                    continue
                item = product * 64 + sku * 8 + t
                if _h(item, market_code) % 40 == 0:
                    continue  # not sold in this market
                now, ahead = _available(item, month), _available(item, month + 1)
                if not now and not ahead:
                    continue
                tiered = _h(item, 13) % 100 < 6
                base = usd_monthly * factor * months * rate

                epoch_now, level_now = _price_epoch(item, month)
                epoch_next, level_next = _price_epoch(item, month + 1)
                changes_next = epoch_next != epoch_now and level_next != level_now
                levels = {month: level_now, month + 1: level_next}
                start = _first_of(epoch_now)
                empty = _h(item, 17) % 10
                common = {
                    "ProductTitle": title, "ProductId": pid, "SkuId": sku_id,
                    "SkuTitle": f"{title} ({segment})" if segment != "Commercial" else title,
                    "Publisher": publisher, "SkuDescription": "" if empty == 0 else _BLURB * (2 + _h(item, 19) % 2),
                    "UnitOfMeasure": "" if empty < 4 else "1 License", "TermDuration": term,
                    "BillingPlan": "Annual" if billing == "annual" else "Monthly", "Market": market,
                    "Currency": currency, "Tags": "" if empty == 1 else "License", "Segment": segment,
                }
                periods: list[tuple[date, str, int]] = []
                if now:
                    periods.append((start, _sheet_date(_first_of(month + 1) - timedelta(days=1), end=True)
                                    if not ahead else "", month))
                if ahead and (changes_next or not now):
                    periods.append((_first_of(month + 1), "", month + 1))
                for begin, end, m in periods:
                    list_price = base * (100 + levels[m]) / 100 * PARTNER_DISCOUNT
                    for tmin, tmax, scale in (_TIERS if tiered else ((0, None, Decimal(1)),)):
                        unit = (list_price * scale).quantize(q, ROUND_HALF_UP)
                        yield {**common, "UnitPrice": str(unit),
                               "PricingTierRangeMin": str(tmin) if tiered else "",
                               "PricingTierRangeMax": "" if tmax is None else str(tmax),
                               "EffectiveStartDate": _sheet_date(begin), "EffectiveEndDate": end,
                               "ERP Price": "" if empty == 2 else str((unit / PARTNER_DISCOUNT).quantize(q, ROUND_HALF_UP))}
                        written += 1


def _base36(n: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")[-width:]


def write_price_sheet(fh: IO[str], rows: Iterable[dict[str, str]]) -> int:
    """The CSV as Microsoft serves it: every field quoted, CRLF line ends."""
    writer = csv.DictWriter(fh, fieldnames=PRICE_SHEET_HEADER, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n
