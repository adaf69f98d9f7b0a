"""The sync jobs wired to the configured clients: what the timers, workers and CLI call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from dataverse.stores.contract_currencies import currencies_in_use
from distributors.base import Adapters
from sync import runs

if TYPE_CHECKING:  # the clients load when a job runs, not when a trigger module is imported
    from dataverse.client import DataverseClient
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.queue import Queue
    from sync.catalog_sync import PriceSheetSource


def dataverse() -> DataverseClient:
    from dataverse.client import DataverseClient

    return DataverseClient.from_settings()


def partner_center() -> PartnerCenterAdapter:
    from distributors.partnercenter_adapter import PartnerCenterAdapter

    return PartnerCenterAdapter.from_settings()


def price_sheet_rows(pc: PartnerCenterAdapter, currencies: Iterable[str]) -> list[dict[str, Any]]:
    """Price sheet rows for every currency Microsoft prices in among `currencies` (plus USD, the fallback)."""
    from billing.currency import price_sheet_market

    markets = {price_sheet_market(c) for c in currencies} | {"US"}
    rows: list[dict[str, Any]] = []
    for market in sorted(markets):
        rows.extend(pc.get_price_sheet(market))
    return rows


def catalog(dv: DataverseClient | None = None, pc: PriceSheetSource | None = None, *,
            currencies: Iterable[str] | None = None, progress: runs.Progress = runs.no_progress,
            today: date | None = None, everything: bool = False,
            run_key: str | None = None) -> dict[str, Any]:
    """The whole catalog sync in one process (CLI, demo, bench): fan out one message per market, then
    drain them here one at a time, so memory holds one market's sheet at a time."""
    from shared.queue import InProcessQueue, drain
    from sync import catalog_sync

    dv = dv or dataverse()
    pc = pc or partner_center()
    wanted = list(currencies) if currencies else currencies_in_use(dv)
    run = runs.start(dv, "catalog", run_key)
    queue = InProcessQueue("catalog-sync")
    try:
        catalog_sync.fan_out(dv, queue, wanted, run=run, today=today)

        def handle(message: Any) -> None:
            catalog_sync.handle_market(message.body, dv=dv, pc=pc, run=run, everything=everything)
            progress(1)

        drained = drain(queue, handle)
    except Exception:
        runs.finish(run, failed=True)
        raise
    if drained.dead_lettered:
        run.error(f"{drained.dead_lettered} market(s) failed after retries (see the dead-letter queue)")
    runs.finish(run)
    written = {k.split(".", 1)[1]: v for k, v in run.counts.items() if k.startswith("written.")}
    return {**run.as_dict(), "written": written}


def catalog_scheduled() -> dict[str, Any]:
    """What the catalog timer runs: in Azure (Service Bus) the fan-out, drained by catalog_worker
    instances; anywhere else the whole job in this process."""
    from shared.config import get_settings

    if get_settings().queue_backend == "servicebus":
        return catalog_fan_out()
    return catalog()


def catalog_fan_out(dv: DataverseClient | None = None, queue: Queue | None = None, *, currencies: Iterable[str] | None = None) -> dict[str, Any]:
    """Timer side of the catalog sync in Azure: one queue message per market (catalog_worker)."""
    from shared.queue import CATALOG_SYNC_QUEUE, get_queue
    from sync import catalog_sync

    dv = dv or dataverse()
    wanted = list(currencies) if currencies else currencies_in_use(dv)
    run = runs.start(dv, "catalog")
    catalog_sync.fan_out(dv, queue if queue is not None else get_queue(CATALOG_SYNC_QUEUE), wanted, run=run)
    runs.finish(run)
    return run.as_dict()


def accounts(dv: DataverseClient | None = None, adapters: Adapters | None = None, *,
             progress: runs.Progress = runs.no_progress) -> dict[str, Any]:
    from sync.provider_accounts import run_provider_account_sync
    from sync.provisioning import default_adapters

    dv = dv or dataverse()
    result = run_provider_account_sync(dv, adapters or default_adapters(), progress=progress)
    return {**result.run, "unmapped": result.unmapped}


def subscriptions(dv: DataverseClient | None = None, adapters: Adapters | None = None, *,
                  progress: runs.Progress = runs.no_progress) -> dict[str, Any]:
    from sync.provisioning import default_adapters
    from sync.subscription_sync import run_subscription_sync

    dv = dv or dataverse()
    return run_subscription_sync(dv, adapters or default_adapters(), progress=progress)


def subscriptions_fan_out(dv: DataverseClient | None = None, queue: Queue | None = None) -> dict[str, Any]:
    """Timer side of the subscription sync in Azure: enqueue one message per provider account."""
    from shared.queue import SUBSCRIPTION_SYNC_QUEUE, get_queue
    from sync.subscription_sync import fan_out

    dv = dv or dataverse()
    return fan_out(dv, queue if queue is not None else get_queue(SUBSCRIPTION_SYNC_QUEUE))  # an empty queue is falsy


def price_preview(dv: DataverseClient | None = None, pc: PriceSheetSource | None = None, **kwargs: Any) -> dict[str, Any]:
    """Next month's prices compared with the ones in force; the report goes to Blob Storage."""
    from sync.price_preview import run_price_preview

    dv = dv or dataverse()
    pc = pc or partner_center()
    return run_price_preview(dv, pc, **kwargs)


def subscription_sync_message(body: Mapping[str, Any]) -> None:
    """Worker side of the subscription sync: one batch of provider accounts from the fan-out queue.
    A RetriableError escapes so the queue re-delivers the batch; every write is an idempotent upsert."""
    from sync.subscription_sync import handle_message

    handle_message(body)


def catalog_market_message(body: Mapping[str, Any]) -> None:
    """Worker side of the catalog sync: one market's price sheet into the price lists it feeds."""
    from sync.catalog_sync import handle_market

    handle_market(body)
