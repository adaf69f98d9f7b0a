"""Microsoft revising a closed month's usage after its invoice: late-arriving usage raises some
meters, a correction lowers others, and a charge withdrawn in full drops a meter altogether.

`revise_billed_usage(state_dir)` rewrites the billed usage export of every seeded invoice in place
(the amounts follow usage_file's documented formulas), moves each invoice's totalCharges by the
usage it changed, and records every change in meta.json["revisions"], so a test can check the
recon's delta report key by key. meta.json is written last and atomically: a running sandbox
serves the revised files from its next request. Deterministic: the same seed and revision number
change the same meters by the same amounts.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sandbox.partnercenter import catalog
from sandbox.partnercenter.seed import write_jsonl_gz
from sandbox.partnercenter.usage_file import SIX, read_usage_rows

DEFAULT_PERCENT = Decimal("8")


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return (str(row["CustomerId"]), str(row["SubscriptionId"]), str(row.get("EntitlementId") or ""),
            str(row["MeterCategory"]), str(row["UsageDate"])[:7], str(row["BillingCurrency"]).upper())


def _scaled(row: dict[str, Any], factor: Decimal) -> dict[str, Any]:
    quantity = (Decimal(row["Quantity"]) * factor).quantize(SIX, ROUND_HALF_UP)
    pricing = (Decimal(row["EffectiveUnitPrice"]) * quantity).quantize(SIX, ROUND_HALF_UP)
    billing = (pricing * Decimal(row["PCToBCExchangeRate"])).quantize(SIX, ROUND_HALF_UP)
    return {**row, "Quantity": quantity, "PricingPreTaxTotal": pricing, "BillingPreTaxTotal": billing}


def revise_billed_usage(state_dir: Path | str, *, percent: Decimal = DEFAULT_PERCENT) -> dict[str, Any]:
    """Revise every invoice's billed usage; returns {"revision": n, "percent": p, "changes": [...]}.

    Per customer (in file order): one meter rises by `percent`, another falls by `percent`, and on
    each invoice the first customer with four or more meters also loses one meter entirely."""
    if not Decimal(0) < percent < Decimal(100):
        raise ValueError(f"percent must be between 0 and 100, got {percent}")
    root = Path(state_dir)
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    invoices = json.loads((root / "invoices.json").read_text(encoding="utf-8"))
    number = len(meta.get("revisions", [])) + 1
    rng = random.Random(f"revise:{meta['seed']}:{number}")
    up, down = 1 + percent / 100, 1 - percent / 100
    changes: list[dict[str, Any]] = []
    for invoice in invoices:
        folder = root / "exports" / "usage_billed" / invoice["id"]
        parts = sorted(folder.glob("*.json.gz"))
        rows = {part: list(read_usage_rows(part)) for part in parts}
        names: dict[str, str] = {}
        keys_by_customer: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        before: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
        for part_rows in rows.values():
            for row in part_rows:
                key = _key(row)
                if key not in before:
                    keys_by_customer[key[0]].append(key)
                    names[key[0]] = str(row.get("CustomerName") or "")
                before[key] += Decimal(row["BillingPreTaxTotal"])
        if not before:
            continue
        plan: dict[tuple[str, ...], Decimal] = {}
        dropped_one = False
        for keys in keys_by_customer.values():
            picks = rng.sample(keys, k=min(len(keys), 3))
            plan[picks[0]] = up
            if len(picks) > 1:
                plan[picks[1]] = down
            if len(picks) > 2 and len(keys) >= 4 and not dropped_one:
                plan[picks[2]] = Decimal(0)
                dropped_one = True
        after: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
        for part, part_rows in rows.items():
            revised = []
            for row in part_rows:
                factor = plan.get(_key(row))
                if factor == 0:
                    continue
                new = row if factor is None else _scaled(row, factor)
                after[_key(new)] += Decimal(new["BillingPreTaxTotal"])
                revised.append(new)
            write_jsonl_gz(part, revised)
        shutil.rmtree(folder / "basic", ignore_errors=True)  # the cut-down copy is made again on request
        q = catalog.quantum(invoice["currencyCode"])
        old_usage, new_usage = sum(before.values(), Decimal(0)), sum(after.values(), Decimal(0))
        invoice["totalCharges"] = str(Decimal(invoice["totalCharges"]) - old_usage.quantize(q, ROUND_HALF_UP)
                                      + new_usage.quantize(q, ROUND_HALF_UP))
        for key in sorted(plan):
            customer, subscription, entitlement, meter, period, currency = key
            changes.append({"invoice": invoice["id"], "customer_id": customer, "customer": names[customer],
                            "subscription_id": subscription, "entitlement_id": entitlement, "meter_category": meter,
                            "period": period, "currency": currency, "before": str(before[key]),
                            "after": str(after.get(key, Decimal(0))),
                            "delta": str(after.get(key, Decimal(0)) - before[key])})
    (root / "invoices.json").write_text(json.dumps(invoices, indent=1), encoding="utf-8")
    record = {"revision": number, "percent": str(percent), "changes": changes}
    meta.setdefault("revisions", []).append(record)
    tmp = root / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    tmp.replace(root / "meta.json")
    return record
