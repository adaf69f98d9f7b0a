"""The customer portal's WSGI app as the Functions host serves it: Dataverse-backed, from the settings."""

from __future__ import annotations

from typing import Any


def wsgi_app() -> Any:
    from portal.wiring import dataverse_portal
    from shared.config import get_settings

    return dataverse_portal(get_settings())
