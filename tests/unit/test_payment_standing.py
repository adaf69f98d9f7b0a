"""billing.payment_standing: where an invoice stood right after one of its payments (what a receipt shows)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.payment_standing import Standing, standing_after
from dataverse.stores.payments import Payment
from dataverse.tables import PaymentStatus

TOTAL = Decimal("1428.00")


def _attempt(key: str, amount: str, status: PaymentStatus = PaymentStatus.SUCCEEDED, *, day: int = 5,
             at: tuple[int, int] = (9, 0)) -> Payment:
    settled = datetime(2026, 11, day, *at, tzinfo=UTC)
    return Payment(key=key, invoice_id="inv", amount=Decimal(amount), processor="stripe", status=status,
                   currency="EUR", paid_on=settled.date() if status == PaymentStatus.SUCCEEDED else None,
                   modified_on=settled.date(), modified_at=settled)


def test_each_payment_counts_itself_and_the_ones_before_it():
    first, second = _attempt("a", "400.00", day=5), _attempt("b", "1028.00", day=20)
    history = [first, second]
    assert standing_after(TOTAL, history, "a") == Standing(Decimal("400.00"), Decimal("1028.00"))
    assert standing_after(TOTAL, history, "b") == Standing(Decimal("1428.00"), Decimal("0.00"))
    # The first receipt is the same before and after the second payment exists.
    assert standing_after(TOTAL, [first], "a") == standing_after(TOTAL, history, "a")


def test_failed_and_pending_attempts_never_count():
    history = [_attempt("x", "1428.00", PaymentStatus.FAILED, day=1), _attempt("p", "1428.00", PaymentStatus.PENDING),
               _attempt("a", "428.00", day=6)]
    assert standing_after(TOTAL, history, "a") == Standing(Decimal("428.00"), Decimal("1000.00"))


def test_an_attempt_started_first_but_settled_later_counts_after_the_one_that_paid_first():
    """A 3-D Secure attempt created at 09:00 and confirmed at 11:00 the same day comes after a payment
    created at 09:30 that succeeded at once: the 09:30 receipt does not change when the 09:00 attempt settles."""
    held = _attempt("held", "300.00", at=(11, 0))
    quick = _attempt("quick", "500.00", at=(9, 30))
    assert standing_after(TOTAL, [quick], "quick") == standing_after(TOTAL, [held, quick], "quick") \
        == Standing(Decimal("500.00"), Decimal("928.00"))
    assert standing_after(TOTAL, [held, quick], "held") == Standing(Decimal("800.00"), Decimal("628.00"))


def test_two_payments_settled_in_the_same_second_are_told_apart_by_the_row_version():
    """modifiedon has seconds only: Dataverse's row version (one counter for every write) orders them, so
    the receipt of the one recorded first never counts the other, whichever key sorts first."""
    from dataclasses import replace

    first = replace(_attempt("zz-first", "100.00"), version=41)
    second = replace(_attempt("aa-second", "200.00"), version=57)
    for history in ([first], [first, second], [second, first]):
        assert standing_after(TOTAL, history, "zz-first") == Standing(Decimal("100.00"), Decimal("1328.00"))
    assert standing_after(TOTAL, [second, first], "aa-second") == Standing(Decimal("300.00"), Decimal("1128.00"))


def test_same_moment_falls_back_to_creation_order():
    history = [_attempt("one", "100.00"), _attempt("two", "100.00")]
    assert standing_after(TOTAL, history, "one").balance == Decimal("1328.00")
    assert standing_after(TOTAL, history, "two").balance == Decimal("1228.00")


def test_minor_units_are_the_currencys():
    yen = [Payment(key="y", invoice_id="inv", amount=Decimal("500"), status=PaymentStatus.SUCCEEDED,
                   paid_on=date(2026, 11, 5))]
    assert standing_after(Decimal("1428"), yen, "y") == Standing(Decimal("500"), Decimal("928"))
    fils = [Payment(key="k", invoice_id="inv", amount=Decimal("60.125"), status=PaymentStatus.SUCCEEDED)]
    assert str(standing_after(Decimal("100.250"), fils, "k").balance) == "40.125"


def test_a_key_that_is_not_a_succeeded_payment_is_refused():
    with pytest.raises(ValueError, match="'p' is not a succeeded payment"):
        standing_after(TOTAL, [_attempt("p", "1.00", PaymentStatus.PENDING)], "p")
