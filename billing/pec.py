"""Partner earned credit (PEC) on Azure plan usage: how much was earned, and the cost before it. Pure.

A daily-rated usage row carries UnitPrice (Microsoft's retail price, in the pricing currency),
Quantity, PCToBCExchangeRate and PartnerEarnedCreditPercentage; its BillingPreTaxTotal is what
Microsoft charges, already net of the credit. So:
- credit earned = UnitPrice x Quantity x PCToBCExchangeRate x PEC% / 100, in the billing currency;
- cost before PEC = the charge + the credit earned.
The credit is linear in Quantity, so recon sums the rows that share a price, rate and percentage
first and computes it once on the exact sum: both of its aggregation paths then agree to the last
place. Amounts are held to AMOUNT_PLACES (recon's DECIMAL(38,10)) with billing's one rounding rule
(billing/money.py, half-up); money is rounded to the currency's minor unit only on invoice lines.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from billing.money import round_places

AMOUNT_PLACES = 10
# Enough digits that UnitPrice x Quantity x rate x % of DECIMAL(38,10) sums is exact before rounding.
_PRECISION = 80
ZERO = Decimal(0)


def pec_earned(unit_price: Decimal, quantity: Decimal, rate: Decimal, pct: Decimal) -> Decimal:
    """The credit earned on `quantity` units at `unit_price` (pricing currency), converted at `rate`."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        earned = unit_price * quantity * rate * pct / 100 if pct else ZERO
        return round_places(earned, AMOUNT_PLACES)


def cost_before_pec(cost: Decimal, earned: Decimal) -> Decimal:
    """Microsoft's charge (net of PEC) grossed back up by the credit earned."""
    return cost + earned
