"""Small helpers for reading and writing Dataverse rows in the sync jobs."""

from __future__ import annotations

from shared.dates import iso
from shared.dates import parse_datetime as parse_dt

__all__ = ["bind", "iso", "parse_dt"]


def bind(entity_set: str, row_id: str) -> str:
    """The value of a `<lookup>@odata.bind` property."""
    return f"/{entity_set}({row_id})"
