"""Dataverse rows <-> billing models for the billing tables (solution/TABLES.md):
cspb_billingcontract, cspb_subscription, cspb_licensechangelog, cspb_usagesummary, invoice,
invoicedetail, cspb_revenueschedule.

Reads use the `_x_value` form of lookups; writes bind lookups with `x@odata.bind`
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
Datetimes are cut to their UTC date: billing counts whole days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

from billing.models import (
    BillingContract,
    ChangeLog,
    ChangeOrigin,
    ChangeType,
    ExchangeRate,
    Frequency,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineType,
    OneTimeItem,
    PaymentStatus,
    Policy,
    ProrateUnit,
    Provider,
    ProvisioningStatus,
    RefundPolicy,
    RevenueScheduleEntry,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
    SuspendedBilling,
    TaxCategory,
    TaxRate,
    UsageGrouping,
    UsageSource,
    UsageSummary,
    invoice_number,
)
from dataverse.odata import bind
from dataverse.tables import EntitySet
from shared.dates import parse_date

Row = Mapping[str, Any]
E = TypeVar("E", bound=IntEnum)
# The one date parser, under the name callers of this module know it by (recon reads m.to_date).
to_date = parse_date
ZERO = Decimal(0)

# Invoice statuscode while its lines are being written, and once header totals are set.
STATUS_WRITING = 1  # New
STATUS_COMPLETE = 4  # Billed

CONTRACT_SELECT = [
    "cspb_billingcontractid", "cspb_name", "cspb_contractnumber", "_cspb_account_value", "cspb_frequency",
    "cspb_policy", "cspb_startdate", "cspb_enddate", "cspb_billingoffsetdays", "cspb_currencycode",
    "_cspb_transactioncurrency_value", "_cspb_pricelevel_value", "cspb_refundpolicy", "cspb_prorateunit",
    "cspb_usagemarkuppct", "cspb_minimumcommitment", "cspb_usagegrouping", "cspb_paymentprovider",
    "cspb_language", "_cspb_primarybillingcontact_value", "cspb_autocharge", "cspb_autosend", "cspb_autosync",
    "cspb_discountpct", "cspb_taxratepct", "cspb_nextinvoicedate", "cspb_estimatedusageday", "cspb_suspendedbilling",
    "cspb_taxjurisdiction", "cspb_paymenttermsdays",
]
SUBSCRIPTION_SELECT = [
    "cspb_subscriptionid", "cspb_name", "cspb_providersubscriptionid", "cspb_provider", "_cspb_provideraccount_value",
    "_cspb_billingcontract_value", "_cspb_product_value", "cspb_productid", "cspb_skuid", "cspb_availabilityid",
    "cspb_offerid", "cspb_productfamily", "cspb_quantity", "cspb_term", "cspb_billingfrequency", "cspb_status",
    "cspb_kind", "cspb_startdate", "cspb_commitmentenddate", "cspb_autorenew", "cspb_unitcost", "cspb_unitprice",
    "cspb_currencycode", "cspb_orderid", "_cspb_parentsubscription_value",
]
CHANGE_LOG_SELECT = [
    "cspb_licensechangelogid", "cspb_changekey", "_cspb_subscription_value", "cspb_changetype", "cspb_oldquantity",
    "cspb_newquantity", "cspb_oldprice", "cspb_newprice", "cspb_effectivedate", "cspb_requestedby", "cspb_origin",
    "cspb_provisioningstatus", "cspb_providerorderid", "cspb_idempotencykey", "cspb_archived", "cspb_isdrift",
    "_cspb_invoice_value",
]
USAGE_SELECT = [
    "cspb_usagesummaryid", "cspb_summarykey", "_cspb_provideraccount_value", "cspb_customerid",
    "cspb_subscriptionid", "cspb_entitlementid", "cspb_metercategory", "cspb_resourcegrouptag", "cspb_period",
    "cspb_currencycode", "cspb_quantity", "cspb_costbeforepec", "cspb_pecamount", "cspb_cost",
    "cspb_pricingtotal", "cspb_rowcount", "cspb_billed", "_cspb_invoice_value", "cspb_usagesource",
    "cspb_billedcost", "cspb_billedsource",
]
EXCHANGE_RATE_SELECT = ["cspb_ratekey", "cspb_fromcurrency", "cspb_tocurrency", "cspb_month", "cspb_rate", "cspb_source"]
TAX_RATE_SELECT = ["cspb_taxratekey", "cspb_jurisdiction", "cspb_taxcategory", "cspb_ratepct", "cspb_taxname"]
INVOICE_SELECT = [
    "invoiceid", "name", "cspb_invoicekey", "_cspb_billingcontract_value", "_customerid_value",
    "_pricelevelid_value", "_transactioncurrencyid_value", "cspb_periodstart", "cspb_periodend",
    "cspb_currencycode", "cspb_language", "cspb_exchangerate", "statuscode", "totalamount", "cspb_amountpaid",
    "cspb_paymentstatus", "duedate", "cspb_issuedate",
]
LINE_SELECT = [
    "invoicedetailid", "_invoiceid_value", "cspb_linekey", "cspb_linetype", "productdescription", "quantity",
    "priceperunit", "baseamount", "manualdiscountamount", "tax", "extendedamount", "cspb_periodstart",
    "cspb_periodend", "_cspb_subscription_value", "_cspb_licensechangelog_value", "_productid_value",
    "cspb_taxratepct", "cspb_taxname", "cspb_sourcecurrency", "cspb_exchangerate", "cspb_ratemonth",
]


def _dec(value: Any, default: Decimal | None = ZERO) -> Decimal | None:
    if value is None or value == "":
        return default
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def _enum(kind: type[E], value: Any, default: E) -> E:
    return default if value is None else kind(int(value))


# ---- reads ------------------------------------------------------------------------------------

def contract_from_row(row: Row) -> BillingContract:
    return BillingContract(
        number=row["cspb_contractnumber"],
        account_id=row.get("_cspb_account_value"),
        frequency=_enum(Frequency, row.get("cspb_frequency"), Frequency.MONTHLY),
        policy=_enum(Policy, row.get("cspb_policy"), Policy.ADVANCE),
        start_date=to_date(row.get("cspb_startdate")) or date.min,
        currency=(row.get("cspb_currencycode") or "USD").upper(),
        id=row.get("cspb_billingcontractid"),
        name=row.get("cspb_name") or "",
        end_date=to_date(row.get("cspb_enddate")),
        billing_offset_days=row.get("cspb_billingoffsetdays"),
        price_level_id=row.get("_cspb_pricelevel_value"),
        transaction_currency_id=row.get("_cspb_transactioncurrency_value"),
        refund_policy=_enum(RefundPolicy, row.get("cspb_refundpolicy"), RefundPolicy.USE_GLOBAL),
        prorate_unit=_enum(ProrateUnit, row.get("cspb_prorateunit"), ProrateUnit.DAYS),
        usage_markup_pct=_dec(row.get("cspb_usagemarkuppct")) or ZERO,
        minimum_commitment=_dec(row.get("cspb_minimumcommitment"), None),
        usage_grouping=_enum(UsageGrouping, row.get("cspb_usagegrouping"), UsageGrouping.SUBSCRIPTION),
        language=(row.get("cspb_language") or "en").lower(),
        discount_pct=_dec(row.get("cspb_discountpct")) or ZERO,
        tax_rate_pct=_dec(row.get("cspb_taxratepct")) or ZERO,
        payment_provider=row.get("cspb_paymentprovider") or "",
        primary_billing_contact_id=row.get("_cspb_primarybillingcontact_value"),
        auto_charge=bool(row.get("cspb_autocharge")),
        auto_send=bool(row.get("cspb_autosend")),
        auto_sync=bool(row.get("cspb_autosync")),
        next_invoice_date=to_date(row.get("cspb_nextinvoicedate")),
        estimated_usage_day=row.get("cspb_estimatedusageday") or None,
        suspended_billing=_enum(SuspendedBilling, row.get("cspb_suspendedbilling"), SuspendedBilling.KEEP_BILLING),
        tax_jurisdiction=(row.get("cspb_taxjurisdiction") or "").upper(),
        payment_terms_days=_int(row.get("cspb_paymenttermsdays"), 30),
    )


def subscription_from_row(row: Row) -> Subscription:
    return Subscription(
        provider_subscription_id=row["cspb_providersubscriptionid"],
        quantity=_int(row.get("cspb_quantity")),
        unit_price=_dec(row.get("cspb_unitprice")) or ZERO,
        id=row.get("cspb_subscriptionid"),
        name=row.get("cspb_name") or "",
        contract_id=row.get("_cspb_billingcontract_value"),
        provider=_enum(Provider, row.get("cspb_provider"), Provider.PARTNER_CENTER),
        provider_account_id=row.get("_cspb_provideraccount_value"),
        product_id=row.get("_cspb_product_value"),
        provider_product_id=row.get("cspb_productid") or "",
        sku_id=row.get("cspb_skuid") or "",
        availability_id=row.get("cspb_availabilityid") or "",
        offer_id=row.get("cspb_offerid") or "",
        product_family=row.get("cspb_productfamily") or "",
        term=row.get("cspb_term") or "P1M",
        billing_frequency=row.get("cspb_billingfrequency") or "P1M",
        status=_enum(SubscriptionStatus, row.get("cspb_status"), SubscriptionStatus.ACTIVE),
        kind=_enum(SubscriptionKind, row.get("cspb_kind"), SubscriptionKind.LICENSE),
        start_date=to_date(row.get("cspb_startdate")),
        commitment_end_date=to_date(row.get("cspb_commitmentenddate")),
        auto_renew=row.get("cspb_autorenew") is not False,
        unit_cost=_dec(row.get("cspb_unitcost")) or ZERO,
        currency=(row.get("cspb_currencycode") or "").upper(),
        order_id=row.get("cspb_orderid") or "",
        parent_subscription_id=row.get("_cspb_parentsubscription_value"),
    )


def change_log_from_row(row: Row) -> ChangeLog:
    return ChangeLog(
        change_key=row["cspb_changekey"],
        subscription_id=row.get("_cspb_subscription_value"),
        change_type=_enum(ChangeType, row.get("cspb_changetype"), ChangeType.INCREASE),
        effective_date=to_date(row.get("cspb_effectivedate")) or date.min,
        old_quantity=_int(row.get("cspb_oldquantity")),
        new_quantity=_int(row.get("cspb_newquantity")),
        old_price=_dec(row.get("cspb_oldprice"), None),
        new_price=_dec(row.get("cspb_newprice"), None),
        id=row.get("cspb_licensechangelogid"),
        requested_by=row.get("cspb_requestedby") or "",
        origin=_enum(ChangeOrigin, row.get("cspb_origin"), ChangeOrigin.SALES_REP),
        provisioning_status=_enum(ProvisioningStatus, row.get("cspb_provisioningstatus"), ProvisioningStatus.AWAITING),
        provider_order_id=row.get("cspb_providerorderid") or "",
        idempotency_key=row.get("cspb_idempotencykey") or "",
        archived=bool(row.get("cspb_archived")),
        is_drift=bool(row.get("cspb_isdrift")),
        invoice_id=row.get("_cspb_invoice_value"),
    )


def usage_from_row(row: Row) -> UsageSummary:
    return UsageSummary(
        summary_key=row["cspb_summarykey"],
        subscription_id=row.get("cspb_subscriptionid") or "",
        period=row.get("cspb_period") or "",
        currency=(row.get("cspb_currencycode") or "").upper(),
        cost=_dec(row.get("cspb_cost")) or ZERO,
        id=row.get("cspb_usagesummaryid"),
        provider_account_id=row.get("_cspb_provideraccount_value"),
        customer_id=row.get("cspb_customerid") or "",
        entitlement_id=row.get("cspb_entitlementid") or "",
        meter_category=row.get("cspb_metercategory") or "",
        resource_group_tag=row.get("cspb_resourcegrouptag") or "",
        quantity=_dec(row.get("cspb_quantity")) or ZERO,
        cost_before_pec=_dec(row.get("cspb_costbeforepec")) or ZERO,
        pec_amount=_dec(row.get("cspb_pecamount")) or ZERO,
        pricing_total=_dec(row.get("cspb_pricingtotal")) or ZERO,
        row_count=_int(row.get("cspb_rowcount")),
        billed=bool(row.get("cspb_billed")),
        invoice_id=row.get("_cspb_invoice_value"),
        # Rows written before the source column existed hold what the ingest wrote last: billed wins.
        source=_source(row.get("cspb_usagesource")) or UsageSource.BILLED,
        billed_cost=_dec(row.get("cspb_billedcost"), None),
        billed_source=_source(row.get("cspb_billedsource")),
    )


def _source(value: Any) -> UsageSource | None:
    try:
        return UsageSource(str(value).lower()) if value else None
    except ValueError:
        return None


def exchange_rate_from_row(row: Row) -> ExchangeRate:
    return ExchangeRate(month=row.get("cspb_month") or "", from_currency=(row.get("cspb_fromcurrency") or "").upper(),
                        to_currency=(row.get("cspb_tocurrency") or "").upper(), rate=_dec(row.get("cspb_rate")) or ZERO,
                        source=row.get("cspb_source") or "")


def exchange_rate_row(rate: ExchangeRate) -> dict[str, Any]:
    key = f"{rate.from_currency}|{rate.to_currency}|{rate.month}"
    return {"cspb_ratekey": key, "cspb_name": key, "cspb_fromcurrency": rate.from_currency,
            "cspb_tocurrency": rate.to_currency, "cspb_month": rate.month, "cspb_rate": rate.rate,
            "cspb_source": rate.source[:200]}


def tax_rate_from_row(row: Row) -> TaxRate:
    return TaxRate(jurisdiction=(row.get("cspb_jurisdiction") or "").upper(),
                   category=_enum(TaxCategory, row.get("cspb_taxcategory"), TaxCategory.STANDARD),
                   rate_pct=_dec(row.get("cspb_ratepct")) or ZERO, name=row.get("cspb_taxname") or "")


def tax_rate_row(rate: TaxRate) -> dict[str, Any]:
    key = f"{rate.jurisdiction}|{rate.category.name.lower()}"
    return {"cspb_taxratekey": key, "cspb_name": key, "cspb_jurisdiction": rate.jurisdiction,
            "cspb_taxcategory": int(rate.category), "cspb_ratepct": rate.rate_pct, "cspb_taxname": rate.name}


def tax_category_of(row: Row) -> TaxCategory:
    """product.cspb_taxcategory (empty = standard)."""
    return _enum(TaxCategory, row.get("cspb_taxcategory"), TaxCategory.STANDARD)


def one_time_from_subscription(sub: Subscription) -> OneTimeItem | None:
    """Reservations, perpetual software and marketplace one-time purchases are stored as
    subscriptions of kind OneTime; they bill once, on their start date."""
    if sub.kind is not SubscriptionKind.ONE_TIME or sub.start_date is None:
        return None
    return OneTimeItem(
        key=sub.provider_subscription_id, contract_id=sub.contract_id, description=sub.name or sub.sku_id,
        quantity=sub.quantity, unit_price=sub.unit_price, effective_date=sub.start_date, currency=sub.currency,
        subscription_id=sub.id, product_id=sub.product_id,
    )


def line_from_row(row: Row) -> InvoiceLine:
    return InvoiceLine(
        key=row.get("cspb_linekey") or "",
        line_type=_enum(LineType, row.get("cspb_linetype"), LineType.LICENSE),
        description=row.get("productdescription") or "",
        quantity=_dec(row.get("quantity")) or ZERO,
        unit_price=_dec(row.get("priceperunit")) or ZERO,
        base_amount=_dec(row.get("baseamount")) or ZERO,
        discount=_dec(row.get("manualdiscountamount")) or ZERO,
        tax=_dec(row.get("tax")) or ZERO,
        period_start=to_date(row.get("cspb_periodstart")),
        period_end=to_date(row.get("cspb_periodend")),
        subscription_id=row.get("_cspb_subscription_value"),
        change_log_id=row.get("_cspb_licensechangelog_value"),
        product_id=row.get("_productid_value"),
        id=row.get("invoicedetailid"),
        tax_rate_pct=_dec(row.get("cspb_taxratepct")) or ZERO,
        tax_name=row.get("cspb_taxname") or "",
        source_currency=row.get("cspb_sourcecurrency") or "",
        exchange_rate=_dec(row.get("cspb_exchangerate"), None),
        rate_month=row.get("cspb_ratemonth") or "",
    )


def invoice_from_row(row: Row, lines: list[Row] | tuple[Row, ...] = ()) -> Invoice:
    key = row.get("cspb_invoicekey") or ""
    parts = key.split("|")
    kind = InvoiceKind(parts[2]) if len(parts) == 3 and parts[2] in {k.value for k in InvoiceKind} else InvoiceKind.CYCLE
    return Invoice(
        key=key,
        contract_number=parts[0] if parts else "",
        kind=kind,
        period_start=to_date(row.get("cspb_periodstart")) or date.min,
        period_end=to_date(row.get("cspb_periodend")) or date.min,
        invoice_date=(to_date(row.get("cspb_issuedate")) or to_date(row.get("duedate"))
                      or to_date(row.get("cspb_periodstart")) or date.min),
        due_date=to_date(row.get("duedate")),
        currency=(row.get("cspb_currencycode") or "").upper(),
        lines=tuple(sorted((line_from_row(r) for r in lines), key=lambda ln: ln.key)),
        contract_id=row.get("_cspb_billingcontract_value"),
        account_id=row.get("_customerid_value"),
        price_level_id=row.get("_pricelevelid_value"),
        transaction_currency_id=row.get("_transactioncurrencyid_value"),
        language=row.get("cspb_language") or "en",
        name=row.get("name") or "",
        exchange_rate=_dec(row.get("cspb_exchangerate"), None),
        id=row.get("invoiceid"),
        complete=row.get("statuscode") == STATUS_COMPLETE,
        amount_paid=_dec(row.get("cspb_amountpaid")) or ZERO,
        payment_status=_enum(PaymentStatus, row.get("cspb_paymentstatus"), PaymentStatus.UNPAID),
    )


# ---- writes -----------------------------------------------------------------------------------

def contract_row(c: BillingContract) -> dict[str, Any]:
    """A new billing contract as first written (alternate key cspb_contractnumber). Only what the
    contract says is written; optional settings left unset keep Dataverse's (and the global) defaults."""
    row: dict[str, Any] = {
        "cspb_name": (c.name or c.number)[:100],
        "cspb_contractnumber": c.number,
        "cspb_frequency": int(c.frequency),
        "cspb_policy": int(c.policy),
        "cspb_startdate": c.start_date,
        "cspb_currencycode": c.currency,
        "cspb_language": c.language,
        "cspb_refundpolicy": int(c.refund_policy),
        "cspb_prorateunit": int(c.prorate_unit),
    }
    if c.account_id:
        row["cspb_account@odata.bind"] = bind(EntitySet.ACCOUNTS, c.account_id)
    if c.end_date:
        row["cspb_enddate"] = c.end_date
    if c.billing_offset_days is not None:
        row["cspb_billingoffsetdays"] = c.billing_offset_days
    if c.price_level_id:
        row["cspb_pricelevel@odata.bind"] = bind(EntitySet.PRICE_LEVELS, c.price_level_id)
    if c.transaction_currency_id:
        row["cspb_transactioncurrency@odata.bind"] = bind(EntitySet.TRANSACTION_CURRENCIES, c.transaction_currency_id)
    if c.usage_markup_pct:
        row["cspb_usagemarkuppct"] = c.usage_markup_pct
    return row


def invoice_header_row(inv: Invoice) -> dict[str, Any]:
    """The invoice as first written: identity, links and period, no totals yet (status New)."""
    row: dict[str, Any] = {
        "name": inv.name[:300],
        "invoicenumber": invoice_number(inv.key),
        "cspb_invoicekey": inv.key,
        "cspb_periodstart": inv.period_start,
        "cspb_periodend": inv.period_end,
        "cspb_issuedate": inv.invoice_date,
        "duedate": inv.due_date or inv.invoice_date,
        "cspb_currencycode": inv.currency,
        "cspb_language": inv.language,
        "cspb_paymentstatus": int(PaymentStatus.UNPAID),
        "statuscode": STATUS_WRITING,
    }
    if inv.contract_id:
        row["cspb_billingcontract@odata.bind"] = bind(EntitySet.BILLING_CONTRACTS, inv.contract_id)
    if inv.account_id:
        row["customerid_account@odata.bind"] = bind(EntitySet.ACCOUNTS, inv.account_id)
    if inv.price_level_id:
        row["pricelevelid@odata.bind"] = bind(EntitySet.PRICE_LEVELS, inv.price_level_id)
    if inv.transaction_currency_id:
        row["transactioncurrencyid@odata.bind"] = bind(EntitySet.TRANSACTION_CURRENCIES, inv.transaction_currency_id)
    if inv.exchange_rate is not None:
        row["cspb_exchangerate"] = inv.exchange_rate
    return row


def invoice_complete_row(lines: list[InvoiceLine] | tuple[InvoiceLine, ...]) -> dict[str, Any]:
    """Header totals from the lines actually stored, and the complete status."""
    net = sum((ln.base_amount - ln.discount for ln in lines), ZERO)
    tax = sum((ln.tax for ln in lines), ZERO)
    total = net + tax
    return {
        "totallineitemamount": net,
        "totaltax": tax,
        "totalamount": total,
        "cspb_balance": total,
        "statuscode": STATUS_COMPLETE,
    }


def line_row(line: InvoiceLine, invoice_id: str, number: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "invoiceid@odata.bind": bind(EntitySet.INVOICES, invoice_id),
        "cspb_linekey": line.key,
        "cspb_linetype": int(line.line_type),
        "productdescription": line.description[:500],
        "isproductoverridden": True,
        "ispriceoverridden": True,
        "quantity": line.quantity,
        "priceperunit": line.unit_price.quantize(Decimal("0.0001")) if line.unit_price.is_finite() else line.unit_price,
        "baseamount": line.base_amount,
        "manualdiscountamount": line.discount,
        "tax": line.tax,
        "extendedamount": line.amount,
        "lineitemnumber": number,
        "cspb_taxratepct": line.tax_rate_pct,
        "cspb_taxname": line.tax_name[:100],
    }
    if line.source_currency:
        row["cspb_sourcecurrency"] = line.source_currency
        row["cspb_exchangerate"] = line.exchange_rate
        row["cspb_ratemonth"] = line.rate_month
    if line.period_start:
        row["cspb_periodstart"] = line.period_start
    if line.period_end:
        row["cspb_periodend"] = line.period_end
    if line.subscription_id:
        row["cspb_subscription@odata.bind"] = bind(EntitySet.SUBSCRIPTIONS, line.subscription_id)
    if line.change_log_id:
        row["cspb_licensechangelog@odata.bind"] = bind(EntitySet.LICENSE_CHANGE_LOGS, line.change_log_id)
    if line.product_id:
        row["productid@odata.bind"] = bind(EntitySet.PRODUCTS, line.product_id)
    return row


def invoice_link(invoice_id: str) -> dict[str, Any]:
    """Sets the `cspb_invoice` lookup of a change log or usage summary."""
    return {"cspb_invoice@odata.bind": bind(EntitySet.INVOICES, invoice_id)}


def usage_billed_row(invoice_id: str, summary: UsageSummary) -> dict[str, Any]:
    """A usage summary once invoiced: billed, linked, and what it was billed on (for true-ups)."""
    return {"cspb_billed": True, "cspb_billedcost": summary.cost, "cspb_billedsource": summary.source.value,
            **invoice_link(invoice_id)}


def revenue_row(entry: RevenueScheduleEntry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "cspb_name": entry.key[:100],
        "cspb_schedulekey": entry.key,
        "cspb_month": entry.month,
        "cspb_amount": entry.amount,
        "cspb_currencycode": entry.currency,
        "cspb_exported": entry.exported,
    }
    if entry.invoice_id:
        row["cspb_invoice@odata.bind"] = bind(EntitySet.INVOICES, entry.invoice_id)
    if entry.contract_id:
        row["cspb_billingcontract@odata.bind"] = bind(EntitySet.BILLING_CONTRACTS, entry.contract_id)
    return row


def revenue_from_row(row: Row) -> RevenueScheduleEntry:
    key = row.get("cspb_schedulekey") or ""
    return RevenueScheduleEntry(
        key=key, invoice_key=key.rsplit("|", 1)[0], month=row.get("cspb_month") or "",
        amount=_dec(row.get("cspb_amount")) or ZERO, currency=row.get("cspb_currencycode") or "",
        invoice_id=row.get("_cspb_invoice_value"), contract_id=row.get("_cspb_billingcontract_value"),
        exported=bool(row.get("cspb_exported")),
    )
