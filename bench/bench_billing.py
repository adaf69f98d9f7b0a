"""Billing run benchmark.

1. Planning (pure engine): a partner with 20,000 contracts of 10 licenses each, a change log for
   every other subscription and Azure usage on every fourth contract, planned batch by batch as the
   fanned-out run does (each batch only its own rows): time and peak RSS (target < 300 MB). Compared
   with the whole partner held and planned in one call (a child process: its own RSS; checked to
   plan the same invoices), and the quadratic baseline: the same planner with each contract
   scanning the whole input (no grouping pass), the obvious first version.
2. Writing (optional, --write N): N contracts billed into the Dataverse sandbox over loopback HTTP,
   then re-run to show the idempotent re-run cost.

    python -m bench.bench_billing                 # planning at full size
    python -m bench.bench_billing --contracts 2000 --write 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bench._common import load_average, peak_rss_mb
from billing.cycles import due_cycles, invoice_date
from billing.models import (
    BillingContract,
    ChangeLog,
    ChangeType,
    Frequency,
    Policy,
    Subscription,
    SubscriptionKind,
    UsageSummary,
)
from billing.runs import BillingData, plan_run

RUN_DATE = date(2026, 3, 2)


def make_data(n_contracts: int, subs_per_contract: int = 10, *, first: int = 0) -> BillingData:
    """Contracts first .. first+n_contracts-1 of the partner with everything they own: the same
    contracts whichever batch they are made in (a batch is what one fan-out message loads)."""
    contracts, subs, logs, usage = [], [], [], []
    for c in range(first, first + n_contracts):
        cid = f"c{c}"
        contracts.append(BillingContract(f"BC-{c:05d}", f"a{c}", Frequency.MONTHLY if c % 4 else Frequency.ANNUAL,
                                         Policy.ADVANCE if c % 3 else Policy.ARREARS, date(2025, 1 + c % 12, 1),
                                         "USD", id=cid, tax_rate_pct=Decimal("8.25")))
        for s in range(subs_per_contract):
            sid = f"{cid}s{s}"
            subs.append(Subscription(f"PS-{sid}", 5 + s, Decimal("12.50") + s, id=sid, contract_id=cid,
                                     start_date=date(2025, 1, 1), term="P1Y"))
            if s % 2 == 0:
                logs.append(ChangeLog(f"L-{sid}", sid, ChangeType.INCREASE, RUN_DATE - timedelta(days=10 + s),
                                      5 + s, 7 + s))
        if c % 4 == 1:
            az = f"AZ-{cid}"
            subs.append(Subscription(az, 1, Decimal(0), id=f"{cid}az", contract_id=cid,
                                     kind=SubscriptionKind.AZURE_PLAN))
            for cat in ("Compute", "Storage", "Networking"):
                usage.append(UsageSummary(f"{az}|2026-01|{cat}", az, "2026-01", "USD", Decimal("123.456")))
    # Steady state: earlier runs invoiced every earlier cycle, so each contract's next invoice date
    # is its latest due cycle (runs have no horizon: without it every cycle since 2025 is due).
    contracts = [replace(c, next_invoice_date=invoice_date(c, due_cycles(c, RUN_DATE)[-1])) for c in contracts]
    return BillingData(contracts, subs, logs, usage)


def naive_plan(data: BillingData) -> list:
    """The same run (plan_run: catch-up cycles, change-log invoices, usage), one contract at a time,
    each call handed the whole partner's input: the obvious first version, before grouping."""
    invoices = []
    for contract in data.contracts:
        invoices.extend(plan_run(replace(data, contracts=(contract,)), RUN_DATE).invoices)
    return invoices


def fingerprint(invoices) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """What both planners must agree on: every invoice key, its total and its line count."""
    return sorted((inv.key, str(inv.total), len(inv.lines)) for inv in invoices)


def digest(invoices) -> int:  # type: ignore[no-untyped-def]
    """An order-free checksum of the fingerprints, so batches and one whole plan compare equal."""
    import hashlib

    return sum(int.from_bytes(hashlib.blake2b(repr(f).encode(), digest_size=8).digest(), "big")
               for f in fingerprint(invoices)) % (1 << 64)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def stream_plan(n: int, batch: int) -> dict:
    """Planning as the fanned-out run does it: one batch of contracts at a time, each with only its
    own rows (DataverseBillingRepository.load(batch)), nothing kept but the counts."""
    out = {"invoices": 0, "lines": 0, "digest": 0, "subscriptions": 0, "logs": 0, "usage": 0, "seconds": 0.0}
    for first in range(0, n, batch):
        data = make_data(min(batch, n - first), first=first)  # stands in for the batch's load: not timed
        plan, seconds = timed(lambda d: plan_run(d, RUN_DATE), data)
        out["seconds"] += seconds
        out["invoices"] += len(plan.invoices)
        out["lines"] += sum(len(i.lines) for i in plan.invoices)
        out["digest"] = (out["digest"] + digest(plan.invoices)) % (1 << 64)
        out["subscriptions"] += len(data.subscriptions)
        out["logs"] += len(data.change_logs)
        out["usage"] += len(data.usage)
    out["rss"] = peak_rss_mb()
    return out


def _whole_partner(n: int, baseline_sample: int, results) -> None:  # type: ignore[no-untyped-def]
    """In a child process (its own peak RSS): the whole partner held and planned in one call, and
    the quadratic baseline on a sample of its contracts."""
    import resource

    data = make_data(n)
    plan, seconds = timed(lambda d: plan_run(d, RUN_DATE), data)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sample = data.contracts[:baseline_sample] if baseline_sample < n else data.contracts
    base_invoices, base = timed(naive_plan, replace(data, contracts=tuple(sample)))
    numbers = {c.number for c in sample}
    ours_for_sample = [inv for inv in plan.invoices if inv.contract_number in numbers]
    results.put({"seconds": seconds, "rss": rss, "invoices": len(plan.invoices), "digest": digest(plan.invoices),
                 "sample": len(sample), "base_seconds": base, "base_invoices": len(base_invoices),
                 "base_same": fingerprint(base_invoices) == fingerprint(ours_for_sample)})


def bench_plan(n: int, baseline_sample: int, batch: int = 100) -> int:
    import multiprocessing

    streamed = stream_plan(n, batch)
    print(f"plan, streamed {batch} contracts at a time (as the fan-out messages load them): {n} contracts, "
          f"{streamed['subscriptions']} subscriptions, {streamed['logs']} change logs, {streamed['usage']} usage rows "
          f"-> {streamed['invoices']} invoices, {streamed['lines']} lines, plan time {streamed['seconds']:.2f} s, "
          f"peak RSS {streamed['rss']:.0f} MB (target < 300 MB at 20,000 contracts: "
          f"{'PASS' if streamed['rss'] < 300 else 'MISSED'}) [{load_average()}]")
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_whole_partner, args=(n, baseline_sample, results))
    child.start()
    whole = results.get()
    child.join()
    if whole["digest"] != streamed["digest"] or whole["invoices"] != streamed["invoices"]:
        print(f"MISMATCH: planning the whole partner at once gave {whole['invoices']} invoices, streamed "
              f"{streamed['invoices']}; the comparison is void")
        return 1
    print(f"whole partner in memory, one plan_run (same invoices, checked): {whole['seconds']:.2f} s, peak RSS "
          f"{whole['rss']:.0f} MB -> streaming holds {whole['rss'] / streamed['rss']:.1f}x less, "
          f"takes {streamed['seconds'] / whole['seconds']:.2f}x the time [{load_average()}]")
    if not whole["base_same"]:
        print(f"MISMATCH: the baseline planned {whole['base_invoices']} invoices for {whole['sample']} contracts; "
              f"the comparison is void")
        return 1
    scaled = whole["base_seconds"] * n / whole["sample"]
    how = "" if whole["sample"] == n else f" (measured on {whole['sample']} contracts, scaled linearly to {n})"
    print(f"baseline (same plan_run per contract, each scanning all input): {scaled:.2f} s{how}, "
          f"same {whole['base_invoices']} invoices for those contracts -> one plan_run is "
          f"{scaled / whole['seconds']:.1f}x faster, streamed {scaled / streamed['seconds']:.1f}x [{load_average()}]")
    return 0 if streamed["rss"] < 300 or n < 20000 else 1


def _seed_partner(dv, n: int) -> None:  # type: ignore[no-untyped-def]
    """n monthly advance contracts with 5 licenses each, written in bulk (not part of what is timed)."""
    from dataverse.seed_billing import seed_billing

    seed_billing(dv)
    account = next(iter(dv.list("accounts", select=["accountid"])))["accountid"]
    dv.bulk_upsert("cspb_billingcontracts", "cspb_billingcontract", ["cspb_contractnumber"], [{
        "cspb_contractnumber": f"BX-{c:05d}", "cspb_name": f"BX-{c:05d}", "cspb_frequency": 1, "cspb_policy": 1,
        "cspb_startdate": date(2026, 1, 1), "cspb_currencycode": "USD",
        "cspb_account@odata.bind": f"/accounts({account})"} for c in range(n)])
    ids = {r["cspb_contractnumber"]: r["cspb_billingcontractid"] for r in dv.list(
        "cspb_billingcontracts", select=["cspb_contractnumber", "cspb_billingcontractid"])}
    dv.bulk_upsert("cspb_subscriptions", "cspb_subscription", ["cspb_providersubscriptionid"], [{
        "cspb_providersubscriptionid": f"BX-{c:05d}-{s}", "cspb_name": f"BX-{c:05d}-{s}", "cspb_quantity": 3 + s,
        "cspb_unitprice": Decimal("20.00"), "cspb_kind": 1, "cspb_status": 1,
        "cspb_startdate": "2026-01-01T00:00:00Z",
        "cspb_billingcontract@odata.bind": f"/cspb_billingcontracts({ids[f'BX-{c:05d}']})"}
        for c in range(n) for s in range(5)])


def bench_write(n: int, latency_ms: float, batch: int, target_invoices: int = 3000) -> int:
    """The same partner billed twice at `latency_ms` a round trip: once per invoice in one process
    (run_service + DataverseBillingRepository, the baseline), once fanned out (billing timer +
    one worker invocation per batch of contracts, bulk writes)."""
    from billing.run_service import execute_run
    from dataverse.billing_repo import DataverseBillingRepository
    from dataverse.client import DataverseClient
    from jobs import billing_fanout
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app
    from shared.auth import static_token
    from shared.queue import InProcessQueue

    run_date = date(2026, 1, 2)
    with tempfile.TemporaryDirectory() as tmp:
        apps = [build_app(Path(tmp) / name) for name in ("per-invoice", "fan-out")]
        with RunningServer(apps[0]) as one_srv, RunningServer(apps[1]) as bulk_srv:
            one, bulk = (DataverseClient(s.url, static_token("sandbox-token")) for s in (one_srv, bulk_srv))
            for dv in (one, bulk):
                _seed_partner(dv, n)
            for app in apps:
                app.faults.set(latency_ms=latency_ms)
            before = one.http.request_count
            base, t_base = timed(lambda: execute_run(DataverseBillingRepository(one), run_date))
            base_requests = one.http.request_count - before

            before = bulk.http.request_count
            queue = InProcessQueue("bench-billing")
            _, t_fan = timed(lambda: billing_fanout.fan_out(run_date, dv=bulk, queue=queue, size=batch,
                                                            assign=False, renew=False))
            invocations = []
            for message in queue.receive(10_000, visibility_timeout=0):
                counts, secs = timed(lambda m=message: billing_fanout.handle_message(m.body, dv=bulk))
                invocations.append((secs, counts))
            bulk_requests = bulk.http.request_count - before
        for app in apps:
            app.close()
    created = sum(c.get("invoices", 0) for _, c in invocations)
    if created != base.created:
        print(f"MISMATCH: per-invoice run created {base.created} invoices, fan-out {created}")
        return 1
    slowest = max(secs for secs, _ in invocations)
    per_inv_base, per_inv_bulk = base_requests / base.created, bulk_requests / created
    print(f"write: {n} contracts -> {created} invoices, {base.lines_written} lines, {latency_ms:g} ms a round trip "
          f"[{load_average()}]")
    print(f"  per invoice, one process (baseline): {base_requests:,} requests ({per_inv_base:.2f} per invoice), "
          f"{t_base:.1f} s")
    print(f"  fanned out, bulk writes: timer {t_fan:.1f} s, {len(invocations)} worker invocations of {batch} "
          f"contracts, slowest {slowest:.1f} s; {bulk_requests:,} requests ({per_inv_bulk:.2f} per invoice, "
          f"target <= 0.5)  {'OK' if per_inv_bulk <= 0.5 else 'MISSED'}")
    # At the size: the baseline is one invocation that grows with invoices; fanned out, each
    # invocation is one batch, whatever the run's size.
    scale = target_invoices / created
    print(f"  at {target_invoices:,} invoices: baseline one invocation ~{t_base * scale / 60:.1f} min "
          f"({'fits' if t_base * scale < 600 else 'does not fit'} 10 min); fanned out "
          f"~{len(invocations) * scale:.0f} invocations of ~{slowest:.1f} s each "
          f"({'fits' if slowest < 600 else 'does not fit'} 10 min)   {per_inv_base / per_inv_bulk:.1f}x fewer requests")
    return 0 if per_inv_bulk <= 0.5 and slowest < 600 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=20000)
    parser.add_argument("--baseline-sample", type=int, default=200,
                        help="contracts the quadratic baseline plans (scaled linearly; it is the lower bound)")
    parser.add_argument("--write", type=int, default=200,
                        help="also bill N contracts into the Dataverse sandbox both ways (0: skip)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="round trip added to every request")
    parser.add_argument("--batch", type=int, default=100, help="contracts per fan-out message")
    args = parser.parse_args(argv)
    status = bench_plan(args.contracts, args.baseline_sample, args.batch)
    if args.write:
        status |= bench_write(args.write, args.latency_ms, args.batch)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
