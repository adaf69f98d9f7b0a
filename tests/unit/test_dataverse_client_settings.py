"""DataverseClient.from_settings: URL handling and the sandbox token."""

from __future__ import annotations

from dataverse.client import DataverseClient
from shared.config import Settings


def test_from_settings_points_at_the_web_api_root():
    client = DataverseClient.from_settings(Settings(mode="sandbox", dataverse_url="https://contoso.crm.dynamics.com/",
                                                    http_max_attempts=2))
    assert client.api_url == "https://contoso.crm.dynamics.com/api/data/v9.2"
    assert client.http.token_provider() == "sandbox-token"
    assert client.http.retry.max_attempts == 2


def test_an_api_url_is_not_doubled():
    client = DataverseClient("https://org.crm4.dynamics.com/api/data/v9.2/", lambda: "t")
    assert client.org_url == "https://org.crm4.dynamics.com"
    assert client.api_url == "https://org.crm4.dynamics.com/api/data/v9.2"
