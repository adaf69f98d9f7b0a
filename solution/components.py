"""Solution-level components (Solution.xml, Customizations.xml, environment variables, webhook
endpoint and SDK steps). Filled in by a later slice."""

from __future__ import annotations


def render() -> dict[str, bytes]:
    return {}
