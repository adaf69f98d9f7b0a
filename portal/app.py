"""The portal as a plain WSGI app: werkzeug routing, jinja2 pages, signed cookie sessions.

`create_app(settings, repo)` returns it; functions/portal_http.py wraps it for the Functions host
and `cspbridge portal` serves it on 127.0.0.1. Every customer read is scoped to the signed-in
contact's account, so another customer's ids answer 404."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from portal import auth, csrf, guides, services
from portal.i18n import LANGUAGES, Translator, pick_language
from portal.models import PortalUser, ProvisioningStatus
from portal.redirects import safe_next
from portal.repository import PortalRepository
from portal.session_store import BlobSessionStore, SessionStore
from portal.sessions import COOKIE_NAME, Session, SessionSigner, cookie_is_secure
from shared.config import Settings
from shared.errors import AuthError, FatalError, IntegrationError, NotFoundError

log = logging.getLogger(__name__)
_HERE = Path(__file__).parent

URLS = Map([
    Rule("/", endpoint="home"),
    Rule("/healthz", endpoint="health"),
    Rule("/signin", endpoint="signin", methods=["GET", "POST"]),
    Rule("/signin/callback", endpoint="signin_callback"),
    Rule("/invite/<token>", endpoint="invite"),
    Rule("/signout", endpoint="signout", methods=["POST"]),
    Rule("/lang/<code>", endpoint="language"),
    Rule("/subscriptions", endpoint="subscriptions"),
    Rule("/subscriptions/<sub_id>", endpoint="subscription"),
    Rule("/subscriptions/<sub_id>/seats", endpoint="change_seats", methods=["POST"]),
    Rule("/invoices", endpoint="invoices"),
    Rule("/invoices/<invoice_id>", endpoint="invoice"),
    Rule("/invoices/<invoice_id>/download", endpoint="invoice_download"),
    Rule("/invoices/<invoice_id>/pay", endpoint="invoice_pay", methods=["POST"]),
    Rule("/invoices/<invoice_id>/receipts/<key>", endpoint="invoice_receipt"),
    Rule("/invoices/<invoice_id>/receipts/<key>/download", endpoint="receipt_download"),
    Rule("/shop", endpoint="shop"),
    Rule("/shop/buy", endpoint="buy", methods=["POST"]),
    Rule("/agreement", endpoint="agreement", methods=["GET", "POST"]),
    Rule("/payment", endpoint="payment"),
    Rule("/payment/<contract_id>/link", endpoint="payment_link", methods=["POST"]),
    Rule("/pay/<token>", endpoint="pay", methods=["GET", "POST"]),
    Rule("/pay/<token>/done", endpoint="pay_done"),
    Rule("/guides", endpoint="guides"),
    Rule("/guides/<name>", endpoint="guide"),
    Rule("/admin/assessment", endpoint="assessment", methods=["GET", "POST"]),
    Rule("/static/<path:filename>", endpoint="static"),
], strict_slashes=False)

# Pages that need no signed-in user.
PUBLIC = {"health", "signin", "signin_callback", "invite", "language", "static", "pay", "pay_done"}
# Which permission each signed-in page needs (auth.PERMISSIONS); None = any signed-in user.
NEEDS: dict[str, str | None] = {
    "home": None, "signout": None,
    "subscriptions": "subscriptions", "subscription": "subscriptions", "change_seats": "change_seats",
    "invoices": "invoices", "invoice": "invoices", "invoice_download": "invoices",
    "invoice_pay": "payment_methods", "invoice_receipt": "invoices", "receipt_download": "invoices",
    "shop": "buy", "buy": "buy", "agreement": "mca", "payment": "payment_methods",
    "payment_link": "payment_methods", "guides": "guides", "guide": "guides", "assessment": "assessment",
}


class PortalApp:
    def __init__(self, settings: Settings, repo: PortalRepository, *, mount: str | None = None,
                 sign_in: auth.SignIn | None = None, integrations: services.Integrations | None = None,
                 assessment: Callable[..., Any] | None = None, signer: SessionSigner | None = None,
                 session_store: SessionStore | None = None) -> None:
        self.settings = settings
        self.repo = repo
        self.mount = (mount if mount is not None else urlsplit(settings.portal_base_url).path).rstrip("/")
        self.sign_in = sign_in or auth.sign_in_for(settings)
        self.integrations = integrations or services.Integrations()
        self.assessment = assessment
        self.signer = signer or self._signer(settings)
        self.sessions = session_store or self._session_store(settings)
        self.jinja = Environment(loader=FileSystemLoader(str(_HERE / "templates")),
                                 autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

    @staticmethod
    def _signer(settings: Settings) -> SessionSigner:
        if settings.portal_session_secret:
            return SessionSigner(settings.portal_session_secret.reveal().encode())
        if settings.mode != "sandbox":
            raise FatalError("CSPB_PORTAL_SESSION_SECRET is required outside sandbox mode")
        # Locally a per-process key is fine: a restart only signs everyone out.
        return SessionSigner.random()

    @staticmethod
    def _session_store(settings: Settings) -> SessionStore:
        from shared.blobstore import blob_store_from_settings

        return BlobSessionStore(blob_store_from_settings(settings))

    @property
    def callback_url(self) -> str:
        """The redirect URI registered on the portal's app registration: from CSPB_PORTAL_BASE_URL, never
        from the request's Host header (which the client chooses)."""
        return self.settings.portal_base_url.rstrip("/") + "/signin/callback"

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        # The Functions host passes the whole URL path ("/api/portal/..."), so the mount point may
        # sit behind the host's route prefix.
        at = path.find(self.mount) if self.mount else -1
        end = at + len(self.mount)
        if at >= 0 and (end == len(path) or path[end] == "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + path[:end]
            environ["PATH_INFO"] = path[end:] or "/"
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        session = self.signer.loads(request.cookies.get(COOKIE_NAME))
        ctx = _Context(self, request, session)
        try:
            response = ctx.dispatch()
        except HTTPException as exc:
            response = ctx.error_page(exc.code or 500)
        except NotFoundError:
            response = ctx.error_page(404)
        except AuthError as exc:
            ctx.flash("error", "error.signin_failed", detail=exc.message)
            response = redirect(ctx.url("signin"))
        except IntegrationError as exc:
            log.warning("portal request failed: %s", exc)
            # The page speaks the customer's language; the provider's own words follow as detail.
            response = ctx.error_page(502, detail=exc.message)
        except Exception:  # noqa: BLE001 - a customer gets a page, never a stack trace or a host error
            log.exception("portal request crashed: %s %s", request.method, request.path)
            response = ctx.error_page(500)
        if session.modified:
            response.set_cookie(COOKIE_NAME, self.signer.dumps(session), max_age=self.signer.max_age,
                                path=(request.script_root or "") + "/", httponly=True, samesite="Lax",
                                secure=cookie_is_secure(request.host))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


class _Context:
    """One request: session, user, language, URL building, and the page handlers."""

    def __init__(self, app: PortalApp, request: Request, session: Session) -> None:
        self.app = app
        self.repo = app.repo
        self.request = request
        self.session = session
        self.adapter: MapAdapter = URLS.bind_to_environ(request.environ)
        if "user" in session and not app.sessions.is_live(str(session.get("sid", ""))):
            # Signed out (or expired) server-side: the cookie alone is not enough.
            session.pop("user")
            session.pop("sid", None)
        self.user: PortalUser | None = auth.load_user(session)
        lang = pick_language(request.args.get("lang"), session.get("lang"),
                             accept_language=request.headers.get("Accept-Language", ""))
        self.t = Translator(lang)

    # -- helpers -------------------------------------------------------------------------------
    def url(self, endpoint: str, **values: Any) -> str:
        return self.adapter.build(endpoint, values)

    def flash(self, kind: str, key: str, **params: Any) -> None:
        messages = list(self.session.get("flash", []))
        messages.append([kind, self.t(key, **params)])
        self.session["flash"] = messages

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        flashes = self.session.pop("flash", []) if "flash" in self.session else []
        html = self.app.jinja.get_template(template).render(
            _=self.t, t=self.t, url=self.url, user=self.user, can=lambda p: auth.can(self.user, p),
            csrf_token=csrf.token_for(self.session), csrf_field=csrf.FIELD, flashes=flashes,
            lang=self.t.language, languages=LANGUAGES, path=self.request.path, Status=ProvisioningStatus,
            **values)
        return Response(html, status=status, content_type="text/html; charset=utf-8")

    def error_page(self, code: int, detail: str = "") -> Response:
        key = {403: "error.forbidden", 404: "error.not_found", 400: "error.bad_request",
               502: "error.provider"}.get(code, "error.server")
        return self.render("error.html", status=code, message_key=key, code=code, detail=detail)

    def form(self, name: str) -> str:
        return str(self.request.form.get(name, ""))

    # -- dispatch ------------------------------------------------------------------------------
    def dispatch(self) -> Response:
        endpoint, args = self.adapter.match()
        if self.request.method == "POST" and not csrf.is_valid(self.session, self.request.form.get(csrf.FIELD)):
            raise BadRequest("CSRF token missing or wrong")
        if endpoint not in PUBLIC:
            if self.user is None:
                if self.request.method == "GET":
                    # Back here after signing in (e.g. the bank sends a customer to their invoice).
                    self.session["next"] = (self.request.script_root + self.request.full_path).rstrip("?")
                return redirect(self.url("signin"))
            permission = NEEDS.get(endpoint)
            if permission is not None and not auth.can(self.user, permission):
                raise Forbidden()
        handler = getattr(self, "page_" + str(endpoint))
        return handler(**args)  # type: ignore[no-any-return]

    # -- pages ---------------------------------------------------------------------------------
    def page_health(self) -> Response:
        return Response("ok", content_type="text/plain")

    def page_static(self, filename: str) -> Response:
        root = (_HERE / "static").resolve()
        target = (root / filename).resolve()
        if root not in target.parents or not target.is_file():
            raise NotFound()
        kind = {".css": "text/css", ".svg": "image/svg+xml", ".js": "text/javascript"}.get(target.suffix, "text/plain")
        response = Response(target.read_bytes(), content_type=kind + "; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    def page_language(self, code: str) -> Response:
        if code in LANGUAGES:
            self.session["lang"] = code
        # Only same-site paths under the portal, so the switch cannot be used as an open redirect.
        return redirect(safe_next(self.request.args.get("next", ""), self.request.script_root, self.url("home")))

    def page_signin(self) -> Response:
        sign_in = self.app.sign_in
        if self.request.method == "POST":
            user = sign_in.finish(self.session, dict(self.request.form.items()), self.repo)
            return self._signed_in(user)
        if not sign_in.interactive_picker:
            # Straight on to Entra, unless a failed sign-in left a message to show first.
            if self.request.args.get("start") or not self.session.get("flash"):
                return redirect(sign_in.start(self.session, self.app.callback_url))
            return self.render("signin.html", choices=[], accounts={}, partner=auth.PARTNER_ACCOUNT, entra=True)
        choices = list(sign_in.choices(self.repo)) if isinstance(sign_in, auth.SandboxSignIn) else []
        accounts = {c.account_id: self.repo.get_account(c.account_id) for c in choices}
        return self.render("signin.html", choices=choices, accounts=accounts, partner=auth.PARTNER_ACCOUNT,
                           entra=False)

    def page_invite(self, token: str) -> Response:
        # Only the hash travels on; the sign-in callback binds the identity to the invited contact.
        from portal.invitations import token_hash

        lang = self.session.get("lang")
        self.session.clear()
        if lang:
            self.session["lang"] = lang
        self.session["invite"] = token_hash(token)
        return redirect(self.url("signin") + "?start=1")

    def page_signin_callback(self) -> Response:
        user = self.app.sign_in.finish(self.session, dict(self.request.args.items()), self.repo)
        return self._signed_in(user)

    def _signed_in(self, user: PortalUser) -> Response:
        lang = self.session.get("lang")
        wanted = str(self.session.get("next", ""))
        self.session.clear()  # no pre-sign-in state survives (session fixation)
        if lang:
            self.session["lang"] = lang
        elif user.account_id != auth.PARTNER_ACCOUNT:
            # Without an explicit choice, speak the customer's invoicing language.
            contracts = self.repo.list_contracts(user.account_id)
            if contracts and contracts[0].language in LANGUAGES:
                self.session["lang"] = contracts[0].language
        auth.store_user(self.session, user)
        self.session["sid"] = self.app.sessions.issue(self.app.signer.max_age)
        csrf.rotate(self.session)
        self.user = user
        start = self.url("assessment" if auth.can(user, "assessment") else "home")
        return redirect(safe_next(wanted, self.request.script_root, start) if wanted else start)

    def page_signout(self) -> Response:
        lang = self.session.get("lang")
        self.app.sessions.revoke(str(self.session.get("sid", "")))
        self.session.clear()
        if lang:
            self.session["lang"] = lang
        return redirect(self.url("signin"))

    def page_home(self) -> Response:
        assert self.user is not None
        if auth.can(self.user, "assessment"):
            return redirect(self.url("assessment"))
        page = self.repo.home_page(self.user.account_id, subscriptions=auth.can(self.user, "subscriptions"),
                                   invoices=auth.can(self.user, "invoices"))
        account, subs, invoices = page.account, page.subscriptions, page.invoices
        due: dict[str, Any] = {}
        for inv in invoices:
            if inv.balance:
                due[inv.currency] = due.get(inv.currency, 0) + inv.balance
        # One line per currency: amounts in different currencies are never added together.
        balance_due = [(cur, amount) for cur, amount in sorted(due.items()) if amount > 0]
        return self.render("home.html", account=account, subscriptions=subs, invoices=invoices[:5],
                           balance_due=balance_due, mca_ok=services.is_attested(page.agreement))

    def page_subscriptions(self) -> Response:
        assert self.user is not None
        subs = self.repo.list_subscriptions(self.user.account_id)
        return self.render("subscriptions.html", subscriptions=subs)

    def page_subscription(self, sub_id: str) -> Response:
        assert self.user is not None
        found = self.repo.subscription_page(self.user.account_id, sub_id)
        if found is None:
            raise NotFound()
        sub, changes = found[0], sorted(found[1], key=lambda c: (c.effective is None, c.effective), reverse=True)
        return self.render("subscription.html", sub=sub, changes=changes)

    def page_change_seats(self, sub_id: str) -> Response:
        assert self.user is not None
        try:
            change = services.change_seats(self.repo, self.user, sub_id, self.form("quantity"))
        except services.Refused as exc:
            self.flash("error", exc.key, **exc.params)
        else:
            self.flash("ok", "flash.seat_change_requested", old=change.old_quantity, new=change.new_quantity)
        return redirect(self.url("subscription", sub_id=sub_id))

    def page_invoices(self) -> Response:
        assert self.user is not None
        return self.render("invoices.html", invoices=self.repo.list_invoices(self.user.account_id))

    def _invoice(self, invoice_id: str) -> Any:
        assert self.user is not None
        invoice = self.repo.get_invoice(self.user.account_id, invoice_id)
        if invoice is None:
            raise NotFound()
        return invoice

    def _invoice_and_account(self, invoice_id: str) -> Any:
        assert self.user is not None
        found = self.repo.invoice_page(self.user.account_id, invoice_id)
        if found is None:
            raise NotFound()
        return found

    def page_invoice(self, invoice_id: str, payment: Any = None) -> Response:
        returned = self.request.args.get("payment", "")
        if payment is None and returned.isascii() and 0 < len(returned) <= 64:
            # Back from the bank's page (3-D Secure) or from card entry: that attempt's outcome as it stands
            # now, read back from the processor if it was still held (the webhook may not have come yet).
            payment = self.app.integrations.outcome(self._invoice(invoice_id), returned)
        invoice, account = self._invoice_and_account(invoice_id)
        # A fresh attempt id per page view: a double-click re-sends the same one (one charge), a
        # retry after a decline comes from a new page and gets a new idempotency key.
        return self.render("invoice.html", invoice=invoice, account=account, payment=payment,
                           attempt=secrets.token_hex(6), decline_key=services.decline_key,
                           history=self.app.integrations.history(invoice))

    def _paid(self, invoice: Any, key: str) -> tuple[Any, list[Any]]:
        """The succeeded payment `key` on the invoice (404 for anything else: not paid, not this invoice's)
        and the invoice's payment history it belongs to."""
        history = self.app.integrations.history(invoice)
        paid = next((p for p in history if p.key == key and p.state == "succeeded"), None)
        if paid is None:
            raise NotFound()
        return paid, history

    def page_invoice_receipt(self, invoice_id: str, key: str) -> Response:
        from accounting.render import processor_label
        from billing.payment_standing import standing_after

        invoice = self._invoice(invoice_id)
        paid, history = self._paid(invoice, key)
        # Where the invoice stood right after this payment, as on the PDF: a later payment changes neither.
        standing = standing_after(invoice.total, history, paid.key)
        return self.render("receipt.html", invoice=invoice, account=self.repo.get_account(invoice.account_id),
                           paid=paid, standing=standing, processor_label=processor_label)

    def page_receipt_download(self, invoice_id: str, key: str) -> Response:
        invoice, account = self._invoice_and_account(invoice_id)
        pdf = self.app.integrations.receipt()(invoice, account, *self._paid(invoice, key))
        # Named in the invoice's language, like the document itself.
        name = Translator(invoice.language)("receipt.filename", number=invoice.number)
        safe_name = "".join(ch for ch in name if ch.isalnum() or ch in "-_") or "receipt"
        response = Response(pdf, content_type="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{safe_name}.pdf"'
        return response

    def page_invoice_pay(self, invoice_id: str) -> Response:
        invoice = self._invoice(invoice_id)
        attempt = self.form("attempt")
        if not (attempt.isalnum() and 0 < len(attempt) <= 32):
            raise BadRequest("attempt id missing or malformed")
        if self.form("method") == "new":
            return self._pay_with_new_card(invoice, attempt)
        return self._pay(invoice_id, attempt)

    def _pay_with_new_card(self, invoice: Any, attempt: str) -> Response:
        """Where the processor has a page that pays and saves the card at once (Authorize.Net Accept Hosted),
        that page, which sends the customer back to the invoice naming the attempt. Else card entry on the
        processor's page for the invoice's contract; back in page_pay_done the invoice is paid with the new
        card (the same attempt id, so a replayed return pays once)."""
        back = self.external_url("invoice", invoice_id=invoice.id)
        try:
            hosted = self.app.integrations.pay_on_hosted_page(invoice, f"portal-{attempt}h", back)
        except FatalError as exc:  # e.g. the merchant account does not take the invoice's currency
            log.warning("invoice %s: no hosted payment page: %s", invoice.number, exc)
            self.flash("error", "error.provider")
            self.flash("error", "error.provider_detail", detail=exc.message)
            return redirect(self.url("invoice", invoice_id=invoice.id))
        if hosted is not None:
            return self.render("hosted_form.html", form=hosted)
        try:
            token = self.app.integrations.card_link()(invoice)
        except services.Refused as exc:
            self.flash("error", exc.key, **exc.params)
            return redirect(self.url("invoice", invoice_id=invoice.id))
        # Its own attempt id: a decline of the saved card on this page must not be replayed for the new one.
        self.session["card_for_invoice"] = {"token": token, "invoice": invoice.id, "attempt": attempt + "n"}
        return self._card_entry(token, cancel_url=self.external_url("invoice", invoice_id=invoice.id))

    def _pay(self, invoice_id: str, attempt: str, *, then_redirect: bool = False) -> Response:
        invoice = self._invoice(invoice_id)
        try:
            outcome = self.app.integrations.pay()(invoice, f"portal-{attempt}")
        except services.Refused as exc:
            self.flash("error", exc.key, **exc.params)
            return redirect(self.url("invoice", invoice_id=invoice_id))
        key = str(getattr(outcome, "key", "") or "")
        if then_redirect and key:
            # Back on the invoice's own address, naming the attempt: a reload re-reads it, never charges again.
            return redirect(self.url("invoice", invoice_id=invoice_id) + "?" + urlencode({"payment": key}))
        return self.page_invoice(invoice_id, payment=outcome)

    def page_invoice_download(self, invoice_id: str) -> Response:
        # _invoice answers 404 for another customer's invoice before anything is rendered.
        invoice, account = self._invoice_and_account(invoice_id)
        safe_number = "".join(ch for ch in invoice.number if ch.isalnum() or ch in "-_") or "invoice"
        if self.request.args.get("format") == "html":
            # The invoice is printed in its own language (the contract's invoicing language).
            ctx_t = Translator(invoice.language)
            html = self.app.jinja.get_template("invoice_document.html").render(
                _=ctx_t, t=ctx_t, invoice=invoice, account=account, lang=ctx_t.language)
            response = Response(html, content_type="text/html; charset=utf-8")
            response.headers["Content-Disposition"] = f'attachment; filename="{safe_number}.html"'
            return response
        pdf = self.app.integrations.pdf()(invoice, account)
        response = Response(pdf, content_type="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{safe_number}.pdf"'
        return response

    def page_shop(self) -> Response:
        assert self.user is not None
        chosen = self.request.args.get("contract") or None
        page = self.repo.shop_page(self.user.account_id, chosen)
        if chosen and page.contract is None:
            raise NotFound()
        return self.render("shop.html", contracts=page.contracts, contract=page.contract, offers=page.offers,
                           unit_plan=lambda name: self.t.plan(*services.term_and_frequency(name)),
                           mca_ok=services.is_attested(page.agreement))

    def page_buy(self) -> Response:
        assert self.user is not None
        contract_id = self.form("contract_id")
        try:
            change = services.buy(self.repo, self.user, contract_id, self.form("offer"), self.form("quantity"))
        except services.Refused as exc:
            self.flash("error", exc.key, **exc.params)
            return redirect(self.url("shop", contract=contract_id))
        self.flash("ok", "flash.order_placed", quantity=change.new_quantity)
        return redirect(self.url("subscription", sub_id=change.subscription_id))

    def page_agreement(self) -> Response:
        assert self.user is not None
        if self.request.method == "POST":
            if self.form("accept") != "yes":
                self.flash("error", "error.mca_tick")
                return redirect(self.url("agreement"))
            result = services.accept_mca(self.repo, self.user, self.app.integrations)
            if getattr(result, "status", "") == "Failed":
                self.flash("error", "error.mca_failed", detail=getattr(result, "message", ""))
            else:
                self.flash("ok", "flash.mca_accepted")
            return redirect(self.url("agreement"))
        agreement = self.repo.get_agreement(self.user.account_id)
        return self.render("agreement.html", agreement=agreement, attested=services.is_attested(agreement))

    def page_payment(self) -> Response:
        assert self.user is not None
        return self.render("payment.html", contracts=self.repo.list_contracts(self.user.account_id))

    def page_payment_link(self, contract_id: str) -> Response:
        assert self.user is not None
        token = services.payment_link(self.repo, self.user, contract_id, self.app.integrations)
        return redirect(self.url("pay", token=token))

    def external_url(self, endpoint: str, **values: Any) -> str:
        """An absolute portal URL for the processor to send the customer back to: from
        CSPB_PORTAL_BASE_URL, never from the request's Host header."""
        path = self.url(endpoint, **values)[len(self.request.script_root or ""):]
        return self.app.settings.portal_base_url.rstrip("/") + path

    def page_pay(self, token: str) -> Response:
        # The single-use token is the credential here: the link can be e-mailed to someone who
        # has no portal sign-in (the payments area signs, expires and burns it). The card itself is
        # typed on the processor's hosted page, never here.
        if self.request.method == "POST":
            return self._card_entry(token, cancel_url=self.external_url("pay", token=token) + "?cancelled=1")
        return self.render("pay.html", token=token, saved=None, invalid=False,
                           cancelled=bool(self.request.args.get("cancelled")))

    def _card_entry(self, token: str, *, cancel_url: str) -> Response:
        # {CHECKOUT_SESSION_ID} is Stripe's placeholder; it must reach Stripe unencoded.
        success_url = self.external_url("pay_done", token=token) + "?session_id={CHECKOUT_SESSION_ID}"
        try:
            form = self.app.integrations.card_entry()(token, success_url, cancel_url)
        except services.Refused as exc:
            self.flash("error", exc.key, **exc.params)
            return redirect(self.url("pay", token=token))
        except (FatalError, LookupError, ValueError):
            return self.render("pay.html", status=400, token=token, saved=None, invalid=True)
        if form.method.upper() == "GET" and not form.fields:
            return redirect(form.url, code=303)
        return self.render("hosted_form.html", form=form)

    def page_pay_done(self, token: str) -> Response:
        """The processor sent the customer back: read the card it saved and store it on the contract."""
        from payments.base import CardEntryIncomplete

        try:
            saved = self.app.integrations.card_saved()(token, self.request.args.get("session_id", ""))
        except CardEntryIncomplete:
            return self.render("pay.html", status=409, token=token, saved=None, invalid=False, incomplete=True)
        except (FatalError, LookupError, ValueError):
            return self.render("pay.html", status=400, token=token, saved=None, invalid=True)
        pending = self.session.get("card_for_invoice")
        if isinstance(pending, dict) and pending.get("token") == token and self.user is not None:
            # "Pay with a new card": the card is saved, now pay the invoice with it.
            self.session.pop("card_for_invoice")
            return self._pay(str(pending.get("invoice", "")), str(pending.get("attempt", "")), then_redirect=True)
        return self.render("pay.html", token=token, saved=saved, invalid=False)

    def page_guides(self) -> Response:
        role = self.user.role if self.user is not None else None
        return self.render("guides.html", guides=guides.portal_guides(self.t.language, role))

    def page_guide(self, name: str) -> Response:
        guide = guides.portal_guide(name, self.t.language, self.user.role if self.user is not None else None)
        if guide is None:
            raise NotFound()
        return self.render("guide.html", guide=guide)

    def page_assessment(self) -> Response:
        if self.app.assessment is None:
            return self.render("assessment.html", a=None)
        report = self.app.assessment(store=self.request.method == "POST")
        if self.request.method == "POST":
            self.flash("ok", "flash.snapshot_saved")
            return redirect(self.url("assessment"))
        return self.render("assessment.html", a=report)


def create_app(settings: Settings, repo: PortalRepository, **options: Any) -> PortalApp:
    """The portal WSGI app. Options: mount, sign_in, integrations, assessment, signer (see PortalApp)."""
    return PortalApp(settings, repo, **options)
