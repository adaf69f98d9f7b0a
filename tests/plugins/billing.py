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


class MemoryBillingRepository:
    """A BillingRepository kept in dicts, for service-level tests of the write order. `crash_after`
    makes the n-th write raise RetriableError, as if the process died there."""

    def __init__(self, data, crash_after: int | None = None):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        self._replace = replace
        self.data = data
        self.invoices: dict[str, dict] = {}
        self.lines: dict[str, tuple[str, object]] = {}
        self.revenue: dict[str, object] = {}
        self.crash_after = crash_after
        self.writes = 0

    def _write(self) -> None:
        from shared.errors import RetriableError

        if self.crash_after is not None and self.writes >= self.crash_after:
            raise RetriableError("simulated crash")
        self.writes += 1

    def _by_id(self, invoice_id: str) -> dict:
        return next(v for v in self.invoices.values() if v["id"] == invoice_id)

    def load(self, contract_numbers=None):  # type: ignore[no-untyped-def]
        return self.data

    def invoice_states(self, keys):  # type: ignore[no-untyped-def]
        from billing.run_service import StoredInvoice

        return {k: StoredInvoice(v["id"], v["complete"]) for k, v in self.invoices.items() if k in set(keys)}

    def incomplete_invoices(self, contract_numbers=None):  # type: ignore[no-untyped-def]
        from billing.run_service import StoredInvoice

        return {k: StoredInvoice(v["id"], False) for k, v in self.invoices.items() if not v["complete"]}

    def line_owners(self, line_keys):  # type: ignore[no-untyped-def]
        return {k: self.lines[k][0] for k in line_keys if k in self.lines}

    def create_invoice(self, invoice):  # type: ignore[no-untyped-def]
        from billing.run_service import StoredInvoice

        if invoice.key not in self.invoices:
            self._write()
            self.invoices[invoice.key] = {"id": f"inv-{len(self.invoices) + 1}", "complete": False, "total": None}
        row = self.invoices[invoice.key]
        return StoredInvoice(row["id"], row["complete"])

    def create_lines(self, invoice_id, lines):  # type: ignore[no-untyped-def]
        made = 0
        for line in lines:
            if line.key not in self.lines:
                self._write()
                self.lines[line.key] = (invoice_id, line)
                made += 1
        return made

    def link_billed(self, invoice_id, change_log_ids, summaries):  # type: ignore[no-untyped-def]
        ids, sids = set(change_log_ids), {u.id for u in summaries}
        self._write()
        logs = [self._replace(c, invoice_id=invoice_id) if c.id in ids else c for c in self.data.change_logs]
        usage = [self._replace(u, billed=True, invoice_id=invoice_id, billed_cost=u.cost, billed_source=u.source)
                 if u.id in sids else u for u in self.data.usage]
        self.data = self._replace(self.data, change_logs=logs, usage=usage)

    def settle_change_logs(self, change_log_ids):  # type: ignore[no-untyped-def]
        ids = set(change_log_ids)
        self.data = self._replace(self.data, change_logs=[
            self._replace(c, archived=True) if c.id in ids else c for c in self.data.change_logs])

    def set_next_invoice_date(self, contract, day):  # type: ignore[no-untyped-def]
        self.data = self._replace(self.data, contracts=[
            self._replace(c, next_invoice_date=day) if c.number == contract.number else c for c in self.data.contracts])

    def invoice_lines(self, invoice_id):  # type: ignore[no-untyped-def]
        return [line for owner, line in self.lines.values() if owner == invoice_id]

    def complete_invoice(self, invoice_id, lines):  # type: ignore[no-untyped-def]
        self._write()
        row = self._by_id(invoice_id)
        row["complete"], row["total"] = True, sum((ln.amount for ln in lines), Decimal(0))

    def write_revenue_schedule(self, entries):  # type: ignore[no-untyped-def]
        self._write()
        for e in entries:
            self.revenue[e.key] = e

    def snapshot(self) -> dict:
        by_id = {v["id"]: k for k, v in self.invoices.items()}
        return {
            "invoices": {k: (v["complete"], v["total"]) for k, v in self.invoices.items()},
            "lines": {k: (by_id[owner], line.amount) for k, (owner, line) in self.lines.items()},  # type: ignore[attr-defined]
            "logs": {c.change_key: by_id.get(c.invoice_id or "") for c in self.data.change_logs},
            "revenue": {k: e.amount for k, e in self.revenue.items()},  # type: ignore[attr-defined]
        }
