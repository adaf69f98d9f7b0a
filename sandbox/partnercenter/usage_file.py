"""New commerce daily-rated usage files, in the shape the Graph billed/unbilled usage export writes them.

Columns are Microsoft's attribute names for `attributeSet: full`
(https://learn.microsoft.com/graph/api/resources/partners-billing-attributeset), ordered the way the
reconciliation file lists them. Export blobs are gzip'd JSON lines (`dataFormat: compressedJSONLines`,
https://learn.microsoft.com/graph/api/resources/partners-billing-manifest); CSV variants exist for the
recon engineer's import path and benchmarks.

Amounts, as the sandbox computes them (documented so recon tests can check them exactly):
- EffectiveUnitPrice = UnitPrice x (1 - PartnerEarnedCreditPercentage/100), 6 places, half-up
- PricingPreTaxTotal = EffectiveUnitPrice x Quantity, 6 places, half-up (PricingCurrency is USD)
- BillingPreTaxTotal = PricingPreTaxTotal x PCToBCExchangeRate, 6 places, half-up

Speed matters (a 2,000,000-row file for benchmarks): every (entitlement, meter, resource) line is
pre-rendered once into byte pieces, and each row only fills in the day, quantity and the two totals.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, BinaryIO

USAGE_COLUMNS: tuple[str, ...] = (
    "PartnerId", "PartnerName", "CustomerId", "CustomerName", "CustomerDomainName", "CustomerCountry",
    "MpnId", "Tier2MpnId", "InvoiceNumber", "ProductId", "SkuId", "AvailabilityId", "SkuName", "ProductName",
    "PublisherName", "PublisherId", "SubscriptionDescription", "SubscriptionId", "ChargeStartDate",
    "ChargeEndDate", "UsageDate", "MeterType", "MeterCategory", "MeterId", "MeterSubCategory", "MeterName",
    "MeterRegion", "Unit", "ResourceLocation", "ConsumedService", "ResourceGroup", "ResourceURI", "ChargeType",
    "UnitPrice", "Quantity", "UnitType", "BillingPreTaxTotal", "BillingCurrency", "PricingPreTaxTotal",
    "PricingCurrency", "ServiceInfo1", "ServiceInfo2", "Tags", "AdditionalInfo", "EffectiveUnitPrice",
    "PCToBCExchangeRate", "PCToBCExchangeRateDate", "EntitlementId", "EntitlementDescription",
    "PartnerEarnedCreditPercentage", "CreditPercentage", "CreditType", "BenefitOrderID", "BenefitID", "BenefitType",
)
# What `attributeSet: basic` keeps (same doc page).
BASIC_USAGE_COLUMNS: tuple[str, ...] = tuple(c for c in USAGE_COLUMNS if c in {
    "AdditionalInfo", "BenefitOrderID", "BenefitType", "BillingCurrency", "BillingPreTaxTotal", "ChargeEndDate",
    "ChargeStartDate", "ChargeType", "CreditPercentage", "CreditType", "CustomerId", "CustomerName",
    "EffectiveUnitPrice", "EntitlementId", "InvoiceNumber", "PartnerId", "PartnerName", "PCToBCExchangeRate",
    "PricingCurrency", "PricingPreTaxTotal", "ProductId", "PublisherName", "Quantity", "ResourceURI", "SkuId",
    "SkuName", "SubscriptionId", "UnitPrice", "UnitType", "UsageDate"})
# Numeric columns are JSON numbers in the export; everything else is a string.
NUMERIC_COLUMNS = frozenset({
    "UnitPrice", "Quantity", "BillingPreTaxTotal", "PricingPreTaxTotal", "EffectiveUnitPrice",
    "PCToBCExchangeRate", "PartnerEarnedCreditPercentage", "CreditPercentage",
})
FORMATS = ("jsonl.gz", "csv.gz", "csv")

PARTNER_ID = "3b33e682-00c3-41ee-9dd2-a548adf56438"
PARTNER_NAME = "Contoso CSP Sandbox"
PARTNER_MPN_ID = "4390934"
SIX = Decimal("0.000001")

# Pricing-currency (USD) to billing-currency rates. Made up but stable, so totals are reproducible.
EXCHANGE_RATES: dict[str, Decimal] = {
    "USD": Decimal("1"), "AUD": Decimal("1.5321"), "BRL": Decimal("5.0412"), "CAD": Decimal("1.3604"),
    "CHF": Decimal("0.8842"), "DKK": Decimal("6.8831"), "EUR": Decimal("0.9231"), "GBP": Decimal("0.7912"),
    "INR": Decimal("83.2105"), "JPY": Decimal("149.5"), "KRW": Decimal("1332.75"), "NOK": Decimal("10.7213"),
    "NZD": Decimal("1.6487"), "SEK": Decimal("10.5122"), "TWD": Decimal("31.8804"), "ZAR": Decimal("18.7431"),
    "MXN": Decimal("17.1049"),
}

# (ProductId, SkuId, AvailabilityId, SkuName, ProductName, MeterType, MeterCategory, MeterSubCategory,
#  MeterName, Unit, ConsumedService, UnitPrice USD, publisher, PEC-eligible)
METERS: tuple[tuple[Any, ...], ...] = (
    ("DZH318Z0BQ3Q", "0001", "DZH318Z09VZT", "Standard_D2s_v3", "Virtual Machines Dsv3 Series", "1 Compute Hour",
     "Virtual Machines", "Dsv3 Series", "D2s v3", "1 Hour", "Microsoft.Compute", "0.096", "Microsoft", True),
    ("DZH318Z0BQ3Q", "0003", "DZH318Z09W0B", "Standard_D4s_v3", "Virtual Machines Dsv3 Series", "1 Compute Hour",
     "Virtual Machines", "Dsv3 Series", "D4s v3", "1 Hour", "Microsoft.Compute", "0.192", "Microsoft", True),
    ("DZH318Z0BP04", "0007", "DZH318Z09P2M", "Standard_B2s", "Virtual Machines BS Series", "1 Compute Hour",
     "Virtual Machines", "BS Series", "B2s", "1 Hour", "Microsoft.Compute", "0.0416", "Microsoft", True),
    ("DZH317F1HKN0", "000F", "DZH317F1HW3W", "Hot LRS", "General Block Blob v2", "1 GB/Month",
     "Storage", "General Block Blob v2", "Hot LRS Data Stored", "1 GB/Month", "Microsoft.Storage", "0.0184",
     "Microsoft", True),
    ("DZH317F1HKN0", "0011", "DZH317F1HW4F", "Hot LRS", "General Block Blob v2", "10K",
     "Storage", "General Block Blob v2", "Hot Write Operations", "10K", "Microsoft.Storage", "0.055",
     "Microsoft", True),
    ("DZH318Z0BNVX", "0002", "DZH318Z09N3D", "Standard", "Bandwidth", "1 GB",
     "Bandwidth", "Rtn Preference: MGN", "Standard Data Transfer Out", "1 GB", "Microsoft.Network", "0.087",
     "Microsoft", True),
    ("DZH318Z0BQPS", "0005", "DZH318Z09QCX", "S0", "SQL Database Single Standard", "1/Day",
     "SQL Database", "Single Standard", "S0 DTUs", "1/Day", "Microsoft.Sql", "0.4839", "Microsoft", True),
    ("DZH318Z0BPVG", "0004", "DZH318Z09RQ1", "Standard", "Azure App Service Standard Plan", "1 Compute Hour",
     "Azure App Service", "Standard Plan", "S1 App", "1 Hour", "Microsoft.Web", "0.1", "Microsoft", True),
    ("DZH318Z0BXWC", "0001", "DZH318Z09ZGH", "Standard", "Key Vault", "10K",
     "Key Vault", "Standard", "Operations", "10K", "Microsoft.KeyVault", "0.03", "Microsoft", True),
    ("DZH318Z0BNZH", "0006", "DZH318Z09S6Q", "Standard", "Log Analytics", "1 GB",
     "Log Analytics", "Analytics Logs", "Data Ingestion", "1 GB", "Microsoft.OperationalInsights", "2.3",
     "Microsoft", True),
    ("DZH318Z0BQ4B", "0002", "DZH318Z09TN1", "Premium SSD", "Managed Disks", "1/Month",
     "Storage", "Premium SSD Managed Disks", "P10 LRS Disk", "1/Month", "Microsoft.Compute", "19.71",
     "Microsoft", True),
    # Third-party marketplace usage never earns PEC.
    ("DZH318Z0BJ6Q", "0001", "DZH318Z0BJ7F", "Pay-As-You-Go", "SendGrid Email Delivery", "1 Unit",
     "SaaS", "SendGrid", "Emails", "1 Unit", "Microsoft.SaaS", "0.0012", "Twilio SendGrid", False),
)
# Quantity one resource consumes on one day, per meter (same order as METERS): a VM runs up to 24
# hours, a GB-month meter accrues a thirtieth of the stored GBs each day, a P10 disk a thirtieth of
# a disk-month. With these, a tenant's month is hundreds to low thousands of USD, like a real small
# or medium Azure estate, not the billions uniform draws up to a million units gave.
DAILY_QUANTITY: tuple[tuple[str, str], ...] = (
    ("2", "24"), ("2", "24"), ("4", "24"), ("0.5", "60"), ("0.1", "30"), ("0.1", "40"), ("0.5", "1"),
    ("12", "24"), ("0.01", "5"), ("0.05", "4"), ("0.0323", "0.0333"), ("10", "3000"),
)
assert len(DAILY_QUANTITY) == len(METERS)
REGIONS = (("US East", "eastus"), ("EU West", "westeurope"), ("AU East", "australiaeast"),
           ("UK South", "uksouth"), ("JA East", "japaneast"), ("BR South", "brazilsouth"))


@dataclass
class UsageCustomer:
    """One customer's Azure plan, as the usage rows reference it."""

    customer_id: str
    name: str
    domain: str
    country: str
    currency: str
    subscription_id: str  # the Azure plan subscription id
    entitlements: list[tuple[str, str]] = field(default_factory=list)  # (EntitlementId, EntitlementDescription)
    pec_eligible: bool = True  # False: the partner lost admin rights, so no PEC (0%)


def synthetic_customers(count: int, rng: random.Random) -> list[UsageCustomer]:
    currencies = list(EXCHANGE_RATES)
    countries = {"USD": "US", "AUD": "AU", "BRL": "BR", "CAD": "CA", "CHF": "CH", "DKK": "DK", "EUR": "DE",
                 "GBP": "GB", "INR": "IN", "JPY": "JP", "KRW": "KR", "NOK": "NO", "NZD": "NZ", "SEK": "SE",
                 "TWD": "TW", "ZAR": "ZA", "MXN": "MX"}
    out = []
    for i in range(count):
        currency = currencies[i % len(currencies)]
        ents = [(str(_uuid(rng)), f"Azure subscription {k + 1}") for k in range(1 + rng.randrange(3))]
        out.append(UsageCustomer(
            customer_id=str(_uuid(rng)), name=f"Usage Customer {i:05d}", domain=f"usagecust{i:05d}.onmicrosoft.com",
            country=countries[currency], currency=currency, subscription_id=str(_uuid(rng)), entitlements=ents,
            pec_eligible=rng.random() > 0.2,
        ))
    return out


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _period_bounds(period: str) -> tuple[str, str, int]:
    year, month = (int(x) for x in period.split("-"))
    days = (30, 31)[month in (1, 3, 5, 7, 8, 10, 12)] if month != 2 else (29 if year % 4 == 0 else 28)
    return f"{year:04d}-{month:02d}-01T00:00:00Z", f"{year:04d}-{month:02d}-{days:02d}T00:00:00Z", days


@dataclass
class _Line:
    chunks: tuple[bytes, ...]  # the row around its 4 holes: UsageDate, Quantity, BillingPreTaxTotal, PricingPreTaxTotal
    eup: Decimal
    rate: Decimal
    currency: str
    pool: int  # index into METERS / DAILY_QUANTITY: which quantity pool rows of this line draw from


def _build_lines(customers: Sequence[UsageCustomer], rng: random.Random, fmt: str, *, period: str,
                 invoice_number: str) -> list[_Line]:
    start, end, _days = _period_bounds(period)
    lines: list[_Line] = []
    for cust in customers:
        rate = EXCHANGE_RATES.get(cust.currency, Decimal("1"))
        for ent_id, ent_desc in cust.entitlements or [(str(_uuid(rng)), "Azure subscription 1")]:
            group = f"rg-{cust.domain.split('.')[0][:12]}-{rng.randrange(100):02d}"
            for meter_index in rng.sample(range(len(METERS)), k=min(len(METERS), 4 + rng.randrange(5))):
                meter = METERS[meter_index]
                (product_id, sku_id, avail_id, sku_name, product_name, meter_type, category, subcat, meter_name,
                 unit, service, price, publisher, pec_ok) = meter
                region, location = REGIONS[rng.randrange(len(REGIONS))]
                pec = 15 if (pec_ok and cust.pec_eligible) else 0
                unit_price = Decimal(price)
                eup = (unit_price * (100 - pec) / 100).quantize(SIX, ROUND_HALF_UP)
                meter_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"meter:{product_id}:{sku_id}:{meter_name}"))
                resource = f"/subscriptions/{ent_id}/resourceGroups/{group}/providers/{service}/res{rng.randrange(999)}"
                values: dict[str, Any] = {
                    "PartnerId": PARTNER_ID, "PartnerName": PARTNER_NAME, "CustomerId": cust.customer_id,
                    "CustomerName": cust.name, "CustomerDomainName": cust.domain, "CustomerCountry": cust.country,
                    "MpnId": PARTNER_MPN_ID, "Tier2MpnId": "", "InvoiceNumber": invoice_number,
                    "ProductId": product_id, "SkuId": sku_id, "AvailabilityId": avail_id, "SkuName": sku_name,
                    "ProductName": product_name, "PublisherName": publisher,
                    "PublisherId": "" if publisher == "Microsoft" else "sendgrid",
                    "SubscriptionDescription": "Azure plan", "SubscriptionId": cust.subscription_id,
                    "ChargeStartDate": start, "ChargeEndDate": end, "UsageDate": None, "MeterType": meter_type,
                    "MeterCategory": category, "MeterId": meter_id, "MeterSubCategory": subcat,
                    "MeterName": meter_name, "MeterRegion": region, "Unit": unit, "ResourceLocation": location,
                    "ConsumedService": service, "ResourceGroup": group, "ResourceURI": resource, "ChargeType": "New",
                    "UnitPrice": unit_price, "Quantity": None, "UnitType": unit, "BillingPreTaxTotal": None,
                    "BillingCurrency": cust.currency, "PricingPreTaxTotal": None, "PricingCurrency": "USD",
                    "ServiceInfo1": "", "ServiceInfo2": "",
                    "Tags": json.dumps({"costcenter": f"cc{rng.randrange(20):02d}"}) if rng.random() < 0.5 else "",
                    "AdditionalInfo": "", "EffectiveUnitPrice": eup, "PCToBCExchangeRate": rate,
                    # The documented column (daily-rated-usage-recon-files): the rate's date, the period start.
                    "PCToBCExchangeRateDate": start,
                    "EntitlementId": ent_id, "EntitlementDescription": ent_desc,
                    "PartnerEarnedCreditPercentage": pec, "CreditPercentage": 0,
                    "CreditType": "Partner Earned Credit Applied" if pec else "Credit Not Applicable",
                    "BenefitOrderID": "", "BenefitID": "", "BenefitType": "",
                }
                lines.append(_Line(_render_template(values, fmt), eup, rate, cust.currency, meter_index))
    return lines


HOLE = "\x00"


def _render_template(values: dict[str, Any], fmt: str) -> tuple[bytes, ...]:
    """Render one row and split it around the per-row values (UsageDate, Quantity, BillingPreTaxTotal,
    PricingPreTaxTotal, in column order); joining pieces is a memcpy, much cheaper than formatting."""
    holes = {"UsageDate": f'"{HOLE}"', "Quantity": HOLE, "BillingPreTaxTotal": HOLE, "PricingPreTaxTotal": HOLE}
    if fmt == "jsonl.gz":
        parts = []
        for col in USAGE_COLUMNS:
            if col in holes:
                rendered = holes[col]
            elif col in NUMERIC_COLUMNS:
                # Decimal text, unquoted: the export carries numbers, and going through float would add noise.
                rendered = str(values[col])
            else:
                rendered = json.dumps(values[col], ensure_ascii=False)
            parts.append(f'"{col}":{rendered}')
        text = "{" + ",".join(parts) + "}\n"
    else:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([HOLE if c in holes else str(values[c]) for c in USAGE_COLUMNS])
        text = buf.getvalue()
    chunks = tuple(piece.encode() for piece in text.split(HOLE))
    assert len(chunks) == 5
    return chunks


def write_usage_file(
    path: Path | str,
    rows: int,
    seed: int,
    fmt: str = "jsonl.gz",
    customers: Sequence[UsageCustomer] | None = None,
    *,
    period: str = "2026-10",
    invoice_number: str = "",
    compresslevel: int = 1,
    chunk_rows: int = 2_000,
) -> dict[str, Any]:
    """Write `rows` deterministic daily-rated usage rows to `path`; return counts and totals.

    `customers` are the seeded Azure plans to reference; without them a synthetic set is generated
    from `seed`. An empty `invoice_number` means unbilled usage. The returned `billing_totals` is the
    exact Decimal sum of BillingPreTaxTotal per BillingCurrency, so a consumer can check its own sums.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    rng = random.Random(seed)
    if customers is None:
        customers = synthetic_customers(max(1, min(500, rows // 2000 or 1)), rng)
    lines = _build_lines(customers, rng, fmt, period=period, invoice_number=invoice_number)
    year_month = period
    _start, _end, days = _period_bounds(period)
    day_values = [f"{year_month}-{d:02d}T00:00:00Z" for d in range(1, days + 1)]
    # A fixed pool of quantities keeps per-row work to two Decimal multiplications.
    pool_size = 4096
    quantities = []
    for lo, hi in DAILY_QUANTITY:
        low, high = int(Decimal(lo).scaleb(4)), int(Decimal(hi).scaleb(4))
        quantities.append([Decimal(rng.randint(low, high)).scaleb(-4) for _ in range(pool_size)])
    n_lines = len(lines)
    totals: dict[str, Decimal] = {}
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    raw = open(out_path, "wb")  # noqa: SIM115 - closed below, wrapped by gzip when asked
    stream: Any = gzip_writer(raw, compresslevel) if fmt.endswith(".gz") else raw
    try:
        if fmt != "jsonl.gz":
            stream.write((",".join(USAGE_COLUMNS) + "\n").encode())
        written = 0
        random_float = rng.random
        getrandbits = rng.getrandbits
        day_bytes = [d.encode() for d in day_values]
        qty_bytes = [[str(q).encode() for q in pool] for pool in quantities]
        while written < rows:
            batch = min(chunk_rows, rows - written)
            parts: list[bytes] = []
            extend = parts.extend
            for _ in range(batch):
                line = lines[int(random_float() * n_lines)]
                qi = getrandbits(12)
                pricing = (line.eup * quantities[line.pool][qi]).quantize(SIX, ROUND_HALF_UP)
                billing = (pricing * line.rate).quantize(SIX, ROUND_HALF_UP)
                totals[line.currency] = totals.get(line.currency, Decimal(0)) + billing
                c = line.chunks
                extend((c[0], day_bytes[getrandbits(5) % days], c[1], qty_bytes[line.pool][qi], c[2],
                        str(billing).encode(), c[3], str(pricing).encode(), c[4]))
            stream.write(b"".join(parts))
            written += batch
    finally:
        if stream is not raw:
            stream.close()
        raw.close()
    return {"path": str(out_path), "rows": rows, "format": fmt, "lines": n_lines,
            "bytes": out_path.stat().st_size, "billing_totals": totals}


def gzip_writer(raw: BinaryIO, compresslevel: int = 1) -> Any:
    """A gzip stream over `raw`, with mtime 0 so the same rows always give the same bytes. ISA-L's
    deflate (python-isal) when it is installed: zlib's level 1 was half of a full seed's CPU, and
    ISA-L's level 1 takes a fraction of that. The output is ordinary gzip either way."""
    try:
        from isal import igzip
    except ImportError:
        return gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0)
    return igzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=min(compresslevel, 3), mtime=0)


def read_usage_rows(path: Path | str) -> Iterable[dict[str, Any]]:
    """Stream rows back (tests and the sandbox use it); numbers come back as Decimal."""
    p = Path(path)
    opener = gzip.open if p.name.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
        if ".jsonl" in p.name or p.name.endswith(".json.gz"):
            for text in fh:
                if text.strip():
                    yield json.loads(text, parse_float=Decimal, parse_int=Decimal)
        else:
            yield from csv.DictReader(fh)
