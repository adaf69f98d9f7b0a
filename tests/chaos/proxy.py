"""A fault-injecting proxy on 127.0.0.1 for the chaos tests.

It speaks just enough HTTP/1.1 to see where one request ends (headers + Content-Length), so a fault
hits a whole request: each client connection carries one request, forwarded upstream on its own
connection, and the answer goes back with `Connection: close` so clients never reuse a socket the
proxy is about to break. Faults, chosen per request by `plan(method, path)`:
- "pass": forward and answer;
- "drop_after_commit": forward, let the server commit and answer, then close on the client without
  the answer (the client sees a reset: did it happen or not?);
- "duplicate": forward twice (the network delivered the request again), answer the first response;
- "delay": wait `delay_seconds` before forwarding;
- "refuse": close the connection at once, nothing forwarded;
- "blackhole": accept and never answer (a hung dependency).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

Plan = Callable[[str, str], str]
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST, as a crashed peer would

FAULTS = ("pass", "drop_after_commit", "duplicate", "delay", "refuse", "blackhole")


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest


def _forward(upstream: tuple[str, int], request: bytes) -> bytes:
    with socket.create_connection(upstream, timeout=30) as up:
        up.sendall(request)
        out = b""
        while True:
            chunk = up.recv(65536)
            if not chunk:
                return out
            out += chunk


def _close_after(response: bytes) -> bytes:
    head, sep, body = response.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + sep + body


@dataclass
class FaultProxy:
    upstream: tuple[str, int]
    plan: Plan = field(default=lambda method, path: "pass")
    delay_seconds: float = 0.5
    faults: Counter = field(default_factory=Counter)
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _hung: list[socket.socket] = field(default_factory=list)

    @classmethod
    def to(cls, url: str, plan: Plan | None = None, **kwargs) -> FaultProxy:  # type: ignore[no-untyped-def]
        host_port = url.split("://", 1)[1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        proxy = cls((host, int(port)), **kwargs)
        if plan is not None:
            proxy.plan = plan
        return proxy.start()

    @property
    def url(self) -> str:
        assert self._sock is not None
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> FaultProxy:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        threading.Thread(target=self._serve, daemon=True, name="fault-proxy").start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for conn in self._hung:
            conn.close()
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            if request is None:
                conn.close()
                return
            method, path = request.split(b" ", 2)[:2]
            fault = self.plan(method.decode(), path.decode())
            self.faults[fault] += 1
            if fault == "refuse":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                conn.close()
                return
            if fault == "blackhole":
                self._hung.append(conn)
                return
            if fault == "delay":
                time.sleep(self.delay_seconds)
            response = _forward(self.upstream, request)
            if fault == "duplicate":
                _forward(self.upstream, request)
            if fault == "drop_after_commit":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                conn.close()
                return
            conn.sendall(_close_after(response))
            conn.close()
        except OSError:
            conn.close()


def every_nth(n: int, fault: str, *, method: str | None = None, path_contains: str = "",
              limit: int | None = None) -> Plan:
    """Inject `fault` on every n-th matching request (at most `limit` times); pass the rest."""
    seen = {"matching": 0, "injected": 0}
    lock = threading.Lock()

    def plan(m: str, p: str) -> str:
        if (method and m != method) or path_contains not in p:
            return "pass"
        with lock:
            seen["matching"] += 1
            if seen["matching"] % n or (limit is not None and seen["injected"] >= limit):
                return "pass"
            seen["injected"] += 1
            return fault

    return plan
