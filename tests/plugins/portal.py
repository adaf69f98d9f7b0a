"""pytest fixtures for the portal area (sandboxes started on 127.0.0.1, port 0)."""

from __future__ import annotations

from typing import Any

import pytest


class FakeIntegrations:
    """Records calls to the sync (MCA) and payments areas and answers like them."""

    def __init__(self, repo: Any) -> None:
        self.repo = repo
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.tokens: set[str] = set()

    def attest(self, **kwargs: Any) -> None:
        self.calls.append(("attest", (), kwargs))
        self.repo.record_attestation(kwargs["account_id"], kwargs["contact_id"])

    def link(self, contract: Any) -> str:
        token = f"tok-{contract.id}-{len(self.tokens)}"
        self.tokens.add(token)
        self.calls.append(("link", (contract.number,), {}))
        return f"https://portal.example/api/portal/pay/{token}"

    def start_card_entry(self, token: str, success_url: str, cancel_url: str) -> Any:
        from payments.base import HostedForm
        from shared.errors import ValidationError

        if token not in self.tokens:
            raise ValidationError("unknown or used token")
        self.calls.append(("start_card_entry", (token, success_url, cancel_url), {}))
        return HostedForm(f"https://processor.example/c/pay/cs_{token}")

    def finish_card_entry(self, token: str, session_ref: str) -> Any:
        from payments.base import SavedCard, StoredMethod
        from shared.errors import ValidationError

        if token not in self.tokens or session_ref != f"cs_{token}":
            raise ValidationError("unknown or used token")
        self.tokens.discard(token)
        self.calls.append(("finish_card_entry", (token, session_ref), {}))
        return SavedCard(StoredMethod("stripe", "cus_1", "pm_1"), reference=token, brand="visa", last4="4242")

    def redeem(self, token: str, method: str) -> None:
        if token not in self.tokens:
            from shared.errors import ValidationError

            raise ValidationError("unknown or used token")
        self.tokens.discard(token)
        self.calls.append(("redeem", (token, method), {}))


@pytest.fixture
def portal_repo():
    from portal.seed import seeded_repository

    return seeded_repository()


@pytest.fixture
def portal_fakes(portal_repo):
    return FakeIntegrations(portal_repo)


@pytest.fixture
def portal_app(portal_repo, portal_fakes):
    from portal.app import create_app
    from portal.services import Integrations
    from shared.config import get_settings

    integrations = Integrations(attest_mca=portal_fakes.attest, create_payment_link=portal_fakes.link,
                                redeem_payment_link=portal_fakes.redeem, start_card_entry=portal_fakes.start_card_entry,
                                finish_card_entry=portal_fakes.finish_card_entry)
    return create_app(get_settings(), portal_repo, mount="/portal", integrations=integrations)


class PortalBrowser:
    """A werkzeug test client that knows the CSRF token and signs in."""

    def __init__(self, app: Any) -> None:
        from werkzeug.test import Client

        self.client = Client(app)

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get("/portal" + path, **kw)

    def csrf(self, path: str = "/signin") -> str:
        import re

        html = self.get(path, follow_redirects=True).get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, f"no csrf token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, str] | None = None, *, token_from: str | None = None,
             **kw: Any) -> Any:
        fields = dict(data or {})
        default_page = "/signin" if path.startswith("/signin") else "/"
        fields.setdefault("csrf_token", self.csrf(token_from or default_page))
        return self.client.post("/portal" + path, data=fields, **kw)

    def sign_in(self, contact_id: str) -> Any:
        response = self.post("/signin", {"contact_id": contact_id})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def portal_browser(portal_app):
    return PortalBrowser(portal_app)


@pytest.fixture
def portal_dv(dv):
    """The Dataverse sandbox with the portal's demo customers; yields (dv, ids)."""
    from portal.dataverse_seed import seed_dataverse

    return dv, seed_dataverse(dv)


@pytest.fixture
def portal_dv_app(portal_dv, portal_fakes):
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.services import Integrations
    from shared.config import get_settings

    dv, _ids = portal_dv
    integrations = Integrations(create_payment_link=portal_fakes.link, redeem_payment_link=portal_fakes.redeem)
    return create_app(get_settings(), DataverseRepository(dv), mount="/portal", integrations=integrations)


@pytest.fixture
def portal_mca_app(dv, pc_server):
    """The Dataverse-backed portal whose Contoso account is the Partner Center sandbox's first
    customer, with MCA acceptance attested at Partner Center; returns (app, ids)."""
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository, mca_integration
    from portal.dataverse_seed import seed_dataverse
    from portal.services import Integrations
    from shared.auth import static_token
    from shared.config import get_settings

    adapter = PartnerCenterAdapter(pc_server.url, static_token("t"), timeout=10)
    customer = next(iter(adapter.list_companies())).id
    ids = seed_dataverse(dv, tenant_ids={"acc-contoso": customer})
    app = create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                     integrations=Integrations(attest_mca=mca_integration(dv, adapter)))
    return app, ids
