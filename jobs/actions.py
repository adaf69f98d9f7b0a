"""Action requests from the Dynamics command bar (reached through jobs.worker): a form's command writes an action request row (the
browser holds no function key), its Create reaches us through the webhook step and the provisioning queue,
and the answer goes back onto the row (status, result in plain words, completed on) for the form to show.

Each action reuses the code the rest of the product runs: the billing preview, the provisioning worker, the
inbox replay and the MCA attestation. A request already answered is not run again."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores import actions as store
from dataverse.tables import ActionKind, ActionStatus, Provider
from distributors.base import Adapters
from shared.errors import IntegrationError, RetriableError, ValidationError

Provision = Callable[..., Any]


def _parameters(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ValidationError("the request's parameters are not JSON") from None
    if not isinstance(value, dict):
        raise ValidationError("the request's parameters must be a JSON object")
    return value


def _preview_charge(dv: DataverseClient, subscription_id: str, params: Mapping[str, Any], today: date) -> dict[str, Any]:
    from jobs import billing as billing_jobs

    found = store.subscription_contract(dv, subscription_id)
    if found.contract_number is None:
        raise ValidationError(f"subscription {found.subscription_name} is on no billing contract")
    number = found.contract_number
    invoice = billing_jobs.preview(number, today, dv=dv)
    if invoice is None:
        return {"message": f"nothing is due on contract {number} on {today.isoformat()}", "total": "0"}
    lines = [line for line in invoice.lines if str(line.subscription_id) == subscription_id]
    return {"message": f"next invoice on contract {number}: "
                       f"{invoice.total} {invoice.currency} ({len(invoice.lines)} lines)",
            "total": str(invoice.total), "currency": invoice.currency,
            "subscriptionLines": [{"description": line.description, "amount": str(line.amount)} for line in lines],
            "requestedQuantity": params.get("quantity")}


def _retry_provisioning(dv: DataverseClient, changelog_id: str, adapters: Adapters, now: datetime,
                        provision: Provision) -> dict[str, Any]:
    # Back to Awaiting: the worker then re-reads the subscription and sends with the same idempotency key.
    if not store.reset_failed_change_log(dv, changelog_id):
        raise ValidationError("only a failed change log can be retried")
    outcome = provision(changelog_id, dv=dv, adapters=adapters, now=now)
    return {"message": f"{outcome.status}: {outcome.message}".rstrip(": "), "status": outcome.status,
            "orderId": outcome.order_id}


def _replay(dv: DataverseClient, inbox_id: str, now: datetime) -> dict[str, Any]:
    from shared.queue import PROVISIONING_QUEUE, get_queue
    from sync import inbox

    run = inbox.replay(dv, get_queue(PROVISIONING_QUEUE), inbox_id=inbox_id, now=now)
    if run.skipped:
        raise ValidationError(f"not replayed: {run.skipped[0][1]}")
    return {"message": "queued again; the worker re-reads the record, so nothing is ordered twice"}


def _attest(dv: DataverseClient, account_id: str, adapters: Adapters) -> dict[str, Any]:
    from sync import mca

    agreements = store.account_agreements(dv, account_id)
    pending = [a for a in agreements if not a.attested]
    if not agreements:
        raise ValidationError("this account has no Customer Agreement: add one with the signer's name and email")
    if not pending:
        return {"message": "the Microsoft Customer Agreement is already attested"}
    results = [mca.attest(dv, adapters[Provider.PARTNER_CENTER], agreement_id=a.agreement_id) for a in pending]
    failed = [r for r in results if r.status == "Failed"]
    if failed:
        raise ValidationError(failed[0].message or "the attestation failed")
    return {"message": f"attested {len(results)} agreement(s) at Partner Center"}


def run(dv: DataverseClient, request_id: str, *, adapters: Adapters, provision: Provision,
        now: datetime | None = None) -> str:
    """Carry out one request and write the answer on its row; returns the status name. `provision` is the
    worker's process_change (passed in: the worker calls this module, so it must not import the worker)."""
    now = now or datetime.now(UTC)
    request = store.load_request(dv, request_id)
    if request.answered:
        return "AlreadyDone"
    target = request.target_id
    try:
        if not target:
            raise ValidationError("the request names no target record")
        params = _parameters(request.parameters)
        action = request.action
        if action == ActionKind.PREVIEW_CHARGE:
            result = _preview_charge(dv, target, params, now.date())
        elif action == ActionKind.RETRY_PROVISIONING:
            result = _retry_provisioning(dv, target, adapters, now, provision)
        elif action == ActionKind.REPLAY_INBOX:
            result = _replay(dv, target, now)
        elif action == ActionKind.ATTEST_MCA:
            result = _attest(dv, target, adapters)
        else:
            raise ValidationError(f"unknown action {action!r}")
        status = ActionStatus.DONE
    except RetriableError:
        raise
    except IntegrationError as exc:
        result, status = {"message": exc.message}, ActionStatus.FAILED
    store.answer_request(dv, request_id, status, json.dumps(result, default=str), now)
    return status.name.title()
