"""Small helpers for reading and writing Dataverse rows in the sync jobs."""

from __future__ import annotations

from dataverse.stores._rows import bind
from shared.dates import iso
from shared.dates import parse_datetime as parse_dt

__all__ = ["bind", "iso", "parse_dt"]
