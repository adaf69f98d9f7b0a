"""Mid-term change-log invoices (Work 365 §4.5) for quarterly, annual and triennial contracts
billed in advance: rather than waiting up to a year for the next cycle invoice, the seats added
(and credits allowed) since the last invoice, and one-time purchases, are billed once a month.

The change-log invoice of a month is keyed contract|first day of month|changelog and is due from
the first of the month plus the contract offset; it is dated on the day the run creates it. It takes every unbilled, unarchived change
effective on or before the run date whose own cycle invoice has not started yet, prorated to
that next cycle start - exactly the line (same line key) the next cycle invoice would otherwise
carry, so the two can never both bill it. Monthly and arrears contracts do not use them.
"""

from __future__ import annotations

from datetime import date, timedelta

from billing.currency import RateTable
from billing.cycles import Cycle, offset_days
from billing.license_lines import LicenseContext, change_line
from billing.models import (
    BillingContract,
    ChangeLog,
    Frequency,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    Policy,
    SubscriptionKind,
    invoice_key,
)
from billing.tax import due_date
from billing.texts import text
from billing.timeline import Timeline


def changelog_month(contract: BillingContract, run_date: date) -> date | None:
    """First day of the month whose change-log invoice is due on run_date, or None."""
    if contract.frequency is Frequency.MONTHLY or contract.policy is not Policy.ADVANCE:
        return None
    first = run_date.replace(day=1)
    if first < contract.start_date or (contract.end_date is not None and first > contract.end_date):
        return None
    if run_date < first + timedelta(days=max(0, offset_days(contract))):
        return None
    return first


def changelog_key(contract: BillingContract, month_first: date) -> str:
    return invoice_key(contract.number, month_first, InvoiceKind.CHANGELOG)


def plan_changelog(contract, data, run_date: date, month_first: date, *, rates: RateTable,  # type: ignore[no-untyped-def]
                   natural_cycle, one_time_line, global_refund: bool = True,
                   taken: frozenset[str] = frozenset(), billed_line_keys: frozenset[str] = frozenset()) -> Invoice | None:
    key = changelog_key(contract, month_first)
    lines: list[InvoiceLine] = []
    consumed: list[str] = []
    logs_by_sub: dict[str, list[ChangeLog]] = {}
    for log in data.change_logs:
        if log.shapes_billing:
            logs_by_sub.setdefault(log.subscription_id, []).append(log)

    def upcoming(day: date) -> Cycle | None:
        cycle = natural_cycle(contract, day)
        return cycle if cycle is not None and cycle.start > run_date else None

    for sub in data.subscriptions:
        if sub.kind is not SubscriptionKind.LICENSE:
            continue
        sub_logs = logs_by_sub.get(sub.id or sub.provider_subscription_id, [])
        timeline = Timeline(sub, sub_logs)
        for log in sub_logs:
            if log.archived or log.invoice_id is not None or log.change_key in taken or log.effective_date > run_date:
                continue
            target = upcoming(log.effective_date)
            if target is None:
                continue
            consumed.append(log.change_key)
            line = change_line(LicenseContext(contract, target, key, rates, global_refund), sub, timeline, log)
            if line is not None:
                lines.append(line)
    for item in data.one_time_items:
        line_key = f"onetime|{item.key}"
        if line_key in billed_line_keys or item.effective_date > run_date or upcoming(item.effective_date) is None:
            continue
        lines.append(one_time_line(contract, item, rates))
    if not lines:
        return None
    lines.sort(key=lambda ln: (int(ln.line_type), ln.key))
    month_end = (month_first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return Invoice(
        key=key, contract_number=contract.number, kind=InvoiceKind.CHANGELOG, period_start=month_first,
        period_end=month_end, invoice_date=run_date, due_date=due_date(contract, run_date),
        currency=contract.currency, lines=tuple(lines), contract_id=contract.id, account_id=contract.account_id,
        price_level_id=contract.price_level_id, transaction_currency_id=contract.transaction_currency_id,
        language=contract.language,
        name=text(contract.language, "invoice", contract=contract.number, start=month_first, end=month_end),
        change_log_keys=tuple(sorted(consumed)),
    )
