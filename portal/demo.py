"""One call for `cspbridge demo`: put the demo customers into Dataverse, serve the portal on an
ephemeral 127.0.0.1 port, and run the assessment into the demo output folder.

    from portal.demo import run_demo_step
    lines = run_demo_step(out_dir)   # settings already point at the sandboxes

The portal server keeps running (daemon thread) until `stop_servers()` or process exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_servers: list[Any] = []


def start_portal(settings: Any, dv: Any, port: int = 0) -> Any:
    from portal.wiring import dataverse_portal
    from sandbox._server import RunningServer

    # mount="/portal": links and the cookie path follow this server, whatever portal_base_url says.
    server = RunningServer(dataverse_portal(settings, dv, mount="/portal"), port)
    server.start()
    _servers.append(server)
    return server


def run_demo_step(out_dir: Path) -> list[str]:
    from dataverse.client import DataverseClient
    from portal import assessment
    from portal.assessment_source import DataverseAssessmentSource
    from portal.dataverse_seed import seed_dataverse
    from shared.config import get_settings

    settings = get_settings()
    dv = DataverseClient.from_settings(settings)
    ids = seed_dataverse(dv)
    server = start_portal(settings, dv)
    from shared.blobstore import blob_store_from_settings

    result = assessment.run(DataverseAssessmentSource(dv, store=blob_store_from_settings(settings)))
    target = out_dir / "assessment"
    target.mkdir(parents=True, exist_ok=True)
    day = result.report.as_of.isoformat()
    (target / f"kpis-{day}.csv").write_text(assessment.to_csv(result), encoding="utf-8")
    (target / f"kpis-{day}.html").write_text(assessment.to_html(result), encoding="utf-8")
    lines = [f"portal: {server.url}/portal/ (sign in as a seeded contact, e.g. Ada Admin)",
             f"demo customers in Dataverse: {len([k for k in ids.ids if k.startswith('acc-')])}"]
    for currency, k in result.report.currencies.items():
        if not (k.mrr or k.seats):
            continue  # currencies seen only in recon data have nothing recurring to show
        lines.append(f"{currency}: MRR {k.mrr}, ARR {k.arr}, seats {k.seats}, margin {k.gross_margin_pct}%")
    lines.append(f"assessment written to {target}")
    return lines


def stop_servers() -> None:
    while _servers:
        _servers.pop().stop()
