"""The trial-end run: each trial whose trial has ended converts to paid (when the rep chose so on the
subscription) or expires, through a change log and the usual provisioning path. Timer:
CSPB_TRIALS_SCHEDULE (daily by default). Rules: billing/trials.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from dataverse.client import DataverseClient
from distributors.base import Adapters
from shared.errors import RetriableError
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class Report:
    ended: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    retry_later: list[str] = field(default_factory=list)


def run(now: datetime, *, dv: DataverseClient | None = None, adapters: Adapters | None = None) -> Report:
    from billing.trials import TrialEnd, at_trial_end
    from dataverse import transitions
    from dataverse.client import client_or_default
    from sync import provisioning
    from sync.records import parse_dt

    dv = client_or_default(dv)
    adapters = provisioning.default_adapters() if adapters is None else adapters
    report = Report()
    for trial in transitions.ending_trials(dv, now):
        action = at_trial_end(trial_end=parse_dt(trial.get("cspb_commitmentenddate")),
                              convert_to_paid=trial.get("cspb_converttopaid"), now=now)
        if action is TrialEnd.WAIT:
            continue
        report.ended += 1
        change = transitions.trial_change(dv, trial, convert=action is TrialEnd.CONVERT, now=now)
        try:
            outcome = provisioning.process_change(change, dv=dv, adapters=adapters, now=now)
        except RetriableError as exc:
            log.warning("trial %s: %s; tried again at the next run", trial["cspb_subscriptionid"], exc.message)
            report.retry_later.append(trial["cspb_subscriptionid"])
            continue
        if action is TrialEnd.EXPIRE and outcome.status == "Provisioned":
            transitions.mark_expired(dv, trial["cspb_subscriptionid"])
        report.outcomes[f"{action.value}: {outcome.status}"] += 1
    return report
