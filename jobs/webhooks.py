"""The inbound webhooks and the inbox sweep, as the HTTP and timer triggers call them.

Each one verifies and stores before anything else happens, so a trigger only turns the answer into an
HTTP response; the services below own the wire formats and the inbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payments.service import WebhookReply
    from sync.inbox import Delivery


def dataverse_change(body: bytes, headers: Mapping[str, str], params: Mapping[str, str]) -> Delivery:
    """Dataverse's RemoteExecutionContext for a change log: key check, inbox row, provisioning queue."""
    from sync.inbox import accept_delivery

    return accept_delivery(body, headers, params)


def stripe_event(body: bytes, headers: Mapping[str, str]) -> WebhookReply:
    """A Stripe event: Stripe-Signature, inbox dedupe on the event id, then applied."""
    from payments.service import handle_stripe_webhook

    return handle_stripe_webhook(body, dict(headers))


def authorizenet_notification(body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """An Authorize.Net notification: X-ANET-Signature, inbox dedupe on the notification id."""
    from payments.authorizenet_webhook import handle

    return handle(body, dict(headers))


def sweep_inbox() -> dict[str, Any]:
    """Re-queue inbox rows stuck Received or Queued."""
    from sync.inbox import sweep_job

    return sweep_job()
