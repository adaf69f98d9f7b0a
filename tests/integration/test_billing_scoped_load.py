"""A fanned-out billing message reads only its own contracts' rows (issue 15: planning streams):
the scoped load returns exactly what the whole-partner load returns for those contracts, and its
row count over the wire does not grow with the rest of the partner."""

import pytest

from dataverse.billing_repo import DataverseBillingRepository
from dataverse.seed_billing import seed_billing

pytestmark = pytest.mark.integration


def _key(data):
    return (sorted(c.number for c in data.contracts), sorted(s.id for s in data.subscriptions),
            sorted(c.id for c in data.change_logs), sorted(u.summary_key for u in data.usage),
            sorted(str(i) for i in data.one_time_items))


def _restricted(data, numbers):
    from dataclasses import replace

    contracts = [c for c in data.contracts if c.number in numbers]
    ids = {c.id for c in contracts}
    subs = [s for s in data.subscriptions if s.contract_id in ids]
    sub_ids = {s.id for s in subs}
    usage_ids = {s.provider_subscription_id for s in subs}
    return replace(data, contracts=contracts, subscriptions=subs,
                   change_logs=[c for c in data.change_logs if c.subscription_id in sub_ids],
                   usage=[u for u in data.usage if u.subscription_id in usage_ids or u.entitlement_id in usage_ids],
                   one_time_items=[i for i in data.one_time_items if i.contract_id in ids])


def test_scoped_load_is_the_whole_load_restricted_to_the_batch(dv, dv_server):
    seed_billing(dv)
    repo = DataverseBillingRepository(dv)
    whole = repo.load()
    numbers = sorted(c.number for c in whole.contracts)
    assert len(numbers) >= 3 and whole.usage and whole.change_logs
    for batch in [[n] for n in numbers] + [numbers[:2], numbers]:
        scoped = repo.load(batch)
        assert _key(scoped) == _key(_restricted(whole, set(batch))), batch
        assert scoped.rates == whole.rates and scoped.tax_rates == whole.tax_rates


def test_a_batch_reads_the_same_rows_however_big_the_partner(dv, dv_server):
    """Rows Dataverse sends for one batch, before and after the partner grows by other contracts'
    subscriptions and change logs: the batch's reads are scoped, not filtered after reading."""
    ids = seed_billing(dv)
    repo = DataverseBillingRepository(dv)
    sent = []
    original = dv.list

    def counting_list(*args, **kwargs):
        for row in original(*args, **kwargs):
            sent.append(row)
            yield row

    dv.list = counting_list
    repo.load(["BC-1001"])
    before = len(sent)
    dv.list = original
    other = ids["BC-2001"]
    dv.bulk_upsert("cspb_subscriptions", "cspb_subscription", ["cspb_providersubscriptionid"], [{
        "cspb_providersubscriptionid": f"grow-{n}", "cspb_name": f"grow {n}", "cspb_quantity": 1, "cspb_kind": 1,
        "cspb_billingcontract@odata.bind": f"/cspb_billingcontracts({other})"} for n in range(300)])
    dv.list = counting_list
    sent.clear()
    repo.load(["BC-1001"])
    dv.list = original
    assert len(sent) == before
