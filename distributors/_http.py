"""What the distributor adapters share on the wire, in one place: the access token kept until shortly
before it ends, the two HTTP clients every adapter holds (one retried, one that sends an order once),
a 401 answered with one new token, the three ways providers page a list, and the mapping of an error
answer to Retriable / Fatal with the provider's own message and its Retry-After.

What differs per provider stays with its adapter and is passed in: how a token is asked for, the
paging parameters' names, and where the provider puts its message in an error body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from shared.errors import AuthError, IntegrationError, error_for_status
from shared.http import ErrorDecoder, HttpClient, RetryPolicy, TokenProvider, parse_retry_after
from shared.logging import redact

# -- tokens --------------------------------------------------------------------------------------------


class RenewableToken(Protocol):
    """A token provider that can drop its cached token after the provider stopped taking it."""

    def __call__(self) -> str: ...

    def invalidate(self) -> None: ...


class CachedToken:
    """An access token asked for with standing credentials (no refresh token to rotate), reused until
    `margin` seconds before it ends, but at least `floor` seconds. `fetch` asks the provider and
    answers (token, lifetime in seconds); one thread asks at a time."""

    def __init__(self, fetch: Callable[[], tuple[str, float]], *, margin: float, floor: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.margin = margin
        self.floor = floor
        self.clock = clock
        self._token = ""
        self._until = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if not self._token or self.clock() >= self._until:
                token, lifetime = self._fetch()
                self._token = token
                self._until = self.clock() + max(self.floor, lifetime - self.margin)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = ""


# -- clients -------------------------------------------------------------------------------------------


class ReauthHttp(HttpClient):
    """A 401 means the provider no longer takes our access token (revoked, or ended early): one new
    token, one more try. A request refused with 401 was not processed, so this is safe for an order's
    POST too."""

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return super().request(method, path, **kwargs)
        except AuthError as exc:
            invalidate = getattr(self.token_provider, "invalidate", None)
            if exc.status != 401 or not callable(invalidate):
                raise
            invalidate()
            return super().request(method, path, **kwargs)


@dataclass(frozen=True)
class Clients:
    """The adapter's two clients on one base URL. `http` retries what is safe to send again; `once`
    never retries: an order without an idempotency key may buy twice if sent again, so a lost answer
    is settled by the adapter's find_orders (sync/order_once.py), not by the HTTP layer."""

    http: HttpClient
    once: HttpClient


def clients(base_url: str, tokens: TokenProvider, decoder: ErrorDecoder, *, service: str,
            retry: RetryPolicy | None = None, timeout: float = 60.0, headers: Mapping[str, str] | None = None,
            reauth: bool = True) -> Clients:
    kind = ReauthHttp if reauth else HttpClient
    sent = {"Accept": "application/json", **(headers or {})}

    def client(policy: RetryPolicy) -> HttpClient:
        return kind(base_url, token_provider=tokens, error_decoder=decoder, retry=policy, timeout=timeout,
                    service=service, default_headers=sent)

    return Clients(client(retry or RetryPolicy()), client(RetryPolicy(max_attempts=1)))


# -- paging --------------------------------------------------------------------------------------------


def numbered_pages(http: HttpClient, path: str, params: Mapping[str, Any], *, size: int, items: str = "content",
                   meta: str = "page") -> Iterator[dict[str, Any]]:
    """Pages numbered from 0 (`page`, `size`) answering {items: [...], meta: {number, totalPages}}. Past
    the last page a provider answers an empty list; that ends the walk too."""
    page = 0
    while True:
        body = http.get_json(path, params={**params, "page": page, "size": size})
        content = body.get(items) or []
        yield from content
        info = body.get(meta) or {}
        if not content or int(info.get("number", page)) + 1 >= int(info.get("totalPages", 0)):
            return
        page += 1


def token_pages(http: HttpClient, path: str, key: str, params: Mapping[str, Any], *,
                size: int) -> Iterator[dict[str, Any]]:
    """`pageSize` + `pageToken` -> {key: [...], nextPageToken}; an empty or missing token ends it."""
    token = ""
    while True:
        query = {**params, "pageSize": size, **({"pageToken": token} if token else {})}
        body = http.get_json(path, params=query)
        yield from body.get(key) or []
        token = body.get("nextPageToken") or ""
        if not token:
            return


@dataclass(frozen=True)
class OffsetPaging:
    """How a provider spells offset paging: the query parameters in the order it sends them, the key of
    the items, and where the total count sits ((envelope, key) of the answer)."""

    offset: str
    limit: str
    items: str
    total: tuple[str, str]
    limit_first: bool = False

    def query(self, offset: int, size: int) -> dict[str, int]:
        pairs = [(self.offset, offset), (self.limit, size)]
        return dict(reversed(pairs) if self.limit_first else pairs)


def offset_pages(http: HttpClient, path: str, params: Mapping[str, Any], paging: OffsetPaging, *,
                 size: int) -> Iterator[dict[str, Any]]:
    """Offset + limit pages until the total is reached (or a page comes back empty)."""
    offset = 0
    while True:
        body = http.get_json(path, params={**params, **paging.query(offset, size)})
        found = body.get(paging.items) or []
        yield from found
        offset += len(found)
        total = (body.get(paging.total[0]) or {}).get(paging.total[1])
        if not found or (total is not None and offset >= int(total)):
            return


# -- errors --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorText:
    """What a provider's error answer says: its message, its own code and the details it listed."""

    message: str
    code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# read(response, body, fallback): the provider's text; `body` is the JSON object ({} when there is none)
# and `fallback` the status line's reason.
ReadError = Callable[[requests.Response, dict[str, Any], str], ErrorText]


def error_decoder(provider: str, read: ReadError) -> ErrorDecoder:
    """A shared.http error decoder: the kind from the status (429 -> Throttled, 5xx -> Retriable, 4xx ->
    Fatal kinds), Retry-After as `retry_after`, and the message prefixed with the provider's name with
    secrets redacted."""

    def decode(response: requests.Response) -> IntegrationError:
        try:
            body = response.json()
        except ValueError:
            body = None
        text = read(response, body if isinstance(body, dict) else {},
                    response.reason or f"HTTP {response.status_code}")
        kind = error_for_status(response.status_code)
        return kind(redact(f"{provider}: {text.message}"), status=response.status_code, code=text.code,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")), details=dict(text.details))

    return decode


def oauth_message(body: Mapping[str, Any], fallback: str) -> str:
    """The message of an API error or of an OAuth token error ({error, error_description})."""
    message = body.get("message") or body.get("error_description") or body.get("error") or fallback
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message", message)
    return str(message)


def joined_details(details: Iterable[Any], keys: tuple[str, ...]) -> str:
    """`details[]` entries as one line: each entry's `keys` that are set, entries joined by "; "."""
    return "; ".join(" ".join(str(d[k]) for k in keys if d.get(k)) for d in details if isinstance(d, dict))
