"""billing/scheduling.py: when a dated change log is sent, and how."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing.models import ChangeType
from billing.scheduling import When, schedule_for

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
END = date(2027, 3, 31)


def _when(change_type: ChangeType, effective: date | None, *, auto_renew: bool | None = True,
          next_term: bool = True, auto_renew_supported: bool = True) -> When:
    return schedule_for(change_type=int(change_type), effective=effective, now=NOW, commitment_end=END,
                        auto_renew=auto_renew, next_term_supported=next_term,
                        auto_renew_supported=auto_renew_supported).when


def test_today_or_past_or_undated_is_sent_now():
    for effective in (None, date(2026, 12, 1), date(2026, 11, 3)):
        assert _when(ChangeType.INCREASE, effective) is When.NOW


def test_a_future_date_inside_the_term_waits():
    assert _when(ChangeType.INCREASE, date(2026, 12, 15)) is When.WAIT
    assert _when(ChangeType.NEW, date(2026, 12, 2)) is When.WAIT
    assert _when(ChangeType.CANCEL, date(2027, 1, 2)) is When.WAIT


def test_a_seat_change_at_renewal_is_a_next_term_instruction_when_the_provider_takes_them():
    assert _when(ChangeType.DECREASE, date(2027, 4, 1)) is When.NEXT_TERM
    assert _when(ChangeType.INCREASE, END) is When.NEXT_TERM
    assert _when(ChangeType.DECREASE, date(2027, 4, 1), next_term=False) is When.WAIT


def test_a_change_at_renewal_needs_auto_renew_on():
    decision = schedule_for(change_type=int(ChangeType.DECREASE), effective=date(2027, 4, 1), now=NOW,
                            commitment_end=END, auto_renew=False, next_term_supported=True, auto_renew_supported=True)
    assert decision.when is When.REFUSE and "auto-renew on" in decision.reason


def test_cancel_at_term_end_turns_auto_renew_off():
    assert _when(ChangeType.CANCEL, END) is When.AUTO_RENEW_OFF
    assert _when(ChangeType.CANCEL, date(2027, 5, 1)) is When.AUTO_RENEW_OFF
    assert _when(ChangeType.CANCEL, END, auto_renew_supported=False) is When.REFUSE
