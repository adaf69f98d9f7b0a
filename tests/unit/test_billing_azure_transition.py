from __future__ import annotations

from billing.azure_transition import Step, TransitionState, advance, instructions

S = TransitionState


def test_states_move_forward_only():
    assert advance(None, legacy="active", plan_active=False) == Step(S.INSTRUCTIONS_SENT, True)
    assert advance(S.FLAGGED, legacy="active", plan_active=False) == Step(S.INSTRUCTIONS_SENT, True)
    assert advance(S.INSTRUCTIONS_SENT, legacy="active", plan_active=False) is None
    assert advance(S.INSTRUCTIONS_SENT, legacy="active", plan_active=True) == Step(S.NEW_PLAN_SEEN, False)
    # A plan already there at first sight: the steps still go out once.
    assert advance(None, legacy="active", plan_active=True) == Step(S.NEW_PLAN_SEEN, True)
    assert advance(S.NEW_PLAN_SEEN, legacy="active", plan_active=True) is None
    assert advance(S.NEW_PLAN_SEEN, legacy="active", plan_active=False) is None  # a sync that missed the plan
    assert advance(S.NEW_PLAN_SEEN, legacy="suspended", plan_active=False) == Step(S.DONE, False)
    assert advance(S.DONE, legacy="ended", plan_active=True) is None


def test_a_legacy_subscription_suspended_without_a_plan_waits_and_an_ended_one_is_done():
    assert advance(S.INSTRUCTIONS_SENT, legacy="suspended", plan_active=False) is None
    assert advance(S.INSTRUCTIONS_SENT, legacy="ended", plan_active=False) == Step(S.DONE, False)


def test_instructions_name_the_offer_the_plan_and_the_steps():
    text = instructions(customer="Contoso", legacy_name="Microsoft Azure", legacy_id="sub-1", has_plan=False)
    assert "Contoso" in text and "MS-AZR-0145P" in text and "DZH318Z0BPS6" in text and "sub-1" in text
    assert "nothing to buy" in instructions(customer="C", legacy_name="A", legacy_id="s", has_plan=True)
