"""The one HTTP layer every outbound client uses: requests + tenacity.

Retries 408, 429 and 5xx (and connection errors/timeouts), honours Retry-After (seconds or an
HTTP date), otherwise waits with capped, jittered exponential backoff. Non-retriable statuses
are decoded into the typed errors of shared.errors by a per-API `error_decoder`.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from shared import telemetry
from shared.errors import IntegrationError, RetriableError, ThrottledError, error_for_status
from shared.logging import get_logger, redact
from shared.throttle import for_url as throttle_for

log = get_logger(__name__)

TokenProvider = Callable[[], str]
ErrorDecoder = Callable[[requests.Response], IntegrationError]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# A POST is sent again after a failure only when a repeat cannot do the thing twice: it carries one
# of these idempotency headers (the server replays the first result), or the caller declares it
# safe (`idempotent=True`: a token request, an alternate-key upsert, a read-only query). Otherwise a
# lost answer is not retried here; the caller's own reconciliation decides (a queue redelivery
# with Pax8's Sending state, for example). Methods other than POST are idempotent by definition.
IDEMPOTENCY_HEADERS = frozenset({"idempotency-key", "ms-requestid", "x-idempotency-key"})
UNSAFE_METHODS = frozenset({"POST"})


def _never_sent(exc: BaseException) -> bool:
    """The connection was never made, so the server cannot have seen the request."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return isinstance(exc, requests.ConnectionError) and ("NewConnectionError" in text or "Connection refused" in text)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def default_error_decoder(response: requests.Response) -> IntegrationError:
    """Best effort over the common JSON shapes: {"error": {"code","message"}} or {"code","message"}."""
    code = None
    message = response.reason or f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            code = err.get("code") or err.get("errorCode")
            message = err.get("message") or err.get("description") or message
        elif isinstance(err, str):
            message = err
    elif response.text:
        message = response.text[:500]
    kind = error_for_status(response.status_code)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return kind(redact(str(message)), status=response.status_code, code=str(code) if code else None,
                retry_after=retry_after)


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    # Servers sometimes ask for minutes; above this we give up and let the queue re-deliver later.
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    @classmethod
    def from_settings(cls, settings: Any) -> RetryPolicy:
        """What the settings ask for (CSPB_HTTP_MAX_ATTEMPTS, CSPB_HTTP_BACKOFF_CAP_SECONDS)."""
        return cls(max_attempts=settings.http_max_attempts, cap_seconds=settings.http_backoff_cap_seconds)

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        hinted = getattr(error, "retry_after", None)
        if hinted is not None:
            return min(float(hinted), self.max_retry_after)
        # "Full jitter": spreads retries of many workers so they don't hit the server together.
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        return random.uniform(0, ceiling)


class HttpClient:
    """A base URL + auth + retry. Subclass or wrap per API; keep API knowledge out of here."""

    def __init__(
        self,
        base_url: str,
        *,
        token_provider: TokenProvider | None = None,
        default_headers: Mapping[str, str] | None = None,
        error_decoder: ErrorDecoder = default_error_decoder,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        session: requests.Session | None = None,
        pool_size: int = 32,
        service: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The dependency name telemetry shows ('dataverse', 'partnercenter', ...); derived from the host if blank.
        self.service = telemetry.service_for(self.base_url, service)
        self.token_provider = token_provider
        self.default_headers = dict(default_headers or {})
        self.error_decoder = error_decoder
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._local = threading.local()
        self._external_session = session
        self._pool_size = pool_size
        self.request_count = 0
        self._count_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """One session per thread: requests.Session is not guaranteed thread-safe."""
        if self._external_session is not None:
            return self._external_session
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Iterable[int] = (200, 201, 202, 204),
        stream: bool = False,
        auth: bool = True,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send with retries. Headers are built once, so idempotency keys stay the same across retries.
        A POST is retried only if `idempotent` or it carries an idempotency header; otherwise only a
        failure that proves the server never ran it (a refused connection, a 429) is retried."""
        ok_statuses = frozenset(ok)
        url = self.url(path)
        attempt_no = 0
        resend_safe = bool(idempotent) or method.upper() not in UNSAFE_METHODS or any(
            k.lower() in IDEMPOTENCY_HEADERS for k in (headers or {}))
        throttle = throttle_for(url)

        def attempt() -> requests.Response:
            nonlocal attempt_no
            attempt_no += 1
            sent_headers = dict(self.default_headers)
            if auth and self.token_provider is not None:
                sent_headers["Authorization"] = f"Bearer {self.token_provider()}"
            sent_headers.update(headers or {})
            with self._count_lock:
                self.request_count += 1
            with throttle.turn(self.retry.sleep), telemetry.provider_call(self.service, method, url, sent_headers) as span:
                try:
                    response = self.session.request(
                        method, url, params=params, json=json, data=data, headers=sent_headers,
                        timeout=self.timeout, stream=stream,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    telemetry.record_failure(span, exc)
                    failed = RetriableError(f"{method} {redact(url)} failed: {type(exc).__name__}")
                    failed.details["never_sent"] = _never_sent(exc)
                    raise failed from exc
                telemetry.record_response(span, response.status_code, response.headers)
            if response.status_code in ok_statuses:
                return response
            error = self.error_decoder(response)
            if response.status_code in RETRY_STATUSES and not isinstance(error, RetriableError):
                error = (ThrottledError if response.status_code == 429 else RetriableError)(
                    error.message, status=error.status, code=error.code, retry_after=error.retry_after)
            if response.status_code == 429:
                # Throttled requests are not executed, so any method may repeat; and every thread of the
                # process holds back from this host for the server's Retry-After, not just this one.
                error.details["never_sent"] = True
                if error.retry_after is not None:
                    throttle.pause_for(min(float(error.retry_after), self.retry.max_retry_after))
            log.info("http %s %s -> %s (attempt %d)", method, redact(url), response.status_code, attempt_no)
            raise error

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if getattr(exc, "retry_after", None) is not None:
                throttle.served()  # this wait covers the pause; other threads wait it out in turn()
            return self.retry.wait_seconds(state.attempt_number, exc)

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, RetriableError):
                return False
            if resend_safe or exc.details.get("never_sent"):
                return True
            log.info("http %s %s: not sent again (may have been committed, and it has no idempotency key)",
                     method, redact(url))
            return False

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=wait,
            retry=retry_if_exception(should_retry),
            sleep=self.retry.sleep,
            reraise=True,
        )
        return retrying(attempt)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None
