"""What the command-bar actions (jobs/actions.py) read and write: the action request row itself, and
the few facts each action needs from other tables. Typed, so jobs/ names no Dataverse column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import ActionStatus, AgreementStatus, EntitySet, ProvisioningStatus

_REQUEST_COLUMNS = ["cspb_action", "cspb_targettable", "cspb_targetid", "cspb_parameters", "cspb_status", "cspb_result"]


@dataclass(frozen=True)
class ActionRequest:
    id: str
    action: Any  # the ActionKind value as stored (unknown values are reported, not coerced)
    target_id: str
    parameters: str  # JSON text as the form wrote it
    status: int | None

    @property
    def answered(self) -> bool:
        return self.status in (int(ActionStatus.DONE), int(ActionStatus.FAILED))


def load_request(dv: DataverseClient, request_id: str) -> ActionRequest:
    row = dv.get(EntitySet.ACTION_REQUESTS, request_id, select=_REQUEST_COLUMNS)
    return ActionRequest(request_id, row.get("cspb_action"), str(row.get("cspb_targetid") or ""),
                         str(row.get("cspb_parameters") or ""), row.get("cspb_status"))


def answer_request(dv: DataverseClient, request_id: str, status: ActionStatus, result_json: str, now: datetime) -> None:
    dv.update(EntitySet.ACTION_REQUESTS, request_id, {
        "cspb_status": int(status), "cspb_result": result_json[:100000],
        "cspb_completedon": now.strftime("%Y-%m-%dT%H:%M:%SZ")})


@dataclass(frozen=True)
class SubscriptionContract:
    subscription_name: str
    contract_number: str | None  # None: the subscription is on no billing contract


def subscription_contract(dv: DataverseClient, subscription_id: str) -> SubscriptionContract:
    sub = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id, select=["cspb_name", "_cspb_billingcontract_value"])
    name = str(sub.get("cspb_name") or subscription_id)
    contract_id = sub.get("_cspb_billingcontract_value")
    if not contract_id:
        return SubscriptionContract(name, None)
    contract = dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=["cspb_contractnumber"])
    return SubscriptionContract(name, str(contract["cspb_contractnumber"]))


def reset_failed_change_log(dv: DataverseClient, changelog_id: str) -> bool:
    """A Failed change log back to Awaiting (error cleared); False when it is not Failed."""
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, select=["cspb_provisioningstatus", "cspb_name"])
    if row.get("cspb_provisioningstatus") != int(ProvisioningStatus.FAILED):
        return False
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, changelog_id,
              {"cspb_provisioningstatus": int(ProvisioningStatus.AWAITING), "cspb_error": None})
    return True


@dataclass(frozen=True)
class AgreementState:
    agreement_id: str
    attested: bool


def account_agreements(dv: DataverseClient, account_id: str) -> list[AgreementState]:
    rows = dv.list(EntitySet.AGREEMENTS, select=["cspb_agreementid", "cspb_status"],
                   filter=f"_cspb_account_value eq {account_id}")
    return [AgreementState(str(r["cspb_agreementid"]), r.get("cspb_status") == int(AgreementStatus.ATTESTED))
            for r in rows]
