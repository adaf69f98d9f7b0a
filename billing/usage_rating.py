"""Usage lines (Azure plan, usage-based marketplace), always billed in arrears.

Each rated usage summary carries its cost net of partner earned credit. The customer price is
cost x (1 + contract markup %) converted into the contract currency with the rate of the
summary's month. Summaries are grouped per the contract (subscription, meter category, or
resource-group tag) and each group is rounded once. A minimum commitment bills the higher of the
minimum and the actual usage: a top-up line for the difference.

Whose figures are billed: by default only Microsoft's billed usage of a closed period (Work 365
bills "confirmed" usage; Microsoft invoices by the 8th and the daily-rated file follows). A contract
may bill the unbilled (estimated) figures from day N of the following month; when Microsoft's
billed figures later replace an estimate, a true-up line bills the difference on the next invoice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from billing.catalog_pricing import pricing_currency
from billing.currency import RateTable
from billing.cycles import Cycle
from billing.lines import make_line
from billing.models import BillingContract, InvoiceLine, LineType, UsageGrouping, UsageSource, UsageSummary
from billing.texts import text

HUNDRED = Decimal(100)
ZERO = Decimal(0)
UNTAGGED = "untagged"


def period_start(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def period_end(period: str) -> date:
    first = period_start(period)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def usage_currency(contract: BillingContract, summary: UsageSummary) -> str:
    return (summary.currency or pricing_currency(contract.currency)).upper()


def customer_price(contract: BillingContract, summary: UsageSummary, rates: RateTable,
                   cost: Decimal | None = None) -> Decimal:
    """Unrounded price of one summary (or of `cost` in its currency) in the contract currency."""
    marked_up = (summary.cost if cost is None else cost) * (1 + contract.usage_markup_pct / HUNDRED)
    return rates.convert(marked_up, usage_currency(contract, summary), contract.currency, summary.period)


def billable_on(contract: BillingContract, summary: UsageSummary, invoice_day: date) -> bool:
    """Microsoft-billed usage always; estimated usage only from the contract's day N of the month
    after its period, and never without that setting."""
    if summary.source is not UsageSource.UNBILLED:
        return True
    day = contract.estimated_usage_day
    return day is not None and invoice_day >= period_end(summary.period) + timedelta(days=max(1, day))


def needs_true_up(summary: UsageSummary) -> bool:
    """Invoiced, and Microsoft's billed figures now say something else: billed as an estimate and
    the billed figures have arrived since, or billed on Microsoft's figures and Microsoft revised
    them after the month closed (late usage, a correction, a charge withdrawn)."""
    if summary.source is not UsageSource.BILLED or summary.billed_cost is None:
        return False
    return summary.billed_source is UsageSource.UNBILLED or summary.billed_cost != summary.cost


def billed_delta(summary: UsageSummary) -> Decimal | None:
    """Microsoft's current cost minus the cost the customer was invoiced on (in the summary's
    currency, before markup); None when never invoiced or nothing changed."""
    if summary.billed_cost is None or summary.billed_cost == summary.cost:
        return None
    return summary.cost - summary.billed_cost


def _conversion(contract: BillingContract, members: list[UsageSummary], rates: RateTable):  # type: ignore[no-untyped-def]
    used = {(usage_currency(contract, s), s.period) for s in members}
    if len(used) != 1:
        return None
    currency, month = used.pop()
    return rates.conversion(currency, contract.currency, month)[1]


def _split(contract: BillingContract, groups: dict[str, list[UsageSummary]]) -> dict[str, list[UsageSummary]]:
    """A group that mixes currencies or months is split per (month, currency) when it is converted,
    so every converted line shows the one rate it was converted at."""
    out: dict[str, list[UsageSummary]] = {}
    for group, members in groups.items():
        combos = {(s.period, usage_currency(contract, s)) for s in members}
        foreign = any(cur != contract.currency for _, cur in combos)
        if len(combos) <= 1 or not foreign:
            out[group] = members
            continue
        for period, cur in sorted(combos):
            out[f"{group}|{period}|{cur}"] = [s for s in members if (s.period, usage_currency(contract, s)) == (period, cur)]
    return out


def true_up_lines(contract: BillingContract, summaries: Iterable[UsageSummary], invoice_key: str,
                  rates: RateTable) -> list[InvoiceLine]:
    """One line per group: Microsoft's billed price minus the estimate the customer was billed."""
    groups: dict[str, list[UsageSummary]] = defaultdict(list)
    for summary in summaries:
        if needs_true_up(summary):
            groups[group_of(contract, summary)].append(summary)
    lines = []
    for group, members in sorted(_split(contract, groups).items()):
        members = sorted(members, key=lambda s: s.summary_key)
        exact = sum((customer_price(contract, s, rates) - customer_price(contract, s, rates, s.billed_cost)
                     for s in members), ZERO)
        periods = sorted({s.period for s in members})
        lines.append(make_line(
            key=f"{invoice_key}|trueup|{group}",
            line_type=LineType.USAGE if exact >= 0 else LineType.CREDIT,
            description=text(contract.language,
                             "trueup" if any(s.billed_source is UsageSource.UNBILLED for s in members) else "trueup_revised",
                             group=group.split("|")[0], periods=", ".join(periods)),
            quantity=1, unit_price=exact, exact_amount=exact, currency=contract.currency,
            tax_pct=contract.tax_rate_pct,
            period_start=period_start(periods[0]), period_end=period_end(periods[-1]),
            usage_summary_keys=tuple(s.summary_key for s in members),
            conversion=_conversion(contract, members, rates),
        ))
    return lines


def group_of(contract: BillingContract, summary: UsageSummary) -> str:
    if contract.usage_grouping is UsageGrouping.METER_CATEGORY:
        return summary.meter_category or "other"
    if contract.usage_grouping is UsageGrouping.RESOURCE_GROUP_TAG:
        return summary.resource_group_tag or UNTAGGED
    return summary.subscription_id


def usage_lines(contract: BillingContract, summaries: Iterable[UsageSummary], invoice_key: str,
                rates: RateTable) -> list[InvoiceLine]:
    groups: dict[str, list[UsageSummary]] = defaultdict(list)
    for summary in summaries:
        groups[group_of(contract, summary)].append(summary)
    lines = []
    for group, members in sorted(_split(contract, groups).items()):
        members = sorted(members, key=lambda s: s.summary_key)
        exact = sum((customer_price(contract, s, rates) for s in members), ZERO)
        periods = sorted({s.period for s in members})
        estimated = any(s.source is UsageSource.UNBILLED for s in members)
        lines.append(make_line(
            # The key names the group, not its members: a re-run after a partial write finds the
            # same line even if some of its summaries were already marked billed.
            key=f"{invoice_key}|usage|{group}",
            line_type=LineType.USAGE,
            description=text(contract.language, "estimated" if estimated else "usage", group=group.split("|")[0],
                             periods=", ".join(periods)),
            quantity=1,
            unit_price=exact,
            exact_amount=exact,
            currency=contract.currency,
            tax_pct=contract.tax_rate_pct,
            period_start=period_start(periods[0]),
            period_end=period_end(periods[-1]),
            usage_summary_keys=tuple(s.summary_key for s in members),
            conversion=_conversion(contract, members, rates),
        ))
    return lines


def minimum_commitment_line(contract: BillingContract, usage: list[InvoiceLine], invoice_key: str,
                            cycle: Cycle) -> InvoiceLine | None:
    minimum = contract.minimum_commitment
    if not minimum or minimum <= 0:
        return None
    actual = sum((line.base_amount for line in usage), ZERO)
    if actual >= minimum:
        return None
    top_up = minimum - actual
    return make_line(
        key=f"{invoice_key}|minimum",
        line_type=LineType.MINIMUM_COMMITMENT,
        description=text(contract.language, "minimum", start=cycle.start, end=cycle.end),
        quantity=1,
        unit_price=top_up,
        exact_amount=top_up,
        currency=contract.currency,
        tax_pct=contract.tax_rate_pct,
        period_start=cycle.start,
        period_end=cycle.end,
    )
