"""Structured (JSON) logging with secret redaction.

Redaction works on the final message and on every extra field, so a secret that slips into
an exception text or a URL (SAS `sig=`, `client_secret=`, bearer tokens) is masked too.

It does not depend on handlers: importing this module installs a log record factory that masks
the message, its arguments and the exception text of every record as it is created (any logger,
ours or a library's), and every logger from `get_logger` also carries a filter that masks extra
fields. So it holds whatever handlers exist, in whatever order they were added: the CLI's, the
Functions host's, pytest's caplog.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

MASK = "***"
_known_secrets: set[str] = set()
_lock = threading.Lock()

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)((?:sig|signature|client_secret|code|refresh_token|access_token|password|api[-_]?key|"
               r"x-functions-key|transactionKey|AccountKey|SharedAccessKey)\s*[=:]\s*\"?)[^&\s\";,]+"),
    re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]+"),
]

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def register_secrets(values: list[str]) -> None:
    """Remember secret values so they are masked wherever they appear."""
    with _lock:
        for value in values:
            if value and len(value) >= 4:
                _known_secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + MASK, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: (MASK if _is_secret_key(k) else _redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v) for v in value]
    return value


def _is_secret_key(key: str) -> bool:
    lowered = str(key).lower()
    return any(word in lowered for word in ("secret", "password", "token", "authorization", "apikey", "api_key", "sig"))


class RedactingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = MASK if _is_secret_key(key) else _redact_value(value)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class RedactingFilter(logging.Filter):
    """Masks a record in place: message (arguments merged), exception text and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                record.__dict__[key] = MASK if _is_secret_key(key) else _redact_value(value)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string must still be logged, masked
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    _redact_record(record)
    return record


if not getattr(logging.getLogRecordFactory(), "_redacts_secrets", False):
    _redacting_factory._redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_redacting_factory)

_FILTER = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger


class _CliHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler configure_json_logging owns, so a second call replaces it, not others'."""


def configure_json_logging(level: str = "INFO") -> None:
    """CLI entry points call this; inside the Functions host the host owns handlers. Handlers someone
    else added (pytest's caplog, a host) stay: redaction does not depend on which handlers exist."""
    handler = _CliHandler()  # stderr: stdout stays the command's output
    handler.setFormatter(RedactingJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _CliHandler)] + [handler]
    root.setLevel(level)
