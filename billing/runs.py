"""Plan an invoice run: pure. Given contracts, subscriptions, change logs, usage summaries,
one-time items and exchange rates, and a run date, return the invoices to write.

Which cycles: every cycle of each contract whose invoice date is on or before the run date, from
the contract's next invoice date (the first cycle not invoiced yet) on, however long the timer was
down, minus the ones already invoiced (`existing_invoice_keys`). A run given a limit
(`catch_up_days`) reports a contract with older cycles due as an error and bills none of them,
so nothing is ever skipped silently. A run planned twice
with the same inputs returns the same invoices with the same keys, so writing them with
create-only upserts makes a re-run a no-op.

What goes on a cycle invoice T:
- license lines of every recurring subscription on the contract (billing/license_lines.py);
- change logs not yet billed and not archived, each on the invoice for its natural cycle (arrears:
  the cycle it falls in; advance: the next one, unless it falls on a cycle start), or, if that
  invoice was already written without it, rolled into the first invoice planned after;
- usage summaries not yet billed whose month ended before T's usage cutoff (arrears always: the
  end of T for arrears contracts, the start of T for advance ones); by default only Microsoft's
  billed figures, estimated ones from the contract's day N (billing/usage_rating.py); late usage
  rolls forward onto the next open invoice, and true-ups of billed estimates go on the first;
- one-time items on their natural cycle (never prorated);
- a minimum-commitment top-up when usage is below the contract minimum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from billing.catalog_pricing import pricing_currency
from billing.changelog_invoices import changelog_key, changelog_month, plan_changelog
from billing.currency import RateTable
from billing.cycles import (
    Cycle,
    cycle_at,
    cycle_containing,
    due_cycles,
    invoice_date,
    next_cycle_to_invoice,
    overdue_cycles,
)
from billing.license_lines import LicenseContext, change_line, full_line, implicit_start
from billing.lines import make_line
from billing.models import (
    USAGE_KINDS,
    BillingContract,
    ChangeLog,
    ExchangeRate,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineType,
    OneTimeItem,
    Policy,
    Subscription,
    SubscriptionKind,
    TaxRate,
    UsageSummary,
    invoice_key,
)
from billing.tax import TableTaxCalculator, TaxCalculator, apply_tax, due_date
from billing.texts import text
from billing.timeline import Timeline
from billing.usage_rating import (
    billable_on,
    minimum_commitment_line,
    needs_true_up,
    period_end,
    true_up_lines,
    usage_lines,
)
from shared.dates import require_date
from shared.errors import IntegrationError

LINE_ORDER = {LineType.LICENSE: 0, LineType.PRORATION: 1, LineType.CREDIT: 2, LineType.ONE_TIME: 3,
              LineType.USAGE: 4, LineType.MINIMUM_COMMITMENT: 5}


@dataclass(frozen=True)
class BillingData:
    """Everything a run reads. Subscriptions, usage and one-time items are matched to a contract
    through `contract_id` (the contract's Dataverse id, or its number when it has none)."""

    contracts: Sequence[BillingContract]
    subscriptions: Sequence[Subscription] = ()
    change_logs: Sequence[ChangeLog] = ()
    usage: Sequence[UsageSummary] = ()
    one_time_items: Sequence[OneTimeItem] = ()
    rates: Sequence[ExchangeRate] = ()
    tax_rates: Sequence[TaxRate] = ()


@dataclass
class RunPlan:
    run_date: date
    invoices: list[Invoice] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (contract number, message)
    # Change logs accounted for by a cycle that has nothing to invoice (e.g. a cancel on the cycle
    # start of a contract's only subscription): no invoice can remember them, so they are archived.
    settled_change_keys: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, Decimal | int]]:
        return summarize(self.invoices)


def summarize(invoices: Iterable[Invoice]) -> dict[str, dict[str, Decimal | int]]:
    """Per currency: number of invoices, number of lines, total amount."""
    out: dict[str, dict[str, Decimal | int]] = {}
    for inv in invoices:
        row = out.setdefault(inv.currency, {"invoices": 0, "lines": 0, "total": Decimal(0)})
        row["invoices"] += 1
        row["lines"] += len(inv.lines)
        row["total"] += inv.total
    return dict(sorted(out.items()))


def _belongs(contract: BillingContract, owner: str | None) -> bool:
    return owner is not None and owner in (contract.id, contract.number)


def _natural_cycle(contract: BillingContract, day: date) -> Cycle | None:
    """The cycle whose invoice should carry something that happened on `day`."""
    if day < contract.start_date:
        return cycle_at(contract, 0)
    cycle = cycle_containing(contract, day)
    if cycle is None:
        return None
    if contract.policy is Policy.ARREARS or day == cycle.start:
        return cycle
    return cycle_at(contract, cycle.index + 1)


def _first_full_line_after(contract: BillingContract, log: ChangeLog) -> date | None:
    """Start of the first cycle whose full line carries the seats a change recorded."""
    natural = _natural_cycle(contract, log.effective_date)
    if natural is None:
        return None
    if contract.policy is Policy.ARREARS and log.effective_date > natural.start:
        # In arrears a cycle's full line carries the seats held on its first day: a change on that
        # very day is carried by its own cycle's line, a later one only by the next cycle's.
        return natural.next_start
    return natural.start


def late_cap(contract: BillingContract, log: ChangeLog, logs: Sequence[ChangeLog]) -> date | None:
    """A change entered after a later change was already billed: full lines from that later
    change's cycle on were billed with its seat count, an absolute number that already reflects
    this one, so this change's span must stop there (or it would count twice). A change settled by
    a cycle with nothing to invoice (archived: a cancel on the cycle start) was billed too, at zero
    seats, so a late change before that cancel stops there as well."""
    caps = [_first_full_line_after(contract, other) for other in logs
            if (other.invoice_id is not None or other.archived) and other.effective_date > log.effective_date]
    found = [c for c in caps if c is not None]
    return min(found) if found else None


def _target(planned: list[Cycle], natural: Cycle | None, *, roll: bool = True) -> Cycle | None:
    if natural is None:
        return None
    for cycle in planned:
        if cycle.start == natural.start or (roll and cycle.start > natural.start):
            return cycle
    return None


def _usage_cutoff(contract: BillingContract, cycle: Cycle) -> date:
    return cycle.next_start if contract.policy is Policy.ARREARS else cycle.start


def _usage_period(contract: BillingContract, cycle: Cycle) -> Cycle | None:
    """The period whose usage a cycle invoice bills: the cycle itself in arrears, the one before it
    in advance (None on an advance contract's first invoice: no usage period has ended yet)."""
    if contract.policy is Policy.ARREARS:
        return cycle
    return cycle_at(contract, cycle.index - 1) if cycle.index > 0 else None


def _one_time_line(contract: BillingContract, item: OneTimeItem, rates: RateTable) -> InvoiceLine:
    month = f"{item.effective_date.year:04d}-{item.effective_date.month:02d}"
    rate, conversion = rates.conversion(item.currency or pricing_currency(contract.currency), contract.currency, month)
    unit = item.unit_price * rate
    return make_line(
        key=f"onetime|{item.key}",
        line_type=LineType.ONE_TIME,
        description=text(contract.language, "onetime", name=item.description),
        quantity=item.quantity,
        unit_price=unit,
        exact_amount=unit * item.quantity,
        currency=contract.currency,
        tax_pct=contract.tax_rate_pct,
        period_start=item.effective_date,
        period_end=item.effective_date,
        subscription_id=item.subscription_id,
        product_id=item.product_id,
        conversion=conversion,
    )


def plan_contract(
    contract: BillingContract,
    data: BillingData,
    planned: list[Cycle],
    *,
    rates: RateTable,
    global_refund: bool = True,
    billed_line_keys: frozenset[str] = frozenset(),
    settled: list[str] | None = None,
) -> list[Invoice]:
    """Invoices for the given cycles of one contract (cycles sorted, none already invoiced).
    Change logs a cycle without lines accounted for are added to `settled`."""
    planned = sorted(planned)
    if not planned:
        return []
    subs = [s for s in data.subscriptions if _belongs(contract, s.contract_id)]
    logs_by_sub: dict[str, list[ChangeLog]] = defaultdict(list)
    sub_ids = {s.id or s.provider_subscription_id for s in subs}
    for log in data.change_logs:
        if log.subscription_id in sub_ids:
            logs_by_sub[log.subscription_id].append(log)

    lines: dict[date, list[InvoiceLine]] = defaultdict(list)
    consumed: dict[date, list[str]] = defaultdict(list)
    for sub in subs:
        if sub.kind is SubscriptionKind.ONE_TIME:
            continue
        if sub.kind in USAGE_KINDS and not (sub.unit_price > 0 and sub.quantity > 0):
            continue
        sub_logs = logs_by_sub.get(sub.id or sub.provider_subscription_id, [])
        timeline = Timeline(sub, sub_logs)
        for cycle in planned:
            ctx = LicenseContext(contract, cycle, invoice_key(contract.number, cycle.start, InvoiceKind.CYCLE),
                                 rates, global_refund)
            line = full_line(ctx, sub, timeline)
            if line is not None:
                lines[cycle.start].append(line)
        assigned: list[tuple[Cycle, ChangeLog]] = []
        for log in sub_logs:
            if log.archived or log.invoice_id is not None:
                continue
            target = _target(planned, _natural_cycle(contract, log.effective_date))
            if target is not None:
                assigned.append((target, log))
                consumed[target.start].append(log.change_key)
        synthetic = implicit_start(sub, sub_logs)
        if synthetic is not None and f"{synthetic.change_key}|prorate" not in billed_line_keys:
            # No invoice id to remember it by, so never roll it: bill it on its own cycle or not at all.
            target = _target(planned, _natural_cycle(contract, synthetic.effective_date), roll=False)
            if target is not None:
                assigned.append((target, synthetic))
        for cycle, log in assigned:
            ctx = LicenseContext(contract, cycle, invoice_key(contract.number, cycle.start, InvoiceKind.CYCLE),
                                 rates, global_refund)
            line = change_line(ctx, sub, timeline, log, cap=late_cap(contract, log, sub_logs))
            if line is not None:
                lines[cycle.start].append(line)

    for item in data.one_time_items:
        if not _belongs(contract, item.contract_id) or f"onetime|{item.key}" in billed_line_keys:
            continue
        target = _target(planned, _natural_cycle(contract, item.effective_date))
        if target is not None:
            lines[target.start].append(_one_time_line(contract, item, rates))

    usage_subs = {s.provider_subscription_id for s in subs if s.kind in USAGE_KINDS}
    usage_by_cycle: dict[date, list[UsageSummary]] = defaultdict(list)
    true_ups: list[UsageSummary] = []
    for summary in data.usage:
        if summary.subscription_id not in usage_subs and summary.entitlement_id not in usage_subs:
            continue
        if summary.billed or summary.invoice_id is not None:
            if needs_true_up(summary):
                true_ups.append(summary)
            continue
        ended = period_end(summary.period)
        for cycle in planned:
            if ended < _usage_cutoff(contract, cycle) and billable_on(contract, summary, invoice_date(contract, cycle)):
                usage_by_cycle[cycle.start].append(summary)
                break

    invoices = []
    for cycle in planned:
        key = invoice_key(contract.number, cycle.start, InvoiceKind.CYCLE)
        cycle_lines = lines[cycle.start]
        usage = usage_lines(contract, usage_by_cycle[cycle.start], key, rates)
        cycle_lines.extend(usage)
        if true_ups and cycle is planned[0]:
            cycle_lines.extend(true_up_lines(contract, true_ups, key, rates))
        usage_period = _usage_period(contract, cycle)
        if usage_subs and usage_period is not None:
            minimum = minimum_commitment_line(contract, usage, key, usage_period)
            if minimum is not None:
                cycle_lines.append(minimum)
        if not cycle_lines:
            if settled is not None:
                settled.extend(consumed[cycle.start])
            continue
        cycle_lines.sort(key=lambda ln: (LINE_ORDER[ln.line_type], ln.key))
        invoices.append(Invoice(
            key=key,
            contract_number=contract.number,
            kind=InvoiceKind.CYCLE,
            period_start=cycle.start,
            period_end=cycle.end,
            invoice_date=invoice_date(contract, cycle),
            due_date=due_date(contract, invoice_date(contract, cycle)),
            currency=contract.currency,
            lines=tuple(cycle_lines),
            contract_id=contract.id,
            account_id=contract.account_id,
            price_level_id=contract.price_level_id,
            transaction_currency_id=contract.transaction_currency_id,
            language=contract.language,
            name=text(contract.language, "invoice", contract=contract.number, start=cycle.start, end=cycle.end),
            change_log_keys=tuple(sorted(consumed[cycle.start])),
        ))
    return invoices


def split_by_contract(data: BillingData) -> dict[str, BillingData]:
    """One pass over the inputs, grouped by owning contract (keyed by contract id or number, as the
    rows name it), so planning thousands of contracts stays linear."""
    subs: dict[str, list[Subscription]] = defaultdict(list)
    owner_of_sub: dict[str, str] = {}
    owner_of_usage: dict[str, str] = {}
    for sub in data.subscriptions:
        if sub.contract_id is None:
            continue
        subs[sub.contract_id].append(sub)
        owner_of_sub[sub.id or sub.provider_subscription_id] = sub.contract_id
        if sub.kind in USAGE_KINDS:
            owner_of_usage[sub.provider_subscription_id] = sub.contract_id
    logs: dict[str, list[ChangeLog]] = defaultdict(list)
    for log in data.change_logs:
        owner = owner_of_sub.get(log.subscription_id or "")
        if owner is not None and log.shapes_billing:
            logs[owner].append(log)
    usage: dict[str, list[UsageSummary]] = defaultdict(list)
    for summary in data.usage:
        owner = owner_of_usage.get(summary.subscription_id) or owner_of_usage.get(summary.entitlement_id)
        if owner is not None:
            usage[owner].append(summary)
    items: dict[str, list[OneTimeItem]] = defaultdict(list)
    for item in data.one_time_items:
        if item.contract_id is not None:
            items[item.contract_id].append(item)
    return {owner: BillingData((), subs.get(owner, ()), logs.get(owner, ()), usage.get(owner, ()),
                               items.get(owner, ()), data.rates, data.tax_rates)
            for owner in set(subs) | set(items)}


def _slice_for(contract: BillingContract, slices: dict[str, BillingData], data: BillingData) -> BillingData:
    parts = [slices[k] for k in (contract.id, contract.number) if k is not None and k in slices]
    if len(parts) == 1:
        return replace(parts[0], contracts=(contract,))
    return BillingData((contract,), [s for p in parts for s in p.subscriptions], [c for p in parts for c in p.change_logs],
                       [u for p in parts for u in p.usage], [i for p in parts for i in p.one_time_items], data.rates,
                       data.tax_rates)


def plan_run(
    data: BillingData,
    run_date: date,
    *,
    global_refund: bool = True,
    existing_invoice_keys: Iterable[str] = (),
    billed_line_keys: Iterable[str] = (),
    catch_up_days: int | None = None,
    reopen_keys: Iterable[str] = (),
    tax: TaxCalculator | None = None,
) -> RunPlan:
    """Invoices due on `run_date` for every contract; a contract whose data breaks a rule (e.g. a
    missing exchange rate) is reported in `errors` and the others are still planned.
    `reopen_keys` names half-written cycle invoices to plan again even when they are before the
    contract's next invoice date, so a re-run can finish them. `catch_up_days` is an explicit
    limit: a contract with cycles due longer ago than that is an error, and none of it is billed."""
    reopen: dict[str, set[date]] = defaultdict(set)
    for key in reopen_keys:
        number, _, rest = key.partition("|")
        start, _, kind = rest.partition("|")
        if kind == InvoiceKind.CYCLE.value:
            reopen[number].add(require_date(start, "invoice key"))
    existing = frozenset(existing_invoice_keys)
    billed = frozenset(billed_line_keys)
    plan = RunPlan(run_date)
    try:
        rates = RateTable(data.rates)
    except IntegrationError as exc:
        plan.errors.append(("*", str(exc)))
        return plan
    calculator = tax if tax is not None else TableTaxCalculator(data.tax_rates)
    slices = split_by_contract(data)
    for contract in sorted(data.contracts, key=lambda c: c.number):
        cycles = [c for c in due_cycles(contract, run_date)
                  if invoice_key(contract.number, c.start, InvoiceKind.CYCLE) not in existing]
        if catch_up_days is not None:
            late = overdue_cycles(contract, cycles, run_date, catch_up_days)
            if late:
                plan.errors.append((contract.number, (
                    f"{len(late)} cycle(s) due since {invoice_date(contract, late[0])} (cycle {late[0].start}) are "
                    f"older than the run's limit of {catch_up_days} days; nothing billed for this contract: "
                    f"run again without the limit to bill every cycle")))
                continue
        for begun in reopen.get(contract.number, ()):
            cycle = cycle_containing(contract, begun)
            if cycle is not None and cycle.start == begun and cycle not in cycles:
                cycles.append(cycle)
        month = changelog_month(contract, run_date)
        if month is not None and changelog_key(contract, month) in existing:
            month = None
        if not cycles and month is None:
            continue
        try:
            part = _slice_for(contract, slices, data)
            settled: list[str] = []
            planned = plan_contract(contract, part, cycles, rates=rates, global_refund=global_refund,
                                    billed_line_keys=billed, settled=settled)
            if month is not None:
                taken = frozenset(k for inv in planned for k in inv.change_log_keys)
                billed_now = billed | {ln.key for inv in planned for ln in inv.lines}
                extra = plan_changelog(contract, part, run_date, month, rates=rates, natural_cycle=_natural_cycle,
                                       one_time_line=_one_time_line, global_refund=global_refund, taken=taken,
                                       billed_line_keys=billed_now)
                if extra is not None:
                    planned.append(extra)
            plan.invoices.extend(apply_tax(inv, contract, part.subscriptions, calculator) for inv in planned)
            plan.settled_change_keys.extend(settled)
        except IntegrationError as exc:
            plan.errors.append((contract.number, str(exc)))
    return plan


def preview(
    contract: BillingContract,
    data: BillingData,
    on_date: date,
    *,
    global_refund: bool = True,
    existing_invoice_keys: Iterable[str] = (),
    billed_line_keys: Iterable[str] = (),
    tax: TaxCalculator | None = None,
) -> Invoice | None:
    """The next invoice of one contract: the first cycle not yet invoiced whose invoice date is on
    or after `on_date`. Nothing is written."""
    existing = frozenset(existing_invoice_keys)
    calculator = tax if tax is not None else TableTaxCalculator(data.tax_rates)
    day = on_date
    for _ in range(500):
        cycle = next_cycle_to_invoice(contract, day)
        if cycle is None:
            return None
        if invoice_key(contract.number, cycle.start, InvoiceKind.CYCLE) not in existing:
            invoices = plan_contract(contract, data, [cycle], rates=RateTable(data.rates),
                                     global_refund=global_refund, billed_line_keys=frozenset(billed_line_keys))
            return apply_tax(invoices[0], contract, data.subscriptions, calculator) if invoices else None
        day = invoice_date(contract, cycle) + timedelta(days=1)
    return None
