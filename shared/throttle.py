"""Per-process, per-host request pacing shared by every thread and every message in the process.

- one token bucket per host (`rate` requests per second, bursts up to `burst`), off when rate is 0;
- one Retry-After pause per host: when any thread is told 429 + Retry-After, every thread holds its
  next request to that host until the pause ends, instead of each finding out with its own 429
  (Dataverse counts those against the limits too:
  learn.microsoft.com/power-apps/developer/data-platform/api-limits#retry-operations);
- a cap on requests in flight per host (Dataverse allows 52 concurrent requests per user; the cap
  is that limit shared across the app's instances, see `dataverse_in_flight_cap`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DATAVERSE_CONCURRENT_LIMIT = 52  # service protection: concurrent requests per user


def dataverse_in_flight_cap(max_instances: int, limit: int = DATAVERSE_CONCURRENT_LIMIT) -> int:
    """Requests in flight one process may have so that `max_instances` processes stay under `limit`."""
    return max(1, limit // max(1, max_instances))


@dataclass
class HostThrottle:
    rate: float = 0.0
    burst: float = 10.0
    max_in_flight: int = 0
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)
    paused_until: float = 0.0
    pauses: int = 0
    waited_seconds: float = 0.0
    in_flight: int = 0
    peak_in_flight: int = 0
    _tokens: float = 0.0
    _last: float | None = None  # None: the bucket starts full on first use
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: threading.Condition = field(default_factory=threading.Condition)
    _local: threading.local = field(default_factory=threading.local)

    def pause_for(self, seconds: float) -> None:
        """Every thread's next request to this host waits until now + seconds."""
        if seconds <= 0:
            return
        with self._lock:
            until = self.clock() + seconds
            if until > self.paused_until:
                self.paused_until = until
                self.pauses += 1

    def remaining_pause(self) -> float:
        with self._lock:
            return max(0.0, self.paused_until - self.clock())

    def served(self) -> None:
        """This thread waits out the current pause itself (its retry wait after the 429 it was told),
        so its next request does not wait for it twice."""
        self._local.served_until = self.paused_until

    def _wait_for_turn(self, sleep: Callable[[float], None]) -> None:
        """Reservation style: take the token now (going into debt if the bucket is empty) and sleep
        off the debt and any pause, once, outside the lock."""
        served_until = getattr(self._local, "served_until", 0.0)
        with self._lock:
            now = self.clock()
            wait = 0.0 if self.paused_until <= served_until else max(0.0, self.paused_until - now)
            if self.rate > 0:
                if self._last is None:
                    self._tokens, self._last = self.burst, now
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate) - 1
                self._last = now
                if self._tokens < 0:
                    wait = max(wait, -self._tokens / self.rate)
            if wait > 0:
                self.waited_seconds += wait
        if wait > 0:
            sleep(wait)

    @contextmanager
    def turn(self, sleep: Callable[[float], None] | None = None) -> Iterator[None]:
        """Hold one request: wait out a pause, take a token, take an in-flight slot."""
        self._wait_for_turn(sleep or self.sleep)
        if self.max_in_flight:
            with self._slots:
                while self.in_flight >= self.max_in_flight:
                    self._slots.wait()
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            if self.max_in_flight:
                with self._slots:
                    self.in_flight -= 1
                    self._slots.notify()


_hosts: dict[str, HostThrottle] = {}
_hosts_lock = threading.Lock()


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc or url).lower()


def for_url(url: str) -> HostThrottle:
    """The process's one throttle for this URL's host."""
    host = host_of(url)
    with _hosts_lock:
        found = _hosts.get(host)
        if found is None:
            found = _hosts[host] = HostThrottle()
        return found


def configure(url: str, *, rate: float | None = None, burst: float | None = None,
              max_in_flight: int | None = None) -> HostThrottle:
    """Set the host's limits (the same object every client of that host already holds)."""
    throttle = for_url(url)
    with throttle._lock:
        if rate is not None:
            throttle.rate = float(rate)
        if burst is not None:
            throttle.burst = float(burst)
    if max_in_flight is not None:
        with throttle._slots:
            throttle.max_in_flight = int(max_in_flight)
            throttle._slots.notify_all()
    return throttle


def reset() -> None:
    """Forget every host (tests)."""
    with _hosts_lock:
        _hosts.clear()
