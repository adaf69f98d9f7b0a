"""Every provider call is a CLIENT span (an Application Insights dependency) with the ids a support case
needs, and the business counters move: checked with OpenTelemetry's in-memory exporter and reader."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import telemetry

BASIC = ("CFQ7TTC0LH18", "0001", "CFQ7TTC0K59J")
_EXPORTER = InMemorySpanExporter()
_READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _providers():
    # The OpenTelemetry globals can be set once per process; this module is the only one that sets them.
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_READER]))
    telemetry.reset_for_tests()
    yield


def _counter_total(name: str) -> int:
    data = _READER.get_metrics_data()
    total = 0
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == f"cspb.{name}":
                    total += sum(point.value for point in metric.data.data_points)
    return total


def test_one_provisioning_flow_is_traced_as_dependencies_with_its_ids(sync_worker_env, dv, sync_pc):
    from functions.provisioning_worker import provisioning_worker
    from sync.provider_accounts import run_provider_account_sync

    company = next(iter(sync_pc.list_companies()))
    dv.create("accounts", {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: sync_pc})
    account = dv.get_by_key("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": company.id},
                            select=["cspb_provideraccountid"])
    account_id = account["cspb_provideraccountid"]
    dv.update("cspb_provideraccounts", account_id, {"cspb_mcaattested": True})
    sub_id = dv.create("cspb_subscriptions", {
        "cspb_name": "Business Basic (rep)", "cspb_provider": 1, "cspb_productid": BASIC[0], "cspb_skuid": BASIC[1],
        "cspb_availabilityid": BASIC[2], "cspb_term": "P1Y", "cspb_billingfrequency": "P1M", "cspb_status": 5,
        "cspb_kind": 1, "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    log_id = dv.create("cspb_licensechangelogs", {
        "cspb_changekey": "otel-1", "cspb_name": "otel-1", "cspb_changetype": 1, "cspb_newquantity": 2,
        "cspb_origin": 1, "cspb_provisioningstatus": 1, "cspb_requestedby": "rep@partner",
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub_id})"})
    provisioned_before = _counter_total("provisioned")
    _EXPORTER.clear()

    worker = provisioning_worker.build().get_user_function()
    worker(func.ServiceBusMessage(body=json.dumps({"entity": "cspb_licensechangelog", "recordId": log_id}).encode()))

    spans = _EXPORTER.get_finished_spans()
    assert spans and all(s.kind == SpanKind.CLIENT for s in spans)
    by_service: dict[str, list] = {}
    for span in spans:
        by_service.setdefault(span.attributes["peer.service"], []).append(span)
    assert {"dataverse", "partnercenter"} <= set(by_service)
    for span in spans:
        assert span.attributes["http.request.method"] and span.attributes["http.response.status_code"]
        assert "?" not in span.attributes["url.full"]
    partner_center = by_service["partnercenter"]
    # Partner Center calls carry MS-CorrelationId and MS-RequestId, and the sandbox echoes the request id.
    assert all(s.attributes.get("cspb.correlation_id") for s in partner_center)
    writes = [s for s in partner_center if s.attributes["http.request.method"] == "POST"]
    assert writes and all(s.attributes.get("cspb.request_id") for s in writes)
    row = dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus", "cspb_idempotencykey"])
    assert row["cspb_provisioningstatus"] == 2
    assert _counter_total("provisioned") == provisioned_before + 1


def test_unknown_counter_names_are_refused():
    with pytest.raises(KeyError):
        telemetry.count("provisionned")


def test_configure_is_off_without_a_connection_string():
    assert telemetry.configure({}) is False
