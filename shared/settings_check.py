"""Validate the app settings before anything uses them, and name every problem in one message.

An admin who deploys with a missing or mistyped setting should read one line that lists all of them,
not an msal ValueError from deep inside the first request. `get_settings()` runs the core check; an area
that needs more (the portal, a processor, an accounting target) calls `require(area)` before its first
call out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.errors import ValidationError

PREFIX = "CSPB_"
BOOL_WORDS = frozenset({"1", "0", "true", "false", "yes", "no", "on", "off"})
CHOICES: dict[str, frozenset[str]] = {
    "CSPB_MODE": frozenset({"sandbox", "azure"}),
    "CSPB_QUEUE_BACKEND": frozenset({"local", "azurite", "servicebus"}),
    "CSPB_REFUND_POLICY": frozenset({"refund", "no_refund"}),
    "CSPB_AUTHORIZENET_SIGNATURE_KEY_ENCODING": frozenset({"text", "hex"}),
    "CSPB_MAIL_BACKEND": frozenset({"outbox", "smtp", "graph"}),
    "CSPB_LOG_LEVEL": frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}),
}
SCHEDULE = re.compile(r"^\S+( \S+){5}$")  # NCRONTAB: six fields, seconds first

# What each area needs in azure mode. A tuple inside the list means "any one of these".
REQUIRED_IN_AZURE: dict[str, list[str | tuple[str, ...]]] = {
    "core": ["CSPB_DATAVERSE_URL", "CSPB_TENANT_ID"],
    "webhook": ["CSPB_WEBHOOK_KEY"],
    "portal": ["CSPB_PORTAL_BASE_URL", "CSPB_PORTAL_CLIENT_ID", "CSPB_PORTAL_CLIENT_SECRET",
               "CSPB_PORTAL_SESSION_SECRET"],
    "pax8": ["CSPB_PAX8_CLIENT_ID", "CSPB_PAX8_CLIENT_SECRET"],
    "stripe": ["CSPB_STRIPE_API_KEY", "CSPB_STRIPE_WEBHOOK_SECRET"],
    "authorizenet": ["CSPB_AUTHORIZENET_LOGIN_ID", "CSPB_AUTHORIZENET_TRANSACTION_KEY"],
    "quickbooks": ["CSPB_QUICKBOOKS_REALM_ID", "CSPB_QUICKBOOKS_CLIENT_ID", "CSPB_QUICKBOOKS_CLIENT_SECRET"],
    "businesscentral": ["CSPB_BUSINESS_CENTRAL_COMPANY_ID"],
    "smtp": ["CSPB_SMTP_HOST", "CSPB_MAIL_FROM"],
    "graph_mail": ["CSPB_MAIL_FROM"],
    "storage": [("CSPB_STORAGE_CONNECTION_STRING", "CSPB_STORAGE__serviceUri", "CSPB_STORAGE__blobServiceUri",
                 "CSPB_STORAGE__accountName")],
    "servicebus": [("CSPB_SERVICEBUS", "CSPB_SERVICEBUS_CONNECTION_STRING", "CSPB_SERVICEBUS__fullyQualifiedNamespace",
                    "CSPB_SERVICEBUS_NAMESPACE")],
}


class ConfigurationError(ValidationError):
    """One or more app settings are missing or malformed; `problems` lists each by name."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("CSPBridge settings: " + "; ".join(problems) +
                         " (see local.settings.sample.json and README, 'App settings')",
                         details={"problems": problems})
        self.problems = problems


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _value_problems(env: Mapping[str, str], types: Mapping[str, str], azure: bool) -> list[str]:
    found = []
    for name, raw in env.items():
        if not name.startswith(PREFIX):
            continue
        value = raw.strip()
        kind = types.get(name)
        if name.endswith("_SCHEDULE"):
            if not SCHEDULE.match(value):
                found.append(f"{name}={value!r} is not a six-field NCRONTAB schedule (e.g. '0 0 6 * * *')")
            continue
        if kind is None or not value:
            continue
        if kind in ("int", "float"):
            try:
                number = int(value) if kind == "int" else float(value)
            except ValueError:
                found.append(f"{name}={value!r} is not a {'whole ' if kind == 'int' else ''}number")
                continue
            if number <= 0:
                found.append(f"{name}={value!r} must be greater than 0")
        elif kind == "bool" and value.lower() not in BOOL_WORDS:
            found.append(f"{name}={value!r} is not true or false")
        elif name in CHOICES and value not in CHOICES[name] and value.upper() not in CHOICES[name]:
            found.append(f"{name}={value!r} is not one of {', '.join(sorted(CHOICES[name]))}")
        elif name.endswith(("_URL", "_API_BASE")) and kind == "str":
            if not _is_url(value):
                found.append(f"{name}={value!r} is not an http(s) URL")
            elif azure and urlsplit(value).scheme != "https":
                found.append(f"{name}={value!r} must use https in azure mode")
    return found


def _missing(env: Mapping[str, str], areas: Iterable[str]) -> list[str]:
    found = []
    for area in areas:
        for need in REQUIRED_IN_AZURE[area]:
            names = need if isinstance(need, tuple) else (need,)
            if not any(env.get(n, "").strip() for n in names):
                found.append(f"{' or '.join(names)} is missing" + (f" (needed for {area})" if area != "core" else ""))
    if "core" in areas:
        managed = env.get("CSPB_USE_MANAGED_IDENTITY", "").strip().lower() in ("1", "true", "yes", "on")
        if not managed:
            for name in ("CSPB_CLIENT_ID", "CSPB_CLIENT_SECRET"):
                if not env.get(name, "").strip():
                    found.append(f"{name} is missing (or set CSPB_USE_MANAGED_IDENTITY=true)")
        if env.get("CSPB_QUEUE_BACKEND", "").strip() == "servicebus":
            found += _missing(env, ["servicebus"])
    return found


def problems(env: Mapping[str, str] | None = None, areas: Iterable[str] = ("core",),
             types: Mapping[str, str] | None = None) -> list[str]:
    """Every problem with the settings, worded for the admin; empty when they are fine. `types` maps each
    setting to its type name (shared.config.setting_types()); without it only presence is checked."""
    source: Mapping[str, Any] = os.environ if env is None else env
    azure = source.get("CSPB_MODE", "").strip() == "azure"
    found = _value_problems(source, types or {}, azure)
    if azure:
        found += _missing(source, list(areas))
    return found


def require(*areas: str, env: Mapping[str, str] | None = None, types: Mapping[str, str] | None = None) -> None:
    """Raise one ConfigurationError naming every missing or malformed setting of these areas."""
    unknown = [a for a in areas if a not in REQUIRED_IN_AZURE]
    if unknown:
        raise KeyError(f"unknown settings area(s): {unknown}")
    found = problems(env, areas or ("core",), types)
    if found:
        raise ConfigurationError(found)
