"""`cspbridge assess`: the partner's CSP-business KPIs, stored as a dated snapshot and written as
CSV + HTML (with the trend since earlier snapshots)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click


@click.command()
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date to assess (default: today, UTC).")
@click.option("--out", "out_dir", default="out/assessment", show_default=True, type=click.Path(path_type=Path))
@click.option("--store/--no-store", default=True, show_default=True, help="Save the snapshot in the KPI Snapshots table.")
@click.option("--lang", type=click.Choice(["en", "es"]), default="en", show_default=True)
@click.option("--window-days", default=30, show_default=True, type=click.IntRange(min=1), help="Window for churn, contraction and touchless share.")
def assess(as_of: datetime | None, out_dir: Path, store: bool, lang: str, window_days: int) -> None:
    """Compute MRR/ARR, margin, seats, churn, DSO, touchless share and seat leakage from Dataverse."""
    from tqdm import tqdm

    from dataverse.client import DataverseClient
    from portal import assessment
    from portal.assessment_source import DataverseAssessmentSource
    from shared.config import get_settings

    day = as_of.date() if as_of is not None else date.today()
    steps = tqdm(total=3, desc="assess", unit="step")
    from shared.blobstore import blob_store_from_settings

    settings = get_settings()
    source = DataverseAssessmentSource(DataverseClient.from_settings(settings), store=blob_store_from_settings(settings))
    result = assessment.run(source, as_of=day, store=store, window_days=window_days)
    steps.update(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"kpis-{day.isoformat()}.csv"
    html_path = out_dir / f"kpis-{day.isoformat()}.html"
    csv_path.write_text(assessment.to_csv(result), encoding="utf-8")
    steps.update(1)
    html_path.write_text(assessment.to_html(result, lang), encoding="utf-8")
    steps.update(1)
    steps.close()
    report = result.report
    from billing.kpis import has_data, shown

    for currency, k in report.currencies.items():
        if not has_data(k):
            continue
        click.echo(f"{currency}: MRR {k.mrr}  ARR {k.arr}  margin {shown('gross_margin_pct', k.gross_margin_pct)}  "
                   f"seats {k.seats}  churn {shown('churn_rate_pct', k.churn_rate_pct)}  "
                   f"contraction {shown('contraction_rate_pct', k.contraction_rate_pct)}  "
                   f"DSO {shown('dso_days', k.dso_days, ' days')}  leakage {k.leakage_mrr}/month")
    click.echo(f"touchless provisioning: {shown('touchless_pct', report.touchless_pct)} "
               f"({report.changes_touchless}/{report.changes_finished})")
    if result.previous:
        click.echo(f"compared with the snapshot of {result.previous['as_of']}")
    click.echo(f"wrote {csv_path} and {html_path}" + (" and stored the snapshot" if store else ""))
