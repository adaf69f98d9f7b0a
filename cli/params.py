"""Option types shared by every subcommand, so a bad value is refused the same way everywhere:
one line naming the option and what was wrong, exit code 2 (click's usage error)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import click

from shared.dates import require_date

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class MonthType(click.ParamType[str, Any]):
    """YYYY-MM with a real month (01-12); yields the same string."""

    name = "YYYY-MM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        match = _MONTH.match(text)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
            self.fail(f"{value!r} is not a month (YYYY-MM)", param, ctx)
        return text


class DateType(click.ParamType[date, Any]):
    """YYYY-MM-DD; yields a date."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return require_date(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


class UrlType(click.ParamType[str, Any]):
    """An absolute http(s) URL with a host."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            parts = urlsplit(text)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or " " in text:
            self.fail(f"{value!r} is not a valid http(s) URL", param, ctx)
        return text


MONTH = MonthType()
DATE = DateType()
URL = UrlType()
POSITIVE = click.IntRange(min=1)
PORT = click.IntRange(min=0, max=65535)
