"""Queue port: send small JSON messages with an id, receive them, complete / abandon / dead-letter.

Three adapters with the same semantics, so code tested locally behaves the same in Azure:
- `ServiceBusQueue` (Azure): the queue itself does duplicate detection on MessageId and
  dead-letters after MaxDeliveryCount (both are queue properties set at deployment).
- `StorageQueue` (Azurite locally, or a storage account): storage queues have neither, so
  a send first claims a marker blob `queue-dedupe/<queue>/<id>` with if-none-match (an atomic
  "create only"), and a message whose dequeue count passes `max_deliveries` is moved to
  `<queue>-poison`, the same name the Functions host uses.
- `InProcessQueue`: memory only, for the CLI and tests.

Only RetriableError makes `drain` abandon (re-deliver later); the handler records every
other failure itself, so a message that can never succeed does not loop.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.errors import RetriableError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)

DEFAULT_MAX_DELIVERIES = 5


@dataclass
class Message:
    id: str
    body: dict[str, Any]
    delivery_count: int = 1
    handle: Any = field(default=None, repr=False)  # adapter-specific receipt


class Queue(Protocol):
    name: str
    max_deliveries: int

    def send(self, body: dict[str, Any], *, message_id: str) -> bool:
        """Enqueue unless a message with this id was already sent. True if it was enqueued."""
        ...

    def receive(self, max_messages: int = 32, visibility_timeout: int = 60) -> list[Message]: ...
    def complete(self, message: Message) -> None: ...
    def abandon(self, message: Message) -> None: ...
    def dead_letter(self, message: Message, reason: str) -> None: ...
    def dead_letters(self) -> list[Message]: ...


def encode(body: dict[str, Any], message_id: str) -> str:
    return json.dumps({"id": message_id, "body": body}, separators=(",", ":"), default=str)


def decode(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    """Accept our envelope, plain JSON or base64 JSON (what the Functions host hands a trigger)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = json.loads(base64.b64decode(text, validate=True).decode())
        except (ValueError, binascii.Error):
            raise ValidationError("queue message is not JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("queue message is not a JSON object")
    if "id" in data and isinstance(data.get("body"), dict):
        return str(data["id"]), data["body"]
    return str(data.get("id") or uuid.uuid4()), data


class InProcessQueue:
    def __init__(self, name: str = "local", max_deliveries: int = DEFAULT_MAX_DELIVERIES) -> None:
        self.name = name
        self.max_deliveries = max_deliveries
        self._ready: deque[Message] = deque()
        self._seen: set[str] = set()
        self._dead: list[Message] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def send(self, body: dict[str, Any], *, message_id: str) -> bool:
        with self._lock:
            if message_id in self._seen:
                return False
            self._seen.add(message_id)
            self._ready.append(Message(message_id, json.loads(json.dumps(body, default=str)), 0))
            return True

    def send_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> int:
        return sum(self.send(body, message_id=mid) for mid, body in items)

    def receive(self, max_messages: int = 32, visibility_timeout: int = 60) -> list[Message]:
        out: list[Message] = []
        with self._lock:
            while self._ready and len(out) < max_messages:
                msg = self._ready.popleft()
                self._counts[msg.id] = self._counts.get(msg.id, 0) + 1
                msg.delivery_count = self._counts[msg.id]
                if msg.delivery_count > self.max_deliveries:
                    self._dead.append(msg)
                    continue
                out.append(msg)
        return out

    def complete(self, message: Message) -> None:
        return None

    def abandon(self, message: Message) -> None:
        with self._lock:
            self._ready.append(message)

    def dead_letter(self, message: Message, reason: str) -> None:
        with self._lock:
            message.body = {**message.body, "_deadletter_reason": reason}
            self._dead.append(message)

    def dead_letters(self) -> list[Message]:
        return list(self._dead)

    def __len__(self) -> int:
        return len(self._ready)


class StorageQueue:
    """Azure Storage queue (Azurite in tests) with dedupe markers and a poison queue."""

    def __init__(self, connection_string: str, name: str, *, max_deliveries: int = DEFAULT_MAX_DELIVERIES,
                 dedupe_container: str = "queue-dedupe", client_options: dict[str, Any] | None = None,
                 queue_url: str = "", blob_url: str = "", credential: Any = None) -> None:
        """A connection string, or identity-based: the queue and blob service URLs with a token credential
        (roles "Storage Queue Data Contributor" and "Storage Blob Data Contributor")."""
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobServiceClient
        from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient

        self.name = name
        self.max_deliveries = max_deliveries
        if not connection_string and not (queue_url and blob_url and credential is not None):
            raise ValidationError("a Storage queue needs a connection string, or queue and blob service URLs "
                                  "with a credential (CSPB_STORAGE__queueServiceUri, CSPB_STORAGE__blobServiceUri)")
        options = dict(client_options or {})
        retries = options.pop("retry_total", None)
        queue_options, blob_options = dict(options), dict(options)
        if retries is not None:
            # The SDKs' default ExponentialRetry starts at 15 s; a bounded caller wants a short linear one.
            from azure.storage.blob import LinearRetry as BlobRetry
            from azure.storage.queue import LinearRetry as QueueRetry

            queue_options["retry_policy"] = QueueRetry(backoff=1, random_jitter_range=0, retry_total=retries)
            blob_options["retry_policy"] = BlobRetry(backoff=1, random_jitter_range=0, retry_total=retries)

        # Base64 like the Functions host expects by default, so a queue trigger can read our messages.
        def client(queue_name: str) -> QueueClient:
            codec = {"message_encode_policy": BinaryBase64EncodePolicy(),
                     "message_decode_policy": BinaryBase64DecodePolicy(), **queue_options}
            if connection_string:
                return QueueClient.from_connection_string(connection_string, queue_name, **codec)
            return QueueClient(queue_url, queue_name, credential=credential, **codec)

        self._queue = client(name)
        self._poison = client(f"{name}-poison")
        blobs = (BlobServiceClient.from_connection_string(connection_string, **blob_options) if connection_string
                 else BlobServiceClient(blob_url, credential=credential, **blob_options))
        self._markers = blobs.get_container_client(dedupe_container)
        try:
            self._ensure()
        except AzureError as exc:
            raise RetriableError(f"queue {name}: storage unavailable: {type(exc).__name__}") from exc

    def _ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for client in (self._queue, self._poison):
            try:
                client.create_queue()
            except ResourceExistsError:
                pass
        try:
            self._markers.create_container()
        except ResourceExistsError:
            pass

    def _marker(self, message_id: str) -> Any:
        return self._markers.get_blob_client(f"{self.name}/{message_id}")

    def _claim(self, message_id: str) -> bool:
        """True when this sender should send. A marker says "sent" only once the send succeeded
        (metadata state=sent); a marker left "sending" by a send that failed or crashed half-way is
        taken over, so a retry re-sends instead of being taken for a duplicate. Two senders racing on
        a half-done marker may both send: consumers dedupe (inbox state, change log state)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        marker = self._marker(message_id)
        try:
            marker.upload_blob(b"", overwrite=False, metadata={"state": "sending"})
            return True
        except ResourceExistsError:
            pass
        try:
            state = (marker.get_blob_properties().metadata or {}).get("state")
        except ResourceNotFoundError:
            return True
        # A marker without a state predates states; it is taken as sent, so an upgrade re-sends nothing.
        return state == "sending"

    def send(self, body: dict[str, Any], *, message_id: str) -> bool:
        from azure.core.exceptions import AzureError

        try:
            if not self._claim(message_id):
                return False
        except AzureError as exc:
            raise RetriableError(f"queue {self.name}: send failed: {type(exc).__name__}") from exc
        try:
            self._queue.send_message(encode(body, message_id).encode())
        except AzureError as exc:
            self._release(message_id)
            raise RetriableError(f"queue {self.name}: send failed: {type(exc).__name__}") from exc
        try:
            self._marker(message_id).set_blob_metadata({"state": "sent"})
        except AzureError as exc:
            # The message is on the queue; a marker left "sending" only costs a harmless re-send.
            log.warning("queue %s: message %s sent but its marker was not updated: %s", self.name, message_id,
                        type(exc).__name__)
        return True

    def _release(self, message_id: str) -> None:
        """Best effort: a failed send must not leave a marker that makes the retry look like a duplicate.
        If the delete fails too, the marker still says "sending", which `_claim` takes over."""
        from azure.core.exceptions import AzureError

        try:
            self._marker(message_id).delete_blob()
        except AzureError:
            pass

    def receive(self, max_messages: int = 32, visibility_timeout: int = 60) -> list[Message]:
        out: list[Message] = []
        for raw in self._queue.receive_messages(messages_per_page=min(32, max_messages), max_messages=max_messages,
                                                visibility_timeout=visibility_timeout):
            message_id, body = decode(raw.content)
            msg = Message(message_id, body, raw.dequeue_count or 1, raw)
            if msg.delivery_count > self.max_deliveries:
                self.dead_letter(msg, f"delivered {msg.delivery_count - 1} times without success")
                continue
            out.append(msg)
        return out

    def complete(self, message: Message) -> None:
        self._queue.delete_message(message.handle)

    def abandon(self, message: Message) -> None:
        # Visible again now; the dequeue count the service keeps is what ends in the poison queue.
        self._queue.update_message(message.handle, visibility_timeout=0)

    def dead_letter(self, message: Message, reason: str) -> None:
        self._poison.send_message(encode({**message.body, "_deadletter_reason": reason}, message.id).encode())
        self._queue.delete_message(message.handle)

    def dead_letters(self) -> list[Message]:
        return [Message(*decode(raw.content), raw.dequeue_count or 1, raw)
                for raw in self._poison.peek_messages(max_messages=32)]


class ServiceBusQueue:
    """Azure Service Bus queue. Create the queue with requiresDuplicateDetection=true and
    maxDeliveryCount=max_deliveries (see the deployment notes); the service does the rest.
    learn.microsoft.com/azure/service-bus-messaging/duplicate-detection"""

    def __init__(self, connection_string: str, name: str, *, max_deliveries: int = DEFAULT_MAX_DELIVERIES,
                 client_options: dict[str, Any] | None = None, namespace: str = "",
                 credential: Any = None) -> None:
        """A connection string, or identity-based: the fully qualified namespace with a token credential
        (roles "Azure Service Bus Data Sender" and "Azure Service Bus Data Receiver")."""
        from azure.servicebus import ServiceBusClient

        self.name = name
        self.max_deliveries = max_deliveries
        self._send_timeout = (client_options or {}).get("send_timeout")
        options = {k: v for k, v in (client_options or {}).items() if k != "send_timeout"}
        if connection_string:
            self._client = ServiceBusClient.from_connection_string(connection_string, **options)
        elif namespace and credential is not None:
            self._client = ServiceBusClient(namespace, credential, **options)
        else:
            raise ValidationError("Service Bus needs CSPB_SERVICEBUS (a connection string) or "
                                  "CSPB_SERVICEBUS__fullyQualifiedNamespace (identity-based)")
        self._sender = self._client.get_queue_sender(name)
        self._receiver = self._client.get_queue_receiver(name)

    @staticmethod
    def build_message(body: dict[str, Any], message_id: str) -> Any:
        from azure.servicebus import ServiceBusMessage

        return ServiceBusMessage(json.dumps(body, default=str), message_id=message_id,
                                 content_type="application/json")

    def send(self, body: dict[str, Any], *, message_id: str) -> bool:
        from azure.servicebus.exceptions import ServiceBusError

        try:
            if self._send_timeout is not None:
                self._sender.send_messages(self.build_message(body, message_id), timeout=self._send_timeout)
            else:
                self._sender.send_messages(self.build_message(body, message_id))
        except ServiceBusError as exc:
            raise RetriableError(f"queue {self.name}: send failed: {type(exc).__name__}") from exc
        # Duplicates are dropped by the service without telling the sender.
        return True

    def receive(self, max_messages: int = 32, visibility_timeout: int = 60) -> list[Message]:
        out = []
        for raw in self._receiver.receive_messages(max_message_count=max_messages, max_wait_time=5):
            _, body = decode(b"".join(bytes(part) for part in raw.body))
            out.append(Message(str(raw.message_id), body, raw.delivery_count or 1, raw))
        return out

    def complete(self, message: Message) -> None:
        self._receiver.complete_message(message.handle)

    def abandon(self, message: Message) -> None:
        self._receiver.abandon_message(message.handle)

    def dead_letter(self, message: Message, reason: str) -> None:
        self._receiver.dead_letter_message(message.handle, reason=reason[:4096])

    def dead_letters(self) -> list[Message]:
        from azure.servicebus import ServiceBusSubQueue

        with self._client.get_queue_receiver(self.name, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
            return [Message(str(m.message_id), decode(b"".join(bytes(p) for p in m.body))[1], m.delivery_count or 1)
                    for m in receiver.peek_messages(max_message_count=32)]


Handler = Callable[[Message], Any]


@dataclass
class DrainResult:
    completed: int = 0
    retried: int = 0
    dead_lettered: int = 0


def drain(queue: Queue, handler: Handler, *, max_rounds: int = 1000, batch: int = 32, workers: int = 1,
          on_done: Callable[[Message], None] | None = None, visibility_timeout: int = 60) -> DrainResult:
    """Process until the queue is empty (the CLI/demo stand-in for the Functions host).
    `workers` > 1 handles each received batch concurrently, as several instances would."""
    result = DrainResult()
    lock = threading.Lock()

    def one(msg: Message) -> None:
        try:
            handler(msg)
        except RetriableError as exc:
            log.warning("queue %s: message %s will be retried: %s", queue.name, msg.id, exc)
            if msg.delivery_count >= queue.max_deliveries:
                queue.dead_letter(msg, str(exc))
                with lock:
                    result.dead_lettered += 1
            else:
                queue.abandon(msg)
                with lock:
                    result.retried += 1
            return
        except Exception as exc:  # noqa: BLE001 - a bug in one message must not stop the rest
            log.exception("queue %s: message %s failed", queue.name, msg.id)
            queue.dead_letter(msg, f"{type(exc).__name__}: {exc}")
            with lock:
                result.dead_lettered += 1
            return
        queue.complete(msg)
        with lock:
            result.completed += 1
        if on_done is not None:
            on_done(msg)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="queue-drain") if workers > 1 else None
    try:
        for _ in range(max_rounds):
            messages = queue.receive(batch, visibility_timeout=0 if isinstance(queue, InProcessQueue)
                                     else visibility_timeout)
            if not messages:
                break
            if pool is None:
                for msg in messages:
                    one(msg)
            else:
                list(pool.map(one, messages))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return result


PROVISIONING_QUEUE = "cspb-provisioning"
SUBSCRIPTION_SYNC_QUEUE = "cspb-subscription-sync"
CATALOG_SYNC_QUEUE = "cspb-catalog-sync"
BILLING_QUEUE = "cspb-billing"

_in_process: dict[str, InProcessQueue] = {}
_in_process_lock = threading.Lock()


_clients: dict[tuple[str, str, bool], Queue] = {}


# The webhook answers within seconds (503 + Retry-After when storage is down, so Dataverse retries),
# so its clients give up fast: one retry, short connect/read timeouts. Workers keep the SDK defaults.
INTAKE_STORAGE_OPTIONS: dict[str, Any] = {"retry_total": 1, "connection_timeout": 1.0, "read_timeout": 2.0}
INTAKE_SERVICEBUS_OPTIONS: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.2,
                                             "retry_backoff_max": 1.0, "send_timeout": 2.0}


def get_queue(name: str, settings: Any = None, *, intake: bool = False) -> Queue:
    """The queue for the configured backend (`CSPB_QUEUE_BACKEND`: local | azurite | servicebus).
    One client per backend and queue per process: a Function instance reuses its connection.
    `intake=True`: the client with the webhook's short timeouts. A client whose construction failed
    (storage down) is not kept, so the next call tries again."""
    if settings is None:
        from shared.config import get_settings

        settings = get_settings()
    backend = settings.queue_backend
    if backend not in ("servicebus", "azurite", "storage"):
        with _in_process_lock:
            return _in_process.setdefault(name, InProcessQueue(name))
    with _in_process_lock:
        cached = _clients.get((backend, name, intake))
        if cached is None:
            cached = _azure_queue(backend, name, settings, intake)
            _clients[(backend, name, intake)] = cached
        return cached


def _azure_queue(backend: str, name: str, settings: Any, intake: bool = False) -> Queue:
    """The same settings the triggers read: a connection string first, else identity-based."""
    from shared.auth import connection_credential, sdk_options

    if backend == "servicebus":
        sb_options = dict(INTAKE_SERVICEBUS_OPTIONS) if intake else {}
        if settings.servicebus_conn_str:
            return ServiceBusQueue(settings.servicebus_conn_str, name, client_options=sb_options or None)
        sb_options.update(sdk_options(settings))
        if settings.servicebus_endpoint:
            from azure.servicebus import TransportType

            # AMQP straight to that host and port (the SDK would assume WebSockets for a custom endpoint).
            sb_options.update(custom_endpoint_address=settings.servicebus_endpoint, transport_type=TransportType.Amqp)
        return ServiceBusQueue("", name, client_options=sb_options, namespace=settings.servicebus_fqns,
                               credential=connection_credential(settings, "servicebus") if settings.servicebus_fqns
                               else None)
    storage_options = dict(INTAKE_STORAGE_OPTIONS) if intake else {}
    conn = settings.storage_connection_string.reveal()
    if conn:
        return StorageQueue(conn, name, client_options=storage_options or None)
    identity = bool(settings.queue_service_uri and settings.blob_service_uri)
    return StorageQueue("", name, client_options={**storage_options, **sdk_options(settings)},
                        queue_url=settings.queue_service_uri, blob_url=settings.blob_service_uri,
                        credential=connection_credential(settings, "storage") if identity else None)


def reset_in_process_queues() -> None:
    with _in_process_lock:
        _in_process.clear()
        _clients.clear()
