"""The per-month exchange-rate table (cspb_exchangerate) for readers outside billing: the recon
converts Microsoft's cost with it, the demo enters the month's rates into it."""

from __future__ import annotations

from collections.abc import Iterable

from billing.models import ExchangeRate
from dataverse import map_billing as m
from dataverse.client import DataverseClient
from dataverse.tables import EntitySet


def load_exchange_rates(dv: DataverseClient) -> list[ExchangeRate]:
    return [m.exchange_rate_from_row(r) for r in dv.list(EntitySet.EXCHANGE_RATES, select=m.EXCHANGE_RATE_SELECT)]


def upsert_exchange_rates(dv: DataverseClient, rates: Iterable[ExchangeRate]) -> int:
    """Idempotent: one row per from|to|month (the table's alternate key)."""
    count = 0
    for rate in rates:
        row = m.exchange_rate_row(rate)
        dv.upsert(EntitySet.EXCHANGE_RATES, {"cspb_ratekey": row["cspb_ratekey"]}, row)
        count += 1
    return count
