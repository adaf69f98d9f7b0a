"""What a Partner Center transition changes in Dynamics: the new subscription, linked to the one it
replaced (cspb_transitionedfrom), and the change logs billing reads, dated at the transition.

The source gives up `quantity` seats at the transition moment (all of them: it ends, Expired) and
the target starts with them at the same moment, so proration charges each seat-day once: the
source up to the transition, the target from it. Column names stay here (and in solution/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.models import ChangeOrigin, ChangeType, ProvisioningStatus, SubscriptionStatus
from dataverse.client import DataverseClient
from dataverse.odata import bind
from dataverse.tables import EntitySet

# The price is not copied: the target is another item (or the paid version of a trial), priced by
# the catalog when billing assigns it.
_COPIED = ("cspb_provider", "_cspb_provideraccount_value", "_cspb_billingcontract_value", "cspb_kind")
_LOOKUPS = {"_cspb_provideraccount_value": ("cspb_provideraccount", EntitySet.PROVIDER_ACCOUNTS),
            "_cspb_billingcontract_value": ("cspb_billingcontract", EntitySet.BILLING_CONTRACTS)}


def record_transition(dv: DataverseClient, source_id: str, transition: dict[str, Any], *, quantity_before: int,
                      when: datetime) -> str:
    """The new cspb_subscription for `transition` (Partner Center's Transition resource), linked to
    `source_id`; the source's seats move at `when`. Returns the new subscription's id. A repeat for
    the same toSubscriptionId finds the row it made before (upsert on the provider id)."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = dv.get(EntitySet.SUBSCRIPTIONS, source_id, select=[*_COPIED, "cspb_name", "cspb_currencycode"])
    product, sku, availability = (str(transition["toCatalogItemId"]).split(":") + ["", "", ""])[:3]
    moved = int(transition.get("quantity") or 0)
    values: dict[str, Any] = {
        "cspb_name": f"{source.get('cspb_name') or 'Subscription'} (transitioned)"[:100],
        "cspb_productid": product, "cspb_skuid": sku, "cspb_availabilityid": availability or None,
        "cspb_offerid": transition["toCatalogItemId"], "cspb_quantity": moved,
        "cspb_term": transition.get("termDuration") or None,
        "cspb_billingfrequency": _frequency(transition.get("billingCycle")),
        "cspb_status": int(SubscriptionStatus.ACTIVE), "cspb_startdate": stamp, "cspb_autorenew": True,
        "cspb_transitionedfrom@odata.bind": bind(EntitySet.SUBSCRIPTIONS, source_id),
    }
    for column in ("cspb_provider", "cspb_kind"):
        if source.get(column) is not None:
            values[column] = source[column]
    # It joins the old one's contract, so the contract assignment never prices it: it starts at the
    # price list's price now, in the old one's currency (a transition is priced from today's list).
    currency = source.get("cspb_currencycode")
    price = _list_price(dv, product, sku, values["cspb_term"], values["cspb_billingfrequency"], currency)
    if price is not None:
        values.update({"cspb_unitprice": price, "cspb_currencycode": currency})
    for column, (nav, entity_set) in _LOOKUPS.items():
        if source.get(column):
            values[f"{nav}@odata.bind"] = bind(entity_set, source[column])
    new_id = dv.upsert(EntitySet.SUBSCRIPTIONS, {"cspb_providersubscriptionid": transition["toSubscriptionId"]},
                       values).id
    left = max(0, quantity_before - moved)
    dv.update(EntitySet.SUBSCRIPTIONS, source_id, {"cspb_quantity": left} if left else {
        "cspb_quantity": 0, "cspb_status": int(SubscriptionStatus.EXPIRED), "cspb_commitmentenddate": stamp,
        "cspb_autorenew": False})
    key = transition.get("id") or transition["toSubscriptionId"]
    for sub_id, change_type, old, new, name in (
            (source_id, ChangeType.DECREASE, quantity_before, left, "transition out"),
            (new_id, ChangeType.NEW, 0, moved, "transition in")):
        dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": f"transition|{key}|{name}"}, {
            "cspb_name": f"{name} {transition['toCatalogItemId']}"[:100], "cspb_changetype": int(change_type),
            "cspb_oldquantity": old, "cspb_newquantity": new, "cspb_effectivedate": stamp,
            "cspb_origin": int(ChangeOrigin.TRANSITION),
            "cspb_provisioningstatus": int(ProvisioningStatus.NOT_APPLICABLE),
            "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub_id)})
    return str(new_id)


def _list_price(dv: DataverseClient, product: str, sku: str, term: str | None, frequency: str | None,
                currency: str | None) -> Decimal | None:
    from billing.contract_assignment import subscription_price_key
    from billing.models import Subscription
    from dataverse.stores.price_lists import load_prices

    if not currency:
        return None
    key = subscription_price_key(Subscription("", 0, Decimal(0), provider_product_id=product, sku_id=sku,
                                              term=term or "", billing_frequency=frequency or ""), currency)
    return load_prices(dv, [key]).get(key or "") if key else None


_PORTALS = {"tdsynnex": ("TD SYNNEX", "StreamOne Ion"), "pax8": ("Pax8", "the Pax8 portal"),
            "ingram": ("Ingram Micro", "Cloud Marketplace")}


def manual_steps(provider: str, *, company: str, subscription: str, item: str, term: str, frequency: str,
                 quantity: int) -> str:
    """What a person does when the provider's API offers no transition (TD SYNNEX, Pax8)."""
    name, portal = _PORTALS.get(provider, (provider, "the provider's portal"))
    target = item or "the same product"
    return (f"{name} offers no term, billing or SKU change (transition) through its API, so nothing was sent. "
            f"By hand: in {portal}, open customer {company or '?'}, subscription {subscription}, and change it to "
            f"{target}, term {term or 'unchanged'}, billing {frequency or 'unchanged'}, for {quantity} seat(s). "
            "The next subscription sync brings the change into Dynamics (a new subscription, or the new term on "
            "this one); nothing else to do here.")


def _frequency(cycle: Any) -> str | None:
    return {"monthly": "P1M", "annual": "P1Y", "triennial": "P3Y"}.get(str(cycle or "").lower())


def ending_trials(dv: DataverseClient, now: datetime) -> list[dict[str, Any]]:
    """Trial subscriptions (cspb_status Trial) whose trial has ended by `now`."""
    when = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return list(dv.list(EntitySet.SUBSCRIPTIONS, select=[
        "cspb_subscriptionid", "cspb_quantity", "cspb_commitmentenddate", "cspb_converttopaid", "cspb_productid",
        "cspb_skuid", "cspb_availabilityid", "cspb_term"],
        filter=f"cspb_status eq {int(SubscriptionStatus.TRIAL)} and cspb_commitmentenddate le {when}"))


@dataclass(frozen=True)
class EndingTrial:
    """A trial subscription whose trial has ended, as the trial-end run decides on it."""

    subscription_id: str
    trial_end: datetime | None
    convert_to_paid: bool | None
    row: dict[str, Any]  # what trial_change reads


def ending_trial_records(dv: DataverseClient, now: datetime) -> list[EndingTrial]:
    from shared.dates import parse_datetime

    return [EndingTrial(str(row["cspb_subscriptionid"]), parse_datetime(row.get("cspb_commitmentenddate")),
                        row.get("cspb_converttopaid"), row) for row in ending_trials(dv, now)]


def trial_change(dv: DataverseClient, trial: dict[str, Any], *, convert: bool, now: datetime) -> str:
    """The change log for a trial's end: a Term Change to the paid version (same item, its term, paid
    monthly) when converting, else a Cancel dated at the trial's end (auto-renew off). Keyed on the
    subscription, so a second run finds the same change log."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = ":".join(trial[k] for k in ("cspb_productid", "cspb_skuid", "cspb_availabilityid") if trial.get(k))
    quantity = int(trial.get("cspb_quantity") or 1)
    values: dict[str, Any] = {
        "cspb_name": ("trial to paid " if convert else "trial expires ") + item,
        "cspb_changetype": int(ChangeType.TERM_CHANGE if convert else ChangeType.CANCEL),
        "cspb_oldquantity": quantity, "cspb_newquantity": quantity if convert else 0,
        "cspb_effectivedate": trial.get("cspb_commitmentenddate") if not convert else stamp,
        "cspb_origin": int(ChangeOrigin.RENEWAL), "cspb_requestedby": "trial end",
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, trial["cspb_subscriptionid"])}
    if convert:
        values.update({"cspb_targetcatalogitemid": item, "cspb_targetterm": trial.get("cspb_term") or "P1Y",
                       "cspb_targetbillingfrequency": "P1M"})
    return str(dv.upsert(EntitySet.LICENSE_CHANGE_LOGS,
                         {"cspb_changekey": f"trial-end|{trial['cspb_subscriptionid']}"}, values).id)


def mark_expired(dv: DataverseClient, subscription_id: str) -> None:
    dv.update(EntitySet.SUBSCRIPTIONS, subscription_id, {"cspb_status": int(SubscriptionStatus.EXPIRED),
                                                          "cspb_autorenew": False})
