"""pytest fixtures for the sync area (sandboxes started on 127.0.0.1, port 0).

- `price_sheet_rows`: a small license price sheet (USD + EUR) built from the Partner Center
  sandbox catalog, in the price sheet's column names.
"""

from __future__ import annotations

import pytest


def sheet_rows(skus: int = 3, currencies: tuple[str, ...] = ("USD", "EUR")) -> list[dict[str, str]]:
    from sandbox.partnercenter import catalog

    rows = []
    for sku in catalog.LICENSE_SKUS[:skus]:
        for currency in currencies:
            for term, billing, _factor, _months in catalog.TERMS:
                rows.append({"ProductId": sku[0], "SkuId": sku[1], "ProductTitle": sku[3], "SkuTitle": sku[4],
                             "TermDuration": term, "BillingPlan": billing.title(), "Currency": currency,
                             "UnitPrice": str(catalog.unit_price(sku[6], term, billing, currency))})
    return rows


@pytest.fixture
def price_sheet_rows() -> list[dict[str, str]]:
    return sheet_rows()


def fast_retry():
    from shared.http import RetryPolicy

    return RetryPolicy(max_attempts=4, base_seconds=0.005, cap_seconds=0.05, max_retry_after=0.05)


@pytest.fixture
def sync_pc_server(tmp_path):
    """A Partner Center sandbox seeded with 4 customers (no usage files)."""
    from sandbox._server import RunningServer
    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.partnercenter.server import build_app

    state = tmp_path / "partnercenter"
    seed_to_dir(state, customers=4, seed=7, usage_rows=0)
    app = build_app(state)
    server = RunningServer(app, port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sync_pc(sync_pc_server):
    """The Partner Center adapter on the sandbox; a 1 s timeout so timeout_after_commit tests stay short."""
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.auth import static_token

    return PartnerCenterAdapter(sync_pc_server.url, static_token("sandbox-token"), retry=fast_retry(), timeout=1.0)


@pytest.fixture
def sync_worker_env(monkeypatch, dv_server, sync_pc_server):
    """Settings pointing the triggers at the Dataverse and Partner Center sandboxes, fast retries,
    and empty in-process queues (the trigger tests call workers the way the host does)."""
    from shared.config import reset_settings
    from shared.queue import reset_in_process_queues

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_PARTNER_CENTER_URL", sync_pc_server.url)
    monkeypatch.setenv("CSPB_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("CSPB_HTTP_BACKOFF_CAP_SECONDS", "0.01")
    reset_settings()
    reset_in_process_queues()
    yield
    reset_in_process_queues()


@pytest.fixture
def webhook_endpoint(monkeypatch, dv_server):
    """The dataverse_webhook function served over real HTTP, the way the Functions host would.
    Yields (url, key); queue backend is the in-process one."""
    import azure.functions as func
    from werkzeug.wrappers import Request, Response

    from sandbox._server import RunningServer
    from shared.config import reset_settings
    from shared.queue import reset_in_process_queues

    key = "sync-test-webhook-key"
    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_WEBHOOK_KEY", key)
    monkeypatch.setenv("CSPB_QUEUE_BACKEND", "local")
    reset_settings()
    reset_in_process_queues()

    def app(environ, start_response):
        from functions.dataverse_webhook import dataverse_webhook

        request = Request(environ)
        req = func.HttpRequest(request.method, request.url, headers=dict(request.headers),
                               params=dict(request.args), body=request.get_data())
        out = dataverse_webhook.build().get_user_function()(req)
        return Response(out.get_body(), status=out.status_code, content_type="application/json")(
            environ, start_response)

    server = RunningServer(app, port=0).start()
    try:
        yield f"{server.url}/api/webhooks/dataverse", key
    finally:
        server.stop()
        reset_in_process_queues()
