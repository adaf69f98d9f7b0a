"""The steps of `cspbridge demo`, in order. Each takes the DemoContext and returns summary lines."""

from __future__ import annotations

import uuid
from typing import Any


def dataverse_round_trip(ctx: Any) -> list[str]:
    from dataverse.client import DataverseClient

    dv = DataverseClient.from_settings()
    name = f"Demo round trip {uuid.uuid4().hex[:8]}"
    account_id = dv.create("accounts", {"name": name, "cspb_domain": "roundtrip.example"})
    back = dv.get("accounts", account_id, select=["name", "cspb_domain"])
    if back["name"] != name:
        raise RuntimeError(f"read back {back['name']!r}, wrote {name!r}")
    return [f"wrote account {account_id} through the Web API client and read it back: {back['name']!r}"]


STEPS: list[tuple[str, Any]] = [
    ("dataverse round trip", dataverse_round_trip),
]
