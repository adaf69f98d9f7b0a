"""Telemetry: OpenTelemetry spans around every provider call and a few business counters.

Application Insights is switched on only when APPLICATIONINSIGHTS_CONNECTION_STRING is set (the Function
App's setting); otherwise the OpenTelemetry API is a no-op and costs next to nothing, so local runs and
tests pay nothing unless a test installs its own tracer provider.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.logging import get_logger, redact

log = get_logger(__name__)

TRACER_NAME = "cspbridge"
_configured = False
_configure_lock = threading.Lock()

# Request headers that carry the ids a support engineer asks a provider about.
CORRELATION_HEADERS = ("MS-CorrelationId", "x-ms-correlation-request-id", "x-ms-client-request-id")
REQUEST_ID_HEADERS = ("MS-RequestId", "Idempotency-Key", "x-ms-client-request-id")
# Response headers in which providers answer with their own request id.
RESPONSE_ID_HEADERS = ("MS-RequestId", "x-ms-service-request-id", "x-ms-request-id", "request-id",
                       "Request-Id", "intuit_tid", "x-request-id")

# Business counters: one name each, so dashboards and alerts have a single home.
COUNTERS = {
    "provisioned": "Change logs provisioned at a provider",
    "provisioning_failed": "Change logs whose provisioning failed",
    "invoices_billed": "Invoices written by a billing run",
    "rows_quarantined": "Recon or usage rows quarantined",
}


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Start the Azure Monitor distro once per process when a connection string is configured."""
    global _configured
    source = os.environ if env is None else env
    connection_string = source.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "")
    if not connection_string:
        return False
    with _configure_lock:
        if _configured:
            return True
        from azure.monitor.opentelemetry import configure_azure_monitor

        # The managed identity authenticates the exporter when local auth is disabled on the resource.
        credential = None
        if "Authorization=AAD" in source.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""):
            from azure.identity import ManagedIdentityCredential

            client_id = source.get("CSPB_CLIENT_ID") or None
            credential = ManagedIdentityCredential(client_id=client_id)
        configure_azure_monitor(connection_string=connection_string, credential=credential,
                                logger_name="cspbridge")
        _configured = True
        log.info("telemetry: exporting to Application Insights")
        return True


def service_for(url: str, fallback: str = "") -> str:
    """A stable dependency name ('dataverse', 'partnercenter', ...) from the client or the host."""
    if fallback:
        return fallback
    host = urlsplit(url).hostname or ""
    for needle, name in (("dynamics.com", "dataverse"), ("partnercenter", "partnercenter"),
                         ("partner.microsoft.com", "partnercenter"), ("graph.microsoft", "graph"),
                         ("pax8", "pax8"), ("stripe", "stripe"), ("authorize.net", "authorizenet"),
                         ("intuit", "quickbooks"), ("businesscentral", "businesscentral"),
                         ("vault.azure", "keyvault")):
        if needle in host:
            return name
    return host or "http"


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value:
            return str(value)
    return None


@contextmanager
def provider_call(service: str, method: str, url: str, headers: Mapping[str, str]) -> Iterator[Any]:
    """One CLIENT span per attempt: Application Insights shows each as a dependency call."""
    tracer = trace.get_tracer(TRACER_NAME)
    attributes: dict[str, Any] = {
        "peer.service": service,
        "http.request.method": method,
        "url.full": redact(url.split("?", 1)[0]),
        "server.address": urlsplit(url).hostname or "",
    }
    correlation = _first(headers, CORRELATION_HEADERS)
    request_id = _first(headers, REQUEST_ID_HEADERS)
    if correlation:
        attributes["cspb.correlation_id"] = correlation
    if request_id:
        attributes["cspb.request_id"] = request_id
    with tracer.start_as_current_span(f"{service} {method}", kind=SpanKind.CLIENT, attributes=attributes,
                                      record_exception=False, set_status_on_exception=False) as span:
        yield span


def record_response(span: Any, status_code: int, headers: Mapping[str, str]) -> None:
    span.set_attribute("http.response.status_code", status_code)
    answered = _first(headers, RESPONSE_ID_HEADERS)
    if answered:
        span.set_attribute("cspb.response_request_id", answered)
    if status_code >= 400:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))


def record_failure(span: Any, error: BaseException) -> None:
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.set_attribute("error.type", type(error).__name__)


_counters: dict[str, Any] = {}
_counter_lock = threading.Lock()


def count(name: str, amount: int = 1, **attributes: str) -> None:
    """Add to one of COUNTERS; unknown names are a programming error, caught by the tests."""
    if name not in COUNTERS:
        raise KeyError(f"unknown counter {name!r}; add it to shared.telemetry.COUNTERS")
    if amount <= 0:
        return
    with _counter_lock:
        counter = _counters.get(name)
        if counter is None:
            counter = metrics.get_meter(TRACER_NAME).create_counter(f"cspb.{name}", description=COUNTERS[name])
            _counters[name] = counter
    counter.add(amount, attributes)


def reset_for_tests() -> None:
    """Counters bind to the meter provider current at first use; tests that install one call this."""
    with _counter_lock:
        _counters.clear()
