"""The trial-end run: each trial whose trial has ended converts to paid (when the rep chose so on the
subscription) or expires, through a change log and the usual provisioning path. Timer:
CSPB_TRIALS_SCHEDULE (daily by default). Rules: billing/trials.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dataverse.client import DataverseClient
from distributors.base import Adapters
from jobs.provision_due import DueRun, adapters_or_default


@dataclass
class Report(DueRun):
    ended: int = 0


def run(now: datetime, *, dv: DataverseClient | None = None, adapters: Adapters | None = None) -> Report:
    from billing.trials import TrialEnd, at_trial_end
    from dataverse import transitions
    from dataverse.client import client_or_default

    dv = client_or_default(dv)
    adapters = adapters_or_default(adapters)
    report = Report()
    for trial in transitions.ending_trial_records(dv, now):
        action = at_trial_end(trial_end=trial.trial_end, convert_to_paid=trial.convert_to_paid, now=now)
        if action is TrialEnd.WAIT:
            continue
        report.ended += 1
        change = transitions.trial_change(dv, trial.row, convert=action is TrialEnd.CONVERT, now=now)
        subscription_id = trial.subscription_id
        outcome = report.provision(change, key=subscription_id, what="trial", dv=dv, adapters=adapters, now=now)
        if outcome is None:
            continue
        if action is TrialEnd.EXPIRE and outcome.status == "Provisioned":
            transitions.mark_expired(dv, subscription_id)
        report.outcomes[f"{action.value}: {outcome.status}"] += 1
    return report
