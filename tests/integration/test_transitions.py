"""Term and billing-cycle conversions and SKU upgrades through Partner Center transitions, from a
Term Change change log in Dynamics: eligibility first, the transition, the new subscription linked
to the old one, and the change logs billing reads (seats leave the source and join the target at
the same moment, so no seat-day is billed twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dataverse.tables import EntitySet
from sync import provisioning
from tests.integration.test_scheduled_changes import _licensed_subscription, _pc_sub

pytestmark = pytest.mark.integration


def _term_change(dv: Any, sub: dict[str, Any], key: str, *, item: str = "", term: str = "", frequency: str = "",
                 quantity: int | None = None, when: datetime | None = None) -> str:
    values: dict[str, Any] = {
        "cspb_changekey": key, "cspb_name": key, "cspb_changetype": 8, "cspb_origin": 1,
        "cspb_provisioningstatus": 1, "cspb_oldquantity": sub["cspb_quantity"],
        "cspb_newquantity": quantity if quantity is not None else sub["cspb_quantity"],
        "cspb_targetcatalogitemid": item or None, "cspb_targetterm": term or None,
        "cspb_targetbillingfrequency": frequency or None,
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub['cspb_subscriptionid']})"}
    if when is not None:
        values["cspb_effectivedate"] = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dv.create(EntitySet.LICENSE_CHANGE_LOGS, values)


def _item(dv: Any, sub_id: str) -> str:
    row = dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=["cspb_productid", "cspb_skuid", "cspb_availabilityid"])
    return ":".join(row[k] for k in ("cspb_productid", "cspb_skuid", "cspb_availabilityid") if row.get(k))


def test_a_billing_cycle_conversion_replaces_the_subscription_and_links_both(dv, sync_pc):
    sub, customer = _licensed_subscription(dv, sync_pc)
    quantity = int(sub["cspb_quantity"])
    item = _item(dv, sub["cspb_subscriptionid"])
    log_id = _term_change(dv, sub, "to-annual", item=item, term="P1Y", frequency="P1Y")
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert outcome.status == "Provisioned", outcome.message
    old = _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"])
    assert old["status"] == "expired"
    new_rows = list(dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid", "cspb_providersubscriptionid",
                                                             "cspb_quantity", "cspb_billingfrequency", "cspb_status",
                                                             "_cspb_transitionedfrom_value"],
                            filter=f"_cspb_transitionedfrom_value eq {sub['cspb_subscriptionid']}"))
    assert len(new_rows) == 1
    new = new_rows[0]
    assert new["cspb_quantity"] == quantity and new["cspb_billingfrequency"] == "P1Y" and new["cspb_status"] == 1
    assert _pc_sub(sync_pc, customer, new["cspb_providersubscriptionid"])["billingCycle"] == "annual"
    source = dv.get(EntitySet.SUBSCRIPTIONS, sub["cspb_subscriptionid"], select=["cspb_status", "cspb_quantity"])
    assert source == {**source, "cspb_status": 3, "cspb_quantity": 0}
    # Billing reads two change logs at the same instant: seats out of the source, into the target.
    logs = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_changetype", "cspb_oldquantity",
                                                               "cspb_newquantity", "cspb_effectivedate",
                                                               "_cspb_subscription_value"],
                        filter="startswith(cspb_changekey,'transition|')"))
    moves = {(r["_cspb_subscription_value"], r["cspb_oldquantity"], r["cspb_newquantity"]) for r in logs}
    assert moves == {(sub["cspb_subscriptionid"], quantity, 0), (new["cspb_subscriptionid"], 0, quantity)}
    assert len({r["cspb_effectivedate"] for r in logs}) == 1
    # A redelivery does nothing more.
    assert provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc}).status == "AlreadyDone"


def test_an_ineligible_target_fails_with_partner_centers_reason(dv, sync_pc):
    from sandbox.partnercenter import catalog

    sub, customer = _licensed_subscription(dv, sync_pc)
    eligible = {i["catalogItemId"] for i in sync_pc.client.transition_eligibilities(
        customer, sub["cspb_providersubscriptionid"], "immediate")}
    other = next(catalog.catalog_item_id(*s[:3]) for s in catalog.LICENSE_SKUS
                 if catalog.catalog_item_id(*s[:3]) not in eligible)
    log_id = _term_change(dv, sub, "to-other", item=other)
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert outcome.status == "Failed" and "does not allow this transition" in outcome.message


def test_an_upgrade_at_renewal_is_scheduled_as_next_term_instructions(dv, sync_pc):
    sub, customer = _licensed_subscription(dv, sync_pc)
    term_end = datetime.fromisoformat(str(sub["cspb_commitmentenddate"]).replace("Z", "+00:00"))
    log_id = _term_change(dv, sub, "upgrade-at-renewal", item="CFQ7TTC0LFLZ:0002:CFQ7TTC0K8RP",
                          when=term_end + timedelta(days=1))
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert outcome.status == "Provisioned", outcome.message
    scheduled = _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"])["scheduledNextTermInstructions"]
    assert scheduled["product"]["productId"] == "CFQ7TTC0LFLZ" and scheduled["product"]["skuId"] == "0002"
