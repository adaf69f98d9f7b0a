"""Dunning: what to do about an overdue invoice today, from the contract's policy and what was done.

Pure rules. A step is identified by (kind, step number), and each is done at most once per invoice.
When a run was missed, only the latest due reminder or retry is done (a customer never gets three
reminders in one morning), and nothing goes backwards: once a later reminder or the final notice went
out, earlier ones are not sent. Flagging for suspension only asks a person to decide; CSPBridge never
suspends at Microsoft by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import IntEnum


class DunningKind(IntEnum):
    """A dunning event's kind."""

    REMINDER = 1
    RETRY = 2
    FINAL = 3
    FLAG = 4


@dataclass(frozen=True)
class DunningPolicy:
    reminder_days: tuple[int, ...] = (7, 14)
    retry_days: tuple[int, ...] = (3, 7, 14)
    final_day: int | None = 30
    suspend_day: int | None = None  # off unless the contract asks for it
    off: bool = False


DEFAULT_POLICY = DunningPolicy()


@dataclass(frozen=True)
class DunningStep:
    kind: DunningKind
    step: int          # 1-based position in its schedule (1 for the final notice and the flag)
    day: int           # days overdue at which it falls due
    days_overdue: int  # days overdue today

    def key(self, invoice_id: str) -> str:
        return f"{invoice_id}|{int(self.kind)}|{self.step}"


def parse_days(text: str | None, field: str) -> tuple[int, ...] | None:
    """'7, 14' -> (7, 14). None or blank -> None (use the default). Anything else names what is wrong."""
    if text is None or not str(text).strip():
        return None
    days = []
    for token in str(text).replace(";", ",").split(","):
        token = token.strip()
        if not token:
            continue
        if not token.isdigit() or int(token) <= 0:
            raise ValueError(f"{field}: {token!r} is not a positive number of days")
        days.append(int(token))
    return tuple(sorted(set(days)))


def policy_from(reminder_days: str | None = None, retry_days: str | None = None, final_day: int | None = None,
                suspend_day: int | None = None, off: bool = False) -> DunningPolicy:
    for name, value in (("final notice day", final_day), ("suspension day", suspend_day)):
        if value is not None and value <= 0:
            raise ValueError(f"{name}: {value} is not a positive number of days")
    return DunningPolicy(
        reminder_days=parse_days(reminder_days, "reminder days") or DEFAULT_POLICY.reminder_days,
        retry_days=parse_days(retry_days, "charge retry days") or DEFAULT_POLICY.retry_days,
        final_day=final_day if final_day is not None else DEFAULT_POLICY.final_day,
        suspend_day=suspend_day,
        off=off,
    )


def _latest(kind: DunningKind, days: tuple[int, ...], overdue: int, done: set[tuple[int, int]],
            before: int | None) -> DunningStep | None:
    due = [(n, day) for n, day in enumerate(days, start=1) if day <= overdue and (before is None or day < before)]
    if not due:
        return None
    step, day = due[-1]
    if any((int(kind), later) in done for later in range(step, len(days) + 1)):
        return None
    return DunningStep(kind, step, day, overdue)


def due_steps(policy: DunningPolicy, *, due_date: date, today: date, balance: Decimal,
              done: set[tuple[int, int]], can_retry: bool) -> list[DunningStep]:
    """The steps to take today, in order. `done` holds the (kind, step) pairs already recorded."""
    if policy.off or balance <= 0 or today <= due_date:
        return []
    overdue = (today - due_date).days
    final_done = (int(DunningKind.FINAL), 1) in done
    steps: list[DunningStep] = []
    if can_retry:
        retry = _latest(DunningKind.RETRY, policy.retry_days, overdue, done, None)
        if retry is not None:
            steps.append(retry)
    final_due = policy.final_day is not None and overdue >= policy.final_day
    if final_due and not final_done:
        steps.append(DunningStep(DunningKind.FINAL, 1, policy.final_day or 0, overdue))
    elif not final_done and not final_due:
        reminder = _latest(DunningKind.REMINDER, policy.reminder_days, overdue, done, policy.final_day)
        if reminder is not None:
            steps.append(reminder)
    if (policy.suspend_day is not None and overdue >= policy.suspend_day
            and (int(DunningKind.FLAG), 1) not in done):
        steps.append(DunningStep(DunningKind.FLAG, 1, policy.suspend_day, overdue))
    return steps
