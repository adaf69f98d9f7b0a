import json
from dataclasses import fields
from pathlib import Path

from shared.config import Secret, Settings

REPO = Path(__file__).resolve().parents[2]


def test_secret_never_shows_in_repr_of_settings():
    settings = Settings.from_env({"CSPB_MODE": "azure", "CSPB_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert settings.client_secret.reveal() == "s3cr3t-value"


def test_types_are_converted_from_env():
    settings = Settings.from_env({"CSPB_USE_MANAGED_IDENTITY": "true", "CSPB_HTTP_MAX_ATTEMPTS": "3",
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
    missing = [f"CSPB_{f.name.upper()}" for f in fields(Settings) if f"CSPB_{f.name.upper()}" not in sample]
    assert missing == []
    for f in fields(Settings):
        if isinstance(getattr(Settings(), f.name), Secret):
            assert sample[f"CSPB_{f.name.upper()}"].startswith("<"), f.name
