"""Deterministic GUIDs for solution components, so regenerating the source never churns ids."""

from __future__ import annotations

import uuid

_NS = uuid.UUID("6f0c7f6e-6a4b-4f39-9d6e-2f1f3b0c5a11")


def stable_id(name: str) -> str:
    return str(uuid.uuid5(_NS, name))
