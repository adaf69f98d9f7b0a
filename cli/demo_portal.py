"""One call for `cspbridge demo`: put the demo customers into Dataverse, serve the portal on an
ephemeral 127.0.0.1 port, and run the assessment into the demo output folder.

    from cli.demo_portal import run_demo_step
    lines = run_demo_step(out_dir)   # settings already point at the sandboxes

The portal server keeps running (daemon thread) until `stop_servers()` or process exit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataverse.client import DataverseClient
    from shared.config import Settings

_servers: list[Any] = []


class _Deferred:
    """A WSGI app set after the server has its port: the portal's redirect URI needs that port."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


def start_portal(settings: Settings, dv: DataverseClient, port: int = 0) -> Any:
    from dataclasses import replace

    from portal.wiring import dataverse_portal
    from sandbox._server import RunningServer

    deferred = _Deferred()
    server = RunningServer(deferred, port)
    # mount="/portal": links and the cookie path follow this server; the redirect URI registered with
    # the Entra stand-in is this server's too.
    deferred.app = dataverse_portal(replace(settings, portal_base_url=f"{server.url}/portal"), dv, mount="/portal")
    server.start()
    _servers.append(server)
    return server


# Who signs in to the demo portal through the Entra stand-in (password and MFA code are the stand-in's).
DEMO_PASSWORD = "Demo-Passw0rd!"
PORTAL_APP_ID = "6d1f0c2b-0000-4000-8000-0000000d0001"


def register_entra(entra: Any, portal_url: str) -> dict[str, str]:
    """Register the demo portal and its users with the Entra stand-in; returns who is who."""
    from portal.seed import CONTOSO_TENANT
    from sandbox.entra.server import App, User

    entra.add_app(App(PORTAL_APP_ID, "CSPBridge portal (demo)", secret="demo-portal-client-secret",
                      redirect_uris=(f"{portal_url}/portal/signin/callback",)))
    entra.add_user(User("ada@contoso.example", DEMO_PASSWORD, CONTOSO_TENANT, "oid-ada", "Ada Admin"))
    entra.add_user(User("fabio@fabrikam.example", DEMO_PASSWORD, FABRIKAM_TENANT,
                        "f7b10000-0000-4000-8000-00000000fab1", "Fabio Garcia"))
    return {"ada": "ada@contoso.example", "fabio": "fabio@fabrikam.example"}


FABRIKAM_TENANT = "2b5e9d70-0000-4000-8000-00000000fab0"


def use_entra(entra_url: str, ca_file: str, partner_tenant: str) -> None:
    """Point the portal's sign-in at the Entra stand-in (the process environment, as the demo does)."""
    import os

    from shared.config import reset_settings

    os.environ.update({"CSPB_PORTAL_CLIENT_ID": PORTAL_APP_ID, "CSPB_PORTAL_CLIENT_SECRET": "demo-portal-client-secret",
                       "CSPB_LOGIN_URL": entra_url, "CSPB_CA_BUNDLE": ca_file, "CSPB_TENANT_ID": partner_tenant})
    reset_settings()


def run_demo_step(out_dir: Path, entra: Any = None, ca_file: str = "", *, card_entry: bool = False) -> list[str]:
    """`entra`: the Entra stand-in's RunningServer (`.app.entra` is its state) and `ca_file` the CA it is
    served with; without it the portal keeps the sandbox contact picker. `card_entry`: also add a card on
    the Stripe sandbox's hosted page and pay Fabrikam's invoice with it (needs the Stripe sandbox)."""
    from dataverse.client import DataverseClient
    from portal import assessment
    from portal.dataverse_seed import seed_dataverse
    from shared.config import get_settings

    if entra is not None:
        from sandbox.entra.server import PARTNER_TENANT

        use_entra(entra.url, ca_file, PARTNER_TENANT)
    settings = get_settings()
    dv = DataverseClient.from_settings(settings)
    ids = seed_dataverse(dv)
    server = start_portal(settings, dv)
    invite_lines: list[str] = []
    if entra is not None:
        from portal.dataverse_repo import DataverseRepository
        from portal.invitations import invite

        users = register_entra(entra.app.entra, server.url)
        link = invite(DataverseRepository(dv), ids.ids["f-admin"], f"{server.url}/portal")
        (out_dir / "portal-invitation.txt").write_text(link + "\n", encoding="utf-8")
        invite_lines = [f"invitation for Fabio Garcia (Fabrikam SA, administrator): {link}",
                        f"  sign in at the Entra stand-in as {users['fabio']} / {DEMO_PASSWORD}; "
                        f"{users['ada']} (Contoso) is already bound"]
    from jobs.assessment import snapshot
    from shared.blobstore import blob_store_from_settings

    # The monthly snapshot timer's job: stores today's KPI snapshot (history) and its HTML + CSV.
    result = snapshot(dv=dv, store=blob_store_from_settings(settings))
    target = out_dir / "assessment"
    target.mkdir(parents=True, exist_ok=True)
    day = result.report.as_of.isoformat()
    (target / f"kpis-{day}.csv").write_text(assessment.to_csv(result), encoding="utf-8")
    (target / f"kpis-{day}.html").write_text(assessment.to_html(result), encoding="utf-8")
    how = "sign in through the Entra stand-in" if entra is not None else "sign in as a seeded contact, e.g. Ada Admin"
    lines = [f"portal: {server.url}/portal/ ({how})", *invite_lines,
             f"demo customers in Dataverse: {len([k for k in ids.ids if k.startswith('acc-')])}"]
    from billing.kpis import shown

    for currency, k in result.report.currencies.items():
        if not (k.mrr or k.seats):
            continue  # currencies seen only in recon data have nothing recurring to show
        lines.append(f"{currency}: MRR {k.mrr}, ARR {k.arr}, seats {k.seats}, "
                     f"margin {shown('gross_margin_pct', k.gross_margin_pct)}")
    lines.append(f"assessment written to {target}")
    if card_entry:
        lines += add_card_and_pay(server.url + "/portal", dv, ids.ids["k-fabrikam"], ids.ids["i-fab"])
    return lines


def add_card_and_pay(portal: str, dv: DataverseClient, contract_id: str, invoice_id: str) -> list[str]:
    """What a customer does with an e-mailed payment link, over plain HTTP: open the portal's page,
    continue to the processor's hosted card page, type Stripe's test card 4242 4242 4242 4242, come
    back with it saved; then the invoice is charged to it."""
    import re

    import requests

    from dataverse.stores import contracts
    from payments.links import create_token
    from payments.service import charge_invoice

    contract = contracts.get_contract(dv, contract_id)
    if contract is None:
        return ["card entry: the demo contract is missing"]
    token = create_token(contract.number)
    browser = requests.Session()
    page = browser.get(f"{portal}/pay/{token}", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    hosted = browser.post(f"{portal}/pay/{token}", data={"csrf_token": csrf.group(1) if csrf else ""},
                          allow_redirects=False, timeout=10)
    card_page = hosted.headers.get("Location", "")
    if hosted.status_code != 303 or not card_page:
        raise RuntimeError(f"the portal did not open the processor's card page: {hosted.status_code}")
    typed = browser.post(card_page, allow_redirects=False, timeout=10, data={
        "cardNumber": "4242 4242 4242 4242", "cardExpiry": "12 / 34", "cardCvc": "123", "billingName": "Fabio Garcia"})
    back = browser.get(typed.headers.get("Location", ""), timeout=10) if typed.status_code == 303 else typed
    saved = re.search(r'id="pay-done">([^<]+)<', back.text)
    if not saved:
        raise RuntimeError(f"card entry did not come back saved: {back.status_code} {back.text[:300]}")
    outcome = charge_invoice(invoice_id, purpose="demo-portal-card", dv=dv)
    return [f"card entry: {contract.number} -> {card_page.split('/c/pay/')[0]}/c/pay/cs_... -> {saved.group(1)}",
            f"  invoice paid with it: {outcome.status} {outcome.amount} (balance now {outcome.balance})"]


def stop_servers() -> None:
    while _servers:
        _servers.pop().stop()
