"""The three kinds of failure, grouped by what the caller should do next.

Only RetriableError may escape to the Azure Functions host (it makes the host retry or
re-deliver). FatalError is recorded and stops that unit of work. SkippableError is recorded
and the run goes on with the next item.
"""

from __future__ import annotations

from typing import Any


class IntegrationError(Exception):
    """Base of every error the app raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.details = details or {}

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        return " ".join(parts)


class RetriableError(IntegrationError):
    """Transient: throttling, timeouts, 5xx. Try the same thing again later."""


class ThrottledError(RetriableError):
    """429 / service protection limit. `retry_after` holds the server's hint in seconds."""


class FatalError(IntegrationError):
    """Will not succeed on retry: bad request, auth, validation, business rule refused."""


class AuthError(FatalError):
    """Missing or wrong credentials (401/403)."""


class NotFoundError(FatalError):
    """The addressed record does not exist (404)."""


class ConflictError(FatalError):
    """Precondition or concurrency failure (409/412): etag mismatch, duplicate key."""


class ValidationError(FatalError):
    """Input that is malformed or breaks a rule; the message names what was wrong."""


class SkippableError(IntegrationError):
    """This record cannot be processed, but the rest of the run can go on (Singer-style): the loop
    that reads records catches it, counts the record as skipped and names it in the run's errors.
    Raised by sync.subscription_sync for a provider subscription it cannot read."""


def error_for_status(status: int) -> type[IntegrationError]:
    """Map an HTTP status to the error kind, so every client classifies the same way."""
    if status == 429:
        return ThrottledError
    if status in (408,) or status >= 500:
        return RetriableError
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status in (409, 412):
        return ConflictError
    if status in (400, 422):
        return ValidationError
    return FatalError
