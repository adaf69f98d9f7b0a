"""Azure Service Bus stand-in: just enough AMQP 1.0 over TLS for the azure-servicebus client to send to a
queue with an Entra ID token (claims-based security), as the service documents it:

- TLS, then SASL (the client offers ANONYMOUS or MSSBCBS), then AMQP open/begin/attach.
- Claims-based security: the client attaches to `$cbs` and sends a `put-token` request whose body is the JWT;
  the token must be for aud https://servicebus.azure.net and unexpired, and the caller (its `oid`) must hold
  "Azure Service Bus Data Sender" (or Owner) to send. The reply carries `status-code` 202, or 401.
- A sender link to a queue: transfers are accepted and kept (duplicate detection on MessageId drops a repeat,
  as a queue with requiresDuplicateDetection does); a link to an unknown queue is refused with
  amqp:not-found.
- `$management` request/response: com.microsoft:schedule-message and cancel-scheduled-message.

Frames are read and written with the client library's own AMQP codec (azure.servicebus._pyamqp), so the
stand-in and the client agree on the encoding; everything about behaviour is this module's.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from azure.servicebus._pyamqp import performatives as pf
from azure.servicebus._pyamqp._decode import decode_frame, decode_payload
from azure.servicebus._pyamqp._encode import encode_frame, encode_payload
from azure.servicebus._pyamqp.endpoints import Source, Target
from azure.servicebus._pyamqp.error import AMQPError
from azure.servicebus._pyamqp.message import Message, Properties
from azure.servicebus._pyamqp.outcomes import Accepted, Rejected

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
DATA_SENDER = "Azure Service Bus Data Sender"
DATA_RECEIVER = "Azure Service Bus Data Receiver"
DATA_OWNER = "Azure Service Bus Data Owner"
OPEN, BEGIN, ATTACH, FLOW, TRANSFER, DISPOSITION, DETACH, END, CLOSE = range(0x10, 0x19)
SASL_INIT = 0x41


@dataclass
class ServiceBusState:
    queues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scheduled: dict[int, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)  # principal oid (or "*") -> role names
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens_seen: list[dict[str, Any]] = field(default_factory=list)
    sequence: int = 0

    def add_queue(self, name: str) -> None:
        with self.lock:
            self.queues.setdefault(name, [])

    def grant(self, principal: str, role: str) -> None:
        with self.lock:
            self.roles.setdefault(principal, set()).add(role)

    def can_send(self, oid: str) -> bool:
        with self.lock:
            roles = self.roles.get(oid, set()) | self.roles.get("*", set())
        return bool(roles & {DATA_SENDER, DATA_OWNER})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


class _Connection:
    def __init__(self, sock: Any, state: ServiceBusState) -> None:
        self.sock = sock
        self.state = state
        self.links: dict[int, dict[str, Any]] = {}  # client handle -> link
        self.authorized: set[str] = set()  # audiences (queue URIs) a valid token was put for
        self.delivery_id = 0

    # -- wire ----------------------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _frame(self) -> tuple[int, int, list[Any]] | None:
        header = self._read(8)
        size = struct.unpack(">I", header[:4])[0]
        channel = struct.unpack(">H", header[6:8])[0]
        body = self._read(size - 8) if size > 8 else b""
        if not body:
            return None  # empty frame: a heartbeat
        code, fields = decode_frame(memoryview(body))
        return channel, code, fields

    def _send(self, frame: Any, channel: int = 0, sasl: bool = False) -> None:
        header, body = encode_frame(frame, frame_type=b"\x01" if sasl else b"\x00")
        self.sock.sendall(header + struct.pack(">H", channel) + (body or b""))

    # -- protocol ------------------------------------------------------------------------------
    def run(self) -> None:
        if self._read(8) != SASL_HEADER:
            return
        self.sock.sendall(SASL_HEADER)
        self._send(pf.SASLMechanism(sasl_server_mechanisms=[b"MSSBCBS", b"ANONYMOUS"]), sasl=True)
        got = self._frame()
        if got is None or got[1] != SASL_INIT:
            return
        self._send(pf.SASLOutcome(code=0, additional_data=None), sasl=True)
        if self._read(8) != AMQP_HEADER:
            return
        self.sock.sendall(AMQP_HEADER)
        while True:
            got = self._frame()
            if got is None:
                continue
            channel, code, fields = got
            if code == OPEN:
                self._send(pf.OpenFrame(container_id="servicebus-sandbox", hostname=None, max_frame_size=262144,
                                        channel_max=4999, idle_timeout=240000, outgoing_locales=None,
                                        incoming_locales=None, offered_capabilities=None, desired_capabilities=None,
                                        properties=None))
            elif code == BEGIN:
                self._send(pf.BeginFrame(remote_channel=channel, next_outgoing_id=0, incoming_window=5000,
                                         outgoing_window=5000, handle_max=255, offered_capabilities=None,
                                         desired_capabilities=None, properties=None), channel)
            elif code == ATTACH:
                self._attach(channel, fields)
            elif code == FLOW:
                handle = fields[4]
                if handle is not None and handle in self.links:
                    self.links[handle]["credit"] = fields[6] or 0
            elif code == TRANSFER:
                self._transfer(channel, fields)
            elif code == DETACH:
                self.links.pop(fields[0], None)
                self._send(pf.DetachFrame(handle=fields[0], closed=True, error=None), channel)
            elif code == END:
                self._send(pf.EndFrame(error=None), channel)
            elif code == CLOSE:
                self._send(pf.CloseFrame(error=None))
                return

    def _attach(self, channel: int, fields: list[Any]) -> None:
        name, handle, role = fields[0], fields[1], fields[2]
        source, target = fields[5], fields[6]
        client_sends = role is False
        address = _text((target[0] if client_sends else source[0]) if (target if client_sends else source) else "")
        node = address.rsplit("/", 1)[-1] if "://" in address else address
        link = {"name": name, "handle": handle, "address": node, "client_sends": client_sends, "credit": 0,
                "delivery_count": 0}
        refused = None
        if node not in ("$cbs", "$management") and not node.endswith("/$management"):
            with self.state.lock:
                known = node in self.state.queues
            if not known:
                refused = AMQPError(condition=b"amqp:not-found",
                                    description=f"The messaging entity '{node}' could not be found.".encode())
        self.links[handle] = link
        echo_source = Source(address=source[0]) if source else None  # type: ignore[call-arg]
        echo_target = Target(address=target[0]) if target else None  # type: ignore[call-arg]
        self._send(pf.AttachFrame(name=name, handle=handle, role=not role, send_settle_mode=fields[3],
                                  rcv_settle_mode=fields[4], source=echo_source, target=echo_target, unsettled=None,
                                  incomplete_unsettled=False, initial_delivery_count=0 if not client_sends else None,
                                  max_message_size=262144, offered_capabilities=None, desired_capabilities=None,
                                  properties=None), channel)
        if refused is not None:
            self.links.pop(handle, None)
            self._send(pf.DetachFrame(handle=handle, closed=True, error=refused), channel)
            return
        if client_sends:
            self._send(pf.FlowFrame(next_incoming_id=0, incoming_window=5000, next_outgoing_id=0,
                                    outgoing_window=5000, handle=handle, delivery_count=0, link_credit=1000,
                                    available=None, drain=None, echo=None, properties=None), channel)

    def _reply_link(self, address: str) -> dict[str, Any] | None:
        return next((lk for lk in self.links.values() if not lk["client_sends"] and lk["address"] == address), None)

    def _respond(self, channel: int, address: str, request: Any, status: int, description: str,
                 body: Any = None) -> None:
        link = self._reply_link(address)
        if link is None:
            return
        props = request.properties
        reply = Message(properties=Properties(correlation_id=props.message_id if props else None),
                        application_properties={b"status-code": status, b"statusCode": status,
                                                b"status-description": description.encode(),
                                                b"statusDescription": description.encode()},
                        value=body)
        payload = encode_payload(bytearray(), reply)
        self.delivery_id += 1
        self._send(pf.TransferFrame(handle=link["handle"], delivery_id=self.delivery_id,
                                    delivery_tag=uuid.uuid4().bytes, message_format=0, settled=True, more=False,
                                    payload=bytes(payload)), channel)

    def _settle(self, channel: int, fields: list[Any], outcome: Any) -> None:
        if not fields[4]:  # the sender left it unsettled: tell it the outcome
            self._send(pf.DispositionFrame(role=True, first=fields[1], last=fields[1], settled=True, state=outcome,
                                           batchable=None), channel)

    def _transfer(self, channel: int, fields: list[Any]) -> None:
        handle, payload = fields[0], fields[-1]
        link = self.links.get(handle)
        if link is None:
            return
        message = decode_payload(memoryview(bytes(payload)))
        address = link["address"]
        if address == "$cbs":
            self._settle(channel, fields, Accepted())
            self._put_token(channel, message)
        elif address.endswith("$management"):
            self._settle(channel, fields, Accepted())
            self._management(channel, address, message)
        elif not self.authorized:
            self._settle(channel, fields, Rejected(error=AMQPError(
                condition=b"amqp:unauthorized-access", description=b"Unauthorized access. 'Send' claim(s) are required")))
        else:
            self._store(address, message)
            self._settle(channel, fields, Accepted())

    def _put_token(self, channel: int, message: Any) -> None:
        props = message.application_properties or {}
        token = _text(message.value)
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            self._respond(channel, "$cbs", message, 401, "InvalidSignature: the token is not a JWT")
            return
        with self.state.lock:
            self.state.tokens_seen.append({"aud": claims.get("aud"), "oid": claims.get("oid")})
        if str(claims.get("aud", "")).rstrip("/") != "https://servicebus.azure.net":
            self._respond(channel, "$cbs", message, 401, f"InvalidAudience: {claims.get('aud')}")
        elif float(claims.get("exp", 0)) < time.time():
            self._respond(channel, "$cbs", message, 401, "ExpiredToken")
        elif not self.state.can_send(str(claims.get("oid", ""))):
            self._respond(channel, "$cbs", message, 401, "Unauthorized access. 'Send' claim(s) are required to "
                          f"perform this operation (no {DATA_SENDER} role for {claims.get('oid')}).")
        else:
            self.authorized.add(_text(props.get(b"name")))
            self._respond(channel, "$cbs", message, 202, "Accepted")

    def _store(self, queue: str, message: Any) -> bool:
        props = message.properties
        message_id = _text(props.message_id) if props and props.message_id is not None else str(uuid.uuid4())
        data = message.data
        body = b"".join(bytes(d) for d in data) if isinstance(data, list) else bytes(data or b"")
        with self.state.lock:
            entries = self.state.queues.setdefault(queue, [])
            if any(e["message_id"] == message_id for e in entries):
                return False  # duplicate detection
            self.state.sequence += 1
            entries.append({"message_id": message_id, "body": body, "sequence": self.state.sequence})
        return True

    def _management(self, channel: int, address: str, message: Any) -> None:
        operation = _text((message.application_properties or {}).get(b"operation"))
        body = message.value or {}
        if not self.authorized:
            self._respond(channel, address, message, 401, "Unauthorized")
            return
        if operation == "com.microsoft:schedule-message":
            numbers = []
            for item in body.get(b"messages", []):
                with self.state.lock:
                    self.state.sequence += 1
                    self.state.scheduled[self.state.sequence] = {"message_id": _text(item.get(b"message-id"))}
                    numbers.append(self.state.sequence)
            self._respond(channel, address, message, 200, "OK", {b"sequence-numbers": numbers})
        elif operation == "com.microsoft:cancel-scheduled-message":
            with self.state.lock:
                for number in body.get(b"sequence-numbers", []):
                    self.state.scheduled.pop(int(number), None)
            self._respond(channel, address, message, 200, "OK", {})
        else:
            self._respond(channel, address, message, 501, f"operation {operation} is not supported by the sandbox")


class ServiceBusSandbox:
    """Listens on 127.0.0.1 (TLS); `namespace` is what clients pass as fully_qualified_namespace."""

    def __init__(self, ssl_context: ssl.SSLContext, state: ServiceBusState | None = None, port: int = 0) -> None:
        self.state = state or ServiceBusState()
        self._context = ssl_context
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopped = False
        self.errors: list[str] = []  # what went wrong per connection (tests print it when a client fails)

    @property
    def endpoint(self) -> str:
        return f"sb://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stopped:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        try:
            with self._context.wrap_socket(raw, server_side=True) as sock:
                _Connection(sock, self.state).run()
        except (OSError, ConnectionError, ssl.SSLError, ValueError) as exc:
            self.errors.append(repr(exc))
        except Exception as exc:  # noqa: BLE001 - a stand-in bug must show in the test, not kill the listener
            import traceback

            self.errors.append(traceback.format_exc())
            del exc

    def start(self) -> ServiceBusSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()

    def __enter__(self) -> ServiceBusSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
