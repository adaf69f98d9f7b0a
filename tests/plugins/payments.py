"""pytest fixtures for hosted card entry: the Stripe webhook trigger served on 127.0.0.1 and registered
with the Stripe sandbox, and settings pointing the payments area at the sandboxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest


def serve_function(function: Any) -> Any:
    """Host one HTTP-triggered function on 127.0.0.1 (what `func start` does locally)."""
    import azure.functions as func
    from werkzeug.wrappers import Request, Response

    from sandbox._server import RunningServer

    handler = function.build().get_user_function()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        out = handler(func.HttpRequest(request.method, request.url, headers=dict(request.headers),
                                       params=dict(request.args), body=request.get_data()))
        return Response(out.get_body(), status=out.status_code, content_type="application/json")(
            environ, start_response)

    return RunningServer(app, port=0).start()


@pytest.fixture
def stripe_hosted(monkeypatch, dv_server, stripe_server) -> Iterator[SimpleNamespace]:
    """Settings at the Dataverse and Stripe sandboxes; the Stripe webhook trigger registered as the
    sandbox's webhook endpoint, with the secret Stripe answered in CSPB_STRIPE_WEBHOOK_SECRET."""
    import requests

    from functions.payment_webhook import payment_webhook
    from shared.config import reset_settings

    host = serve_function(payment_webhook)
    endpoint = requests.post(stripe_server.url + "/v1/webhook_endpoints", timeout=5,
                             headers={"Authorization": "Bearer sk_test_sandbox"},
                             data={"url": host.url + "/api/webhooks/stripe",
                                   "enabled_events[0]": "checkout.session.completed",
                                   "enabled_events[1]": "payment_intent.succeeded"}).json()
    for name, value in {"DATAVERSE_URL": dv_server.url, "STRIPE_API_BASE": stripe_server.url,
                        "STRIPE_WEBHOOK_SECRET": endpoint["secret"], "HTTP_MAX_ATTEMPTS": "3",
                        "HTTP_BACKOFF_CAP_SECONDS": "0.05", "HTTP_TIMEOUT_SECONDS": "10"}.items():
        monkeypatch.setenv(f"CSPB_{name}", value)
    reset_settings()
    try:
        yield SimpleNamespace(url=stripe_server.url, sandbox=stripe_server.app.sandbox, webhook_host=host)
    finally:
        host.stop()
        reset_settings()


def type_card(hosted_url: str, number: str, *, authenticate: str = "complete", expiry: str = "12 / 34",
              cvc: str = "123", name: str = "Ann Lee") -> Any:
    """What a customer does on the Stripe sandbox's hosted card page, over plain HTTP: type the card,
    pass (or fail) the 3-D Secure step when one comes. Returns the last response (303 to success_url
    when the card was saved)."""
    import re

    import requests

    r = requests.post(hosted_url, data={"cardNumber": number, "cardExpiry": expiry, "cardCvc": cvc,
                                        "billingName": name}, allow_redirects=False, timeout=10)
    challenge = re.search(r'name="setup_intent" value="([^"]+)"', r.text) if r.status_code == 200 else None
    if challenge:
        r = requests.post(hosted_url + "/authenticate", data={"setup_intent": challenge.group(1),
                                                              "result": authenticate},
                          allow_redirects=False, timeout=10)
    return r


@pytest.fixture
def authorizenet_hosted(monkeypatch, dv_server, authorizenet_server) -> Iterator[SimpleNamespace]:
    """Settings at the Dataverse and Authorize.Net sandboxes; the Authorize.Net webhook trigger
    registered through the sandbox's webhook REST API, its Signature Key in settings."""
    import requests

    from functions.authorizenet_webhook import authorizenet_webhook
    from shared.config import reset_settings

    sandbox = authorizenet_server.app.sandbox
    host = serve_function(authorizenet_webhook)
    requests.post(authorizenet_server.url + "/rest/v1/webhooks", timeout=5, auth=("sandbox", "sandbox-key"),
                  json={"name": "cspbridge", "url": host.url + "/api/webhooks/authorizenet", "status": "active",
                        "eventTypes": ["net.authorize.payment.authcapture.created",
                                       "net.authorize.customer.paymentProfile.created"]}).raise_for_status()
    for name, value in {"DATAVERSE_URL": dv_server.url,
                        "AUTHORIZENET_URL": authorizenet_server.url + "/xml/v1/request.api",
                        "AUTHORIZENET_SIGNATURE_KEY": sandbox.signature_key, "HTTP_MAX_ATTEMPTS": "3",
                        "HTTP_BACKOFF_CAP_SECONDS": "0.05", "HTTP_TIMEOUT_SECONDS": "10"}.items():
        monkeypatch.setenv(f"CSPB_{name}", value)
    reset_settings()
    try:
        yield SimpleNamespace(url=authorizenet_server.url, sandbox=sandbox, webhook_host=host)
    finally:
        host.stop()
        reset_settings()


def type_anet_card(form: Any, number: str, *, zip_code: str = "98004", expiry: str = "1234",
                   code: str = "123") -> Any:
    """The Authorize.Net hosted form over plain HTTP: POST the page token, then the card."""
    import requests

    page = requests.post(form.url, data=form.fields, timeout=10)
    assert page.status_code == 200 and 'id="cardNum"' in page.text, page.text
    return requests.post(form.url, data={**form.fields, "cardNumber": number, "expirationDate": expiry,
                                         "cardCode": code, "zip": zip_code}, allow_redirects=False, timeout=10)
