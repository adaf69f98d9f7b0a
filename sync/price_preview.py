"""Next month's prices, ahead: Partner Center serves price sheets by month, so the sheet for next
month (timeline=history&month=YYYYMM) is compared with the prices in force today, for the products
the partner's catalog holds (sync.catalog_selection), at the partner's current markup rules.

If Partner Center does not serve next month's sheet yet, the latest sheet stands in: its rows
dated for the 1st of next month are the announced prices (the report says which one it used).
Output: price-changes.csv, customer-impact.csv and report.html in Blob Storage
(catalog/price-preview/{YYYY-MM}/) and, when asked, in a local folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from billing import catalog_pricing as cp
from billing import price_outlook as po
from dataverse import catalog_repo as repo
from dataverse.client import DataverseClient
from shared.blobstore import BlobStore
from shared.errors import IntegrationError, RetriableError
from shared.logging import get_logger
from sync import catalog_selection, catalog_sync, runs
from sync.catalog_sync import PriceSheetSource
from sync.price_preview_report import customers_csv, html_report, items_csv

log = get_logger(__name__)


def next_month(today: date) -> date:
    return date(today.year + (today.month == 12), today.month % 12 + 1, 1)


def run_price_preview(dv: DataverseClient, pc: PriceSheetSource, *, month: str | None = None, today: date | None = None,
                      currencies: Iterable[str] | None = None, store: BlobStore | None = None,
                      out_dir: Path | None = None, everything: bool = False) -> dict[str, Any]:
    """Compare `month` (YYYYMM, default next month) with today's prices. Reads only; writes the report."""
    from dataverse.stores.contract_currencies import currencies_in_use

    today = today or datetime.now(UTC).date()
    ahead = next_month(today) if not month else date(int(month[:4]), int(month[4:6]), 1)
    month = f"{ahead:%Y%m}"
    wanted = [c.upper() for c in (currencies or currencies_in_use(dv))]
    levels = repo.price_list_ids(dv)
    rules = catalog_sync.load_rules(dv, levels)
    uses = repo.subscription_uses(dv)
    selection = catalog_selection.load(dv, uses, everything=everything)
    scratch = runs.SyncRun("price-preview", dv)  # counts only; the preview writes no Dynamics rows

    changes: list[po.ItemChange] = []
    now_prices: dict[str, cp.DesiredPrice] = {}
    names: dict[str, str] = {}
    sources: dict[str, str] = {}
    for market, feeds in catalog_sync.markets_for(wanted).items():
        current = catalog_sync.read_sheet(pc.iter_price_sheet(market), scratch)
        try:
            upcoming = catalog_sync.read_sheet(pc.iter_price_sheet(market, month=month), scratch)
            sources[market] = f"the {ahead:%B %Y} price sheet"
        except RetriableError:
            raise
        except IntegrationError as exc:
            log.info("price preview %s: no sheet for %s (%s); using the latest sheet's announced rows",
                     market, month, exc)
            upcoming = current
            sources[market] = "the latest price sheet"
        for sheet in (current, upcoming):
            names.update({number: info.title for number, info in sheet.products.items()})
        for currency in feeds:
            now = cp.plan_prices(current, [currency], rules, today, selected=selection).wanted
            nxt = cp.plan_prices(upcoming, [currency], rules, ahead, selected=selection).wanted
            changes.extend(po.compare(now, nxt))
            now_prices.update((p.key, p) for p in now)
        del current, upcoming

    customers = repo.provider_account_names(dv)
    holdings = [po.Holding(customers.get(u.account_id) or "Unknown customer", u.price_key, u.quantity, u.unit_price)
                for u in uses if u.live and u.price_key]
    impact = po.customer_impact(changes, holdings, now_prices)
    source = sorted(set(sources.values()))
    files = {
        "price-changes.csv": (items_csv(changes, names), "text/csv"),
        "customer-impact.csv": (customers_csv(impact), "text/csv"),
        "report.html": (html_report(changes, impact, names, month_label=f"{ahead:%B %Y}",
                                    source=" and ".join(source) or "no sheet", in_force=today.isoformat()),
                        "text/html"),
    }
    paths: dict[str, str] = {}
    if store is None:
        from shared.blobstore import blob_store_from_settings

        store = blob_store_from_settings()
    for name, (text, content_type) in files.items():
        data = text.encode("utf-8")
        paths[name] = store.put(f"catalog/price-preview/{ahead:%Y-%m}/{name}", data, content_type=content_type).path
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_bytes(data)
    kinds = {k: sum(1 for c in changes if c.kind == k) for k in (po.ADDED, po.CHANGED, po.REMOVED)}
    return {"month": f"{ahead:%Y-%m}", "inForce": today.isoformat(), "source": source, "items": kinds,
            "customersAffected": len({r.customer for r in impact}), "selection": selection.describe(),
            "files": paths, "local": {n: str(out_dir / n) for n in files} if out_dir else {}}
