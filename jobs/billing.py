"""Billing jobs wired to the configured Dataverse: the daily invoice run (timer and CLI), the
preview, and the revenue-schedule export. Each run writes a sync run row (kind "billing")."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from billing.deferred_revenue import to_csv
from billing.models import ExchangeRate, Invoice, RevenueScheduleEntry
from billing.preview import ChangePreview
from billing.run_service import RunResult, execute_run, preview_contract
from dataverse.billing_repo import DataverseBillingRepository
from dataverse.client import DataverseClient, client_or_default
from dataverse.stores import billing_lookups as lookups
from jobs.contracts import AssignSummary, RenewalSummary, apply_renewals, assign_contracts
from shared.dates import require_date
from shared.errors import IntegrationError


def global_refund() -> bool:
    from shared.config import get_settings

    return get_settings().refund_policy != "no_refund"


@dataclass(frozen=True)
class Preparation:
    """What happened before planning: contracts assigned, terms renewed or ended."""

    assignment: AssignSummary | None
    renewals: RenewalSummary | None


def prepare(run_date: date, *, dv: DataverseClient | None = None, assign: bool = True, renew: bool = True,
            catch_up_days: int | None = None) -> Preparation:
    """The steps a run takes before planning (each safe to repeat): synced subscriptions of mapped
    accounts onto their default contracts, then renewals/expiries of terms that ended."""
    client = client_or_default(dv)
    assignment = assign_contracts(client, on_date=run_date, catch_up_days=catch_up_days) if assign else None
    renewals = apply_renewals(client, on_date=run_date) if renew else None
    return Preparation(assignment, renewals)


def run(run_date: date, *, dv: DataverseClient | None = None, contract_numbers: Sequence[str] | None = None,
        catch_up_days: int | None = None, rates: Sequence[ExchangeRate] = (),
        progress: Callable[[int], None] | None = None,
        on_planned: Callable[[int], None] | None = None, assign: bool = True, renew: bool = True,
        on_prepared: Callable[[Preparation], None] | None = None) -> RunResult:
    """Assign contracts (unless `assign` is False), renew ended terms (unless `renew` is False),
    then bill every cycle due on `run_date` since each contract's last invoiced one. With
    `catch_up_days`, a contract with older cycles due is an error on the sync run (nothing skipped)."""
    from sync import runs as syncruns

    client = client_or_default(dv)
    record = syncruns.start(client, "billing", f"billing:{run_date.isoformat()}:{uuid.uuid4().hex[:8]}")
    try:
        prepared = prepare(run_date, dv=client, assign=assign and not contract_numbers, renew=renew,
                           catch_up_days=catch_up_days)
        if on_prepared is not None:
            on_prepared(prepared)
        _count_preparation(record, prepared)
        result = execute_run(DataverseBillingRepository(client, rates=rates), run_date,
                             global_refund=global_refund(), catch_up_days=catch_up_days,
                             contract_numbers=contract_numbers, progress=progress, on_planned=on_planned)
    except IntegrationError as exc:
        record.error(str(exc))
        syncruns.finish(record, failed=True)
        raise
    record.counts.update({"invoices": result.created, "resumed": result.resumed, "lines": result.lines_written,
                          "revenueEntries": result.revenue_entries})
    for contract, message in result.errors:
        record.error(f"{contract}: {message}")
    syncruns.finish(record)
    return result


def _count_preparation(record: Any, prepared: Preparation) -> None:
    if prepared.assignment is not None:
        a = prepared.assignment
        record.counts.update({"assigned": a.assigned, "contractsCreated": len(a.contracts_created),
                              "unassigned": len(a.unassigned), "unmappedAccounts": len(a.blocked)})
    if prepared.renewals is not None:
        record.counts.update({"renewed": prepared.renewals.renewed, "expired": prepared.renewals.expired})


def preview(contract_number: str, on_date: date, *, dv: DataverseClient | None = None,
            rates: Sequence[ExchangeRate] = ()) -> Invoice | None:
    repo = DataverseBillingRepository(client_or_default(dv), rates=rates)
    return preview_contract(repo, contract_number, on_date, global_refund=global_refund())


def revenue_csv(*, dv: DataverseClient | None = None, invoice_id: str | None = None) -> str:
    return to_csv(DataverseBillingRepository(client_or_default(dv)).revenue_schedule(invoice_id))


def money_path_showcase(*, dv: DataverseClient | None = None) -> list[str]:
    """What the demo points at on the invoices it wrote: usage lines billed from the recon ingest's
    summaries, deferred-revenue schedules, taxed lines (with the tax name), credits, and lines
    converted from another currency (with the rate and its month)."""
    from billing.models import LineType
    from dataverse import map_billing as m
    from dataverse.tables import EntitySet

    client = client_or_default(dv)
    numbers = lookups.invoice_numbers(client)
    lines = [(row.get("_invoiceid_value"), m.line_from_row(row)) for row in client.list(
        EntitySet.INVOICE_DETAILS, select=[*m.LINE_SELECT])]
    # Rows come back in id order, and ids (and the usage contracts' numbers hashed from account
    # ids) are random: sort on what the line says so every run shows the same examples.
    lines.sort(key=lambda pair: (pair[1].description, pair[1].period_start, pair[1].base_amount))
    ingested = {u.invoice_id for u in lookups.billed_usage(client) if not u.summary_key.startswith("demo-az|")}

    def show(invoice_id: str | None, line) -> str:  # type: ignore[no-untyped-def]
        number, currency = numbers.get(invoice_id or "", ("?", ""))
        return f"{number}: {line.description[:70]} {line.base_amount - line.discount} {currency}"

    usage = [(i, ln) for i, ln in lines if ln.line_type is LineType.USAGE and i in ingested]
    taxed = [(i, ln) for i, ln in lines if ln.tax and ln.tax_name]
    credits = [(i, ln) for i, ln in lines if ln.line_type is LineType.CREDIT]
    converted = [(i, ln) for i, ln in lines if ln.source_currency]
    schedules = BillingRepositoryView(client).revenue_by_invoice()
    out = [f"Azure usage lines billed from the recon ingest: {len(usage)}"]
    out += [f"  {show(i, ln)}" for i, ln in usage[:3]]
    out.append(f"deferred-revenue schedules: {len(schedules)} prepaid invoice(s)")
    out += [f"  {numbers.get(inv, ('?', ''))[0]}: {len(entries)} months, {entries[0].month}..{entries[-1].month}"
            for inv, entries in list(schedules.items())[:3]]
    out.append(f"taxed lines: {len(taxed)}")
    out += [f"  {show(i, ln)} + {ln.tax_name} {ln.tax}" for i, ln in taxed[:3]]
    out.append(f"credits: {len(credits)}")
    out += [f"  {show(i, ln)}" for i, ln in credits[:3]]
    out.append(f"lines converted at the month's rate: {len(converted)}")
    out += [f"  {show(i, ln)} (from {ln.source_currency} at {f'{ln.exchange_rate.normalize():f}' if ln.exchange_rate else ''} "
            f"{ln.rate_month})" for i, ln in converted[:2]]
    return out


class BillingRepositoryView:
    def __init__(self, client: DataverseClient) -> None:
        self.repo = DataverseBillingRepository(client)

    def revenue_by_invoice(self) -> dict[str, list[RevenueScheduleEntry]]:
        grouped: dict[str, list[RevenueScheduleEntry]] = {}
        for entry in sorted(self.repo.revenue_schedule(), key=lambda e: (e.invoice_key, e.month)):
            grouped.setdefault(entry.invoice_id or entry.invoice_key, []).append(entry)
        return grouped


def preview_change(subscription: str, quantity: int, on_date: date, *, term: str | None = None, dv: DataverseClient | None = None,
                   rates: Sequence[ExchangeRate] = ()) -> ChangePreview:
    """What changing a subscription to `quantity` seats (and optionally to `term`) costs or refunds
    now and on the next invoice, from the store, with the real run's planner. Writes nothing.
    `subscription` is the provider subscription id or the row's id."""
    from dataclasses import replace

    from billing import contract_assignment as ca
    from billing.preview import preview_change as plan_preview
    from billing.run_service import _due_keys
    from dataverse.stores.price_lists import load_prices
    from shared.errors import ValidationError

    client = client_or_default(dv)
    ref = (subscription or "").strip()
    found = lookups.find_subscription(client, ref)
    if found is None:
        raise ValidationError(f"no subscription {ref!r}")
    sub = found
    if not sub.contract_id:
        raise ValidationError(f"subscription {ref!r} is on no billing contract; run 'cspbridge bill assign' first")
    repo = DataverseBillingRepository(client, rates=rates)
    data = repo.load([lookups.contract_number(client, sub.contract_id)])
    contract = data.contracts[0]
    sub = next((s for s in data.subscriptions if s.id == sub.id), sub)
    new_price = None
    if term and term != sub.term:
        key = ca.subscription_price_key(replace(sub, term=term), sub.currency or contract.currency) or ""
        new_price = load_prices(client, [key]).get(key)
    keys = _due_keys([contract], on_date)[-3:]
    done = frozenset(k for k, s in repo.invoice_states(keys).items() if s.complete)
    return plan_preview(contract, data, sub, new_quantity=quantity, on_date=on_date, new_term=term,
                        new_price=new_price, global_refund=global_refund(), existing_invoice_keys=done)


def preview_change_request(params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The HTTP preview for the Dynamics subscription form: (status, JSON body). Bad input is a 400
    naming what was wrong; an unknown subscription a 404; nothing is ever written."""
    from datetime import UTC, datetime

    from shared.errors import NotFoundError, ValidationError

    subscription = (params.get("subscription") or "").strip()
    raw_qty, term = (params.get("quantity") or "").strip(), (params.get("term") or "").strip().upper() or None
    if not subscription:
        return 400, {"error": "subscription is required (the provider subscription id)"}
    try:
        quantity = int(raw_qty)
    except ValueError:
        return 400, {"error": f"quantity must be a whole number of seats (got {raw_qty!r})"}
    if term is not None and term not in ("P1M", "P1Y", "P3Y"):
        return 400, {"error": f"term must be P1M, P1Y or P3Y (got {term!r})"}
    raw_date = (params.get("date") or "").strip()
    try:
        on_date = require_date(raw_date) if raw_date else datetime.now(UTC).date()
    except ValueError:
        return 400, {"error": f"date must be YYYY-MM-DD (got {raw_date!r})"}
    try:
        result = preview_change(subscription, quantity, on_date, term=term)
    except NotFoundError as exc:
        return 404, {"error": str(exc)}
    except ValidationError as exc:
        status = 404 if str(exc).startswith("no subscription") else 400
        return status, {"error": str(exc)}
    return 200, result.as_dict()
