"""Settings are validated before use: one message names every missing or malformed setting."""

from __future__ import annotations

import pytest

from shared.config import setting_types
from shared.settings_check import ConfigurationError, require
from shared.settings_check import problems as _problems


def problems(env, areas=("core",)):
    return _problems(env, areas, setting_types())

AZURE_OK = {
    "CSPB_MODE": "azure", "CSPB_DATAVERSE_URL": "https://contoso.crm.dynamics.com", "CSPB_TENANT_ID": "t-1",
    "CSPB_USE_MANAGED_IDENTITY": "true",
}


def test_a_complete_azure_configuration_has_no_problems():
    assert problems(AZURE_OK) == []


def test_every_missing_azure_setting_is_named_in_one_message():
    with pytest.raises(ConfigurationError) as caught:
        require(env={"CSPB_MODE": "azure"})
    message = str(caught.value)
    for name in ("CSPB_DATAVERSE_URL", "CSPB_TENANT_ID", "CSPB_CLIENT_ID", "CSPB_CLIENT_SECRET"):
        assert name in message
    assert len(caught.value.problems) == 4


def test_malformed_values_are_named_with_what_is_wrong():
    env = dict(AZURE_OK, CSPB_HTTP_MAX_ATTEMPTS="six", CSPB_HTTP_TIMEOUT_SECONDS="-1",
               CSPB_USE_MANAGED_IDENTITY="maybe", CSPB_QUEUE_BACKEND="kafka", CSPB_PAX8_URL="api.pax8.com",
               CSPB_GRAPH_URL="http://graph.microsoft.com", CSPB_BILLING_SCHEDULE="daily")
    found = " | ".join(problems(env))
    assert "CSPB_HTTP_MAX_ATTEMPTS='six' is not a whole number" in found
    assert "CSPB_HTTP_TIMEOUT_SECONDS='-1' must be greater than 0" in found
    assert "CSPB_USE_MANAGED_IDENTITY='maybe' is not true or false" in found
    assert "CSPB_QUEUE_BACKEND='kafka' is not one of" in found
    assert "CSPB_PAX8_URL='api.pax8.com' is not an http(s) URL" in found
    assert "CSPB_GRAPH_URL='http://graph.microsoft.com' must use https in azure mode" in found
    assert "CSPB_BILLING_SCHEDULE='daily' is not a six-field NCRONTAB schedule" in found


def test_areas_add_their_own_requirements():
    assert problems(AZURE_OK, areas=("core", "portal")) == [
        f"{name} is missing (needed for portal)" for name in
        ("CSPB_PORTAL_BASE_URL", "CSPB_PORTAL_CLIENT_ID", "CSPB_PORTAL_CLIENT_SECRET", "CSPB_PORTAL_SESSION_SECRET")]
    assert problems(dict(AZURE_OK, CSPB_QUEUE_BACKEND="servicebus")) == [
        "CSPB_SERVICEBUS or CSPB_SERVICEBUS_CONNECTION_STRING or CSPB_SERVICEBUS__fullyQualifiedNamespace or CSPB_SERVICEBUS_NAMESPACE"
        " is missing (needed for servicebus)"]
    assert problems(dict(AZURE_OK, CSPB_QUEUE_BACKEND="servicebus",
                         CSPB_SERVICEBUS__fullyQualifiedNamespace="sb-x.servicebus.windows.net")) == []


def test_sandbox_mode_checks_types_but_requires_nothing():
    assert problems({"CSPB_MODE": "sandbox"}) == []
    assert problems({"CSPB_MODE": "sandbox", "CSPB_HTTP_MAX_ATTEMPTS": "x"})


def test_get_settings_refuses_a_broken_configuration(monkeypatch):
    from shared.config import get_settings, reset_settings

    monkeypatch.setenv("CSPB_MODE", "azure")
    reset_settings()
    with pytest.raises(ConfigurationError, match="CSPB_DATAVERSE_URL is missing"):
        get_settings()


def test_secret_values_never_appear_in_the_message():
    env = dict(AZURE_OK, CSPB_CLIENT_SECRET="hunter2-secret-value", CSPB_USE_MANAGED_IDENTITY="nope")
    assert "hunter2" not in " ".join(problems(env))
