"""Reads of cspb_billingcontract that sync needs (billing reads contracts through map_billing)."""

from __future__ import annotations

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet


def currencies_in_use(dv: DataverseClient) -> list[str]:
    """USD plus every currency a billing contract bills in."""
    found = {"USD"}
    for row in dv.list(EntitySet.BILLING_CONTRACTS, select=["cspb_currencycode"]):
        if row.get("cspb_currencycode"):
            found.add(str(row["cspb_currencycode"]).upper())
    return sorted(found)
