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


def test_a_web_api_url_still_yields_the_organization_scope(monkeypatch):
    from shared import auth

    asked: list[str] = []
    monkeypatch.setattr(auth, "azure_identity_token", lambda settings, scope: asked.append(scope) or (lambda: "t"))
    for url in ("https://contoso.crm.dynamics.com/api/data/v9.2", "https://contoso.crm.dynamics.com/api/data/v9.2/",
                "https://contoso.crm.dynamics.com", "https://contoso.crm.dynamics.com/"):
        DataverseClient.from_settings(Settings(mode="azure", dataverse_url=url))
    assert asked == ["https://contoso.crm.dynamics.com/.default"] * 4
    assert auth.scope_for("https://api.partner.microsoft.com/v1.0/sales") == "https://api.partner.microsoft.com/.default"
