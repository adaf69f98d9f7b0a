"""The benches compare the same work: each baseline must produce what ours produces."""

from __future__ import annotations

from dataclasses import replace

from bench import bench_billing
from bench._common import load_average
from billing.runs import plan_run


def test_billing_baseline_plans_exactly_our_invoices() -> None:
    data = bench_billing.make_data(24)
    ours = plan_run(data, bench_billing.RUN_DATE).invoices
    assert ours
    assert bench_billing.fingerprint(bench_billing.naive_plan(data)) == bench_billing.fingerprint(ours)
    # on a sample too: the baseline sees every contract's input, plans only the sample's
    sample = replace(data, contracts=tuple(data.contracts[:5]))
    numbers = {c.number for c in sample.contracts}
    assert bench_billing.fingerprint(bench_billing.naive_plan(sample)) == bench_billing.fingerprint(
        [inv for inv in ours if inv.contract_number in numbers])


def test_load_average_names_the_cores() -> None:
    assert load_average().startswith("load ") and "cores" in load_average()


def test_billing_planned_in_batches_is_the_whole_plan():
    """`bench billing` plans batch by batch (as the fan-out messages do) and checks the sum against
    one plan of the whole partner; here on a small partner, batches not dividing it evenly."""
    from billing.runs import plan_run

    whole = plan_run(bench_billing.make_data(23), bench_billing.RUN_DATE).invoices
    streamed = bench_billing.stream_plan(23, 5)
    assert streamed["invoices"] == len(whole)
    assert streamed["digest"] == bench_billing.digest(whole)
    assert bench_billing.make_data(5, first=10).contracts == bench_billing.make_data(15).contracts[10:]
