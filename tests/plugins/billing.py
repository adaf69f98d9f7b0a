"""pytest fixtures for the billing area (sandboxes started on 127.0.0.1, port 0)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.models import BillingContract, Frequency, Policy, Subscription


def make_contract(**overrides) -> BillingContract:  # type: ignore[no-untyped-def]
    values = dict(number="C-1", account_id="acc-1", frequency=Frequency.MONTHLY, policy=Policy.ADVANCE,
                  start_date=date(2026, 1, 1), currency="USD", id="c-1")
    values.update(overrides)
    return BillingContract(**values)  # type: ignore[arg-type]


def make_sub(**overrides) -> Subscription:  # type: ignore[no-untyped-def]
    values = dict(provider_subscription_id="PS-1", quantity=10, unit_price=Decimal("12.00"), id="s-1",
                  contract_id="c-1", name="Microsoft 365 E3", start_date=date(2026, 1, 1))
    values.update(overrides)
    return Subscription(**values)  # type: ignore[arg-type]


@pytest.fixture
def billing_contract() -> BillingContract:
    return make_contract()


@pytest.fixture
def billing_sub() -> Subscription:
    return make_sub()


@pytest.fixture
def billing_env(monkeypatch, dv_server, dv):  # type: ignore[no-untyped-def]
    """Settings pointing at a fresh Dataverse sandbox seeded with the billing demo rows."""
    from dataverse.seed_billing import seed_billing
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    return seed_billing(dv)
