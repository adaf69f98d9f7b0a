"""`cspbridge inbox replay|sweep`: queue failed webhook deliveries again, re-queue stuck ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from cli.params import POSITIVE
from shared.dates import parse_datetime

if TYPE_CHECKING:
    from dataverse.client import DataverseClient
    from shared.queue import Queue


class _When(click.ParamType[datetime, Any]):
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        when = parse_datetime(str(value).strip(), strict=False)
        if when is None:
            self.fail(f"{value!r} is not a time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z])", param, ctx)
        return when


def _queue_and_drain() -> tuple[Queue, Callable[[DataverseClient], dict[str, int] | None]]:
    """The provisioning queue; with the in-process backend nothing else would ever read it, so the
    command works the messages itself, as `cspbridge sync` does."""
    from shared.config import get_settings
    from shared.queue import PROVISIONING_QUEUE, InProcessQueue, drain, get_queue

    queue = get_queue(PROVISIONING_QUEUE, get_settings())

    def finish(dv: DataverseClient) -> dict[str, int] | None:
        if not isinstance(queue, InProcessQueue):
            return None
        from sync.provisioning import default_adapters, handle_message

        adapters = default_adapters()
        done = drain(queue, lambda m: handle_message(m.body, dv=dv, adapters=adapters,
                                                     delivery_count=m.delivery_count,
                                                     max_attempts=queue.max_deliveries))
        return {"completed": done.completed, "retried": done.retried, "deadLettered": done.dead_lettered}

    return queue, finish


@click.group()
def inbox() -> None:
    """Webhook deliveries stored in the Inbox Events table."""


@inbox.command()
@click.option("--id", "inbox_id", help="Replay this inbox row (it must be Failed).")
@click.option("--since", type=_When(), help="Replay every Failed row received since this time (UTC if no offset).")
def replay(inbox_id: str | None, since: datetime | None) -> None:
    """Queue Failed inbox rows again. Safe to repeat: the worker re-reads each change and never orders twice."""
    if (inbox_id is None) == (since is None):
        raise click.UsageError("pass exactly one of --id ID or --since TIME (--since 1970-01-01 for all)")
    from dataverse.client import client_or_default
    from sync import inbox as inbox_rows

    dv = client_or_default()
    queue, finish = _queue_and_drain()
    result = inbox_rows.replay(dv, queue, inbox_id=inbox_id, since=since)
    out = result.as_dict()
    worked = finish(dv)
    if worked is not None:
        out["worked"] = worked
    click.echo(json.dumps(out, sort_keys=True))
    if inbox_id is not None and not result.requeued:
        raise click.ClickException(f"inbox row {inbox_id} was not replayed: {result.skipped[0][1]}")


@inbox.command()
@click.option("--minutes", type=POSITIVE, default=None,
              help="Rows without progress for this long (default CSPB_INBOX_STUCK_MINUTES, 30).")
def sweep(minutes: int | None) -> None:
    """Re-queue rows stuck Received or Queued, as the sweeper timer does."""
    from dataverse.client import client_or_default
    from shared.config import get_settings
    from sync import inbox as inbox_rows

    dv = client_or_default()
    queue, finish = _queue_and_drain()
    result = inbox_rows.sweep(dv, queue, minutes=minutes or get_settings().inbox_stuck_minutes)
    out = result.as_dict()
    worked = finish(dv)
    if worked is not None:
        out["worked"] = worked
    click.echo(json.dumps(out, sort_keys=True))
