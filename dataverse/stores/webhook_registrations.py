"""Webhook registrations as Dataverse keeps them: a service endpoint and the SDK message processing steps
that post to it (solution/connect.py writes CSPBridge's own after an import; this removes one)."""

from __future__ import annotations

from dataverse.client import DataverseClient

ENDPOINTS = "serviceendpoints"
STEPS = "sdkmessageprocessingsteps"


def unregister(dv: DataverseClient, endpoint_id: str) -> int:
    """Remove the steps first, then the endpoint (Dataverse keeps an endpoint that still has steps); how
    many steps were removed."""
    steps = list(dv.list(STEPS, select=["sdkmessageprocessingstepid"], filter=f"_eventhandler_value eq {endpoint_id}"))
    for step in steps:
        dv.delete(STEPS, str(step["sdkmessageprocessingstepid"]))
    dv.delete(ENDPOINTS, endpoint_id)
    return len(steps)
