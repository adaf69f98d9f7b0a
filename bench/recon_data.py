"""A daily-rated usage recon file generator for the recon benchmark and tests.

Used until (and unless) sandbox.partnercenter.usage_file is available; same columns as
Microsoft's file (recon.columns.USAGE_COLUMNS), deterministic for a seed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from pathlib import Path

from recon.columns import USAGE_COLUMNS

METER_CATEGORIES = ("Virtual Machines", "Storage", "Bandwidth", "Azure App Service", "SQL Database",
                    "Azure Monitor", "Log Analytics", "Azure Cosmos DB", "Functions", "Key Vault",
                    "Container Registry", "Networking", "Backup", "Azure DNS", "Service Bus")


def _rows(rows: int, seed: int, customers: int = 400):
    rnd = random.Random(seed)
    cust = [(f"{rnd.getrandbits(128):032x}", f"Customer {i}") for i in range(customers)]
    subs = {c[0]: [f"{rnd.getrandbits(128):032x}" for _ in range(1 + i % 2)] for i, c in enumerate(cust)}
    ents = {c[0]: [f"{rnd.getrandbits(128):032x}" for _ in range(1 + i % 3)] for i, c in enumerate(cust)}
    for n in range(rows):
        cid, cname = cust[n % customers]
        sub = subs[cid][n % len(subs[cid])]
        ent = ents[cid][(n // 7) % len(ents[cid])]
        cat = METER_CATEGORIES[(n * 7 + n // customers) % len(METER_CATEGORIES)]
        day = 1 + (n // 11) % 28
        qty = f"{rnd.randint(1, 2_000_000) / 10_000:.4f}"
        unit = f"{rnd.randint(1, 90_000) / 1_000_000:.6f}"
        pec = "15" if n % 3 else "0"
        eff = f"{float(unit) * (0.85 if pec == '15' else 1):.6f}"
        total = f"{float(eff) * float(qty):.6f}"
        yield {
            "PartnerId": "0e195b37-4574-4539-bc42-0e539b9684c0", "PartnerName": "Fabrikam",
            "CustomerId": cid, "CustomerName": cname, "CustomerDomainName": f"c{n % customers}.onmicrosoft.com",
            "CustomerCountry": "US", "MpnId": "12345", "Tier2MpnId": "", "InvoiceNumber": "G000012345",
            "ProductId": "DZH318Z0BPS6", "SkuId": "0001", "AvailabilityId": "DZH318Z0BS5Z",
            "SkuName": "Microsoft Azure plan", "ProductName": "Azure plan", "PublisherName": "Microsoft",
            "PublisherId": "", "SubscriptionDescription": "Azure plan", "SubscriptionId": sub,
            "ChargeStartDate": "2026-10-01T00:00:00Z", "ChargeEndDate": "2026-10-31T00:00:00Z",
            "UsageDate": f"2026-10-{day:02d}T00:00:00Z", "MeterType": "1 Hour", "MeterCategory": cat,
            "MeterId": f"{n % 97:08d}-meter", "MeterSubCategory": "General", "MeterName": "D2 v3, Linux",
            "MeterRegion": "US East", "Unit": "1 Hour", "ResourceLocation": "eastus",
            "ConsumedService": "Microsoft.Compute", "ResourceGroup": f"rg-{n % 13}",
            "ResourceURI": f"/subscriptions/{ent}/resourceGroups/rg-{n % 13}/providers/x/vm{n % 50}",
            "ChargeType": "new", "UnitPrice": unit, "Quantity": qty, "UnitType": "1 Hour",
            "BillingPreTaxTotal": total, "BillingCurrency": "USD", "PricingPreTaxTotal": total,
            "PricingCurrency": "USD", "ServiceInfo1": "", "ServiceInfo2": "",
            "Tags": '{"env": "prod", "team": "a,b"}', "AdditionalInfo": "", "EffectiveUnitPrice": eff,
            "PCToBCExchangeRate": "1", "PCToBCExchangeRateDate": "2026-10-01T00:00:00Z",
            "EntitlementId": ent, "EntitlementDescription": "Azure subscription 1",
            "PartnerEarnedCreditPercentage": pec, "CreditPercentage": "0", "CreditType": "",
            "BenefitOrderID": "", "BenefitID": "", "BenefitType": "",
        }


def _camel(name: str) -> str:
    # The Graph export uses camelCase keys; "PCToBCExchangeRate" -> "pcToBCExchangeRate".
    if name.startswith("PCTo"):
        return "pc" + name[2:]
    return name[0].lower() + name[1:]


def write_usage_file(path: Path, rows: int, seed: int = 1, fmt: str = "csv.gz") -> Path:
    """fmt: "csv", "csv.gz" or "jsonl.gz"."""
    path = Path(path)
    raw = gzip.open(path, "wb", compresslevel=6) if fmt.endswith(".gz") else path.open("wb")
    with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:  # type: ignore[arg-type]
        if fmt.startswith("csv"):
            writer = csv.writer(fh)
            writer.writerow(USAGE_COLUMNS)
            for row in _rows(rows, seed):
                writer.writerow([row[c] for c in USAGE_COLUMNS])
        else:
            for row in _rows(rows, seed):
                fh.write(json.dumps({_camel(k): v for k, v in row.items()}, separators=(",", ":")) + "\n")
    return path
