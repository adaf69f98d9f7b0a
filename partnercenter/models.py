"""Typed views of Partner Center and Graph partner billing resources. Money is Decimal.

Each model keeps the wire dict in `raw` so callers can reach a field this module does not name.
Field names and enum values follow Microsoft Learn:
- Subscription: https://learn.microsoft.com/partner-center/developer/subscription-resources
  (status: none|active|pending|suspended|expired|disabled|deleted; billingCycle: monthly|annual|
  triennial|none|oneTime; termDuration: ISO 8601 P1M|P1Y|P3Y; unitType: Licenses|Usage-based)
- Cart / CartLineItem: https://learn.microsoft.com/partner-center/developer/cart-resources
- Order / OrderLineItem: https://learn.microsoft.com/partner-center/developer/order-resources
- Invoice: https://learn.microsoft.com/partner-center/developer/invoice-resources
- Graph export operation + manifest: https://learn.microsoft.com/graph/api/partners-billing-operation-get,
  https://learn.microsoft.com/graph/api/resources/partners-billing-manifest
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from shared import dates
from shared.config import Secret
from shared.errors import ValidationError


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or value.strip().startswith("9999-"):
        return None  # not a date, or "no end" on Azure plans
    return dates.parse_datetime(value, strict=False)


def parse_money(value: Any, what: str = "amount") -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, float):
        value = repr(value)  # through text, so no binary noise
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"bad {what}: {value!r}") from None


# The Azure plan's catalog product (create-azure-plan: one plan per customer, bought through a cart).
AZURE_PLAN_PRODUCT_ID = "DZH318Z0BPS6"
# Checkout's answer when the customer already has its plan: the per-customer asset limit error
# (users report it from checkout; that it is the second-plan code is an assumption [?]).
ASSET_LIMIT_CODE = "800089"


@dataclass(frozen=True)
class Customer:
    id: str
    tenant_id: str
    company_name: str
    domain: str
    country: str
    culture: str
    email: str
    relationship: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Customer:
        company = d.get("companyProfile") or {}
        billing = d.get("billingProfile") or {}
        # The company profile carries its own address and email (get-a-customer-by-id); the billing
        # profile's are the fallback, e.g. in a listing that omits them.
        address = company.get("address") or billing.get("defaultAddress") or {}
        return cls(id=d["id"], tenant_id=company.get("tenantId", d["id"]), company_name=company.get("companyName", ""),
                   domain=company.get("domain", ""),
                   country=address.get("country") or (billing.get("defaultAddress") or {}).get("country", ""),
                   culture=billing.get("culture", ""), email=company.get("email") or billing.get("email", ""),
                   relationship=d.get("relationshipToPartner", ""), raw=d)


@dataclass(frozen=True)
class Subscription:
    id: str
    offer_id: str
    offer_name: str
    friendly_name: str
    quantity: int
    unit_type: str
    status: str
    auto_renew_enabled: bool
    billing_type: str
    billing_cycle: str
    term_duration: str
    order_id: str
    product_type: str
    is_trial: bool
    creation_date: datetime | None
    effective_start_date: datetime | None
    commitment_end_date: datetime | None
    cancellation_allowed_until: datetime | None
    entitlement_id: str
    parent_subscription_id: str
    etag: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Subscription:
        product_type = d.get("productType") or {}
        return cls(
            id=d["id"], offer_id=d.get("offerId", ""), offer_name=d.get("offerName", ""),
            friendly_name=d.get("friendlyName", ""), quantity=int(d.get("quantity") or 0),
            unit_type=d.get("unitType", ""), status=d.get("status", ""),
            auto_renew_enabled=bool(d.get("autoRenewEnabled", False)), billing_type=d.get("billingType", ""),
            billing_cycle=d.get("billingCycle", ""), term_duration=d.get("termDuration") or "",
            order_id=d.get("orderId", ""), product_type=product_type.get("id", ""),
            is_trial=bool(d.get("isTrial", False)), creation_date=parse_datetime(d.get("creationDate")),
            effective_start_date=parse_datetime(d.get("effectiveStartDate")),
            commitment_end_date=parse_datetime(d.get("commitmentEndDate")),
            cancellation_allowed_until=parse_datetime(d.get("cancellationAllowedUntilDate")),
            entitlement_id=d.get("entitlementId") or "", parent_subscription_id=d.get("parentSubscriptionId") or "",
            etag=str((d.get("attributes") or {}).get("etag", "")), raw=d,
        )

    def _offer_part(self, i: int) -> str:
        parts = self.offer_id.split(":")
        return parts[i] if len(parts) > i else ""

    @property
    def product_id(self) -> str:
        return self._offer_part(0)

    @property
    def sku_id(self) -> str:
        return self._offer_part(1)

    @property
    def availability_id(self) -> str:
        return self._offer_part(2)

    @property
    def is_azure_plan(self) -> bool:
        return self.product_type == "Azure" or self.unit_type == "Usage-based"


@dataclass(frozen=True)
class AzureEntitlement:
    id: str
    friendly_name: str
    status: str
    subscription_id: str
    entitlement_type: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> AzureEntitlement:
        return cls(id=d["id"], friendly_name=d.get("friendlyName", ""), status=d.get("status", ""),
                   subscription_id=d.get("subscriptionId", ""), entitlement_type=d.get("entitlementType", ""), raw=d)


@dataclass(frozen=True)
class CartLineItem:
    """One thing to buy. `catalog_item_id` is productId:skuId:availabilityId."""

    catalog_item_id: str
    quantity: int
    term_duration: str  # P1M | P1Y | P3Y, or "" for an item without a term (the Azure plan)
    billing_cycle: str  # monthly | annual | triennial
    friendly_name: str = ""
    provisioning_context: dict[str, str] = field(default_factory=dict)
    id: int | None = None
    renews_to: str = ""  # term at renewal when it differs (cart line item `renewsTo.termDuration`)
    currency_code: str = ""
    order_group: str = ""

    def to_wire(self, index: int) -> dict[str, Any]:
        body: dict[str, Any] = {"id": index if self.id is None else self.id, "catalogItemId": self.catalog_item_id,
                                "quantity": self.quantity, "billingCycle": self.billing_cycle,
                                "provisioningContext": self.provisioning_context}
        if self.term_duration:
            # Items without a term (the Azure plan, software) leave it out, as create-a-cart.http's line 3.
            body["termDuration"] = self.term_duration
        if self.friendly_name:
            body["friendlyName"] = self.friendly_name
        if self.renews_to:
            body["renewsTo"] = {"termDuration": self.renews_to}
        return body

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> CartLineItem:
        return cls(catalog_item_id=d.get("catalogItemId", ""), quantity=int(d.get("quantity") or 0),
                   term_duration=d.get("termDuration", ""), billing_cycle=d.get("billingCycle", ""),
                   friendly_name=d.get("friendlyName", ""), provisioning_context=d.get("provisioningContext") or {},
                   id=d.get("id"), renews_to=(d.get("renewsTo") or {}).get("termDuration", ""),
                   currency_code=d.get("currencyCode", ""), order_group=str(d.get("orderGroup") or ""))


@dataclass(frozen=True)
class Cart:
    id: str
    status: str  # Active | Ordered
    line_items: list[CartLineItem]
    creation_timestamp: datetime | None
    expiration_timestamp: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Cart:
        return cls(id=d["id"], status=d.get("status", ""),
                   line_items=[CartLineItem.from_wire(i) for i in d.get("lineItems") or []],
                   creation_timestamp=parse_datetime(d.get("creationTimestamp")),
                   expiration_timestamp=parse_datetime(d.get("expirationTimestamp")), raw=d)


@dataclass(frozen=True)
class OrderLineItem:
    line_item_number: int
    offer_id: str
    subscription_id: str
    quantity: int
    term_duration: str
    transaction_type: str
    friendly_name: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> OrderLineItem:
        return cls(line_item_number=int(d.get("lineItemNumber") or 0), offer_id=d.get("offerId", ""),
                   subscription_id=d.get("subscriptionId", ""), quantity=int(d.get("quantity") or 0),
                   term_duration=d.get("termDuration", ""), transaction_type=d.get("transactionType", ""),
                   friendly_name=d.get("friendlyName", ""))


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    status: str  # none | completed | pending | cancelled
    billing_cycle: str
    currency_code: str
    creation_date: datetime | None
    line_items: list[OrderLineItem]
    raw: dict[str, Any] = field(repr=False, compare=False)
    currency_symbol: str = ""
    alternate_id: str = ""

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Order:
        return cls(id=d["id"], customer_id=d.get("referenceCustomerId", ""), status=d.get("status", ""),
                   billing_cycle=d.get("billingCycle", ""), currency_code=d.get("currencyCode", ""),
                   creation_date=parse_datetime(d.get("creationDate")),
                   line_items=[OrderLineItem.from_wire(i) for i in d.get("lineItems") or []], raw=d,
                   currency_symbol=d.get("currencySymbol", ""), alternate_id=d.get("alternateId", ""))


@dataclass(frozen=True)
class CheckoutResult:
    orders: list[Order]
    order_errors: list[dict[str, Any]]

    @property
    def subscription_ids(self) -> list[str]:
        return [li.subscription_id for o in self.orders for li in o.line_items if li.subscription_id]


@dataclass(frozen=True)
class ProvisioningStatus:
    line_item_number: int
    status: str  # fulfilled | unfulfilled | unknown
    subscription_id: str


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    product_type: str
    publisher: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Product:
        return cls(id=d["id"], title=d.get("title", ""), product_type=(d.get("productType") or {}).get("id", ""),
                   publisher=d.get("publisherName", ""), raw=d)


@dataclass(frozen=True)
class Sku:
    id: str
    product_id: str
    title: str
    minimum_quantity: int
    maximum_quantity: int
    is_trial: bool
    billing_cycles: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)
    dynamic_attributes: dict[str, Any] = field(default_factory=dict, compare=False)
    provisioning_variables: list[str] = field(default_factory=list, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Sku:
        return cls(id=d["id"], product_id=d.get("productId", ""), title=d.get("title", ""),
                   minimum_quantity=int(d.get("minimumQuantity") or 0), maximum_quantity=int(d.get("maximumQuantity") or 0),
                   is_trial=bool(d.get("isTrial", False)), billing_cycles=list(d.get("supportedBillingCycles") or []),
                   raw=d, dynamic_attributes=dict(d.get("dynamicAttributes") or {}),
                   provisioning_variables=list(d.get("provisioningVariables") or []))


@dataclass(frozen=True)
class Term:
    duration: str
    billing_cycle: str
    description: str


@dataclass(frozen=True)
class Availability:
    id: str
    product_id: str
    sku_id: str
    catalog_item_id: str
    currency_code: str
    country: str
    terms: list[Term]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Availability:
        return cls(id=d["id"], product_id=d.get("productId", ""), sku_id=d.get("skuId", ""),
                   catalog_item_id=d.get("catalogItemId", ""),
                   currency_code=(d.get("defaultCurrency") or {}).get("code", ""), country=d.get("country", ""),
                   terms=[Term(t.get("duration", ""), t.get("billingCycle", ""), t.get("description", ""))
                          for t in d.get("terms") or []], raw=d)


@dataclass(frozen=True)
class PriceSheetRow:
    """One row of the new commerce license-based price sheet CSV
    (https://learn.microsoft.com/partner-center/developer/get-a-price-sheet)."""

    product_id: str
    sku_id: str
    product_title: str
    sku_title: str
    term_duration: str
    billing_plan: str  # Monthly | Annual | Triennial
    market: str
    currency: str
    unit_price: Decimal
    erp_price: Decimal
    segment: str
    effective_start: str
    raw: dict[str, str] = field(repr=False, compare=False)

    @classmethod
    def from_csv(cls, row: dict[str, str]) -> PriceSheetRow:
        return cls(product_id=row.get("ProductId", ""), sku_id=row.get("SkuId", ""),
                   product_title=row.get("ProductTitle", ""), sku_title=row.get("SkuTitle", ""),
                   term_duration=row.get("TermDuration", ""), billing_plan=row.get("BillingPlan", ""),
                   market=row.get("Market", ""), currency=row.get("Currency", ""),
                   unit_price=parse_money(row.get("UnitPrice"), "UnitPrice"),
                   erp_price=parse_money(row.get("ERP Price"), "ERP Price"), segment=row.get("Segment", ""),
                   effective_start=row.get("EffectiveStartDate", ""), raw=row)


@dataclass(frozen=True)
class AgreementMetadata:
    template_id: str
    agreement_type: str
    agreement_link: str
    version_rank: int


@dataclass(frozen=True)
class Agreement:
    template_id: str
    agreement_type: str
    date_agreed: datetime | None
    first_name: str
    last_name: str
    email: str
    phone: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    # True when Partner Center answered 409/600061: the partner had already confirmed this acceptance.
    already_attested: bool = False

    @classmethod
    def from_wire(cls, d: dict[str, Any], *, already_attested: bool = False) -> Agreement:
        contact = d.get("primaryContact") or {}
        return cls(template_id=d.get("templateId", ""), agreement_type=d.get("type", ""),
                   date_agreed=parse_datetime(d.get("dateAgreed")), first_name=contact.get("firstName", ""),
                   last_name=contact.get("lastName", ""), email=contact.get("email", ""),
                   phone=contact.get("phoneNumber", ""), raw=d, already_attested=already_attested)


@dataclass(frozen=True)
class Invoice:
    id: str
    invoice_date: datetime | None
    billing_period_start: datetime | None
    billing_period_end: datetime | None
    total_charges: Decimal
    paid_amount: Decimal
    currency_code: str
    invoice_type: str
    document_type: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    currency_symbol: str = ""

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Invoice:
        return cls(id=d["id"], invoice_date=parse_datetime(d.get("invoiceDate")),
                   billing_period_start=parse_datetime(d.get("billingPeriodStartDate")),
                   billing_period_end=parse_datetime(d.get("billingPeriodEndDate")),
                   total_charges=parse_money(d.get("totalCharges"), "totalCharges"),
                   paid_amount=parse_money(d.get("paidAmount"), "paidAmount"), currency_code=d.get("currencyCode", ""),
                   invoice_type=d.get("invoiceType", ""), document_type=d.get("documentType", ""), raw=d,
                   currency_symbol=d.get("currencySymbol", ""))


@dataclass(frozen=True)
class InvoiceLineItem:
    """A billed new commerce invoice recon line (v1 `OneTimeInvoiceLineItem`, camelCase keys; the Graph
    v2 export file has the same fields in PascalCase). Reconcile on billable_quantity, not quantity."""

    invoice_number: str
    customer_id: str
    subscription_id: str
    order_id: str
    product_id: str
    sku_id: str
    availability_id: str
    charge_type: str  # new | renew | cycleCharge | addQuantity | removeQuantity | cancelImmediate | customerCredit ...
    unit_price: Decimal
    effective_unit_price: Decimal
    quantity: Decimal
    billable_quantity: Decimal
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    currency: str
    pc_to_bc_exchange_rate: Decimal
    charge_start_date: datetime | None
    charge_end_date: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> InvoiceLineItem:
        g = {k.lower(): v for k, v in d.items()}  # v1 camelCase and v2 PascalCase alike

        def money(name: str) -> Decimal:
            return parse_money(g.get(name.lower()), name)

        return cls(invoice_number=g.get("invoicenumber", ""), customer_id=g.get("customerid", ""),
                   subscription_id=g.get("subscriptionid", ""), order_id=g.get("orderid", ""),
                   product_id=g.get("productid", ""), sku_id=g.get("skuid", ""),
                   availability_id=g.get("availabilityid", ""), charge_type=g.get("chargetype", ""),
                   unit_price=money("UnitPrice"), effective_unit_price=money("EffectiveUnitPrice"),
                   quantity=money("Quantity"), billable_quantity=money("BillableQuantity"), subtotal=money("Subtotal"),
                   # v1 JSON names the line total totalForCustomer; the recon file (v2) names it Total.
                   tax_total=money("TaxTotal"),
                   total=money("TotalForCustomer") if "totalforcustomer" in g else money("Total"),
                   currency=g.get("currency", ""),
                   pc_to_bc_exchange_rate=money("PCToBCExchangeRate"),
                   charge_start_date=parse_datetime(g.get("chargestartdate")),
                   charge_end_date=parse_datetime(g.get("chargeenddate")), raw=d)


@dataclass(frozen=True)
class ExportOperation:
    id: str
    status: str  # notStarted | running | succeeded | failed
    manifest_url: str
    error_code: str
    error_message: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> ExportOperation:
        error = d.get("error") or {}
        return cls(id=d.get("id", ""), status=d.get("status", ""),
                   manifest_url=d.get("resourceLocation@odata.navigationLink") or "",
                   error_code=str(error.get("code", "")), error_message=str(error.get("message", "")))


@dataclass(frozen=True)
class ManifestBlob:
    name: str
    partition_value: str


@dataclass(frozen=True)
class Manifest:
    id: str
    data_format: str
    blob_count: int
    blobs: list[ManifestBlob]
    root_directory: str
    sas_token: Secret  # a valet key: never logged
    partner_tenant_id: str
    etag: str
    created: datetime | None

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Manifest:
        return cls(id=d.get("id", ""), data_format=d.get("dataFormat", ""), blob_count=int(d.get("blobCount") or 0),
                   blobs=[ManifestBlob(b.get("name", ""), b.get("partitionValue", "")) for b in d.get("blobs") or []],
                   root_directory=d.get("rootDirectory", ""), sas_token=Secret(d.get("sasToken", "")),
                   partner_tenant_id=d.get("partnerTenantId", ""), etag=d.get("eTag", ""),
                   created=parse_datetime(d.get("createdDateTime")))

    def blob_url(self, blob: ManifestBlob) -> str:
        return f"{self.root_directory.rstrip('/')}/{blob.name}?{self.sas_token.reveal()}"


@dataclass(frozen=True)
class DownloadedExport:
    """Files of one Graph export, on local disk (gzip'd JSON lines, as Microsoft wrote them)."""

    kind: str
    manifest: Manifest
    files: list[Path]
    bytes: int
