"""PEC netting lives in billing/pec.py (pure, billing's half-up rounding); recon's aggregation calls it."""

from __future__ import annotations

from decimal import Decimal as D

from billing.pec import AMOUNT_PLACES, cost_before_pec, pec_earned
from tests.plugins.recon import usage_row, write_csv


def test_pec_earned_is_price_times_quantity_times_rate_times_percentage() -> None:
    assert pec_earned(D("0.10"), D("30"), D("0.9231"), D("15")) == D("0.4153950000")
    assert pec_earned(D("2.00"), D("5"), D("1"), D("0")) == D("0E-10")
    assert cost_before_pec(D("8.50"), pec_earned(D("2.00"), D("5"), D("1"), D("15"))) == D("10.0000000000")


def test_a_tie_at_the_last_place_rounds_half_up_like_every_other_amount() -> None:
    # 0.00000000005 exactly: half-even would give 0E-10, billing's rule gives 1E-10.
    assert pec_earned(D("0.0000000005"), D("1"), D("1"), D("10")) == D("1E-10")
    assert pec_earned(D("0.0000000015"), D("1"), D("1"), D("10")) == D("2E-10")  # half-even would agree here
    assert AMOUNT_PLACES == 10


def test_recon_aggregation_nets_pec_through_billing(tmp_path) -> None:
    from recon.aggregate import aggregate_usage

    rows = [usage_row(Quantity="3", UnitPrice="2.00", BillingPreTaxTotal="5.10", PricingPreTaxTotal="5.10",
                      PCToBCExchangeRate="0.9231"),
            usage_row(Quantity="7", UnitPrice="2.00", BillingPreTaxTotal="11.90", PricingPreTaxTotal="11.90",
                      PCToBCExchangeRate="0.9231")]
    path = tmp_path / "usage.csv"
    write_csv(path, rows)
    (group,) = aggregate_usage(path, quarantine_path=tmp_path / "q.jsonl").groups
    earned = pec_earned(D("2.00"), D("10"), D("0.9231"), D("15"))
    assert group.pec_amount == earned
    assert group.cost_before_pec == cost_before_pec(group.cost, earned)


def test_recon_writes_dataverse_money_at_four_places_half_up() -> None:
    from billing.models import UsageSummary
    from recon.store import MONEY_PLACES, usage_summary_record

    record = usage_summary_record(UsageSummary("k", "sub", "2026-10", "USD", D("1.23445"), cost_before_pec=D("2.00005"),
                                               pec_amount=D("0.77"), quantity=D("3")))
    assert (record["cspb_cost"], record["cspb_costbeforepec"]) == (D("1.2345"), D("2.0001"))
    assert D("1.23445").quantize(MONEY_PLACES) == D("1.2344")  # a quantum, as recon/run.py uses it (half-even here)
