"""Webhook endpoints of the Stripe sandbox: `POST /v1/webhook_endpoints` (url, enabled_events[])
answers the endpoint with its signing `secret` (whsec_...), as Stripe does once, at creation.
Events are delivered from a background thread, signed `Stripe-Signature: t=<unix>,v1=<hex>` over
"<t>.<raw body>" with HMAC-SHA256 (https://docs.stripe.com/webhooks#verify-manually); a non-2xx
answer is retried a few times (Stripe retries for days; the sandbox for a few seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class Delivery:
    url: str
    event_id: str
    event_type: str
    status: int | None
    attempts: int


class WebhookSender:
    def __init__(self, *, max_attempts: int = 4, retry_delay: float = 0.2, timeout: float = 10.0) -> None:
        self.endpoints: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    def add(self, params: dict[str, Any]) -> dict[str, Any]:
        events = list((params.get("enabled_events") or {}).values()) if isinstance(
            params.get("enabled_events"), dict) else [params.get("enabled_events") or "*"]
        endpoint = {"id": "we_" + secrets.token_hex(12), "object": "webhook_endpoint", "api_version": None,
                    "application": None, "created": int(time.time()), "description": params.get("description"),
                    "enabled_events": events, "livemode": False, "metadata": params.get("metadata", {}),
                    "secret": "whsec_" + secrets.token_hex(16), "status": "enabled", "url": params.get("url")}
        self.endpoints.append(endpoint)
        return endpoint

    def send(self, event: dict[str, Any]) -> None:
        if not any(self._wants(e, event["type"]) for e in self.endpoints):
            return
        self._idle.clear()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="stripe-sandbox-webhooks")
            self._thread.start()
        self._queue.put(event)

    def wait(self, timeout: float = 10.0) -> bool:
        """True once every queued event was delivered (or given up on)."""
        return self._idle.wait(timeout)

    @staticmethod
    def _wants(endpoint: dict[str, Any], kind: str) -> bool:
        return endpoint["status"] == "enabled" and ("*" in endpoint["enabled_events"]
                                                    or kind in endpoint["enabled_events"])

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            for endpoint in [e for e in self.endpoints if self._wants(e, event["type"])]:
                self._deliver(endpoint, event)
            if self._queue.empty():
                self._idle.set()

    def _deliver(self, endpoint: dict[str, Any], event: dict[str, Any]) -> None:
        body = json.dumps(event, indent=2).encode()
        status, attempt = None, 0
        for attempt in range(1, self.max_attempts + 1):
            t = int(time.time())
            signature = hmac.new(endpoint["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            try:
                response = requests.post(endpoint["url"], data=body, timeout=self.timeout, headers={
                    "Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": f"t={t},v1={signature}"})
                status = response.status_code
                if 200 <= status < 300:
                    break
            except requests.RequestException:
                status = None
            time.sleep(self.retry_delay * attempt)
        self.deliveries.append(Delivery(endpoint["url"], event["id"], event["type"], status, attempt))
