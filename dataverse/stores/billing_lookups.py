"""The lookups the billing job wiring (jobs/billing.py, jobs/billing_fanout.py) makes outside the
billing run's own repository (dataverse/billing_repo.py): typed, so jobs/ names no Dataverse column."""

from __future__ import annotations

from billing.models import BillingContract, Subscription, UsageSummary
from dataverse import map_billing as m
from dataverse.client import DataverseClient
from dataverse.odata import literal
from dataverse.tables import EntitySet


def active_contract_numbers(dv: DataverseClient) -> list[str]:
    """Every active billing contract's number, in number order."""
    return sorted(str(r["cspb_contractnumber"]) for r in dv.list(
        EntitySet.BILLING_CONTRACTS, select=["cspb_contractnumber"], filter="statecode ne 1")
        if r.get("cspb_contractnumber"))


def contract_number(dv: DataverseClient, contract_id: str) -> str:
    return str(dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=["cspb_contractnumber"])["cspb_contractnumber"])


def invoice_numbers(dv: DataverseClient) -> dict[str, tuple[str, str]]:
    """Invoice id -> (invoice number, currency)."""
    return {r["invoiceid"]: (r.get("invoicenumber") or "", r.get("cspb_currencycode") or "")
            for r in dv.list(EntitySet.INVOICES, select=["invoiceid", "invoicenumber", "cspb_currencycode"])}


def billed_usage(dv: DataverseClient) -> list[UsageSummary]:
    return [m.usage_from_row(r) for r in dv.list(EntitySet.USAGE_SUMMARIES, select=m.USAGE_SELECT,
                                                 filter="cspb_billed eq true")]


def find_subscription(dv: DataverseClient, reference: str) -> Subscription | None:
    """A subscription by its provider subscription id, or by its row id (a GUID)."""
    ref = (reference or "").strip()
    rows = list(dv.list(EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT,
                        filter=f"cspb_providersubscriptionid eq {literal(ref)}"))
    if not rows and len(ref) == 36:
        rows = list(dv.list(EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT, filter=f"cspb_subscriptionid eq {ref}"))
    return m.subscription_from_row(rows[0]) if rows else None


def all_subscriptions(dv: DataverseClient) -> list[Subscription]:
    return [m.subscription_from_row(r) for r in dv.list(EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT)]


def all_contracts(dv: DataverseClient) -> list[BillingContract]:
    return [m.contract_from_row(r) for r in dv.list(EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT)]
