"""`cspbridge bill run|assign|preview|revenue`: invoice runs against the configured Dataverse."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.params import POSITIVE
from shared.dates import require_date

if TYPE_CHECKING:
    from billing.models import ExchangeRate
    from billing.preview import ChangePreview
    from jobs.billing import Preparation
    from jobs.contracts import AssignSummary, RenewalSummary


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return require_date(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _load_rates(path: Path | None) -> list[ExchangeRate]:
    """CSV with columns month,from,to,rate (e.g. 2026-01,USD,EUR,0.9123): the month's rates."""
    if path is None:
        return []
    from decimal import InvalidOperation

    from billing.models import ExchangeRate

    with path.open(newline="", encoding="utf-8") as fh:
        try:
            return [ExchangeRate(r["month"], r["from"].upper(), r["to"].upper(), Decimal(r["rate"]))
                    for r in csv.DictReader(fh)]
        except (KeyError, AttributeError, InvalidOperation, ValueError) as exc:
            raise click.BadParameter(f"{path} is not a CSV with columns month,from,to,rate ({exc!r})",
                                     param_hint="--rates") from None


def print_summary(summary: dict[str, dict[str, Any]]) -> None:
    if not summary:
        click.echo("no invoices")
    for currency, row in summary.items():
        click.echo(f"{currency}: {row['invoices']} invoice(s), {row['lines']} line(s), total {row['total']}")


def print_assignment(summary: AssignSummary) -> None:
    """AssignSummary (jobs.contracts) as a few lines: what was put on contracts, what was not and why."""
    created = ", ".join(summary.contracts_created) or "none"
    click.echo(f"assign {summary.on_date}: {summary.assigned} subscription(s) put on contracts "
               f"({summary.priced_from_price_list} priced from the price list); contracts created: {created}; "
               f"{summary.archived_logs} onboarding change log(s) archived (before billing began)")
    for name, reason in summary.blocked:
        click.echo(f"  not billed: {name}: {reason}")
    for psid, reason in summary.unassigned[:20]:
        click.echo(f"  not assigned: subscription {psid}: {reason}")


def print_renewals(summary: RenewalSummary) -> None:
    click.echo(f"renewals {summary.on_date}: {summary.renewed} renewed ({summary.repriced} at a new price), "
               f"{summary.expired} expired")


def _print_prepared(prepared: Preparation) -> None:
    if prepared.assignment is not None:
        print_assignment(prepared.assignment)
    if prepared.renewals is not None:
        print_renewals(prepared.renewals)


DATE = click.option("--date", "run_date", callback=_parse_date, help="Run date YYYY-MM-DD (default today).")
RATES = click.option("--rates", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="CSV month,from,to,rate with extra exchange rates, next to the Exchange Rates table in "
                          "Dataverse.")


@click.group()
def bill() -> None:
    """Invoice runs: bill every cycle due, preview a contract's next invoice, export revenue schedules."""


@bill.command()
@DATE
@RATES
@click.option("--contract", "contracts", multiple=True, help="Only these contract numbers (repeatable).")
@click.option("--catch-up-days", type=click.IntRange(min=1), default=None,
              help="A limit: a contract with cycles due longer ago than this is reported as an error and not "
                   "billed (default: no limit, every cycle since the last invoiced one is billed).")
@click.option("--no-assign", is_flag=True, help="Skip putting synced subscriptions on billing contracts first.")
def run(run_date: date, rates: Path | None, contracts: tuple[str, ...], catch_up_days: int | None,
        no_assign: bool) -> None:
    """Bill every cycle due on DATE. First puts synced subscriptions of mapped accounts on their
    default contracts (unless --no-assign) and renews or ends terms that ran out. Safe to repeat:
    an invoiced cycle is never billed twice."""
    from tqdm import tqdm

    from jobs import billing as billing_jobs

    bar = tqdm(desc="invoices", unit="invoice", leave=True)
    try:
        result = billing_jobs.run(run_date, contract_numbers=list(contracts) or None, catch_up_days=catch_up_days,
                                  rates=_load_rates(rates), progress=bar.update,
                                  on_planned=lambda n: setattr(bar, "total", n), assign=not no_assign,
                                  on_prepared=_print_prepared)
    finally:
        bar.close()
    click.echo(f"run {run_date}: {result.created} created, {result.resumed} resumed, "
               f"{result.lines_written} line(s) written, {result.revenue_entries} revenue entr(ies)")
    print_summary(result.summary())
    for contract, message in result.errors[:20]:
        click.echo(f"  error {contract}: {message}", err=True)
    if result.errors:
        raise SystemExit(1)


@bill.command()
@DATE
@click.option("--catch-up-days", default=31, show_default=True, type=POSITIVE,
              help="As for 'bill run': decides which onboarding change logs fall before billing begins.")
def assign(run_date: date, catch_up_days: int) -> None:
    """Put subscriptions of mapped provider accounts that have no billing contract on the account's
    default contract per currency and kind (licenses monthly in advance, Azure/usage monthly in
    arrears), creating it when missing. Unmapped provider accounts are listed with the reason."""
    from dataverse.client import DataverseClient
    from jobs.contracts import assign_contracts

    print_assignment(assign_contracts(DataverseClient.from_settings(), on_date=run_date, catch_up_days=catch_up_days))


@bill.command()
@click.option("--contract", help="Contract number: show its next invoice.")
@click.option("--subscription", help="Provider subscription id (or row id): show what a change costs.")
@click.option("--quantity", type=click.IntRange(min=1), help="The new seat count (with --subscription).")
@click.option("--term", type=click.Choice(["P1M", "P1Y", "P3Y"]), help="The new term (with --subscription).")
@DATE
@RATES
def preview(contract: str | None, subscription: str | None, quantity: int | None, term: str | None, run_date: date,
            rates: Path | None) -> None:
    """Show the contract's next invoice on or after DATE, or, with --subscription and --quantity
    [--term], what that seat or term change costs or refunds now and on the next invoice. Nothing
    is written; the numbers come from the same code as the run."""
    from billing.runs import summarize
    from jobs import billing as billing_jobs

    if subscription:
        if quantity is None:
            raise click.UsageError("--subscription needs --quantity N (the new seat count)")
        print_change_preview(billing_jobs.preview_change(subscription, quantity, run_date, term=term,
                                                         rates=_load_rates(rates)))
        return
    if not contract:
        raise click.UsageError("give --contract NUMBER, or --subscription ID --quantity N [--term P1Y]")
    inv = billing_jobs.preview(contract, run_date, rates=_load_rates(rates))
    if inv is None:
        click.echo(f"{contract}: nothing to invoice after {run_date}")
        return
    click.echo(f"{inv.key}  invoice date {inv.invoice_date}  {inv.period_start}..{inv.period_end}")
    for line in inv.lines:
        click.echo(f"  {line.line_type.name:<18} {line.description[:60]:<60} {line.quantity:>8} "
                   f"{line.base_amount:>12} tax {line.tax}")
    print_summary(summarize([inv]))


def print_change_preview(p: ChangePreview) -> None:
    cur = p.contract.currency
    click.echo(f"{p.subscription.name or p.subscription.provider_subscription_id} on {p.contract.number}: "
               f"{p.old_quantity} -> {p.new_quantity} seat(s)"
               + (f", term {p.old_term} -> {p.new_term}" if p.new_term != p.old_term else "") + f" on {p.on_date}")
    if not p.decision.allowed:
        click.echo(f"  not allowed now: {p.decision.reason}")
    if p.now is not None:
        kind = "refund" if p.now.amount < 0 else "charge"
        click.echo(f"  now: {kind} {abs(p.now.amount)} {cur} for {p.now.period_start}..{p.now.period_end} "
                   f"(prorated, on the next invoice)")
    elif p.new_quantity < p.old_quantity:
        click.echo("  now: no refund (the contract's refund policy gives no credit for the unused period)")
    inv = p.after or p.before
    if inv is not None:
        before = p.before.total if p.before else 0
        after = p.after.total if p.after else 0
        click.echo(f"  next invoice {inv.key} on {inv.invoice_date}: {before} -> {after} {cur} "
                   f"({p.next_invoice_delta:+} {cur})")


@bill.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the CSV here (default stdout).")
def revenue(out: Path | None) -> None:
    """Export the deferred-revenue schedule (the Revenue Schedules table) as CSV."""
    from jobs import billing as billing_jobs

    text = billing_jobs.revenue_csv()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
