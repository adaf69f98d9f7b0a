"""What the provisioning worker reads from Dataverse to send an order exactly once to a provider
that has no idempotency key (Pax8): which provider orders and subscriptions other change logs
already hold, which other change logs of the same customer are mid-send, and what the product
knows about the customer for the order form (domain, Microsoft tenant id, MCA acceptance).

Column names stay here (and in solution/); sync/provisioning.py calls these typed helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from billing.models import ProvisioningStatus
from dataverse.client import DataverseClient
from dataverse.odata import any_of
from dataverse.stores.change_logs import Change
from dataverse.stores.provider_accounts import OrderingAccount
from dataverse.tables import AgreementStatus, EntitySet, Provider
from distributors.base import MicrosoftAcceptance, OrderContext
from shared.dates import parse_datetime as parse_dt
from shared.errors import ConflictError

# Change logs in these states may hold an order at the provider that nobody has claimed yet.
IN_DOUBT = (int(ProvisioningStatus.SENDING), int(ProvisioningStatus.NEEDS_REVIEW))


@dataclass(frozen=True)
class RivalSend:
    """Another change log of the same provider account whose order may be in the provider's list."""

    changelog_id: str
    product_id: str
    sku_id: str
    quantity: int


def _in(column: str, values: Iterable[str], *, guid: bool = False) -> str:
    return f"({any_of(column, values, quote_values=not guid)})"


def claimed_orders(dv: DataverseClient, order_ids: Iterable[str], *, except_changelog: str) -> set[str]:
    """The order ids among `order_ids` that another change log already holds."""
    ids = sorted({o for o in order_ids if o})
    if not ids:
        return set()
    rows = dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_licensechangelogid", "cspb_providerorderid"],
                   filter=_in("cspb_providerorderid", ids))
    return {r["cspb_providerorderid"] for r in rows if r["cspb_licensechangelogid"] != except_changelog}


def claimed_subscriptions(dv: DataverseClient, provider_ids: Iterable[str], *, except_subscription: str) -> set[str]:
    """The provider subscription ids among `provider_ids` that another Dynamics subscription holds."""
    ids = sorted({s for s in provider_ids if s})
    if not ids:
        return set()
    rows = dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid", "cspb_providersubscriptionid"],
                   filter=_in("cspb_providersubscriptionid", ids))
    return {r["cspb_providersubscriptionid"] for r in rows if r["cspb_subscriptionid"] != except_subscription}


def rival_sends(dv: DataverseClient, provider_account_id: str, *, except_changelog: str) -> list[RivalSend]:
    """Change logs Sending or NeedsReview on subscriptions of the same provider account: a
    provider order that matches ours may be theirs."""
    subs = {s["cspb_subscriptionid"]: s for s in dv.list(
        EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid", "cspb_productid", "cspb_skuid"],
        filter=f"_cspb_provideraccount_value eq {provider_account_id}")}
    if not subs:
        return []
    status = any_of("cspb_provisioningstatus", IN_DOUBT)
    rows = dv.list(EntitySet.LICENSE_CHANGE_LOGS,
                   select=["cspb_licensechangelogid", "_cspb_subscription_value", "cspb_newquantity"],
                   filter=f"({status})")
    out = []
    for row in rows:
        sub = subs.get(row.get("_cspb_subscription_value") or "")
        if sub is None or row["cspb_licensechangelogid"] == except_changelog:
            continue
        out.append(RivalSend(row["cspb_licensechangelogid"], sub.get("cspb_productid") or "",
                             sub.get("cspb_skuid") or "", int(row.get("cspb_newquantity") or 0)))
    return out


def order_context(dv: DataverseClient, provider_account: OrderingAccount) -> OrderContext:
    """Domain, Microsoft tenant id and MCA acceptance for an order placed for `provider_account`.

    The tenant id is the Partner Center provider account of the same CRM account (its external
    id is the customer's tenant id). The acceptance is the latest cspb_agreement of this
    provider account, its CRM account or that Partner Center account: attested ones first,
    then pending ones with a person and a date; failed ones are never used."""
    account_id = provider_account.account_id
    tenant_id = ""
    owners = [provider_account.id]
    if account_id:
        siblings = dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_externalid"],
                           filter=f"_cspb_account_value eq {account_id} and "
                                  f"cspb_provider eq {int(Provider.PARTNER_CENTER)}")
        for row in siblings:
            tenant_id = tenant_id or (row.get("cspb_externalid") or "")
            owners.append(row["cspb_provideraccountid"])
    where = _in("_cspb_provideraccount_value", owners, guid=True)
    if account_id:
        where = f"({where} or _cspb_account_value eq {account_id})"
    rows = dv.list(EntitySet.AGREEMENTS, select=["cspb_firstname", "cspb_lastname", "cspb_email",
                                                 "cspb_dateagreed", "cspb_status"], filter=where)
    usable = [r for r in rows if r.get("cspb_status") != int(AgreementStatus.FAILED) and r.get("cspb_email")
              and r.get("cspb_firstname") and r.get("cspb_lastname") and r.get("cspb_dateagreed")]
    usable.sort(key=lambda r: (r.get("cspb_status") == int(AgreementStatus.ATTESTED), r["cspb_dateagreed"]))
    acceptance = None
    if usable:
        best = usable[-1]
        agreed = parse_dt(best["cspb_dateagreed"])
        if agreed is not None:
            acceptance = MicrosoftAcceptance(best["cspb_firstname"], best["cspb_lastname"], best["cspb_email"],
                                             agreed.date())
    return OrderContext(domain=provider_account.domain or "", tenant_id=tenant_id,
                        acceptance=acceptance)


def mark_sending(dv: DataverseClient, changelog_id: str, key: str, when: datetime) -> None:
    """The intent, written before the POST: state Sending, the time, our reference."""
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, {
        "cspb_provisioningstatus": int(ProvisioningStatus.SENDING), "cspb_idempotencykey": key,
        "cspb_senttoprovideron": when.astimezone(UTC).isoformat()})


def claim_order(dv: DataverseClient, changelog_id: str, order_id: str) -> bool:
    """Puts `order_id` on the change log. False when another change log holds it already (the
    column is an alternate key, so Dataverse itself refuses a second holder)."""
    try:
        dv.update(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, {"cspb_providerorderid": order_id})
    except ConflictError:
        return False
    return True


def send_state(change: Change) -> tuple[bool, datetime | None, str]:
    """(is Sending, when it was sent, the order id it already claimed) of a change log."""
    return change.sending, change.sent_on, change.provider_order_id or ""
