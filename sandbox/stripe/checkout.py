"""Stripe Checkout in the sandbox: the Checkout Session API (setup mode) and the hosted page the
customer's browser opens at the session's `url`.

- `POST /v1/checkout/sessions` (mode=setup): customer, currency (required in setup mode unless
  payment_method_types is given), success_url, cancel_url, metadata, client_reference_id,
  setup_intent_data[metadata]. Since API version 2022-08-01 the SetupIntent is created when the
  customer confirms, so a new session has `setup_intent: null`.
  https://docs.stripe.com/payments/save-and-reuse?payment-ui=stripe-hosted
- `GET /v1/checkout/sessions/<id>` with `expand[]=setup_intent` (and `setup_intent.payment_method`).
- `POST /v1/checkout/sessions/<id>/expire`.
- `GET|POST /c/pay/<id>`: a real HTML card form (number, expiry, CVC, name). Test card numbers from
  https://docs.stripe.com/testing map to the sandbox's test behaviours (TEST_CARDS); a number that
  passes the Luhn check but is no test card is refused the way test mode refuses a real card.
  A card that needs 3-D Secure shows a challenge step (Complete / Fail) before the setup finishes.
  On success the browser is sent to success_url with {CHECKOUT_SESSION_ID} replaced, and
  `setup_intent.succeeded` + `checkout.session.completed` are delivered to the webhook endpoints.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from sandbox.stripe.server import StripeSandbox

# Card numbers from Stripe's testing page -> the sandbox's test payment method with that behaviour.
TEST_CARDS: dict[str, str] = {
    "4242424242424242": "pm_card_visa",
    "4000056655665556": "pm_card_visa_debit",
    "5555555555554444": "pm_card_mastercard",
    "378282246310005": "pm_card_amex",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000127": "pm_card_chargeDeclinedIncorrectCvc",
    "4000000000000119": "pm_card_chargeDeclinedProcessingError",
    "4000000000000341": "pm_card_chargeCustomerFail",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
    "4000002760003184": "pm_card_authenticationRequired",
    "4000003800000446": "pm_card_authenticationRequiredSetupForOffSession",
    "4000008260003178": "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
    "4000000000003220": "pm_card_threeDSecure2Required",
}
NOT_A_TEST_CARD = ("Your card was declined. Your request was in test mode, but used a non test card. For a list "
                   "of valid test cards, visit: https://stripe.com/docs/testing.")
AUTHENTICATION_FAILED = ("We are unable to authenticate your payment method. Please choose a different payment "
                         "method and try again.")


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_problem(number: str, expiry: str, cvc: str, name: str, *, today: datetime | None = None) -> str:
    """The message Stripe's card form shows under a field, or "" when the card details are complete."""
    if not (number.isdigit() and 13 <= len(number) <= 19):
        return "Your card number is incomplete."
    if not luhn_ok(number):
        return "Your card number is invalid."
    month, _, year = expiry.replace(" ", "").partition("/")
    if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12 and len(year) in (2, 4)):
        return "Your card's expiration date is incomplete."
    now = today or datetime.now(UTC)
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    if (full_year, int(month)) < (now.year, now.month):
        return "Your card's expiration date is in the past."
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        return "Your card's security code is incomplete."
    if not name.strip():
        return "Enter the name on your card."
    return ""


def create_session(sb: StripeSandbox, params: dict[str, Any]) -> Response:
    from sandbox.stripe.server import _error, _new_id, json_response

    mode = params.get("mode")
    if mode != "setup":
        if not mode:
            return _error(400, "invalid_request_error", "Missing required param: mode.", "parameter_missing",
                          param="mode")
        return _error(400, "invalid_request_error", f"This sandbox serves Checkout in setup mode, not {mode!r}.",
                      "parameter_invalid_empty", param="mode")
    if not params.get("success_url"):
        return _error(400, "invalid_request_error", "Missing required param: success_url.", "parameter_missing",
                      param="success_url")
    if not params.get("payment_method_types") and not params.get("currency"):
        return _error(400, "invalid_request_error", "You must provide `currency` when using setup mode with dynamic "
                      "payment methods.", "parameter_missing", param="currency")
    customer = params.get("customer")
    if customer and customer not in sb.customers:
        return sb._missing("customer", str(customer))
    ident = "cs_test_" + _new_id("x")[2:] + _new_id("x")[2:]
    now = int(time.time())
    session = {
        "id": ident, "object": "checkout.session", "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"), "client_secret": None, "created": now,
        "currency": (params.get("currency") or None) and str(params["currency"]).lower(), "customer": customer,
        "customer_creation": None, "customer_details": None, "customer_email": params.get("customer_email"),
        "expires_at": now + 24 * 3600, "invoice": None, "livemode": False, "locale": params.get("locale"),
        "metadata": params.get("metadata", {}), "mode": "setup", "payment_intent": None, "payment_link": None,
        "payment_method_types": list((params.get("payment_method_types") or {"0": "card"}).values()),
        "payment_status": "no_payment_required", "setup_intent": None, "status": "open",
        "success_url": params["success_url"], "ui_mode": "hosted",
        "url": f"{sb.host_url}/c/pay/{ident}",
        "_setup_intent_data": params.get("setup_intent_data", {}),
    }
    sb.sessions[ident] = session
    return json_response(public_session(sb, session, []))


def public_session(sb: StripeSandbox, session: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    from sandbox.stripe.server import _public

    out = _public(session)
    if "setup_intent" in expand or "setup_intent.payment_method" in expand:
        setup = sb.setup_intents.get(session.get("setup_intent") or "")
        if setup is not None:
            setup = dict(setup)
            if "setup_intent.payment_method" in expand and setup.get("payment_method") in sb.methods:
                setup["payment_method"] = _public(sb.methods[setup["payment_method"]])
            out["setup_intent"] = setup
    return out


def expand_of(request: Request) -> list[str]:
    return [str(v) for k, v in request.values.items(multi=True) if k.startswith("expand")]


def route(sb: StripeSandbox, request: Request, parts: list[str], params: dict[str, Any]) -> Response:
    from sandbox.stripe.server import _error, json_response

    post = request.method == "POST"
    if len(parts) == 3 and post:
        return create_session(sb, params)
    session = sb.sessions.get(parts[3]) if len(parts) > 3 else None
    if session is None:
        return sb._missing("checkout.session", parts[3] if len(parts) > 3 else "")
    if len(parts) == 4 and not post:
        return json_response(public_session(sb, session, expand_of(request)))
    if len(parts) == 5 and parts[4] == "expire" and post:
        if session["status"] != "open":
            return _error(400, "invalid_request_error", f"Only Checkout Sessions with a status in [\"open\"] can be "
                          f"expired. This Checkout Session has a status of {session['status']!r}.",
                          "checkout_session_unexpected_state")
        session["status"] = "expired"
        return json_response(public_session(sb, session, []))
    return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")


# ------------------------------------------------------------------------------- the hosted page
def hosted_page(sb: StripeSandbox, request: Request) -> Response:
    """`/c/pay/<session>` (GET: the form; POST: submit the card) and `/c/pay/<session>/authenticate`."""
    parts = request.path.strip("/").split("/")
    session = sb.sessions.get(parts[2]) if len(parts) > 2 else None
    if session is None:
        return _page("Something went wrong", "<p id=\"error\">The page you were looking for could not be found.</p>",
                     404)
    if session["status"] == "complete":
        return _redirect(_success_url(session))
    if session["status"] == "expired" or session["expires_at"] < time.time():
        session["status"] = "expired"
        return _page("Session expired", "<p id=\"error\">This checkout session has expired.</p>", 410)
    if len(parts) == 4 and parts[3] == "authenticate" and request.method == "POST":
        return _authenticate(sb, session, request)
    if request.method == "POST":
        return _submit(sb, session, request)
    return _form(sb, session)


def _success_url(session: dict[str, Any]) -> str:
    return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])


def _redirect(url: str) -> Response:
    return Response(status=303, headers={"Location": url})


def _form(sb: StripeSandbox, session: dict[str, Any], error: str = "", values: dict[str, str] | None = None,
          status: int = 200) -> Response:
    v = {k: html.escape(x) for k, x in (values or {}).items()}
    customer = sb.customers.get(session.get("customer") or "") or {}
    email = html.escape(customer.get("email") or session.get("customer_email") or "")
    cancel = (f'<p><a id="cancel" href="{html.escape(session["cancel_url"])}">&larr; Back</a></p>'
              if session.get("cancel_url") else "")
    body = f"""{cancel}
<p>Set up a payment method for future payments.</p>
{f'<p class="email">{email}</p>' if email else ''}
<form method="post" action="/c/pay/{session["id"]}" id="payment-form" autocomplete="on">
  <label for="cardNumber">Card information</label>
  <input id="cardNumber" name="cardNumber" inputmode="numeric" autocomplete="cc-number"
         placeholder="1234 1234 1234 1234" value="{v.get('cardNumber', '')}">
  <div class="row">
    <input id="cardExpiry" name="cardExpiry" autocomplete="cc-exp" placeholder="MM / YY" value="{v.get('cardExpiry', '')}">
    <input id="cardCvc" name="cardCvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" value="{v.get('cardCvc', '')}">
  </div>
  <label for="billingName">Cardholder name</label>
  <input id="billingName" name="billingName" autocomplete="cc-name" placeholder="Full name on card"
         value="{v.get('billingName', '')}">
  {f'<p id="error" role="alert" class="error">{html.escape(error)}</p>' if error else ''}
  <button type="submit" id="submitButton">Save card</button>
</form>
<p class="small">By saving your card, you allow the merchant to charge it for future payments in accordance with
their terms.</p>"""
    return _page("Save your card", body, status)


def _submit(sb: StripeSandbox, session: dict[str, Any], request: Request) -> Response:
    from sandbox.stripe.server import TEST_METHODS, _payment_method, _setup_intent

    values = {k: str(request.form.get(k, "")) for k in ("cardNumber", "cardExpiry", "cardCvc", "billingName")}
    number = values["cardNumber"].replace(" ", "").replace("-", "")
    problem = card_problem(number, values["cardExpiry"], values["cardCvc"], values["billingName"])
    if problem:
        return _form(sb, session, problem, values, 400)
    token = TEST_CARDS.get(number)
    if token is None:
        return _form(sb, session, NOT_A_TEST_CARD, values, 402)
    method = _payment_method(token, None)
    month, _, year = values["cardExpiry"].replace(" ", "").partition("/")
    method["card"].update(exp_month=int(month), exp_year=int(year) + (2000 if len(year) == 2 else 0))
    method["billing_details"]["name"] = values["billingName"].strip()
    sb.methods[method["id"]] = method
    setup = _setup_intent({"customer": session.get("customer"), "usage": "off_session",
                           "metadata": (session.get("_setup_intent_data") or {}).get("metadata", {})})
    setup.update(payment_method=method["id"], status="requires_confirmation")
    sb.setup_intents[setup["id"]] = setup
    behaviour = TEST_METHODS.get(token, {})
    if "decline" in behaviour:
        from sandbox.stripe.server import DECLINE_MESSAGES

        code, message = DECLINE_MESSAGES[behaviour["decline"]]
        setup.update(status="requires_payment_method", last_setup_error={
            "type": "card_error", "code": code, "decline_code": behaviour["decline"], "message": message})
        return _form(sb, session, message, values, 402)
    if behaviour.get("auth") in ("always", "setup"):
        setup.update(status="requires_action", next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {
            "type": "three_d_secure_redirect", "stripe_js": f"{sb.host_url}/c/pay/{session['id']}/authenticate"}})
        session["_pending_setup"] = setup["id"]
        return _challenge(session, setup)
    return _complete(sb, session, setup)


def _challenge(session: dict[str, Any], setup: dict[str, Any]) -> Response:
    action = f"/c/pay/{session['id']}/authenticate"
    body = f"""<p id="three-ds">3D Secure 2 Test Page</p>
<p>This is a test authentication for a card set up with your bank. In live mode your bank would show its own page
here.</p>
<form method="post" action="{action}"><input type="hidden" name="setup_intent" value="{setup['id']}">
<button type="submit" name="result" value="complete" id="test-source-authorize-3ds">Complete</button>
<button type="submit" name="result" value="fail" id="test-source-fail-3ds">Fail</button></form>"""
    return _page("Authenticate", body)


def bank_challenge(path: str, return_url: str) -> Response:
    """The 3-D Secure test page of a payment confirmed on-session (next_action.redirect_to_url): the
    answer goes back to the same path as `?result=`."""
    back = f'<input type="hidden" name="return_url" value="{html.escape(return_url)}">' if return_url else ""
    body = f"""<p id="three-ds">3D Secure 2 Test Page</p>
<p>This is a test authentication for a payment. In live mode your bank would show its own page here.</p>
<form method="get" action="{html.escape(path)}">{back}
<button type="submit" name="result" value="succeed" id="test-source-authorize-3ds">Complete</button>
<button type="submit" name="result" value="fail" id="test-source-fail-3ds">Fail</button></form>"""
    return _page("Authenticate", body)


def _authenticate(sb: StripeSandbox, session: dict[str, Any], request: Request) -> Response:
    setup = sb.setup_intents.get(str(request.form.get("setup_intent", "")))
    if setup is None or setup["id"] != session.get("_pending_setup") or setup["status"] != "requires_action":
        return _form(sb, session, "This authentication is no longer pending. Please try again.", status=400)
    session.pop("_pending_setup", None)
    if request.form.get("result") != "complete":
        setup.update(status="requires_payment_method", next_action=None, last_setup_error={
            "type": "invalid_request_error", "code": "setup_intent_authentication_failure",
            "message": AUTHENTICATION_FAILED})
        return _form(sb, session, AUTHENTICATION_FAILED, status=402)
    return _complete(sb, session, setup)


def _complete(sb: StripeSandbox, session: dict[str, Any], setup: dict[str, Any]) -> Response:
    method = sb.methods[setup["payment_method"]]
    if session.get("customer"):
        method["customer"] = session["customer"]  # a SetupIntent with a customer attaches the method
    setup.update(status="succeeded", next_action=None, last_setup_error=None)
    customer = sb.customers.get(session.get("customer") or "") or {}
    session.update(status="complete", setup_intent=setup["id"], customer_details={
        "address": None, "email": customer.get("email"), "name": method["billing_details"]["name"], "phone": None,
        "tax_exempt": "none", "tax_ids": []})
    sb.emit("setup_intent.succeeded", dict(setup))
    sb.emit("checkout.session.completed", public_session(sb, session, []))
    return _redirect(_success_url(session))


def _page(title: str, body: str, status: int = 200) -> Response:
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;color:#1a1f36}}
h1{{font-size:1.3rem}} label{{display:block;margin-top:1rem;font-size:.9rem}}
input{{display:block;width:100%;box-sizing:border-box;padding:.6rem;margin-top:.3rem;border:1px solid #ccd;
border-radius:6px;font-size:1rem}} .row{{display:flex;gap:.5rem}} button{{margin-top:1.2rem;width:100%;
padding:.7rem;background:#0570de;color:#fff;border:0;border-radius:6px;font-size:1rem}}
.error{{color:#df1b41}} .small{{font-size:.8rem;color:#697386}} .badge{{font-size:.75rem;background:#ffde92;
padding:.1rem .4rem;border-radius:4px}}</style></head>
<body><p><span class="badge">TEST MODE</span> Stripe sandbox</p><h1>{html.escape(title)}</h1>{body}</body></html>"""
    return Response(page, status=status, content_type="text/html; charset=utf-8")
