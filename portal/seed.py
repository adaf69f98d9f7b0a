"""Small deterministic data for the in-memory portal: two customers, each with an administrator,
a subscription manager and a finance manager (used by `cspbridge portal --memory` and tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from portal.models import (
    Account,
    Contact,
    Contract,
    Invoice,
    InvoiceLine,
    Offer,
    PaymentStatus,
    PortalRole,
    Subscription,
    SubscriptionStatus,
)
from portal.repository import InMemoryRepository

CONTOSO, FABRIKAM = "acc-contoso", "acc-fabrikam"
CONTOSO_TENANT = "8d2f3c1a-0000-4000-8000-00000000c0de"  # Contoso's Entra tenant id


def seeded_repository(now: datetime | None = None) -> InMemoryRepository:
    now = now or datetime.now(UTC)
    repo = InMemoryRepository()
    repo.add(
        Account(CONTOSO, "Contoso Ltd", email="it@contoso.example"),
        Account(FABRIKAM, "Fabrikam SA", email="ti@fabrikam.example"),
        Contact("c-admin", CONTOSO, "Ada", "Admin", "ada@contoso.example", PortalRole.ADMINISTRATOR, "oid-ada",
                tenant_id=CONTOSO_TENANT),
        Contact("c-subs", CONTOSO, "Sam", "Seats", "sam@contoso.example", PortalRole.SUBSCRIPTION_MANAGER),
        Contact("c-fin", CONTOSO, "Fiona", "Finance", "fiona@contoso.example", PortalRole.FINANCE_MANAGER),
        Contact("f-admin", FABRIKAM, "Fabio", "Garcia", "fabio@fabrikam.example", PortalRole.ADMINISTRATOR),
        Contract("k-contoso", CONTOSO, "BC-1001", "USD", "pl-usd", "en"),
        Contract("k-fabrikam", FABRIKAM, "BC-2001", "EUR", "pl-eur", "es", has_payment_method=True),
        # bought 3 days ago: still inside the 7-day reduction window
        Subscription("s-m365", CONTOSO, "k-contoso", "Microsoft 365 Business Premium", 10, "P1Y", "P1M",
                     SubscriptionStatus.ACTIVE, "USD", Decimal("26.40"), now - timedelta(days=3),
                     now - timedelta(days=3) + timedelta(days=365)),
        # bought 100 days ago: seats can only go up
        Subscription("s-teams", CONTOSO, "k-contoso", "Microsoft Teams Essentials", 25, "P1Y", "P1Y",
                     SubscriptionStatus.ACTIVE, "USD", Decimal("48.00"), now - timedelta(days=100),
                     now - timedelta(days=100) + timedelta(days=365)),
        Subscription("s-fab", FABRIKAM, "k-fabrikam", "Microsoft 365 E3", 40, "P1Y", "P1M",
                     SubscriptionStatus.ACTIVE, "EUR", Decimal("35.70"), now - timedelta(days=2),
                     now - timedelta(days=2) + timedelta(days=365)),
        Invoice("i-1", CONTOSO, "INV-0001", "USD", Decimal("1464.00"), Decimal("0.00"), date(2026, 10, 1),
                date(2026, 10, 31), PaymentStatus.PAID, "en",
                (InvoiceLine("Microsoft 365 Business Premium", Decimal(10), Decimal("26.40"), Decimal("264.00")),
                 InvoiceLine("Microsoft Teams Essentials", Decimal(25), Decimal("48.00"), Decimal("1200.00")))),
        Invoice("i-fab", FABRIKAM, "INV-0002", "EUR", Decimal("1428.00"), Decimal("1428.00"), date(2026, 10, 1),
                date(2026, 10, 31), PaymentStatus.UNPAID, "es",
                (InvoiceLine("Microsoft 365 E3", Decimal(40), Decimal("35.70"), Decimal("1428.00")),)),
    )
    repo.add_offers("k-contoso", [
        Offer("p-visio", "Visio Plan 2", "CFQ7TTC0HD33:0001", "u-p1y-monthly", "P1Y monthly", Decimal("15.00"), "USD"),
        Offer("p-visio", "Visio Plan 2", "CFQ7TTC0HD33:0001", "u-p1m-monthly", "P1M monthly", Decimal("18.00"), "USD"),
    ])
    repo.add_offers("k-fabrikam", [
        Offer("p-project", "Project Plan 3", "CFQ7TTC0HDB0:0001", "u-p1y-annual", "P1Y annual", Decimal("300.00"),
              "EUR"),
    ])
    return repo
