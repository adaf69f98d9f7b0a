"""Microsoft's recon file column names, and the mapping from whatever spelling a file uses to them.

Partner Center portal downloads use PascalCase headers (`BillingPreTaxTotal`); the Graph
export blobs use camelCase keys (`billingPreTaxTotal`). Both lower-case to the same string,
so one case-insensitive map covers both.

Column lists: learn.microsoft.com/partner-center/billing/daily-rated-usage-recon-files and
learn.microsoft.com/partner-center/billing/modern-invoice-reconciliation-file; the three benefit
columns and the basic attribute set from learn.microsoft.com/graph/api/resources/partners-billing-attributeset
(which spells them `BenefitOrderID`, `BenefitID`).

These lists are the one home of Microsoft's column names in the app. The Partner Center sandbox
writes its files from its own copy (a sandbox imports no app code), and
tests/contract/test_graph_and_recon_samples.py holds the two to each other and to the documented lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.errors import ValidationError

# New commerce daily-rated usage recon file, in Microsoft's order.
USAGE_COLUMNS: tuple[str, ...] = (
    "PartnerId", "PartnerName", "CustomerId", "CustomerName", "CustomerDomainName", "CustomerCountry",
    "MpnId", "Tier2MpnId", "InvoiceNumber", "ProductId", "SkuId", "AvailabilityId", "SkuName",
    "ProductName", "PublisherName", "PublisherId", "SubscriptionDescription", "SubscriptionId",
    "ChargeStartDate", "ChargeEndDate", "UsageDate", "MeterType", "MeterCategory", "MeterId",
    "MeterSubCategory", "MeterName", "MeterRegion", "Unit", "ResourceLocation", "ConsumedService",
    "ResourceGroup", "ResourceURI", "ChargeType", "UnitPrice", "Quantity", "UnitType",
    "BillingPreTaxTotal", "BillingCurrency", "PricingPreTaxTotal", "PricingCurrency", "ServiceInfo1",
    "ServiceInfo2", "Tags", "AdditionalInfo", "EffectiveUnitPrice", "PCToBCExchangeRate",
    "PCToBCExchangeRateDate", "EntitlementId", "EntitlementDescription", "PartnerEarnedCreditPercentage",
    "CreditPercentage", "CreditType", "BenefitOrderID", "BenefitID", "BenefitType",
)

# What an export with `attributeSet: basic` keeps, in the full list's order.
USAGE_BASIC_COLUMNS: tuple[str, ...] = tuple(c for c in USAGE_COLUMNS if c in {
    "AdditionalInfo", "BenefitOrderID", "BenefitType", "BillingCurrency", "BillingPreTaxTotal", "ChargeEndDate",
    "ChargeStartDate", "ChargeType", "CreditPercentage", "CreditType", "CustomerId", "CustomerName",
    "EffectiveUnitPrice", "EntitlementId", "InvoiceNumber", "PartnerId", "PartnerName", "PCToBCExchangeRate",
    "PricingCurrency", "PricingPreTaxTotal", "ProductId", "PublisherName", "Quantity", "ResourceURI", "SkuId",
    "SkuName", "SubscriptionId", "UnitPrice", "UnitType", "UsageDate"})

# What the aggregation reads. Everything else is kept in the raw file but not needed here.
USAGE_REQUIRED: tuple[str, ...] = (
    "CustomerId", "SubscriptionId", "UsageDate", "MeterCategory", "UnitPrice", "Quantity",
    "BillingPreTaxTotal", "BillingCurrency", "PricingPreTaxTotal", "PricingCurrency", "PCToBCExchangeRate",
)
# Read when present; an absent column reads as empty.
USAGE_OPTIONAL: tuple[str, ...] = ("CustomerName", "EntitlementId", "ResourceGroup", "ProductId", "SkuId")

# New commerce invoice recon file (license, one-time and usage charges on the invoice).
INVOICE_COLUMNS: tuple[str, ...] = (
    "PartnerId", "CustomerId", "CustomerName", "CustomerDomainName", "CustomerCountry", "InvoiceNumber",
    "MpnId", "ResellerMpnId", "OrderId", "OrderDate", "ProductId", "SkuId", "AvailabilityId", "SkuName",
    "ProductName", "ChargeType", "UnitPrice", "Quantity", "Subtotal", "TaxTotal", "Total", "Currency",
    "PriceAdjustmentDescription", "PublisherName", "PublisherId", "SubscriptionDescription", "SubscriptionId",
    "ChargeStartDate", "ChargeEndDate", "TermAndBillingCycle", "EffectiveUnitPrice", "UnitType",
    "AlternateId", "BillableQuantity", "BillingFrequency", "PricingCurrency", "PCToBCExchangeRate",
    "PCToBCExchangeRateDate", "MeterDescription", "ReservationOrderId", "CreditReasonCode",
    "SubscriptionStartDate", "SubscriptionEndDate", "ReferenceId", "ProductQualifiers", "PromotionId",
    "ProductCategory",
)
INVOICE_REQUIRED: tuple[str, ...] = (
    "CustomerId", "InvoiceNumber", "ProductId", "SkuId", "SubscriptionId", "ChargeType", "UnitPrice",
    "Quantity", "BillableQuantity", "Subtotal", "Total", "Currency", "ChargeStartDate", "ChargeEndDate",
)
INVOICE_OPTIONAL: tuple[str, ...] = (
    "CustomerName", "ProductName", "SkuName", "SubscriptionDescription", "EffectiveUnitPrice",
    "PCToBCExchangeRate", "TaxTotal", "UnitType", "OrderId", "TermAndBillingCycle",
    "PricingCurrency", "PCToBCExchangeRateDate", "ProductCategory",
)

KIND_USAGE = "usage"
KIND_INVOICE = "invoice"


def normalise_header(names: Iterable[str]) -> dict[str, str]:
    """Map lower-cased column name -> the spelling the file uses. A stray BOM on the first name is dropped."""
    mapping: dict[str, str] = {}
    for name in names:
        clean = name.lstrip("\ufeff").strip()
        mapping.setdefault(clean.lower(), name)
    return mapping


def resolve(header: Iterable[str], required: Iterable[str], optional: Iterable[str] = (),
            *, what: str = "recon file") -> dict[str, str | None]:
    """Canonical name -> the file's spelling (None for an absent optional column).

    A missing required column is a wrong file, not a bad row: raise, naming every missing column."""
    mapping = normalise_header(header)
    missing = [name for name in required if name.lower() not in mapping]
    if missing:
        raise ValidationError(f"{what}: header is missing required column(s): {', '.join(missing)}",
                              code="WrongHeader")
    resolved: dict[str, str | None] = {name: mapping[name.lower()] for name in required}
    for name in optional:
        resolved[name] = mapping.get(name.lower())
    return resolved


def detect_kind(header: Iterable[str]) -> str:
    """Usage files carry meters; invoice files carry BillableQuantity and Subtotal."""
    names = set(normalise_header(header))
    if {"metercategory", "usagedate"} <= names:
        return KIND_USAGE
    if {"billablequantity", "subtotal"} <= names:
        return KIND_INVOICE
    raise ValidationError("not a recognised recon file: expected a daily-rated usage header (UsageDate, "
                          "MeterCategory, ...) or an invoice recon header (BillableQuantity, Subtotal, ...)",
                          code="WrongHeader")
