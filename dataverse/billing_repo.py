"""The billing run's store in Dataverse (implements billing.run_service.BillingRepository).

Invoices and lines are created with alternate-key upserts and `If-None-Match: *` (create-only):
a second writer, or a retry after a response lost in transit, gets 412 and re-reads the row
instead of creating a duplicate
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api).

Exchange rates: every conversion uses the per-month exchange-rate table (cspb_exchangerate: from,
to, month, rate, source), plus the `rates` given to the repository (the `--rates` CSV of
`cspbridge bill run`: month,from,to,rate). Dataverse's transactioncurrency rates are today's rates,
not the month's, so they are never used: a month without a rate fails the contract that needs it,
with a message naming the pair and month. Each invoice stores the rate its lines were converted with in
cspb_exchangerate: 1 when every line was priced in the invoice currency, the rate when one foreign
currency and month were converted, empty when several were (no single number describes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from billing.currency import RateTable, month_of
from billing.models import (
    USAGE_KINDS,
    BillingContract,
    ChangeLog,
    ExchangeRate,
    Invoice,
    InvoiceLine,
    RevenueScheduleEntry,
    Subscription,
    UsageSource,
    UsageSummary,
)
from billing.run_service import StoredInvoice
from billing.runs import BillingData
from dataverse import map_billing as m
from dataverse.batch import MAX_BATCH_REQUESTS, BatchRequest
from dataverse.client import DataverseClient
from dataverse.odata import FILTER_CHUNK, any_of, chunks, id_segment, key_segment
from dataverse.tables import EntitySet
from shared.errors import ConflictError, IntegrationError

ONE = Decimal(1)


def invoice_exchange_rate(invoice: Invoice, sources: dict[str, tuple[str, str | None]], rates: RateTable) -> Decimal | None:
    """The rate the invoice's lines were converted with. `sources` maps a subscription id or usage
    summary key to (currency, month of the conversion or None = the month of the line's period)."""
    used: set[tuple[str, str]] = set()
    for line in invoice.lines:
        keys = list(line.usage_summary_keys) or ([line.subscription_id] if line.subscription_id else [])
        for key in keys:
            currency, month = sources.get(key, ("", None))
            if currency and currency != invoice.currency:
                used.add((currency, month or month_of(line.period_start or invoice.period_start)))
    if not used:
        return ONE
    if len(used) > 1:
        return None
    currency, month = used.pop()
    try:
        return rates.rate(currency, invoice.currency, month)
    except IntegrationError:
        return None


class DataverseBillingRepository:
    def __init__(self, client: DataverseClient, *, rates: Sequence[ExchangeRate] = ()) -> None:
        self.dv = client
        self.extra_rates = list(rates)
        self._rates = RateTable()
        self._sources: dict[str, tuple[str, str | None]] = {}

    # ---- reads ----------------------------------------------------------------------------------

    def load(self, contract_numbers: Sequence[str] | None = None) -> BillingData:
        if contract_numbers:
            contract_rows = [row for chunk in chunks(list(contract_numbers))
                             for row in self.dv.list(EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT,
                                                     filter=any_of("cspb_contractnumber", chunk))]
        else:
            contract_rows = list(self.dv.list(EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT,
                                              filter="statecode ne 1"))
        contracts = [m.contract_from_row(r) for r in contract_rows]
        ids = {c.id for c in contracts}
        if contract_numbers:
            # One batch of a fanned-out run: read only its contracts' rows, so a message costs the same
            # requests and memory at 200 contracts as at 20,000 (planning streams batch by batch).
            subs = self._subscriptions_of(sorted(i for i in ids if i))
            sub_ids = {s.id for s in subs}
            logs = [log for log in self._change_logs_of(sorted(i for i in ids if i)) if log.subscription_id in sub_ids]
            usage = self._usage(sorted({s.provider_subscription_id for s in subs
                                        if s.kind in USAGE_KINDS and s.provider_subscription_id}))
        else:
            subs = [m.subscription_from_row(r) for r in self.dv.list(
                EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT, filter="_cspb_billingcontract_value ne null")]
            subs = [s for s in subs if s.contract_id in ids]
            sub_ids = {s.id for s in subs}
            logs = [m.change_log_from_row(r) for r in self.dv.list(EntitySet.LICENSE_CHANGE_LOGS,
                                                                  select=m.CHANGE_LOG_SELECT)]
            logs = [c for c in logs if c.subscription_id in sub_ids]
            usage = self._usage()
        one_time = [item for item in (m.one_time_from_subscription(s) for s in subs) if item is not None]
        subs = self._with_tax_categories(subs)
        rates = self.exchange_rates() + self.extra_rates
        try:
            self._rates = RateTable(rates)
        except IntegrationError:
            self._rates = RateTable()  # the plan reports the bad rate per run; invoices get no rate then
        self._sources = {s.id: (s.currency, None) for s in subs if s.id and s.currency}
        self._sources.update({u.summary_key: (u.currency, u.period) for u in usage if u.currency})
        tax_rates = [m.tax_rate_from_row(r) for r in self.dv.list(EntitySet.TAX_RATES, select=m.TAX_RATE_SELECT)]
        return BillingData(contracts, subs, logs, usage, one_time, rates, tax_rates)

    def _subscriptions_of(self, contract_ids: Sequence[str]) -> list[Subscription]:
        return [m.subscription_from_row(r) for chunk in chunks(contract_ids) for r in self.dv.list(
            EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT,
            filter=any_of("_cspb_billingcontract_value", chunk, quote_values=False))]

    def _change_logs_of(self, contract_ids: Sequence[str]) -> list[ChangeLog]:
        # Through the subscription's contract (a lookup path in $filter): one request per chunk of
        # contracts, not one per chunk of their (ten times more) subscriptions.
        return [m.change_log_from_row(r) for chunk in chunks(contract_ids) for r in self.dv.list(
            EntitySet.LICENSE_CHANGE_LOGS, select=m.CHANGE_LOG_SELECT,
            filter=any_of("cspb_subscription/_cspb_billingcontract_value", chunk, quote_values=False))]

    def _usage(self, provider_subscription_ids: Sequence[str] | None = None) -> list[UsageSummary]:
        """Summaries not billed yet (`ne true`: a row the ingest wrote without the column is not
        billed either), and billed estimates whose Microsoft-billed figures have arrived (true-ups).
        With `provider_subscription_ids`, only those subscriptions' (or entitlements') summaries."""
        unbilled = "cspb_billed ne true"
        settled = (f"cspb_billed eq true and cspb_billedsource eq '{UsageSource.UNBILLED.value}' "
                   f"and cspb_usagesource eq '{UsageSource.BILLED.value}'")
        if provider_subscription_ids is None:
            scopes: list[str | None] = [None]
        else:
            scopes = [f"{any_of('cspb_subscriptionid', chunk)} or {any_of('cspb_entitlementid', chunk)}"
                      for chunk in chunks(provider_subscription_ids, FILTER_CHUNK // 2)]
        found = {}
        for scope in scopes:
            for base in (unbilled, settled):
                where = base if scope is None else f"({base}) and ({scope})"
                for row in self.dv.list(EntitySet.USAGE_SUMMARIES, select=m.USAGE_SELECT, filter=where):
                    found[row["cspb_summarykey"]] = m.usage_from_row(row)
        return [found[k] for k in sorted(found)]

    def exchange_rates(self) -> list[ExchangeRate]:
        """The per-month exchange-rate table (cspb_exchangerate): the one source of every conversion."""
        return [m.exchange_rate_from_row(r) for r in self.dv.list(EntitySet.EXCHANGE_RATES, select=m.EXCHANGE_RATE_SELECT)]

    def _with_tax_categories(self, subs: list[Subscription]) -> list[Subscription]:
        products = sorted({s.product_id for s in subs if s.product_id})
        category = {}
        for chunk in chunks(products):
            for row in self.dv.list(EntitySet.PRODUCTS, select=["productid", "cspb_taxcategory"],
                                    filter=any_of("productid", chunk, quote_values=False)):
                category[row["productid"]] = m.tax_category_of(row)
        return [replace(s, tax_category=category[s.product_id]) if s.product_id in category else s for s in subs]

    def invoice_states(self, keys: Sequence[str]) -> dict[str, StoredInvoice]:
        found: dict[str, StoredInvoice] = {}
        for chunk in chunks(sorted(set(keys))):
            for row in self.dv.list(EntitySet.INVOICES, select=["invoiceid", "cspb_invoicekey", "statuscode"],
                                    filter=any_of("cspb_invoicekey", chunk)):
                found[row["cspb_invoicekey"]] = StoredInvoice(row["invoiceid"], row.get("statuscode") == m.STATUS_COMPLETE)
        return found

    def incomplete_invoices(self, contract_numbers: Sequence[str] | None = None) -> dict[str, StoredInvoice]:
        rows = self.dv.list(EntitySet.INVOICES, select=["invoiceid", "cspb_invoicekey"],
                            filter=f"statuscode eq {m.STATUS_WRITING} and cspb_invoicekey ne null")
        wanted = set(contract_numbers or ())
        return {r["cspb_invoicekey"]: StoredInvoice(r["invoiceid"], False) for r in rows
                if not wanted or r["cspb_invoicekey"].split("|", 1)[0] in wanted}

    def line_owners(self, line_keys: Sequence[str]) -> dict[str, str]:
        owners: dict[str, str] = {}
        for chunk in chunks(sorted(set(line_keys))):
            for row in self.dv.list(EntitySet.INVOICE_DETAILS, select=["cspb_linekey", "_invoiceid_value"],
                                    filter=any_of("cspb_linekey", chunk)):
                owners[row["cspb_linekey"]] = row["_invoiceid_value"]
        return owners

    def invoice_lines(self, invoice_id: str) -> list[InvoiceLine]:
        rows = self.dv.list(EntitySet.INVOICE_DETAILS, select=m.LINE_SELECT, filter=f"_invoiceid_value eq {invoice_id}")
        return [m.line_from_row(r) for r in rows]

    def get_invoice(self, key: str) -> Invoice | None:
        row = self.dv.get_by_key(EntitySet.INVOICES, {"cspb_invoicekey": key}, select=m.INVOICE_SELECT)
        if row is None:
            return None
        lines = self.dv.list(EntitySet.INVOICE_DETAILS, select=m.LINE_SELECT,
                             filter=f"_invoiceid_value eq {row['invoiceid']}")
        return m.invoice_from_row(row, list(lines))

    # ---- writes ---------------------------------------------------------------------------------

    def create_invoice(self, invoice: Invoice) -> StoredInvoice:
        key = {"cspb_invoicekey": invoice.key}
        if invoice.exchange_rate is None:
            invoice = replace(invoice, exchange_rate=invoice_exchange_rate(invoice, self._sources, self._rates))
        try:
            result = self.dv.upsert(EntitySet.INVOICES, key, m.invoice_header_row(invoice), mode="create_only")
            return StoredInvoice(result.id, False)
        except ConflictError:
            row = self.dv.get_by_key(EntitySet.INVOICES, key, select=["invoiceid", "statuscode"])
            if row is None:
                raise
            return StoredInvoice(row["invoiceid"], row.get("statuscode") == m.STATUS_COMPLETE)

    def create_line(self, invoice_id: str, line: InvoiceLine, number: int) -> bool:
        try:
            self.dv.upsert(EntitySet.INVOICE_DETAILS, {"cspb_linekey": line.key}, m.line_row(line, invoice_id, number),
                           mode="create_only")
            return True
        except ConflictError:
            return False

    def create_lines(self, invoice_id: str, lines: Sequence[InvoiceLine]) -> int:
        """All lines of an invoice in one $batch changeset (one round trip, all or nothing). If any
        already exists (a re-run finishing a half-written invoice) the changeset is refused as a
        whole, and the lines are created one by one, skipping those present."""
        requests = [BatchRequest("PATCH", key_segment(EntitySet.INVOICE_DETAILS, {"cspb_linekey": line.key}),
                                 m.line_row(line, invoice_id, number), {"If-None-Match": "*"})
                    for number, line in enumerate(lines, start=1)]
        if not requests:
            return 0
        if len(requests) <= MAX_BATCH_REQUESTS:
            try:
                self.dv.batch(requests, changeset=True)
                return len(requests)
            except ConflictError:
                pass
        return sum(self.create_line(invoice_id, line, n) for n, line in enumerate(lines, start=1))

    def link_billed(self, invoice_id: str, change_log_ids: Sequence[str], summaries: Sequence[UsageSummary]) -> None:
        """Point the billed change logs and usage summaries at the invoice, in one changeset; a
        summary also records the cost and source it was billed on."""
        link = m.invoice_link(invoice_id)
        requests = [BatchRequest("PATCH", id_segment(EntitySet.LICENSE_CHANGE_LOGS, cid), link, {"If-Match": "*"})
                    for cid in change_log_ids]
        requests += [BatchRequest("PATCH", id_segment(EntitySet.USAGE_SUMMARIES, u.id or ""),
                                  m.usage_billed_row(invoice_id, u), {"If-Match": "*"}) for u in summaries if u.id]
        for i in range(0, len(requests), MAX_BATCH_REQUESTS):
            self.dv.batch(requests[i:i + MAX_BATCH_REQUESTS], changeset=True)

    def link_change_log(self, change_log_id: str, invoice_id: str) -> None:
        self.dv.update(EntitySet.LICENSE_CHANGE_LOGS, change_log_id, m.invoice_link(invoice_id))

    def settle_change_logs(self, change_log_ids: Sequence[str]) -> None:
        requests = [BatchRequest("PATCH", id_segment(EntitySet.LICENSE_CHANGE_LOGS, cid), {"cspb_archived": True},
                                 {"If-Match": "*"}) for cid in change_log_ids]
        for i in range(0, len(requests), MAX_BATCH_REQUESTS):
            self.dv.batch(requests[i:i + MAX_BATCH_REQUESTS], changeset=True)

    def set_next_invoice_date(self, contract: BillingContract, day: date) -> None:
        if contract.id:
            self.dv.update(EntitySet.BILLING_CONTRACTS, contract.id, {"cspb_nextinvoicedate": day})

    def complete_invoice(self, invoice_id: str, lines: Sequence[InvoiceLine]) -> None:
        self.dv.update(EntitySet.INVOICES, invoice_id, m.invoice_complete_row(list(lines)))

    def write_revenue_schedule(self, entries: Sequence[RevenueScheduleEntry]) -> None:
        requests = [BatchRequest("PATCH", key_segment(EntitySet.REVENUE_SCHEDULES, {"cspb_schedulekey": e.key}),
                                 m.revenue_row(e)) for e in entries]
        for i in range(0, len(requests), MAX_BATCH_REQUESTS):
            self.dv.batch(requests[i:i + MAX_BATCH_REQUESTS], changeset=True)

    def revenue_schedule(self, invoice_id: str | None = None) -> list[RevenueScheduleEntry]:
        flt = f"_cspb_invoice_value eq {invoice_id}" if invoice_id else None
        rows = self.dv.list(EntitySet.REVENUE_SCHEDULES, filter=flt,
                            select=["cspb_schedulekey", "cspb_month", "cspb_amount", "cspb_currencycode",
                                    "_cspb_invoice_value", "_cspb_billingcontract_value", "cspb_exported"])
        return [m.revenue_from_row(r) for r in rows]
