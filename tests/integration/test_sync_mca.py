"""MCA attestation: from a cspb_agreement row and from the portal, against the Partner Center sandbox."""

from __future__ import annotations

import pytest

from sync import mca
from sync.provider_accounts import run_provider_account_sync

pytestmark = pytest.mark.integration


def _account(dv, pc) -> tuple[str, str]:
    run_provider_account_sync(dv, {1: pc})
    row = next(iter(dv.list("cspb_provideraccounts", select=["cspb_provideraccountid", "cspb_externalid"])))
    return row["cspb_provideraccountid"], row["cspb_externalid"]


def test_attest_from_an_agreement_record(dv, sync_pc) -> None:
    account_id, customer_id = _account(dv, sync_pc)
    before = len(sync_pc.list_agreements(customer_id))
    agreement_id = dv.create("cspb_agreements", {
        "cspb_agreementkey": "mca-1", "cspb_name": "MCA", "cspb_firstname": "Ana", "cspb_lastname": "Silva",
        "cspb_email": "ana@example.com", "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    result = mca.attest(dv, sync_pc, agreement_id=agreement_id)
    assert result.status == "Attested"
    assert dv.get("cspb_agreements", agreement_id, select=["cspb_status"])["cspb_status"] == 2
    assert mca.is_attested(dv, account_id)
    assert len(sync_pc.list_agreements(customer_id)) == before + 1
    # Attesting again is a no-op, not a second agreement.
    assert mca.attest(dv, sync_pc, agreement_id=agreement_id).message == "already attested"
    assert len(sync_pc.list_agreements(customer_id)) == before + 1


def test_attest_from_the_portal_and_a_refusal_is_written_back(dv, sync_pc) -> None:
    account_id, _ = _account(dv, sync_pc)
    ok = mca.attest(dv, sync_pc, provider_account_id=account_id,
                    contact={"firstName": "Ben", "lastName": "Okafor", "email": "Ben@Example.com"})
    assert ok.status == "Attested"
    row = dv.get("cspb_agreements", ok.agreement_id, select=["cspb_email", "cspb_agreementtype"])
    assert row["cspb_email"] == "ben@example.com" and row["cspb_agreementtype"] == "MicrosoftCustomerAgreement"
    incomplete = dv.create("cspb_agreements", {
        "cspb_agreementkey": "mca-bad", "cspb_name": "MCA", "cspb_email": "x@example.com",
        "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    failed = mca.attest(dv, sync_pc, agreement_id=incomplete)
    assert failed.status == "Failed" and "firstName" in failed.message
    row = dv.get("cspb_agreements", incomplete, select=["cspb_status", "cspb_error"])
    assert row["cspb_status"] == 3 and "firstName" in row["cspb_error"]
