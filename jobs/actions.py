"""Action requests from the Dynamics command bar (reached through jobs.worker): a form's command writes a cspb_actionrequest row (the
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
from dataverse.tables import ActionKind, ActionStatus, EntitySet, Provider, ProvisioningStatus
from distributors.base import Adapters
from shared.errors import IntegrationError, RetriableError, ValidationError

Provision = Callable[..., Any]
_COLUMNS = ["cspb_action", "cspb_targettable", "cspb_targetid", "cspb_parameters", "cspb_status", "cspb_result"]


def _parameters(row: Mapping[str, Any]) -> dict[str, Any]:
    text = row.get("cspb_parameters") or ""
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

    sub = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id, select=["cspb_name", "_cspb_billingcontract_value"])
    contract_id = sub.get("_cspb_billingcontract_value")
    if not contract_id:
        raise ValidationError(f"subscription {sub.get('cspb_name') or subscription_id} is on no billing contract")
    contract = dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=["cspb_contractnumber"])
    invoice = billing_jobs.preview(contract["cspb_contractnumber"], today, dv=dv)
    if invoice is None:
        return {"message": f"nothing is due on contract {contract['cspb_contractnumber']} on {today.isoformat()}",
                "total": "0"}
    lines = [line for line in invoice.lines if str(line.subscription_id) == subscription_id]
    return {"message": f"next invoice on contract {contract['cspb_contractnumber']}: "
                       f"{invoice.total} {invoice.currency} ({len(invoice.lines)} lines)",
            "total": str(invoice.total), "currency": invoice.currency,
            "subscriptionLines": [{"description": line.description, "amount": str(line.amount)} for line in lines],
            "requestedQuantity": params.get("quantity")}


def _retry_provisioning(dv: DataverseClient, changelog_id: str, adapters: Adapters, now: datetime,
                        provision: Provision) -> dict[str, Any]:
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, select=["cspb_provisioningstatus", "cspb_name"])
    if row.get("cspb_provisioningstatus") != int(ProvisioningStatus.FAILED):
        raise ValidationError("only a failed change log can be retried")
    # Back to Awaiting: the worker then re-reads the subscription and sends with the same idempotency key.
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, changelog_id,
              {"cspb_provisioningstatus": int(ProvisioningStatus.AWAITING), "cspb_error": None})
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
    from dataverse.tables import AgreementStatus
    from sync import mca

    rows = list(dv.list(EntitySet.AGREEMENTS, select=["cspb_agreementid", "cspb_status"],
                        filter=f"_cspb_account_value eq {account_id}"))
    pending = [r for r in rows if r.get("cspb_status") != int(AgreementStatus.ATTESTED)]
    if not rows:
        raise ValidationError("this account has no Customer Agreement: add one with the signer's name and email")
    if not pending:
        return {"message": "the Microsoft Customer Agreement is already attested"}
    results = [mca.attest(dv, adapters[Provider.PARTNER_CENTER], agreement_id=r["cspb_agreementid"]) for r in pending]
    failed = [r for r in results if r.status == "Failed"]
    if failed:
        raise ValidationError(failed[0].message or "the attestation failed")
    return {"message": f"attested {len(results)} agreement(s) at Partner Center"}


def run(dv: DataverseClient, request_id: str, *, adapters: Adapters, provision: Provision,
        now: datetime | None = None) -> str:
    """Carry out one request and write the answer on its row; returns the status name. `provision` is the
    worker's process_change (passed in: the worker calls this module, so it must not import the worker)."""
    now = now or datetime.now(UTC)
    row = dv.get(EntitySet.ACTION_REQUESTS, request_id, select=_COLUMNS)
    if row.get("cspb_status") in (int(ActionStatus.DONE), int(ActionStatus.FAILED)):
        return "AlreadyDone"
    target = str(row.get("cspb_targetid") or "")
    try:
        if not target:
            raise ValidationError("the request names no target record")
        params = _parameters(row)
        action = row.get("cspb_action")
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
    dv.update(EntitySet.ACTION_REQUESTS, request_id, {
        "cspb_status": int(status), "cspb_result": json.dumps(result, default=str)[:100000],
        "cspb_completedon": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return status.name.title()
