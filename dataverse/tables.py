"""Names and choice values of the Dataverse tables (solution/TABLES.md), so no area hard-codes
magic strings or numbers. tests/unit/test_solution_tables_constants.py checks every constant here
against the solution source (solution.schema.load_tables).
"""

from __future__ import annotations

from enum import IntEnum

# The picklists billing rules use are defined once, in billing.models (billing must not import
# dataverse); they are re-exported here under the names the rest of the code knows them by, so
# CHOICES below still checks them against the solution source.
from billing.azure_transition import TransitionState
from billing.dunning import DunningKind
from billing.models import (
    ChangeOrigin,
    ChangeType,
    ProrateUnit,
    Provider,
    ProvisioningStatus,
    RefundPolicy,
    SubscriptionKind,
    SubscriptionStatus,
    SuspendedBilling,
    TaxCategory,
    UsageGrouping,
)
from billing.models import Frequency as BillingFrequency
from billing.models import LineType as InvoiceLineType
from billing.models import PaymentStatus as InvoicePaymentStatus
from billing.models import Policy as BillingPolicy

# Names other modules import, re-exports included (mypy --strict exports no import implicitly).
__all__ = [
    "AccountingStatus", "ActionKind", "ActionStatus", "ACTIVITY_TABLES", "AgreementStatus",
    "BillingFrequency", "BillingPolicy", "CatalogSelectionKind", "ChangeOrigin", "ChangeType", "CHOICES",
    "DunningKind", "ENTITY_SET_OF", "EntitySet", "InboxStatus", "InvoiceLineType", "InvoicePaymentStatus",
    "InvoiceState", "MappingStatus", "PaymentStatus", "PortalRole", "PriceChangeStatus",
    "PriceReviewStatus", "primary_id", "ProductState", "ProrateUnit", "Provider", "ProvisioningStatus",
    "ReconFileStatus", "RefundPolicy", "StateCode", "SubscriptionKind", "SubscriptionStatus",
    "SuspendedBilling", "SyncRunStatus", "Table", "TaxCategory", "UsageGrouping",
]


class EntitySet:
    """Web API entity set names (the URL path segment)."""

    PROVIDER_ACCOUNTS = "cspb_provideraccounts"
    BILLING_CONTRACTS = "cspb_billingcontracts"
    SUBSCRIPTIONS = "cspb_subscriptions"
    LICENSE_CHANGE_LOGS = "cspb_licensechangelogs"
    AGREEMENTS = "cspb_agreements"
    USAGE_SUMMARIES = "cspb_usagesummaries"
    RECON_FILES = "cspb_reconfiles"
    SYNC_RUNS = "cspb_syncruns"
    INBOXES = "cspb_inboxes"
    REVENUE_SCHEDULES = "cspb_revenueschedules"
    PAYMENTS = "cspb_payments"
    MARKUP_RULES = "cspb_markuprules"
    PRICE_CHANGES = "cspb_pricechanges"
    KPI_SNAPSHOTS = "cspb_kpisnapshots"
    EXCHANGE_RATES = "cspb_exchangerates"
    TAX_RATES = "cspb_taxrates"
    CATALOG_SELECTIONS = "cspb_catalogselections"
    DUNNING_EVENTS = "cspb_dunningevents"
    ACTION_REQUESTS = "cspb_actionrequests"
    TASKS = "tasks"
    ACCOUNTS = "accounts"
    CONTACTS = "contacts"
    TRANSACTION_CURRENCIES = "transactioncurrencies"
    UOM_SCHEDULES = "uomschedules"
    UOMS = "uoms"
    PRODUCTS = "products"
    PRICE_LEVELS = "pricelevels"
    PRODUCT_PRICE_LEVELS = "productpricelevels"
    INVOICES = "invoices"
    INVOICE_DETAILS = "invoicedetails"


class Table:
    """Logical names (what webhooks carry as PrimaryEntityName / LogicalName)."""

    PROVIDER_ACCOUNT = "cspb_provideraccount"
    BILLING_CONTRACT = "cspb_billingcontract"
    SUBSCRIPTION = "cspb_subscription"
    LICENSE_CHANGE_LOG = "cspb_licensechangelog"
    AGREEMENT = "cspb_agreement"
    USAGE_SUMMARY = "cspb_usagesummary"
    RECON_FILE = "cspb_reconfile"
    SYNC_RUN = "cspb_syncrun"
    INBOX = "cspb_inbox"
    REVENUE_SCHEDULE = "cspb_revenueschedule"
    PAYMENT = "cspb_payment"
    MARKUP_RULE = "cspb_markuprule"
    PRICE_CHANGE = "cspb_pricechange"
    KPI_SNAPSHOT = "cspb_kpisnapshot"
    EXCHANGE_RATE = "cspb_exchangerate"
    TAX_RATE = "cspb_taxrate"
    CATALOG_SELECTION = "cspb_catalogselection"
    DUNNING_EVENT = "cspb_dunningevent"
    ACTION_REQUEST = "cspb_actionrequest"
    TASK = "task"
    ACCOUNT = "account"
    CONTACT = "contact"
    TRANSACTION_CURRENCY = "transactioncurrency"
    UOM_SCHEDULE = "uomschedule"
    UOM = "uom"
    PRODUCT = "product"
    PRICE_LEVEL = "pricelevel"
    PRODUCT_PRICE_LEVEL = "productpricelevel"
    INVOICE = "invoice"
    INVOICE_DETAIL = "invoicedetail"


ENTITY_SET_OF: dict[str, str] = {
    getattr(Table, attr): getattr(EntitySet, attr_set)
    for attr, attr_set in (
        ("PROVIDER_ACCOUNT", "PROVIDER_ACCOUNTS"), ("BILLING_CONTRACT", "BILLING_CONTRACTS"),
        ("SUBSCRIPTION", "SUBSCRIPTIONS"), ("LICENSE_CHANGE_LOG", "LICENSE_CHANGE_LOGS"),
        ("AGREEMENT", "AGREEMENTS"), ("USAGE_SUMMARY", "USAGE_SUMMARIES"), ("RECON_FILE", "RECON_FILES"),
        ("SYNC_RUN", "SYNC_RUNS"), ("INBOX", "INBOXES"), ("REVENUE_SCHEDULE", "REVENUE_SCHEDULES"),
        ("PAYMENT", "PAYMENTS"), ("MARKUP_RULE", "MARKUP_RULES"), ("PRICE_CHANGE", "PRICE_CHANGES"),
        ("KPI_SNAPSHOT", "KPI_SNAPSHOTS"), ("EXCHANGE_RATE", "EXCHANGE_RATES"), ("TAX_RATE", "TAX_RATES"),
        ("CATALOG_SELECTION", "CATALOG_SELECTIONS"), ("ACCOUNT", "ACCOUNTS"), ("CONTACT", "CONTACTS"),
        ("TRANSACTION_CURRENCY", "TRANSACTION_CURRENCIES"), ("UOM_SCHEDULE", "UOM_SCHEDULES"), ("UOM", "UOMS"),
        ("PRODUCT", "PRODUCTS"), ("PRICE_LEVEL", "PRICE_LEVELS"), ("PRODUCT_PRICE_LEVEL", "PRODUCT_PRICE_LEVELS"),
        ("INVOICE", "INVOICES"), ("INVOICE_DETAIL", "INVOICE_DETAILS"),
        ("DUNNING_EVENT", "DUNNING_EVENTS"), ("TASK", "TASKS"),
        ("ACTION_REQUEST", "ACTION_REQUESTS"),
    )
}
"""Logical name -> entity set name."""


# Activity tables share the activitypointer key.
ACTIVITY_TABLES = frozenset({"task"})


def primary_id(logical_name: str) -> str:
    """Primary key column of a table: `<logical name>id`, except activities (`activityid`)."""
    return "activityid" if logical_name in ACTIVITY_TABLES else f"{logical_name}id"


# ---- choice (picklist) values billing does not use; each enum names its table.column ----

class ActionKind(IntEnum):
    """cspb_actionrequest.cspb_action"""
    PREVIEW_CHARGE = 1
    RETRY_PROVISIONING = 2
    REPLAY_INBOX = 3
    ATTEST_MCA = 4


class ActionStatus(IntEnum):
    """cspb_actionrequest.cspb_status"""
    PENDING = 1
    DONE = 2
    FAILED = 3


class MappingStatus(IntEnum):
    """cspb_provideraccount.cspb_mappingstatus"""
    MAPPED = 1
    UNMAPPED = 2


class AgreementStatus(IntEnum):
    """cspb_agreement.cspb_status"""
    PENDING = 1
    ATTESTED = 2
    FAILED = 3


class ReconFileStatus(IntEnum):
    """cspb_reconfile.cspb_status"""
    INGESTED = 1
    AGGREGATED = 2
    FAILED = 3


class SyncRunStatus(IntEnum):
    """cspb_syncrun.cspb_status"""
    RUNNING = 1
    SUCCEEDED = 2
    FAILED = 3
    PARTIALLY_SUCCEEDED = 4


class InboxStatus(IntEnum):
    """cspb_inbox.cspb_status"""
    RECEIVED = 1
    QUEUED = 2
    PROCESSED = 3
    FAILED = 4
    DUPLICATE = 5


class PaymentStatus(IntEnum):
    """cspb_payment.cspb_status. Not billing.models.PaymentStatus: that is the invoice's
    cspb_paymentstatus, re-exported here as InvoicePaymentStatus."""
    PENDING = 1
    SUCCEEDED = 2
    FAILED = 3
    EXPIRED = 4  # a hosted payment page the customer left unpaid past its lifetime: nothing was taken


class PriceChangeStatus(IntEnum):
    """cspb_pricechange.cspb_status"""
    PENDING_REVIEW = 1
    APPROVED = 2
    REJECTED = 3
    APPLIED = 4


class CatalogSelectionKind(IntEnum):
    """cspb_catalogselection.cspb_kind"""
    PRODUCT = 1
    SKU = 2
    FAMILY = 3
    PUBLISHER = 4
    EVERYTHING = 5


class PortalRole(IntEnum):
    """contact.cspb_portalrole"""
    ADMINISTRATOR = 1
    SUBSCRIPTION_MANAGER = 2
    FINANCE_MANAGER = 3


class PriceReviewStatus(IntEnum):
    """productpricelevel.cspb_reviewstatus"""
    CURRENT = 1
    PENDING_REVIEW = 2


class AccountingStatus(IntEnum):
    """invoice.cspb_accountingstatus"""
    NOT_SYNCED = 1
    SYNCED = 2
    FAILED = 3


class InvoiceState(IntEnum):
    """invoice.statecode (platform values)"""
    ACTIVE = 0
    CLOSED = 1
    PAID = 2
    CANCELED = 3


class StateCode(IntEnum):
    """statecode of custom tables and most standard ones"""
    ACTIVE = 0
    INACTIVE = 1


class ProductState(IntEnum):
    """product.statecode (platform values)"""
    ACTIVE = 0
    RETIRED = 1
    DRAFT = 2
    UNDER_REVISION = 3


# Every choice enum above with the table.column(s) it holds; the consistency test walks this.
CHOICES: dict[type[IntEnum], tuple[str, ...]] = {
    Provider: ("cspb_provideraccount.cspb_provider", "cspb_subscription.cspb_provider"),
    MappingStatus: ("cspb_provideraccount.cspb_mappingstatus",),
    BillingFrequency: ("cspb_billingcontract.cspb_frequency",),
    BillingPolicy: ("cspb_billingcontract.cspb_policy",),
    RefundPolicy: ("cspb_billingcontract.cspb_refundpolicy",),
    ProrateUnit: ("cspb_billingcontract.cspb_prorateunit",),
    UsageGrouping: ("cspb_billingcontract.cspb_usagegrouping",),
    SuspendedBilling: ("cspb_billingcontract.cspb_suspendedbilling",),
    TaxCategory: ("product.cspb_taxcategory", "cspb_taxrate.cspb_taxcategory"),
    SubscriptionStatus: ("cspb_subscription.cspb_status",),
    SubscriptionKind: ("cspb_subscription.cspb_kind",),
    TransitionState: ("cspb_subscription.cspb_transitionstate",),
    ChangeType: ("cspb_licensechangelog.cspb_changetype",),
    ChangeOrigin: ("cspb_licensechangelog.cspb_origin",),
    ProvisioningStatus: ("cspb_licensechangelog.cspb_provisioningstatus",),
    AgreementStatus: ("cspb_agreement.cspb_status",),
    ReconFileStatus: ("cspb_reconfile.cspb_status",),
    SyncRunStatus: ("cspb_syncrun.cspb_status",),
    InboxStatus: ("cspb_inbox.cspb_status",),
    PaymentStatus: ("cspb_payment.cspb_status",),
    PriceChangeStatus: ("cspb_pricechange.cspb_status",),
    CatalogSelectionKind: ("cspb_catalogselection.cspb_kind",),
    PortalRole: ("contact.cspb_portalrole",),
    PriceReviewStatus: ("productpricelevel.cspb_reviewstatus",),
    InvoicePaymentStatus: ("invoice.cspb_paymentstatus",),
    AccountingStatus: ("invoice.cspb_accountingstatus",),
    InvoiceLineType: ("invoicedetail.cspb_linetype",),
    InvoiceState: ("invoice.statecode",),
    StateCode: ("cspb_subscription.statecode", "account.statecode"),
    ProductState: ("product.statecode",),
    DunningKind: ("cspb_dunningevent.cspb_kind",),
    ActionKind: ("cspb_actionrequest.cspb_action",),
    ActionStatus: ("cspb_actionrequest.cspb_status",),
}
