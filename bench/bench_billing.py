"""Billing run benchmark.

1. Planning (pure engine): a partner with 20,000 license subscriptions on 2,000 contracts, a change
   log for every other subscription and Azure usage on 500 contracts. Baseline: the same planner
   with each contract scanning the whole input (no grouping pass), the obvious first version.
2. Writing (optional, --write N): N contracts billed into the Dataverse sandbox over loopback HTTP,
   then re-run to show the idempotent re-run cost.

    python -m bench.bench_billing                 # planning at full size
    python -m bench.bench_billing --contracts 200 --write 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bench._common import load_average
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


def make_data(n_contracts: int, subs_per_contract: int = 10) -> BillingData:
    contracts, subs, logs, usage = [], [], [], []
    for c in range(n_contracts):
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


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def bench_plan(n: int, baseline_sample: int) -> int:
    data = make_data(n)
    plan, ours = timed(lambda d: plan_run(d, RUN_DATE), data)
    lines = sum(len(i.lines) for i in plan.invoices)
    print(f"plan: {n} contracts, {len(data.subscriptions)} subscriptions, {len(data.change_logs)} change logs, "
          f"{len(data.usage)} usage rows -> {len(plan.invoices)} invoices, {lines} lines in {ours:.2f} s "
          f"[{load_average()}]")
    # The baseline grows with contracts^2: run it on the first `baseline_sample` contracts against
    # the whole input, and check it produced exactly our invoices for those contracts.
    sample = data.contracts[:baseline_sample] if baseline_sample < n else data.contracts
    base_invoices, base = timed(naive_plan, replace(data, contracts=tuple(sample)))
    numbers = {c.number for c in sample}
    ours_for_sample = [inv for inv in plan.invoices if inv.contract_number in numbers]
    if fingerprint(base_invoices) != fingerprint(ours_for_sample):
        print(f"MISMATCH: the baseline planned {len(base_invoices)} invoices for {len(sample)} contracts, "
              f"ours {len(ours_for_sample)}; the comparison is void")
        return 1
    scaled = base * n / len(sample)
    how = "" if len(sample) == n else f" (measured on {len(sample)} contracts, scaled linearly to {n})"
    print(f"baseline (same plan_run per contract, each scanning all input): {scaled:.2f} s{how}, "
          f"same {len(base_invoices)} invoices for those contracts -> ours is {scaled / ours:.1f}x faster "
          f"[{load_average()}]")
    return 0


def bench_write(n: int) -> None:
    from billing.run_service import execute_run
    from dataverse.billing_repo import DataverseBillingRepository
    from dataverse.client import DataverseClient
    from dataverse.map_billing import CONTRACT_SELECT  # noqa: F401  (import check)
    from dataverse.seed_billing import seed_billing
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app
    from shared.auth import static_token

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp) / "dv")
        server = RunningServer(app, port=0).start()
        try:
            dv = DataverseClient(server.url, static_token("sandbox-token"))
            seed_billing(dv)
            account = next(iter(dv.list("accounts", select=["accountid"])))["accountid"]
            for c in range(n):
                cid = dv.upsert("cspb_billingcontracts", {"cspb_contractnumber": f"BX-{c}"}, {
                    "cspb_name": f"BX-{c}", "cspb_frequency": 1, "cspb_policy": 1, "cspb_startdate": date(2026, 1, 1),
                    "cspb_currencycode": "USD", "cspb_account@odata.bind": f"/accounts({account})"}).id
                for s in range(5):
                    dv.upsert("cspb_subscriptions", {"cspb_providersubscriptionid": f"BX-{c}-{s}"}, {
                        "cspb_name": f"BX-{c}-{s}", "cspb_quantity": 3 + s, "cspb_unitprice": Decimal("20.00"),
                        "cspb_kind": 1, "cspb_status": 1, "cspb_startdate": "2026-01-01T00:00:00Z",
                        "cspb_billingcontract@odata.bind": f"/cspb_billingcontracts({cid})"})
            repo = DataverseBillingRepository(dv)
            first, t1 = timed(lambda: execute_run(repo, date(2026, 1, 2)))
            again, t2 = timed(lambda: execute_run(repo, date(2026, 1, 2)))
            print(f"write: {first.created} invoices, {first.lines_written} lines into the sandbox in {t1:.2f} s "
                  f"({first.created / t1:.1f} invoices/s); re-run {t2:.2f} s, {again.created} created")
        finally:
            server.stop()
            app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--baseline-sample", type=int, default=400,
                        help="contracts the quadratic baseline plans (scaled linearly; it is the lower bound)")
    parser.add_argument("--write", type=int, default=0, help="also bill N contracts into the Dataverse sandbox")
    args = parser.parse_args(argv)
    status = bench_plan(args.contracts, args.baseline_sample)
    if args.write:
        bench_write(args.write)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
