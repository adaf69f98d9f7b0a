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
    ExchangeRate,
    Frequency,
    Policy,
    Provider,
    ProvisioningStatus,
    RefundPolicy,
    SubscriptionKind,
    SubscriptionStatus,
    TaxCategory,
    TaxRate,
    UsageGrouping,
)
from dataverse.client import DataverseClient
from dataverse.map_billing import exchange_rate_row, tax_rate_row
from dataverse.odata import bind, literal
from dataverse.stores.accounts import create_account
from dataverse.tables import EntitySet

START = date(2026, 1, 1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _account(dv: DataverseClient, name: str) -> str:
    for row in dv.list(EntitySet.ACCOUNTS, select=["accountid"], filter=f"name eq {literal(name)}"):
        return str(row["accountid"])
    return create_account(dv, name)


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


def seed_showcase(dv: DataverseClient) -> dict[str, str]:
    """Rows the demo adds on top of `seed_billing` to show the money path on real invoices: the
    tax rate table (per jurisdiction and category), a removal inside its seat addition's 168-hour
    window on a contract that refunds (a credit), and a customer in a currency Microsoft does not
    price in (COP), priced from USD at the exchange-rate table's rate of each month."""
    ids: dict[str, str] = {}
    for rate in (TaxRate("US-WA", TaxCategory.STANDARD, Decimal("10.25"), "WA sales tax 10.25%"),
                 TaxRate("ES", TaxCategory.STANDARD, Decimal("21"), "IVA 21%"),
                 TaxRate("ES", TaxCategory.REDUCED, Decimal("10"), "IVA 10%"),
                 TaxRate("CO", TaxCategory.STANDARD, Decimal("19"), "IVA 19%")):
        row = tax_rate_row(rate)
        ids[row["cspb_taxratekey"]] = dv.upsert(EntitySet.TAX_RATES, {"cspb_taxratekey": row["cspb_taxratekey"]}, row).id
    for month in range(1, 13):
        fx = ExchangeRate(f"2026-{month:02d}", "USD", "COP", Decimal("4000") + 10 * month, "demo: monthly USD/COP")
        row = exchange_rate_row(fx)
        dv.upsert(EntitySet.EXCHANGE_RATES, {"cspb_ratekey": row["cspb_ratekey"]}, row)
    acct = _account(dv, "Contoso Billing Demo")
    dv.update(EntitySet.ACCOUNTS, acct, {"address1_line1": "1 Microsoft Way", "address1_city": "Redmond",
                                         "address1_stateorprovince": "WA", "address1_postalcode": "98052",
                                         "address1_country": "US", "cspb_taxid": "US-91-1144442"})
    c3 = dv.get_by_key(EntitySet.BILLING_CONTRACTS, {"cspb_contractnumber": "BC-3001"}, select=["cspb_billingcontractid"])
    if c3 is not None:
        dv.update(EntitySet.BILLING_CONTRACTS, c3["cspb_billingcontractid"], {"cspb_taxjurisdiction": "ES"})

    ids["BC-1002"] = c = _contract(
        dv, "BC-1002", acct, cspb_frequency=int(Frequency.MONTHLY), cspb_policy=int(Policy.ADVANCE),
        cspb_currencycode="USD", cspb_refundpolicy=int(RefundPolicy.YES), cspb_taxjurisdiction="US-WA",
        cspb_paymenttermsdays=15)
    ids["sub-teams"] = teams = _subscription(
        dv, "demo-sub-teams", c, name="Microsoft Teams Essentials", cspb_quantity=6, cspb_unitprice=Decimal("4.00"),
        cspb_term="P1Y", cspb_billingfrequency="P1M", cspb_kind=int(SubscriptionKind.LICENSE), cspb_currencycode="USD",
        cspb_startdate=_midnight(date(2026, 1, 10)))
    ids["log-teams-new"] = _change(dv, "demo-teams-new", teams, ChangeType.NEW, date(2026, 1, 10), 0, 8)
    # Two seats removed four days after they were bought: inside the 168-hour window.
    ids["log-teams-dec"] = _change(dv, "demo-teams-dec", teams, ChangeType.DECREASE, date(2026, 1, 14), 8, 6)

    ids["BC-4001"] = co = _contract(
        dv, "BC-4001", acct, cspb_frequency=int(Frequency.MONTHLY), cspb_policy=int(Policy.ADVANCE),
        cspb_currencycode="COP", cspb_language="es", cspb_taxjurisdiction="CO")
    ids["sub-cop"] = _subscription(
        dv, "demo-sub-cop", co, name="Microsoft 365 Business Basic", cspb_quantity=3, cspb_unitprice=Decimal("7.20"),
        cspb_term="P1Y", cspb_billingfrequency="P1M", cspb_kind=int(SubscriptionKind.LICENSE), cspb_currencycode="USD")
    return ids
