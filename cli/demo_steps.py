"""The steps of `cspbridge demo`, in order. Each takes the DemoContext and returns summary lines.

Steps only call the areas' public service functions; anything a later step needs (the billing
date, invoice ids) travels in `ctx.shared`.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cli.demo_cmd import DemoContext
    from dataverse.client import DataverseClient


def _dv() -> DataverseClient:
    from dataverse.client import client_or_default

    return client_or_default()


def dataverse_round_trip(ctx: DemoContext) -> list[str]:
    from dataverse.stores import accounts

    dv = _dv()
    name = "Demo round trip"  # its id derives from it: every run writes and reads the same row
    account_id = accounts.create_account(dv, name, domain="roundtrip.example")
    back = accounts.get_account(dv, account_id)
    if back is None or back.name != name:
        raise RuntimeError(f"read back {back.name if back else None!r}, wrote {name!r}")
    return [f"wrote account {account_id} through the Web API client and read it back: {back.name!r}"]


def sync_and_provision(ctx: DemoContext) -> list[str]:
    from cli.demo_sync import run_demo_flow
    from dataverse.catalog_repo import set_markup_rule
    from distributors.partnercenter_adapter import PartnerCenterAdapter

    dv = _dv()
    # The partner's pricing policy, as an admin would enter it before the first catalog sync.
    set_markup_rule(dv, "default", "Default markup", 15)
    seat_plants = [p["subscription_id"] for p in ctx.seed.get("planted", []) if p["kind"] == "quantity_mismatch"]
    # The rep's change goes to a subscription whose seats already differ from the invoice, so the
    # demo adds no discrepancy the seed did not plant.
    out = run_demo_flow(dv, PartnerCenterAdapter.from_settings(), dv_app=ctx.servers["dataverse"].app,
                        crm_accounts=ctx.seed.get("crm_accounts"), rep_subscription=(seat_plants or [None])[0],
                        now=datetime(ctx.as_of.year, ctx.as_of.month, ctx.as_of.day, 9, tzinfo=UTC))
    lines = [f"catalog sync: {out['catalog']}", f"provider accounts: {out['accounts']}",
             f"subscriptions: {out['subscriptions']}"]
    seat = out.get("seat_change", {})
    lines.append(f"rep seat change via webhook: {seat}")
    if seat.get("status") != "Provisioned":
        raise RuntimeError(f"the rep's seat change did not provision: {seat}")
    return lines


def price_preview(ctx: DemoContext) -> list[str]:
    """Next month's price sheet against the prices in force, for the partner's catalog: what the
    subscriptions use plus an allow-list entry an admin would add (the new Copilot family)."""
    from dataverse import catalog_repo
    from dataverse.tables import CatalogSelectionKind
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.blobstore import blob_store_from_settings
    from sync.price_preview import run_price_preview

    dv = _dv()
    catalog_repo.add_selection(dv, catalog_repo.SelectionEntry(CatalogSelectionKind.FAMILY, "Microsoft 365 Copilot"))
    out = run_price_preview(dv, PartnerCenterAdapter.from_settings(), today=ctx.as_of, currencies=("USD", "EUR"),
                            store=blob_store_from_settings(), out_dir=ctx.out_dir / "price-preview")
    items = out["items"]
    return [f"{out['month']} vs prices in force on {out['inForce']} ({', '.join(out['source'])}; {out['selection']})",
            f"items added {items['added']}, changed {items['changed']}, removed {items['removed']}; "
            f"customers whose margin moves: {out['customersAffected']}",
            f"report: {out['local']['report.html']} (+ price-changes.csv, customer-impact.csv)"]


def pax8_provisioning(ctx: DemoContext) -> list[str]:
    from cli.demo_pax8 import run_pax8_demo

    out = run_pax8_demo(_dv())
    if out.get("status") != "Provisioned":
        raise RuntimeError(f"the Pax8 order did not provision: {out.get('status')} {out.get('error') or ''}")
    company = out.get('company') or {}
    return [f"Pax8 company {company.get('name')}: order {out.get('pax8_order_id')} -> "
            f"subscription {out.get('pax8_subscription_id')}, change log {out['status']}"]


def _exchange_rates(dv: DataverseClient, seeded: dict[str, Any], months: list[str]) -> int:
    """The partner keeps the month's rates in the exchange-rate table: the ones Microsoft used on
    the seeded invoices (USD to each currency), so costs convert into the customers' currencies."""
    from decimal import Decimal

    from billing.models import ExchangeRate
    from dataverse.exchange_rates import upsert_exchange_rates

    return upsert_exchange_rates(dv, [ExchangeRate(month, seeded["from"], code, Decimal(rate),
                                                   "Partner Center PCToBCExchangeRate (demo seed)")
                                      for month in months for code, rate in sorted(seeded["rates"].items())])


def recon_ingest(ctx: DemoContext) -> list[str]:
    from jobs.recon import scheduled
    from shared.blobstore import blob_store_from_settings

    store = blob_store_from_settings()
    lines = []
    if ctx.seed.get("exchange_rates"):
        months = [ctx.seed["billed_period"], ctx.seed["unbilled_period"]]
        count = _exchange_rates(_dv(), ctx.seed["exchange_rates"], months)
        lines.append(f"exchange rates of {' and '.join(months)} in Dynamics: {count} (month, pair) rows")
    outcomes = scheduled(ctx.as_of, dv=_dv(), store=store)
    for outcome in outcomes:
        read = sum(f.rows_read for f in outcome.files)
        aggregated = sum(f.rows_aggregated for f in outcome.files)
        quarantined = sum(f.rows_quarantined for f in outcome.files)
        lines.append(f"{outcome.period}: {len(outcome.files)} files, rows read {read} = aggregated {aggregated} "
                     f"+ quarantined {quarantined}; {outcome.usage_summaries} usage summaries")
        for failed in outcome.failed:
            lines.append(f"  {failed.kind} {failed.currency}: {failed.status} {failed.error}")
    reports = sorted(p for p in store.list("recon/") if "/report/" in p)
    lines.append(f"recon files and reports under {ctx.out_dir / 'blobs' / 'recon'}")
    lines.extend(f"  {p}" for p in reports)
    return lines


def billing_cycle(ctx: DemoContext) -> list[str]:
    from dataverse.seed_billing import seed_billing, seed_showcase
    from jobs import billing as billing_jobs

    dv = _dv()
    seed_billing(dv)
    seed_showcase(dv)
    today = ctx.as_of
    # Last month's regular invoice date first, so the recon report has customer invoices to match.
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=2)
    lines = []
    # This month's invoice day (the 2nd) bills last month's usage in arrears; a demo dated the 1st runs it too.
    this_month = max(today, today.replace(day=2))
    prepared: list[Any] = []
    for run_date in (last_month, this_month):
        result = billing_jobs.run(run_date, dv=dv, on_prepared=lambda p: prepared.append(p))
        lines.append(f"bill run {run_date}: {result.created} invoices created, {result.lines_written} lines, "
                     f"{result.revenue_entries} revenue schedule entries")
        for currency, totals in sorted(result.summary().items()):
            lines.append(f"  {currency}: {totals['invoices']} invoices, {totals['lines']} lines, "
                         f"total {totals['total']}")
        for contract, message in result.errors:
            lines.append(f"  contract {contract}: {message}")
    for p in prepared:
        if p.assignment is not None and p.assignment.unassigned:
            lines.append(f"  not assigned to a contract: {p.assignment.unassigned[:5]}")
    rerun = billing_jobs.run(this_month, dv=dv)
    lines.append(f"re-run of the same date created {rerun.created} invoices (idempotent)")
    lines.extend(billing_jobs.money_path_showcase(dv=dv))
    # What the Dynamics form's preview (functions/billing_preview_http.py) answers for one more seat.
    change: dict[str, Any] = billing_jobs.preview_change("demo-sub-teams", 7, today, dv=dv).as_dict()
    lines.append(f"preview +1 seat on demo-sub-teams: now {(change['now'] or {}).get('amount') or '0.00'} "
                 f"{change['currency']}, next invoice {change['nextInvoice']['before']} -> "
                 f"{change['nextInvoice']['after']} {change['currency']}")
    for contract, message in result.errors:
        lines.append(f"  contract {contract}: {message}")
    return lines


def _has_rows(path: Path) -> bool:
    # A currency with no usage this month has a consolidated file with no rows; the aggregator rejects those.
    import gzip

    with gzip.open(path, "rb") as fh:
        return bool(fh.read(1))


def margin_report(ctx: DemoContext) -> list[str]:
    """Rebuild last month's recon report now that customer invoices exist to match against, with
    Microsoft's invoice totals checked against the files, as the timer's report does."""
    from jobs.recon import periods_for
    from partnercenter.client import PartnerCenterClient
    from recon.ingest import invoices_of
    from recon.run import report_from_files
    from shared.blobstore import blob_store_from_settings
    from shared.config import get_settings

    period = periods_for(ctx.as_of)[0]
    root = Path(get_settings().local_blob_root) / "recon" / period
    invoice_files = sorted(p for p in root.glob("invoice/*/*.gz") if _has_rows(p))
    usage_files = sorted(p for p in root.glob("billed_usage/*/*.gz") if _has_rows(p))
    microsoft = [(inv.id, inv.currency_code, inv.total_charges)
                 for inv in invoices_of(period, PartnerCenterClient.from_settings().list_invoices())]
    paths = report_from_files(period, invoice_files=invoice_files, usage_files=usage_files,
                              store=blob_store_from_settings(), dv=_dv(), out_dir=ctx.out_dir / "recon-report",
                              microsoft_invoices=microsoft)
    return [f"{period}: matched {len(invoice_files)} invoice recon files and {len(usage_files)} usage files "
            f"against Dynamics; checked {len(microsoft)} Microsoft invoice totals against their lines"] + \
        [f"  {name}: {path}" for name, path in sorted(paths.items())]


def usage_revision(ctx: DemoContext) -> list[str]:
    """Microsoft revises last month's usage after its invoice: the recon timer's next run replaces the
    month's usage summaries, reports the delta against what the customers were invoiced on, and the
    next invoice of each contract concerned carries the true-up (previewed here, nothing written)."""
    import csv
    import io
    from decimal import Decimal

    from billing.models import LineType
    from dataverse.stores import billing_lookups
    from jobs import billing as billing_jobs
    from jobs.recon import periods_for, scheduled
    from sandbox.partnercenter.revise import revise_billed_usage
    from shared.blobstore import blob_store_from_settings

    period = periods_for(ctx.as_of)[0]
    revised = revise_billed_usage(ctx.state_dir / "partnercenter")
    lines = [f"Microsoft revised {period}'s billed usage (sandbox revision {revised['revision']}): "
             f"{len(revised['changes'])} meters changed"]
    store = blob_store_from_settings()
    dv = _dv()
    outcomes = scheduled(ctx.as_of, dv=dv, store=store)
    reopened = outcomes[0].reopened
    lines.append(f"recon run: {outcomes[0].usage_summaries} usage summaries of {period} replaced, "
                 f"{len(reopened)} invoiced on other figures reopened for a true-up")
    again = scheduled(ctx.as_of, dv=dv, store=store)[0]
    lines.append(f"a second recon run wrote the same figures again ({again.usage_summaries} summaries; the withdrawn "
                 f"meters stay at zero) and reopened {len(again.reopened)} (idempotent: nothing counted twice)")
    rows = list(csv.DictReader(io.StringIO(store.get(f"recon/{period}/report/usage_revisions.csv").decode())))
    for currency in sorted({r["currency"] for r in rows}):
        deltas = [Decimal(r["delta"]) for r in rows if r["currency"] == currency]
        lines.append(f"  {currency}: {len(deltas)} meters, net {sum(deltas, Decimal(0)):+.2f} against what was invoiced")
    lines.append(f"  delta per customer, subscription and meter: recon/{period}/report/usage_revisions.csv "
                 "(and the report's 'Usage revised after billing' section)")
    plans = {s.provider_subscription_id.lower(): s.contract_id for s in billing_lookups.all_subscriptions(dv)}
    contract_ids = {plans.get(u.subscription_id.lower()) for u in reopened} - {None}
    contracts = billing_lookups.all_contracts(dv)
    for contract in sorted((c for c in contracts if c.id in contract_ids), key=lambda c: c.number):
        day = contract.next_invoice_date or ctx.as_of
        nxt = billing_jobs.preview(contract.number, day, dv=dv)
        if nxt is None:
            continue
        for line in nxt.lines:
            if "|trueup|" in line.key:
                kind = "credit" if line.line_type is LineType.CREDIT else "true-up"
                lines.append(f"  {contract.number} next invoice ({day}): {kind} {line.base_amount} {nxt.currency} "
                             f"- {line.description[:70]}")
    return lines


def payments_and_accounting(ctx: DemoContext) -> list[str]:
    from accounting.post_invoice import run_pending
    from dataverse.stores import contacts, contracts
    from payments.links import create_payment_link
    from payments.service import redeem

    dv = _dv()
    all_contracts = contracts.all_settings(dv)
    lines = []
    for contract in all_contracts:
        if not contract.primary_billing_contact_id:
            # Sending needs someone to send to: the billing contact Work 365 also requires.
            number = contract.number
            contact_id = contacts.create_billing_contact(dv, contract.account_id or "", first_name="Billing",
                                                         last_name=number,
                                                         email=f"billing+{number.lower()}@customer.example")
            contracts.set_primary_billing_contact(dv, contract.id, contact_id)
        if contract.payment_token:
            continue
        # The customer follows the single-use link and adds a card; only the processor's token is stored.
        link = create_payment_link(contract.number)
        redeem(link.rsplit("/", 1)[-1], "pm_card_visa", dv=dv)
        contracts.set_post_invoice(dv, contract.id, charge=True, send=True, sync=True)
    lines.append(f"payment methods added through payment links: {len(all_contracts)} contracts")
    outcomes = run_pending(ctx.as_of, dv=dv, target="quickbooks")
    tally: Counter[str] = Counter()
    for jobs in outcomes.values():
        for job, outcome in jobs.items():
            tally[f"{job}: {outcome.split(' ')[0]}"] += 1
    lines.append(f"post-invoice jobs over {len(outcomes)} invoices: {dict(tally)}")
    for invoice_id, jobs in outcomes.items():
        failures = {job: outcome for job, outcome in jobs.items() if outcome.lower().startswith("failed")}
        if failures:
            lines.append(f"  invoice {invoice_id}: {failures}")
    lines += _mail_read_back(ctx)
    charged = sum(1 for jobs in outcomes.values() if jobs.get("charge", "").startswith("succeeded"))
    synced = sum(1 for jobs in outcomes.values() if jobs.get("accounting", "").startswith("synced"))
    if not charged or not synced:
        raise RuntimeError(f"expected Stripe charges and accounting syncs, got {dict(tally)}; " + "; ".join(lines[2:]))
    return lines


def _mail_read_back(ctx: DemoContext) -> list[str]:
    """What the mail sandbox's SMTP server received: the invoices as a customer gets them."""
    server = ctx.servers.get("mail")
    if server is None:
        return []
    # In invoice-number order, not arrival order (the post-invoice jobs finish in any order), so
    # every run shows the same examples.
    messages = sorted((m for m in server.app.sandbox.messages if m.channel == "smtp"), key=lambda m: m.subject)
    out = [f"invoices emailed over SMTP and read back from the local server: {len(messages)}"]
    for message in messages[:3]:
        files = ", ".join(f"{name} ({len(data):,} bytes)" for name, _type, data in message.attachments)
        out.append(f"  to {', '.join(message.to)} [{message.language}] {message.subject!r}: {files}")
    if messages:
        folder = ctx.out_dir / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        for message in messages:
            for name, _type, data in message.attachments:
                (folder / name).write_bytes(data)
        (folder / "first-invoice-mail.html").write_text(messages[0].html, encoding="utf-8")
        out.append(f"  every message's attachments and the first message's body saved under {folder}")
    return out


def portal_and_assessment(ctx: DemoContext) -> list[str]:
    from cli.demo_portal import run_demo_step
    from sandbox.registry import tls_folder

    entra = ctx.servers.get("entra")
    ca_file = str(tls_folder(ctx.state_dir / "entra") / "ca.pem")
    return run_demo_step(ctx.out_dir, entra, ca_file, card_entry=True)


# The Azure Functions that run each step's job on a schedule or an event (functions/). The demo runs the same
# jobs in one process; tests/unit/test_triggers_cover_demo.py keeps this list and functions/ in agreement.
STEP_TRIGGERS: dict[str, tuple[str, ...]] = {
    "dataverse round trip": (),  # a connectivity check, not a job
    "sync and provisioning": ("catalog_timer", "catalog_worker", "accounts_timer", "subscription_sync_timer",
                              "subscription_sync_worker", "dataverse_webhook", "provisioning_worker",
                              "scheduled_changes_timer", "trials_timer"),
    "price-change preview": ("price_preview_timer",),
    "pax8 provisioning": ("provisioning_worker",),
    "recon": ("recon_timer",),
    "billing": ("billing_timer", "billing_worker", "journal_export_timer", "billing_preview"),
    "payments and accounting": ("post_invoice_timer", "payment_webhook", "authorizenet_webhook", "dunning_timer"),
    "margin report": ("recon_timer",),
    "usage revised after month-end": ("recon_timer", "billing_preview"),
    "portal and assessment": ("portal_http", "assessment_timer"),
}
# Triggers that keep the others healthy rather than run a demo step.
OPERATIONS_TRIGGERS: tuple[str, ...] = ("inbox_sweeper_timer",)


STEPS: list[tuple[str, Any]] = [
    ("dataverse round trip", dataverse_round_trip),
    ("sync and provisioning", sync_and_provision),
    ("price-change preview", price_preview),
    ("pax8 provisioning", pax8_provisioning),
    ("recon", recon_ingest),
    ("billing", billing_cycle),
    ("payments and accounting", payments_and_accounting),
    ("margin report", margin_report),
    ("usage revised after month-end", usage_revision),
    ("portal and assessment", portal_and_assessment),
]
