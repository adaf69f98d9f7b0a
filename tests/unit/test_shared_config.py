import json
from dataclasses import fields
from pathlib import Path

import pytest

from shared.config import ConfigError, Secret, Settings, env_name

REPO = Path(__file__).resolve().parents[2]


def test_secret_never_shows_in_repr_of_settings():
    settings = Settings.from_env({"CSPB_MODE": "azure", "CSPB_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert settings.client_secret.reveal() == "s3cr3t-value"


def test_types_are_converted_from_env():
    settings = Settings.from_env({"CSPB_MODE": "azure", "CSPB_USE_MANAGED_IDENTITY": "true", "CSPB_HTTP_MAX_ATTEMPTS": "3",
                                  "CSPB_HTTP_BACKOFF_CAP_SECONDS": "2.5"})
    assert settings.use_managed_identity is True
    assert settings.http_max_attempts == 3
    assert settings.http_backoff_cap_seconds == 2.5


def test_sandbox_mode_points_at_local_sandboxes_unless_overridden():
    local = Settings.from_env({"CSPB_MODE": "sandbox", "CSPB_PAX8_URL": "http://127.0.0.1:9999"})
    assert local.partner_center_url.startswith("http://127.0.0.1:")
    assert local.pax8_url == "http://127.0.0.1:9999"
    prod = Settings.from_env({"CSPB_MODE": "azure"})
    assert prod.partner_center_url == "https://api.partnercenter.microsoft.com"


def test_sample_settings_file_lists_every_setting_and_no_secret_values():
    sample = json.loads((REPO / "local.settings.sample.json").read_text())["Values"]
    missing = [env_name(f.name) for f in fields(Settings) if env_name(f.name) not in sample]
    assert missing == []
    for f in fields(Settings):
        if isinstance(getattr(Settings(), f.name), Secret):
            assert sample[env_name(f.name)].startswith("<"), f.name


def test_mode_is_never_a_default():
    with pytest.raises(ConfigError, match="CSPB_MODE is not set"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="not a mode"):
        Settings.from_env({"CSPB_MODE": "prod"})


@pytest.mark.parametrize("mode", [None, "sandbox", "SANDBOX"])
def test_inside_azure_only_azure_mode_starts(mode):
    env = {"WEBSITE_SITE_NAME": "cspb-prod"} | ({"CSPB_MODE": mode} if mode else {})
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert str(err.value).startswith("refusing to start: running in Azure (WEBSITE_SITE_NAME=cspb-prod) "
                                     "without CSPB_MODE=azure")
    assert Settings.from_env({"WEBSITE_SITE_NAME": "cspb-prod", "CSPB_MODE": "azure"}).mode == "azure"


def test_identity_based_connection_settings_use_the_functions_host_names():
    s = Settings.from_env({"CSPB_MODE": "azure", "CSPB_SERVICEBUS__fullyQualifiedNamespace": "contoso.servicebus.windows.net",
                           "cspb_storage__BLOBSERVICEURI": "https://contoso.blob.core.windows.net"})
    assert s.servicebus_fqns == "contoso.servicebus.windows.net"
    assert s.storage_blob_service_uri == "https://contoso.blob.core.windows.net"
    assert s.servicebus_conn_str == ""
    legacy = Settings.from_env({"CSPB_MODE": "azure", "CSPB_SERVICEBUS_CONNECTION_STRING": "Endpoint=sb://x/;Shared"})
    assert legacy.servicebus_conn_str.startswith("Endpoint=")


def test_cli_chooses_sandbox_mode_only_on_a_developer_machine():
    from cli.main import choose_mode

    local: dict[str, str] = {}
    assert choose_mode(None, local) == "sandbox"
    in_azure = {"WEBSITE_SITE_NAME": "cspb-prod"}
    assert choose_mode(None, in_azure) == ""
    with pytest.raises(ConfigError):
        Settings.from_env(in_azure)
    assert choose_mode("azure", local) == "azure"


@pytest.mark.parametrize("mode", ["", "sandbox"])
def test_the_function_app_refuses_to_start_in_azure_without_azure_mode(mode):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CSPB_")}
    env.update(WEBSITE_SITE_NAME="cspb-prod", CSPB_MODE=mode)
    result = subprocess.run([sys.executable, "-c", "import function_app"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "refusing to start: running in Azure (WEBSITE_SITE_NAME=cspb-prod) without CSPB_MODE=azure" in result.stderr


def test_the_cli_prints_one_line_when_it_picks_sandbox_mode(monkeypatch):
    from click.testing import CliRunner

    from cli.main import cli

    monkeypatch.delenv("CSPB_MODE")
    result = CliRunner().invoke(cli, ["partnercenter", "consent"])
    assert "CSPB_MODE is not set: using sandbox mode" in result.output
    assert result.exit_code == 1 and "run it with CSPB_MODE=azure" in result.output
