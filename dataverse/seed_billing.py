"""Seed a Dataverse (normally the sandbox) with a small billing world the demo and the billing
integration tests invoice: three contracts covering advance license billing with a mid-cycle
increase, Azure usage in arrears with markup and a minimum commitment, and an annual prepaid
contract in EUR (revenue schedule). Idempotent: rows are upserted on their alternate keys."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing.models import (
    ChangeType,
    Frequency,
    Policy,
    Provider,
    ProvisioningStatus,
    RefundPolicy,
    SubscriptionKind,
    SubscriptionStatus,
    UsageGrouping,
)
from dataverse.client import DataverseClient
from dataverse.odata import bind, literal
from dataverse.tables import EntitySet

START = date(2026, 1, 1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _account(dv: DataverseClient, name: str) -> str:
    for row in dv.list(EntitySet.ACCOUNTS, select=["accountid"], filter=f"name eq {literal(name)}"):
        return row["accountid"]
    return dv.create(EntitySet.ACCOUNTS, {"name": name})


def _contract(dv: DataverseClient, number: str, account_id: str, **values: Any) -> str:
    row = {
        "cspb_name": number, "cspb_contractnumber": number,
        "cspb_account@odata.bind": bind(EntitySet.ACCOUNTS, account_id),
        "cspb_startdate": START, "cspb_language": "en", "cspb_refundpolicy": int(RefundPolicy.USE_GLOBAL),
        **values,
    }
    return dv.upsert(EntitySet.BILLING_CONTRACTS, {"cspb_contractnumber": number}, row).id


def _subscription(dv: DataverseClient, psid: str, contract_id: str, **values: Any) -> str:
    row = {
        "cspb_name": values.pop("name", psid), "cspb_providersubscriptionid": psid,
        "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, contract_id),
        "cspb_status": int(SubscriptionStatus.ACTIVE), "cspb_startdate": _midnight(START), "cspb_autorenew": True,
        # Entered by hand for the billing demo: no Microsoft charge to reconcile them against.
        "cspb_provider": int(Provider.MANUAL),
        **values,
    }
    return dv.upsert(EntitySet.SUBSCRIPTIONS, {"cspb_providersubscriptionid": psid}, row).id


def _change(dv: DataverseClient, key: str, sub_id: str, kind: ChangeType, day: date, old: int, new: int) -> str:
    row = {
        "cspb_name": key, "cspb_changekey": key,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub_id),
        "cspb_changetype": int(kind), "cspb_effectivedate": _midnight(day), "cspb_oldquantity": old,
        "cspb_newquantity": new, "cspb_provisioningstatus": int(ProvisioningStatus.PROVISIONED),
        "cspb_archived": False,
    }
    return dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": key}, row).id


def _usage(dv: DataverseClient, key: str, subscription: str, period: str, category: str, cost: str) -> str:
    row = {
        "cspb_name": key, "cspb_summarykey": key, "cspb_subscriptionid": subscription, "cspb_period": period,
        "cspb_metercategory": category, "cspb_currencycode": "USD", "cspb_cost": Decimal(cost),
        "cspb_costbeforepec": Decimal(cost), "cspb_pecamount": Decimal("0"), "cspb_rowcount": 1, "cspb_billed": False,
    }
    return dv.upsert(EntitySet.USAGE_SUMMARIES, {"cspb_summarykey": key}, row).id


def seed_billing(dv: DataverseClient) -> dict[str, str]:
    """Create (or refresh) the billing demo rows; returns their ids by a short name."""
    ids: dict[str, str] = {}
    ids["account"] = acct = _account(dv, "Contoso Billing Demo")
    ids["BC-1001"] = c1 = _contract(
        dv, "BC-1001", acct, cspb_frequency=int(Frequency.MONTHLY), cspb_policy=int(Policy.ADVANCE),
        cspb_currencycode="USD", cspb_taxratepct=Decimal("10"), cspb_refundpolicy=int(RefundPolicy.YES))
    ids["sub-e3"] = e3 = _subscription(
        dv, "demo-sub-e3", c1, name="Microsoft 365 E3", cspb_quantity=15, cspb_unitprice=Decimal("36.00"),
        cspb_term="P1Y", cspb_billingfrequency="P1M", cspb_kind=int(SubscriptionKind.LICENSE), cspb_currencycode="USD")
    ids["log-new"] = _change(dv, "demo-e3-new", e3, ChangeType.NEW, START, 0, 10)
    ids["log-inc"] = _change(dv, "demo-e3-inc", e3, ChangeType.INCREASE, date(2026, 1, 16), 10, 15)

    ids["BC-2001"] = c2 = _contract(
        dv, "BC-2001", acct, cspb_frequency=int(Frequency.MONTHLY), cspb_policy=int(Policy.ARREARS),
        cspb_currencycode="USD", cspb_usagemarkuppct=Decimal("10"), cspb_minimumcommitment=Decimal("300.00"),
        cspb_usagegrouping=int(UsageGrouping.METER_CATEGORY))
    ids["sub-az"] = _subscription(
        dv, "demo-azure-plan", c2, name="Azure plan", cspb_quantity=1, cspb_unitprice=Decimal("0"),
        cspb_kind=int(SubscriptionKind.AZURE_PLAN), cspb_currencycode="USD")
    ids["usage-compute"] = _usage(dv, "demo-az|2026-01|Compute", "demo-azure-plan", "2026-01", "Compute", "250.00")
    ids["usage-storage"] = _usage(dv, "demo-az|2026-01|Storage", "demo-azure-plan", "2026-01", "Storage", "20.004")

    ids["BC-3001"] = c3 = _contract(
        dv, "BC-3001", acct, cspb_frequency=int(Frequency.ANNUAL), cspb_policy=int(Policy.ADVANCE),
        cspb_currencycode="EUR", cspb_language="es")
    ids["sub-bp"] = _subscription(
        dv, "demo-sub-bp", c3, name="Microsoft 365 Business Premium", cspb_quantity=5,
        cspb_unitprice=Decimal("220.00"), cspb_term="P1Y", cspb_billingfrequency="P1Y",
        cspb_kind=int(SubscriptionKind.LICENSE), cspb_currencycode="EUR")
    return ids
