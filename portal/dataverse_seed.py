"""Writes the portal's demo data (portal/seed.py) into Dataverse (dataverse/seed_portal.py), for
`cspbridge portal` against the sandbox and for the integration and browser tests. Running it twice
changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from dataverse.client import DataverseClient
from dataverse.seed_portal import PortalWorld, SeedIds, seed_portal
from portal.seed import seeded_repository

__all__ = ["SeedIds", "seed_dataverse"]


def seed_dataverse(dv: DataverseClient, now: datetime | None = None, *, attested_accounts: tuple[str, ...] = (),
                   tenant_ids: dict[str, str] | None = None) -> SeedIds:
    """`tenant_ids` maps demo account ids to Partner Center customer ids (e.g. the PC sandbox's),
    so MCA attestation and orders reach a customer the provider knows."""
    repo = seeded_repository(now or datetime.now(UTC))
    world = PortalWorld(accounts=list(repo.accounts.values()), contacts=list(repo.contacts.values()),
                        contracts=list(repo.contracts.values()), offers=repo.offers,
                        subscriptions=list(repo.subscriptions.values()), invoices=list(repo.invoices.values()))
    return seed_portal(dv, world, attested_accounts=attested_accounts, tenant_ids=tenant_ids)
