"""Structured (JSON) logging with secret redaction.

Redaction works on the final message and on every extra field, so a secret that slips into
an exception text or a URL (SAS `sig=`, `client_secret=`, bearer tokens) is masked too.
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
    """For handlers we don't own (the Functions host): mask the message in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
        for handler in root.handlers:
            handler.addFilter(RedactingFilter())
    return logger


def configure_json_logging(level: str = "INFO") -> None:
    """CLI entry points call this; inside the Functions host the host owns handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingJsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
