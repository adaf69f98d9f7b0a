"""`cspbridge pay charge|settle|link`: charge an invoice's stored payment method, or make the
single-use link that asks a customer for one. Uses the configured Dataverse and processor."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import click

from shared.errors import IntegrationError


def _amount(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise click.BadParameter("the amount must be positive")
    return amount


@click.group()
def pay() -> None:
    """Payments: charge an invoice, send a payment-method link."""


@pay.command()
@click.option("--invoice", "invoice_ref", required=True, help="Invoice id (GUID) or invoice number.")
@click.option("--amount", callback=_amount, help="Charge this much (capped at the balance); default the balance.")
@click.option("--purpose", default=None,
              help="Names the attempt; the same purpose never charges twice. Default: 'autocharge' for the whole "
                   "balance (the post-invoice job's charge), 'part-<amount>' with --amount.")
def charge(invoice_ref: str, amount: Decimal | None, purpose: str | None) -> None:
    """Charge the contract's stored payment method. Repeating the command is safe."""
    from dataverse.client import client_or_default
    from payments import invoice_records, service

    # The default purpose makes a repeated command (or one racing the auto-charge) reuse one key.
    purpose = purpose or ("autocharge" if amount is None else f"part-{amount.normalize():f}")
    try:
        dv = client_or_default()
        invoice_id = invoice_records.resolve_invoice_id(dv, invoice_ref)
        outcome = service.charge_invoice(invoice_id, amount=amount, purpose=purpose, dv=dv)
    except IntegrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"invoice": invoice_id, "status": outcome.status, "amount": str(outcome.amount),
                           "balance": str(outcome.balance), "key": outcome.key, "replayed": outcome.replayed,
                           "message": outcome.message, **({"action_url": outcome.action_url}
                                                          if outcome.action_url else {})}))
    if outcome.status == "failed" and outcome.replayed:
        click.echo(f"this attempt ({purpose}) already failed and is not repeated; pass --purpose with a new name "
                   "to try again", err=True)
    if outcome.status == "requires_action":
        click.echo(f"the customer must confirm this payment with their bank: {outcome.action_url}", err=True)
    if outcome.status not in ("succeeded", "pending", "nothing_due", "requires_action"):
        raise SystemExit(1)


@pay.command()
def settle() -> None:
    """Record the outcome of charges the processor held (e.g. for fraud review), and expire hosted payment
    pages left unpaid past their lifetime (a payment made on one after all is recorded). Never charges."""
    from dataverse.client import client_or_default
    from payments import service

    try:
        settled = service.settle_held(dv=client_or_default())
    except IntegrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"held": len(settled), "payments": settled}))


@pay.command()
@click.option("--contract", "contract_number", required=True, help="Billing contract number.")
@click.option("--ttl-days", default=7, show_default=True, type=click.IntRange(1, 90),
              help="Days before the link expires.")
def link(contract_number: str, ttl_days: int) -> None:
    """Print a signed, expiring, single-use link asking the customer to add a payment method."""
    from dataverse.client import client_or_default
    from dataverse.stores import contracts
    from payments import service

    try:
        dv = client_or_default()
        if contracts.by_number(dv, contract_number) is None:
            raise click.ClickException(f"no billing contract numbered {contract_number!r}")
        url = service.create_payment_link(contract_number, ttl_seconds=ttl_days * 24 * 3600)
    except IntegrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(url)
