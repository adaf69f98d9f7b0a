"""`cspbridge doctor` against the stand-ins (Entra, Key Vault, Dataverse and Partner Center over TLS,
Azurite with OAuth): all green when every grant is in place, and each missing grant reported by name with
its fix when it is not."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.keyvault.server import SECRETS_OFFICER
from sandbox.servicebus.server import DATA_SENDER
from tests.plugins.identity import PC_APP

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(azure_env, azurite_oauth, servicebus, local_tls_files, tmp_path, monkeypatch, pc_seed_template):
    import shutil

    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app as dataverse_app
    from sandbox.partnercenter.server import build_app as pc_app
    from shared.config import reset_settings

    context = local_tls_files.server_context()
    dv = dataverse_app(tmp_path / "dataverse")
    shutil.copytree(pc_seed_template, tmp_path / "partnercenter")
    pc = pc_app(tmp_path / "partnercenter")
    with RunningServer(dv, ssl_context=context) as dv_server, RunningServer(pc, ssl_context=context) as pc_server:
        for key, value in {
            "CSPB_DATAVERSE_URL": dv_server.url + "/api/data/v9.2", "CSPB_PARTNER_CENTER_URL": pc_server.url,
            "CSPB_GRAPH_URL": pc_server.url, "CSPB_STORAGE__serviceUri": azurite_oauth["blob"],
            "CSPB_PORTAL_BASE_URL": "https://cspb.example/api/portal", "CSPB_PORTAL_CLIENT_ID": "portal-app",
            "CSPB_PORTAL_CLIENT_SECRET": "portal-secret", "CSPB_PORTAL_SESSION_SECRET": "s" * 32,
            "CSPB_QUEUE_BACKEND": "servicebus", "CSPB_SERVICEBUS__fullyQualifiedNamespace": "cspb.servicebus.windows.net",
            "CSPB_SERVICEBUS_ENDPOINT": servicebus.endpoint,
        }.items():
            monkeypatch.setenv(key, value)
        reset_settings()
        azure_env.keyvault.grant(azure_env.app_oid(), SECRETS_OFFICER)
        servicebus.state.grant(azure_env.app_oid(), DATA_SENDER)
        from shared.queue import reset_in_process_queues

        reset_in_process_queues()
        from tests.integration.test_partnercenter_consent import _consented

        _consented(azure_env)
        yield azure_env, dv, servicebus
        dv.close()
        reset_in_process_queues()


def doctor():
    from cli.main import cli

    return CliRunner().invoke(cli, ["doctor"])


def test_doctor_is_green_when_every_grant_is_in_place(deployment):
    result = doctor()
    assert result.exit_code == 0, result.output
    out = result.output
    for line in ("[ ok ] Settings:", "[ ok ] Token: Dataverse:", "/.default for app", "[ ok ] Token: Key Vault:",
                 "[ ok ] Token: Storage:", "[ ok ] Token: Service Bus:",
                 "[ ok ] Service Bus: send: scheduled and cancelled a message on cspb-provisioning", "[ ok ] Token: Partner Center REST (app-only):",
                 "[ ok ] Token: Microsoft Graph (app-only):", "[ ok ] Token: Partner Center REST (App+User):",
                 "[ ok ] Token: api.partner.microsoft.com price sheet and FX (App+User):",
                 "[ ok ] Grant: Microsoft Graph PartnerBilling.Read.All:",
                 "[ ok ] Grant: Partner Center App+User consent with MFA: consented by admin@partner.example",
                 "[ ok ] Key Vault: read: secret 'pc-refresh-token' present", "[ ok ] Key Vault: write:",
                 "[ ok ] Blob Storage: write:", "[ ok ] Dataverse: WhoAmI:",
                 "[ ok ] Dataverse: security role: has security role 'CSPBridge Integration'",
                 "[ ok ] Partner Center: reachable:", "[ ok ] Microsoft Graph: reachable:", " 0 failed"):
        assert line in out, line
    # The Dataverse URL ends in /api/data/v9.2; the token still asked for the organization's scope.
    assert "Token: Dataverse: https://127.0.0.1:" in out and "/api/data" not in out.split("Token: Dataverse:")[1].split("\n")[0]
    assert "pc-app-secret-value" not in out and "0.RT." not in out


def test_doctor_names_each_missing_grant_and_its_fix(deployment):
    identity, dv, servicebus = deployment
    servicebus.state.roles.clear()
    identity.entra.apps[PC_APP].app_roles["https://graph.microsoft.com"] = ()
    identity.keyvault.revoke(identity.app_oid(), SECRETS_OFFICER)
    identity.keyvault.grant(identity.app_oid(), "Key Vault Secrets User")
    dv.api.app_user_roles = ["Basic User"]
    result = doctor()
    out = result.output
    assert result.exit_code == 1
    assert "[FAIL] Grant: Microsoft Graph PartnerBilling.Read.All: the Graph token of app " in out
    assert "add Microsoft Graph application permission PartnerBilling.Read.All, then 'Grant admin consent'" in out
    assert "[FAIL] Key Vault: write:" in out and "'Key Vault Secrets Officer' role" in out
    assert "[ ok ] Key Vault: read:" in out
    assert "[FAIL] Dataverse: security role: the application user lacks the security role 'CSPBridge Integration' " \
           "(has: Basic User)" in out
    assert "assign the 'CSPBridge Integration' security role" in out
    assert "[FAIL] Service Bus: send:" in out and "'Azure Service Bus Data Sender'" in out
    # App+User redemptions are not tried while the write-back would fail: the stored token stays valid.
    assert "[FAIL] Token: Partner Center REST (App+User): not tried: Key Vault refuses the write-back" in out
    assert "Traceback" not in out


def test_doctor_lists_missing_settings_and_goes_on(deployment, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.delenv("CSPB_PORTAL_CLIENT_SECRET")
    monkeypatch.setenv("CSPB_PC_CLIENT_SECRET", "not-the-secret")
    reset_settings()
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] Setting CSPB_PORTAL_CLIENT_SECRET: CSPB_PORTAL_CLIENT_SECRET is missing (needed for portal)" \
        in result.output
    assert "[FAIL] Token: Partner Center REST (app-only):" in result.output and "invalid_client" in result.output
    assert "[ ok ] Dataverse: WhoAmI" in result.output


def test_doctor_in_sandbox_mode_against_the_running_sandboxes(dv_server, pc_server, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_PARTNER_CENTER_URL", pc_server.url)
    monkeypatch.setenv("CSPB_GRAPH_URL", pc_server.url)
    reset_settings()
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "[ ok ] Dataverse: security role: has security role 'CSPBridge Integration'" in result.output
    assert "[skip] Tokens: sandbox mode" in result.output


def test_doctor_says_when_a_service_does_not_answer(monkeypatch):
    import socket

    from shared.config import reset_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("CSPB_DATAVERSE_URL", f"http://127.0.0.1:{closed}")
    reset_settings()
    result = doctor()
    assert result.exit_code == 1
    assert "[FAIL] Dataverse: WhoAmI:" in result.output and "it did not answer" in result.output
