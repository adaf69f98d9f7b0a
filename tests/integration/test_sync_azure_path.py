"""The Azure path of the subscription sync (timer -> queue -> worker processes) against the
in-process path, over real HTTP: same handler, same Dataverse requests, and each worker process
loads the catalog once per catalog version."""

from __future__ import annotations

import pytest

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet
from jobs.sync import price_sheet_rows
from shared.auth import static_token
from shared.queue import InProcessQueue, drain
from sync.catalog_sync import run_catalog_sync
from sync.provider_accounts import run_provider_account_sync
from sync.reference_cache import ReferenceCache, catalog_version
from sync.subscription_sync import fan_out, handle_message, run_subscription_sync
from tests.plugins.dataverse import fast_retry

pytestmark = pytest.mark.integration


def _client(server) -> DataverseClient:
    return DataverseClient(server.url, static_token("sandbox-token"), retry=fast_retry(), timeout=10.0)


def _azure(server, pc, caches: list[ReferenceCache], size: int | None = None) -> tuple[int, int]:
    """Timer + one worker client per cache (a process each). Returns (Dataverse requests, messages)."""
    timer = _client(server)
    run_provider_account_sync(timer, {1: pc})
    queue = InProcessQueue("azure-path")
    fan_out(timer, queue, size=size)
    messages = len(queue)
    workers = [(_client(server), cache) for cache in caches]
    turn = iter(range(10_000))

    def handle(message) -> None:
        dv, cache = workers[next(turn) % len(workers)]
        handle_message(message.body, dv=dv, adapters={1: pc}, cache=cache)

    drain(queue, handle)
    return timer.http.request_count + sum(dv.http.request_count for dv, _ in workers), messages


@pytest.fixture
def two_orgs(tmp_path):
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app

    apps = [build_app(tmp_path / f"dv-{n}") for n in range(2)]
    servers = [RunningServer(app).start() for app in apps]
    yield servers
    for server, app in zip(servers, apps, strict=True):
        server.stop()
        app.close()


def test_azure_path_makes_no_more_requests_than_in_process(two_orgs, sync_pc) -> None:
    in_process, azure = two_orgs
    sheet = price_sheet_rows(sync_pc, ("USD",))
    for server in two_orgs:
        run_catalog_sync(_client(server), sheet, currencies=("USD",), everything=True)

    from sync.reference_cache import PROCESS_CACHE

    PROCESS_CACHE.clear()
    dv = _client(in_process)
    run_provider_account_sync(dv, {1: sync_pc})
    run_subscription_sync(dv, {1: sync_pc})
    in_process_requests = dv.http.request_count
    cache = ReferenceCache()
    azure_requests, messages = _azure(azure, sync_pc, [cache])
    assert messages == 1  # 4 tenants, 50 per message
    assert cache.loads == 1
    assert azure_requests <= in_process_requests

    # Same rows on both sides (prices from the cached price list included).
    def rows(server) -> list[tuple]:
        return sorted((r["cspb_providersubscriptionid"], r["cspb_quantity"], str(r.get("cspb_unitprice")))
                      for r in _client(server).list(EntitySet.SUBSCRIPTIONS, select=[
                          "cspb_providersubscriptionid", "cspb_quantity", "cspb_unitprice"]))
    assert rows(in_process) == rows(azure)

    # Unchanged re-sync in 2-tenant messages from a warm process: one read per message, no catalog
    # reload, no writes.
    before = cache.loads
    again, messages = _azure(azure, sync_pc, [cache], size=2)
    assert messages == 2 and cache.loads == before
    # accounts: run row x2 + 2 reads; subscriptions: run row x2, accounts read, catalog version x2, 1 read per message
    assert again == 4 + 5 + 2


def test_a_catalog_write_moves_the_version_and_the_worker_reloads(dv, price_sheet_rows) -> None:
    run_catalog_sync(dv, price_sheet_rows, currencies=("USD", "EUR"), everything=True)
    first = catalog_version(dv)
    cache = ReferenceCache()
    loaded = []

    def prices(d):
        loaded.append(1)
        return {"k": (len(loaded), None)}

    assert cache.get(dv, first, products=lambda d: {}, prices=prices)[1]["k"][0] == 1
    assert cache.get(dv, first, products=lambda d: {}, prices=prices)[1]["k"][0] == 1  # same version: memory
    item = next(iter(dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=["productpricelevelid", "amount"], top=1)))
    dv.update(EntitySet.PRODUCT_PRICE_LEVELS, item["productpricelevelid"], {"amount": 1})
    second = catalog_version(dv)
    assert second != first
    assert cache.get(dv, second, products=lambda d: {}, prices=prices)[1]["k"][0] == 2
    # A message from an older run does not make a process that already holds a newer catalog go back.
    assert cache.get(dv, first, products=lambda d: {}, prices=prices)[1]["k"][0] == 2
    assert cache.loads == 2


def test_every_org_with_the_same_tenants_gets_the_same_batches(two_orgs, sync_pc) -> None:
    """The fan-out batches provider accounts in tenant order, not by the ids Dataverse gave the rows,
    so two orgs (or the same org rebuilt) send the same messages and make the same requests."""
    batches = []
    for server in two_orgs:
        dv = _client(server)
        run_provider_account_sync(dv, {1: sync_pc})
        queue = InProcessQueue("batches")
        fan_out(dv, queue, size=3)
        messages = queue.receive(100, visibility_timeout=0)
        batches.append([[a["externalId"] for a in m.body["accounts"]] for m in messages])
    tenants = [t for batch in batches[0] for t in batch]
    assert len(tenants) > 3 and tenants == sorted(tenants, key=str.lower)
    assert sorted(batches[0]) == sorted(batches[1])
