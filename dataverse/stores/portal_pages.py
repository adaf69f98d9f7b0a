"""What one portal page reads from Dataverse, in one round trip.

A page used to read one object at a time (the account, then its contracts, then their
subscriptions, then the provider accounts, then their agreements): six sequential requests for the
home page, each paying Dataverse's latency. Here every query a page needs goes out as one `$batch`
of GETs. Queries that used to need an earlier answer (the subscriptions of the account's contracts)
filter through the lookup instead (`cspb_billingcontract/_cspb_account_value eq <account>`, a
single-valued navigation property in $filter), and the shop's price list items bring their
product and unit along with `$expand`, so no page waits on another read before asking the next.

Every query names the signed-in account in its $filter, so another customer's rows are never
returned; the one exception is the change logs of a subscription page (filtered by subscription
id), which the caller drops unless the subscription itself came back, i.e. is the customer's.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dataverse import odata
from dataverse.batch import BatchRequest
from dataverse.client import DataverseClient
from dataverse.errors import error_from_parts
from dataverse.stores import contracts, invoices
from dataverse.stores.accounts import ACCOUNT_COLUMNS as ACCOUNT_COLUMNS
from dataverse.stores.portal_subscriptions import AGREEMENT_COLUMNS as AGREEMENT_COLUMNS
from dataverse.stores.portal_subscriptions import AGREEMENT_PROVIDER_ACCOUNT as AGREEMENT_PROVIDER_ACCOUNT
from dataverse.stores.portal_subscriptions import CHANGE_COLUMNS as CHANGE_COLUMNS
from dataverse.stores.portal_subscriptions import CHANGE_SUBSCRIPTION as CHANGE_SUBSCRIPTION
from dataverse.stores.portal_subscriptions import PROVIDER_ACCOUNT_COLUMNS as PROVIDER_ACCOUNT_COLUMNS
from dataverse.stores.portal_subscriptions import SUBSCRIPTION_COLUMNS as SUBSCRIPTION_COLUMNS
from dataverse.stores.portal_subscriptions import SUBSCRIPTION_CONTRACT as SUBSCRIPTION_CONTRACT
from dataverse.stores.products import OFFER_PRODUCT_COLUMNS as OFFER_PRODUCT_COLUMNS
from dataverse.stores.products import PORTAL_OFFERS as PORTAL_OFFERS
from dataverse.stores.products import PRICE_COLUMNS as PRICE_COLUMNS
from dataverse.tables import EntitySet

Row = dict[str, Any]

INVOICE_COLUMNS, INVOICE_LINE_COLUMNS = invoices.PORTAL_COLUMNS, invoices.PORTAL_LINE_COLUMNS
CONTRACT_COLUMNS = contracts.PORTAL_COLUMNS

# Page size asked of each part; a customer with more rows than this costs one more request per page.
PAGE_SIZE = 5000


@dataclass(frozen=True)
class Query:
    """One GET: a collection query (filter/select/expand/orderby)."""

    entity_set: str
    filter: str | None = None
    select: Sequence[str] = ()
    expand: str | None = None
    orderby: str | None = None

    def path(self) -> str:
        encoded = odata.query_string({"$select": ",".join(self.select) or None, "$filter": self.filter,
                                      "$expand": self.expand, "$orderby": self.orderby})
        return f"{self.entity_set}?{encoded}" if encoded else self.entity_set


def read_together(dv: DataverseClient, queries: Sequence[Query]) -> builtins.list[builtins.list[Row]]:
    """Each query's rows, in order, from one `$batch` (one query: one plain GET). Reads only, so the
    batch is safe to send again; a failed part raises its own error. A part that pages (more rows
    than PAGE_SIZE) follows its nextLink with further requests."""
    if not queries:
        return []
    if len(queries) == 1:
        # The query string rides in the path, so dv.list's paging (nextLinks) applies as for any list.
        return [list(dv.list(queries[0].path(), page_size=PAGE_SIZE))]
    headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
    responses = dv.batch([BatchRequest("GET", q.path(), headers=dict(headers)) for q in queries], changeset=False)
    out: builtins.list[builtins.list[Row]] = []
    for response in responses:
        if not response.ok:
            raise error_from_parts(response.status, response.body, response.headers)
        body = response.body or {}
        rows = list(body.get("value", []))
        next_link = body.get("@odata.nextLink")
        if next_link:
            rows.extend(dv.list(next_link, page_size=PAGE_SIZE))
        out.append(rows)
    return out


def _account_eq(column: str, account_id: str) -> str:
    return f"{column} eq {account_id}"


# The account a row belongs to, per table, as a $filter path (through a lookup where the table has
# no account column of its own).
ACCOUNT_LOOKUP = "_cspb_account_value"  # contracts and provider accounts name their account directly
SUBSCRIPTION_OWNER = "cspb_billingcontract/_cspb_account_value"
AGREEMENT_OWNER = "cspb_provideraccount/_cspb_account_value"


def contracts_query(account_id: str) -> Query:
    return Query(EntitySet.BILLING_CONTRACTS, _account_eq(ACCOUNT_LOOKUP, account_id), CONTRACT_COLUMNS)


def subscriptions_query(account_id: str) -> Query:
    return Query(EntitySet.SUBSCRIPTIONS, _account_eq(SUBSCRIPTION_OWNER, account_id), SUBSCRIPTION_COLUMNS)


def invoices_query(account_id: str) -> Query:
    return Query(EntitySet.INVOICES, _account_eq("_customerid_value", account_id), INVOICE_COLUMNS)


def account_query(account_id: str) -> Query:
    return Query(EntitySet.ACCOUNTS, _account_eq("accountid", account_id), ACCOUNT_COLUMNS)


def provider_accounts_query(account_id: str) -> Query:
    return Query(EntitySet.PROVIDER_ACCOUNTS, _account_eq(ACCOUNT_LOOKUP, account_id),
                 PROVIDER_ACCOUNT_COLUMNS)


def agreements_query(account_id: str) -> Query:
    return Query(EntitySet.AGREEMENTS, _account_eq(AGREEMENT_OWNER, account_id), AGREEMENT_COLUMNS)


@dataclass
class AgreementRows:
    provider_accounts: list[Row] = field(default_factory=list)
    agreements: list[Row] = field(default_factory=list)


@dataclass
class HomeRows:
    account: Row | None
    subscriptions: list[Row]
    invoices: list[Row]
    agreement: AgreementRows


@dataclass
class SubscriptionRows:
    subscription: Row | None
    changes: list[Row]


@dataclass
class InvoiceRows:
    invoice: Row | None
    lines: list[Row]
    account: Row | None


@dataclass
class ShopRows:
    contracts: list[Row]
    agreement: AgreementRows


class PortalPages:
    """The reads of each portal page, one round trip each (the shop: two, its offers depend on the
    contract chosen). Ids are GUIDs checked by the caller."""

    def __init__(self, dv: DataverseClient) -> None:
        self.dv = dv

    def home(self, account_id: str, *, subscriptions: bool = True, invoices: bool = True) -> HomeRows:
        queries = [account_query(account_id), provider_accounts_query(account_id), agreements_query(account_id)]
        if subscriptions:
            queries.append(subscriptions_query(account_id))
        if invoices:
            queries.append(invoices_query(account_id))
        account, accounts, agreements, *rest = read_together(self.dv, queries)
        subs = rest.pop(0) if subscriptions else []
        invs = rest.pop(0) if invoices else []
        return HomeRows(account[0] if account else None, subs, invs, AgreementRows(accounts, agreements))

    def subscriptions(self, account_id: str) -> list[Row]:
        return read_together(self.dv, [subscriptions_query(account_id)])[0]

    def subscription(self, account_id: str, subscription_id: str) -> SubscriptionRows:
        sub_filter = f"cspb_subscriptionid eq {subscription_id} and {_account_eq(SUBSCRIPTION_OWNER, account_id)}"
        subs, changes = read_together(self.dv, [
            Query(EntitySet.SUBSCRIPTIONS, sub_filter, SUBSCRIPTION_COLUMNS),
            Query(EntitySet.LICENSE_CHANGE_LOGS, f"{CHANGE_SUBSCRIPTION} eq {subscription_id}", CHANGE_COLUMNS)])
        if not subs:  # not this customer's: its change logs are not shown either
            return SubscriptionRows(None, [])
        return SubscriptionRows(subs[0], changes)

    def invoice(self, account_id: str, invoice_id: str) -> InvoiceRows:
        invoices, lines, account = read_together(self.dv, [
            Query(EntitySet.INVOICES, f"invoiceid eq {invoice_id} and {_account_eq('_customerid_value', account_id)}",
                  INVOICE_COLUMNS),
            Query(EntitySet.INVOICE_DETAILS, f"_invoiceid_value eq {invoice_id}", INVOICE_LINE_COLUMNS),
            account_query(account_id)])
        if not invoices:
            return InvoiceRows(None, [], None)
        return InvoiceRows(invoices[0], lines, account[0] if account else None)

    def agreement(self, account_id: str) -> AgreementRows:
        accounts, agreements = read_together(self.dv, [provider_accounts_query(account_id),
                                                       agreements_query(account_id)])
        return AgreementRows(accounts, agreements)

    def shop(self, account_id: str) -> ShopRows:
        contracts, accounts, agreements = read_together(self.dv, [
            contracts_query(account_id), provider_accounts_query(account_id), agreements_query(account_id)])
        return ShopRows(contracts, AgreementRows(accounts, agreements))

    def offers(self, pricelevel_id: str) -> list[Row]:
        """The price list's items for portal-visible, active products, each with its product
        (`productid`) and unit (`uomid`) expanded: one request."""
        return read_together(self.dv, [Query(
            EntitySet.PRODUCT_PRICE_LEVELS,
            f"_pricelevelid_value eq {pricelevel_id} and "
            + " and ".join(f"productid/{term}" for term in PORTAL_OFFERS.split(" and ")),
            PRICE_COLUMNS,
            expand=f"productid($select={','.join(OFFER_PRODUCT_COLUMNS)}),uomid($select=uomid,name)")])[0]
