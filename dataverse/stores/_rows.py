"""Small helpers the stores share for building rows."""

from __future__ import annotations


def bind(entity_set: str, row_id: str) -> str:
    """The value of a `<lookup>@odata.bind` property (the id as stored; odata.bind also checks it is a GUID)."""
    return f"/{entity_set}({row_id})"
