"""Usage lines (Azure plan, usage-based marketplace), always billed in arrears.

Each rated usage summary carries its cost net of partner earned credit. The customer price is
cost x (1 + contract markup %) converted into the contract currency with the rate of the
summary's month. Summaries are grouped per the contract (subscription, meter category, or
resource-group tag) and each group is rounded once. A minimum commitment bills the higher of the
minimum and the actual usage: a top-up line for the difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from billing.currency import RateTable
from billing.cycles import Cycle
from billing.lines import make_line
from billing.models import BillingContract, InvoiceLine, LineType, UsageGrouping, UsageSummary
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


def customer_price(contract: BillingContract, summary: UsageSummary, rates: RateTable) -> Decimal:
    """Unrounded price of one summary in the contract currency."""
    marked_up = summary.cost * (1 + contract.usage_markup_pct / HUNDRED)
    return rates.convert(marked_up, summary.currency or contract.currency, contract.currency, summary.period)


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
    for group in sorted(groups):
        members = sorted(groups[group], key=lambda s: s.summary_key)
        exact = sum((customer_price(contract, s, rates) for s in members), ZERO)
        periods = sorted({s.period for s in members})
        lines.append(make_line(
            # The key names the group, not its members: a re-run after a partial write finds the
            # same line even if some of its summaries were already marked billed.
            key=f"{invoice_key}|usage|{group}",
            line_type=LineType.USAGE,
            description=text(contract.language, "usage", group=group, periods=", ".join(periods)),
            quantity=1,
            unit_price=exact,
            exact_amount=exact,
            currency=contract.currency,
            tax_pct=contract.tax_rate_pct,
            period_start=period_start(periods[0]),
            period_end=period_end(periods[-1]),
            usage_summary_keys=tuple(s.summary_key for s in members),
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
