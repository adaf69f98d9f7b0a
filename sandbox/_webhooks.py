"""Webhook delivery for the payment sandboxes: events are posted from a background thread to every
endpoint subscribed to their type, with the headers the service's `sign(endpoint, body)` gives
(Stripe: `Stripe-Signature`; Authorize.Net: `X-ANET-Signature`); a non-2xx answer is retried a few
times (the real services retry for days; the sandboxes for a few seconds).

Endpoints are dicts with at least `url`, `events` (types, or "*") and `enabled`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
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
    def __init__(self, sign: Callable[[dict[str, Any], bytes], dict[str, str]], *, type_key: str = "type",
                 id_key: str = "id", max_attempts: int = 4, retry_delay: float = 0.2, timeout: float = 10.0) -> None:
        self.sign = sign
        self.type_key = type_key
        self.id_key = id_key
        self.endpoints: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    def send(self, event: dict[str, Any]) -> None:
        if not any(self._wants(e, event[self.type_key]) for e in self.endpoints):
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
        return bool(endpoint["enabled"]) and ("*" in endpoint["events"] or kind in endpoint["events"])

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            for endpoint in [e for e in self.endpoints if self._wants(e, event[self.type_key])]:
                self._deliver(endpoint, event)
            if self._queue.empty():
                self._idle.set()

    def _deliver(self, endpoint: dict[str, Any], event: dict[str, Any]) -> None:
        body = json.dumps(event, indent=2).encode()
        status, attempt = None, 0
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = requests.post(endpoint["url"], data=body, timeout=self.timeout, headers={
                    "Content-Type": "application/json; charset=utf-8", **self.sign(endpoint, body)})
                status = response.status_code
                if 200 <= status < 300:
                    break
            except requests.RequestException:
                status = None
            time.sleep(self.retry_delay * attempt)
        self.deliveries.append(Delivery(endpoint["url"], str(event[self.id_key]), str(event[self.type_key]), status,
                                        attempt))
