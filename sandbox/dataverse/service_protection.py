"""Dataverse service protection limits, emulated (off unless asked for).

What Microsoft documents (learn.microsoft.com/power-apps/developer/data-platform/api-limits):
per user and per web server, over a 5-minute sliding window, at most 6,000 requests and 1,200,000 ms
of combined execution time, and at most 52 concurrent requests. The two window limits are
evaluated on the sliding window (a burst can overshoot before they apply); the concurrency limit
applies at once. Over a limit the Web API answers 429 with `Retry-After` in seconds and the error
codes 0x80072322 (requests), 0x80072321 (execution time) and 0x80072326 (concurrency). Every
response carries `x-ms-ratelimit-burst-remaining-xrm-requests` and
`x-ms-ratelimit-time-remaining-xrm-requests`. A `$batch` or bulk message counts as one request.
Sustained overuse makes `Retry-After` longer.

Enabled by the sandbox setting CSPB_SANDBOX_SERVICE_PROTECTION: "on" for Microsoft's numbers, or
scaled ones for tests and benches, e.g. "requests=600,window=30,concurrent=52,execution_ms=120000".
"off" or unset: no limits (the default, so nothing else in the sandbox changes).

Unverified: whether refused requests count against the window (here they do not), and the exact
Retry-After growth under sustained overuse (here it doubles per consecutive refusal, capped at the
window).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SETTING = "CSPB_SANDBOX_SERVICE_PROTECTION"

REQUESTS_CODE, TIME_CODE, CONCURRENCY_CODE = "0x80072322", "0x80072321", "0x80072326"


@dataclass(frozen=True)
class Limits:
    requests: int = 6000
    window_seconds: float = 300.0
    execution_ms: float = 1_200_000.0
    concurrent: int = 52

    @classmethod
    def parse(cls, text: str | None) -> Limits | None:
        """The setting's value -> Limits, or None when off. Raises ValueError naming a bad part."""
        raw = (text or "").strip().lower()
        if raw in ("", "off", "false", "0", "no"):
            return None
        if raw in ("on", "true", "1", "yes"):
            return cls()
        names = {"requests": "requests", "window": "window_seconds", "window_seconds": "window_seconds",
                 "execution_ms": "execution_ms", "concurrent": "concurrent"}
        values: dict[str, float] = {}
        for part in raw.split(","):
            name, _, value = part.partition("=")
            if name.strip() not in names or not value.strip():
                raise ValueError(f"{SETTING}: unknown or empty part {part.strip()!r} "
                                 f"(expected on, off, or {', '.join(sorted(set(names) - {'window_seconds'}))}=N)")
            values[names[name.strip()]] = float(value)
        base = cls()
        limits = cls(requests=int(values.get("requests", base.requests)),
                     window_seconds=values.get("window_seconds", base.window_seconds),
                     execution_ms=values.get("execution_ms", base.execution_ms),
                     concurrent=int(values.get("concurrent", base.concurrent)))
        if limits.requests < 1 or limits.concurrent < 1 or limits.window_seconds <= 0 or limits.execution_ms <= 0:
            raise ValueError(f"{SETTING}: limits must be positive, got {text!r}")
        return limits

    @classmethod
    def from_env(cls) -> Limits | None:
        return cls.parse(os.environ.get(SETTING))


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    retry_after: int  # whole seconds, as Dataverse sends it


@dataclass
class _User:
    started: deque[list[float]] = field(default_factory=deque)  # [start time, duration s] per request
    active: int = 0
    strikes: int = 0  # consecutive refusals: sustained overuse waits longer


class ServiceProtection:
    """Per-user sliding-window accounting. `admit` before a request, `release` after it."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._users: dict[str, _User] = {}
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {REQUESTS_CODE: 0, TIME_CODE: 0, CONCURRENCY_CODE: 0}
        self.admitted = 0

    @staticmethod
    def user_of(authorization: str) -> str:
        """The caller's identity: its bearer token (hashed; the sandbox keeps no tokens)."""
        return hashlib.sha256(authorization.encode()).hexdigest()[:16]

    def _trim(self, user: _User, now: float) -> None:
        horizon = now - self.limits.window_seconds
        while user.started and user.started[0][0] <= horizon:
            user.started.popleft()

    def _refuse(self, user: _User, code: str, message: str, wait: float) -> Refusal:
        user.strikes += 1
        self.refused[code] += 1
        backoff = min(self.limits.window_seconds, max(1.0, wait) * (2 ** min(user.strikes - 1, 6)))
        return Refusal(code, message, max(1, math.ceil(backoff)))

    def admit(self, who: str) -> Refusal | list[float]:
        """A Refusal, or the admitted request's window entry (hand it to `release`)."""
        with self._lock:
            now = self.clock()
            user = self._users.setdefault(who, _User())
            self._trim(user, now)
            lim = self.limits
            if user.active >= lim.concurrent:
                return self._refuse(user, CONCURRENCY_CODE,
                                    f"Number of concurrent requests exceeded the limit of {lim.concurrent}.", 1.0)
            if len(user.started) >= lim.requests:
                # The window frees a slot when its oldest request leaves it.
                wait = user.started[0][0] + lim.window_seconds - now
                return self._refuse(user, REQUESTS_CODE,
                                    f"Number of requests exceeded the limit of {lim.requests} over time window "
                                    f"of {lim.window_seconds:g} seconds.", wait)
            spent_ms = sum(d for _, d in user.started) * 1000
            if spent_ms >= lim.execution_ms:
                wait = user.started[0][0] + lim.window_seconds - now
                return self._refuse(user, TIME_CODE,
                                    f"Combined execution time of incoming requests exceeded limit of "
                                    f"{lim.execution_ms:,.0f} milliseconds over time window of "
                                    f"{lim.window_seconds:g} seconds. Decrease number of concurrent requests or "
                                    f"reduce the duration of requests and try again later.", wait)
            user.strikes = 0
            user.active += 1
            entry = [now, 0.0]
            user.started.append(entry)
            self.admitted += 1
            return entry

    def release(self, who: str, entry: list[float], *, not_server_time: float = 0.0,
                server_seconds: float | None = None) -> None:
        """The request's execution time is `server_seconds` when given, else its wall time less
        `not_server_time` (the sandbox's injected network latency, which holds the concurrency slot
        but is not the server working)."""
        with self._lock:
            self._users[who].active -= 1
            entry[1] = max(0.0, server_seconds if server_seconds is not None
                           else self.clock() - entry[0] - not_server_time)

    def remaining(self, who: str) -> dict[str, str]:
        """The rate-limit headers Dataverse sends on every response."""
        with self._lock:
            user = self._users.get(who) or _User()
            self._trim(user, self.clock())
            spent_ms = sum(d for _, d in user.started) * 1000
            return {"x-ms-ratelimit-burst-remaining-xrm-requests": str(max(0, self.limits.requests - len(user.started))),
                    "x-ms-ratelimit-time-remaining-xrm-requests": f"{max(0.0, self.limits.execution_ms - spent_ms):.2f}"}

    @contextmanager
    def request(self, authorization: str, *, not_server_time: float = 0.0,
                cpu_clock: Callable[[], float] | None = None) -> Iterator[Refusal | None]:
        """`with protection.request(auth) as refusal:` — None means go on (and is released after).
        With `cpu_clock` (time.thread_time, the request's own thread), execution time is the CPU the
        request used, not its wall time: the sandbox shares its cores with everything else on the
        machine, and a starved request has not made Dataverse work longer."""
        who = self.user_of(authorization)
        admitted = self.admit(who)
        if isinstance(admitted, Refusal):
            yield admitted
            return
        cpu_start = cpu_clock() if cpu_clock is not None else 0.0
        try:
            yield None
        finally:
            if cpu_clock is None:
                self.release(who, admitted, not_server_time=not_server_time)
            else:
                self.release(who, admitted, server_seconds=cpu_clock() - cpu_start)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())
