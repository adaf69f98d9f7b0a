"""Authorize.Net's hosted forms in the sandbox, and its webhooks.

- `getHostedPaymentPageRequest` (Accept Hosted) and `getHostedProfilePageRequest` (Accept Customer)
  answer a page token (valid 15 minutes). The customer's browser POSTs it, as field `token`, to
  `/payment/payment` (pay: the transaction runs, and with hostedPaymentCustomerOptions.addPaymentProfile
  the card is also saved to transactionRequest.profile.customerProfileId) or `/customer/addPayment`
  (save a card to the customer profile). Settings are `{settingName, settingValue}` pairs whose value is
  a string holding JSON (hostedPayment*) or plain text (hostedProfile*).
- The form takes Authorize.Net's test cards (TEST_CARDS, https://developer.authorize.net/hello_world/
  testing_guide.html); billing ZIP 46282 is declined. Afterwards the customer continues to the
  return URL (hostedPaymentReturnOptions.url / hostedProfileReturnUrl).
- Webhooks: `POST /rest/v1/webhooks {name, url, eventTypes, status}` (Basic auth with the API login
  and transaction key) registers an endpoint; deliveries carry `X-ANET-Signature: sha512=<HEX>`, the
  uppercase HMAC-SHA512 of the body keyed with the merchant's Signature Key used as text (the
  encoding the product defaults to; see payments/authorizenet_webhook.py).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from sandbox.authorizenet.server import AuthorizeNetSandbox

TOKEN_SECONDS = 15 * 60
DECLINE_ZIP = "46282"
TEST_CARDS: dict[str, str] = {
    "4111111111111111": "Visa", "4007000000027": "Visa", "4012888818888": "Visa",
    "5424000000000015": "MasterCard", "2223000010309703": "MasterCard", "2223000010309711": "MasterCard",
    "370000000000002": "AmericanExpress", "6011000000000012": "Discover", "3088000000000017": "JCB",
    "38000000000006": "DinersClub",
}


def anet_signature(key: str, body: bytes) -> str:
    return "sha512=" + hmac.new(key.encode(), body, hashlib.sha512).hexdigest().upper()


def settings_of(raw: Any) -> dict[str, Any]:
    """hostedPaymentSettings / hostedProfileSettings -> {name: value} (JSON values decoded)."""
    items = (raw or {}).get("setting") or []
    out: dict[str, Any] = {}
    for item in items if isinstance(items, list) else [items]:
        value = item.get("settingValue", "")
        try:
            out[item.get("settingName", "")] = json.loads(value) if str(value)[:1] in "{[" else value
        except ValueError:
            out[item.get("settingName", "")] = value
    return out


def issue_token(sb: AuthorizeNetSandbox, kind: str, request: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(96)
    sb.page_tokens[token] = {"kind": kind, "request": request, "expires": time.time() + TOKEN_SECONDS}
    return token


# --------------------------------------------------------------------------------------- webhooks
def webhook_api(sb: AuthorizeNetSandbox, request: Request) -> Response:
    import base64

    from sandbox._server import json_response

    expected = "Basic " + base64.b64encode(f"{sb.login_id or 'sandbox'}:{sb.transaction_key or 'sandbox-key'}"
                                           .encode()).decode()
    if sb.login_id is not None and request.headers.get("Authorization") != expected:
        return json_response({"status": 401, "reason": "UNAUTHORIZED", "message": "User authentication failed"}, 401)
    if request.path.rstrip("/").endswith("/webhooks") and request.method == "POST":
        body = request.get_json(silent=True) or {}
        if not body.get("url") or not body.get("eventTypes"):
            return json_response({"status": 400, "reason": "ERROR_INVALID_REQUEST",
                                  "message": "url and eventTypes are required"}, 400)
        hook = {"webhookId": str(uuid.uuid4()), "name": body.get("name", ""), "status": body.get("status", "active"),
                "url": body["url"], "eventTypes": list(body["eventTypes"])}
        sb.webhooks.endpoints.append({"url": hook["url"], "events": hook["eventTypes"],
                                      "enabled": hook["status"] == "active"})
        return json_response(hook)
    if request.path.rstrip("/").endswith("/eventtypes"):
        return json_response([{"name": n} for n in EVENT_TYPES])
    return json_response({"status": 404, "reason": "NOT_FOUND", "message": "not found"}, 404)


EVENT_TYPES = ("net.authorize.payment.authcapture.created", "net.authorize.payment.authorization.created",
               "net.authorize.customer.paymentProfile.created", "net.authorize.customer.created")


def emit(sb: AuthorizeNetSandbox, event_type: str, payload: dict[str, Any]) -> None:
    sb.webhooks.send({"notificationId": str(uuid.uuid4()), "eventType": event_type,
                      "eventDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                      "webhookId": "", "payload": payload})


# ------------------------------------------------------------------------------------ the forms
def hosted_page(sb: AuthorizeNetSandbox, request: Request) -> Response:
    """POST /payment/payment or /customer/addPayment with `token` (the form), or with the card fields too."""
    token = str(request.form.get("token", ""))
    page = sb.page_tokens.get(token)
    kind = "payment" if request.path.startswith("/payment/") else "profile"
    if page is None or page["kind"] != kind or page["expires"] < time.time():
        return _page("Session expired", '<p id="error">The session has expired or the token is invalid. '
                     'Please return to the merchant and try again.</p>', 400)
    if "cardNumber" not in request.form:
        return _form(request.path, token, page)
    return _submit(sb, request, token, page)


def _form(path: str, token: str, page: dict[str, Any], error: str = "", values: dict[str, str] | None = None,
          status: int = 200) -> Response:
    v = {k: html.escape(x) for k, x in (values or {}).items()}
    request = page["request"]
    settings = page["settings"] = page.get("settings") or settings_of(
        request.get("hostedPaymentSettings") or request.get("hostedProfileSettings"))
    tx = request.get("transactionRequest") or {}
    amount = f"<p id=\"amount\">Amount: ${html.escape(str(tx.get('amount', '')))}</p>" if tx else ""
    order = tx.get("order") or {}
    invoice = f"<p>Invoice {html.escape(str(order.get('invoiceNumber', '')))}</p>" if order else ""
    button = ((settings.get("hostedPaymentButtonOptions") or {}).get("text") if isinstance(
        settings.get("hostedPaymentButtonOptions"), dict) else None) or ("Pay" if tx else "Save")
    cancel = (settings.get("hostedPaymentReturnOptions") or {}) if isinstance(
        settings.get("hostedPaymentReturnOptions"), dict) else {}
    cancel_link = (f'<p><a id="cancel" href="{html.escape(cancel["cancelUrl"])}">'
                   f'{html.escape(cancel.get("cancelUrlText") or "Cancel")}</a></p>' if cancel.get("cancelUrl") else "")
    body = f"""{amount}{invoice}
<form method="post" action="{path}" id="paymentForm">
<input type="hidden" name="token" value="{html.escape(token)}">
<label for="cardNum">Card Number</label><input id="cardNum" name="cardNumber" inputmode="numeric" autocomplete="cc-number" value="{v.get('cardNumber', '')}">
<label for="expiryDate">Expiration Date (MMYY)</label><input id="expiryDate" name="expirationDate" placeholder="MMYY" value="{v.get('expirationDate', '')}">
<label for="cvv">Card Code</label><input id="cvv" name="cardCode" inputmode="numeric" value="{v.get('cardCode', '')}">
<label for="zip">ZIP Code</label><input id="zip" name="zip" value="{v.get('zip', '')}">
{f'<p id="error" role="alert" class="error">{html.escape(error)}</p>' if error else ''}
<button type="submit" id="payButton">{html.escape(str(button))}</button>
</form>{cancel_link}"""
    return _page("Payment Information" if tx else "Add Payment Method", body, status)


def _card_problem(number: str, expiry: str, cvv: str, brand: str, *, code_required: bool) -> str:
    if not number.isdigit() or brand == "":
        return "The credit card number is invalid."
    if not (len(expiry) == 4 and expiry.isdigit() and 1 <= int(expiry[:2]) <= 12):
        return "The credit card expiration date is invalid."
    now = datetime.now(UTC)
    if (2000 + int(expiry[2:]), int(expiry[:2])) < (now.year, now.month):
        return "The credit card has expired."
    wanted = 4 if brand == "AmericanExpress" else 3
    if (code_required or cvv) and not (cvv.isdigit() and len(cvv) == wanted):
        return "The card code is invalid."
    return ""


def _submit(sb: AuthorizeNetSandbox, request: Request, token: str, page: dict[str, Any]) -> Response:
    values = {k: str(request.form.get(k, "")).strip() for k in ("cardNumber", "expirationDate", "cardCode", "zip")}
    number = values["cardNumber"].replace(" ", "")
    expiry = values["expirationDate"].replace("/", "").replace(" ", "")
    brand = TEST_CARDS.get(number, "")
    settings = page.get("settings") or {}
    options = settings.get("hostedPaymentPaymentOptions") if isinstance(
        settings.get("hostedPaymentPaymentOptions"), dict) else {}
    problem = _card_problem(number, expiry, values["cardCode"], brand,
                            code_required=bool((options or {}).get("cardCodeRequired")))
    if problem:
        return _form(request.path, token, page, problem, values, 400)
    request_body = page["request"]
    tx = request_body.get("transactionRequest") or {}
    validate = tx or str(settings.get("hostedProfileValidationMode", "none")) in ("liveMode", "testMode")
    if validate and values["zip"] == DECLINE_ZIP:
        if tx:
            sb.record_transaction(tx, status="declined", account=f"XXXX{number[-4:]}")
        return _form(request.path, token, page, "This transaction has been declined.", values, 402)
    card = {"cardNumber": f"XXXX{number[-4:]}", "expirationDate": "XXXX", "cardType": brand}
    customer_id = (tx.get("profile") or {}).get("customerProfileId") or request_body.get("customerProfileId")
    add_profile = not tx or bool((settings.get("hostedPaymentCustomerOptions") or {}).get("addPaymentProfile"))
    payment_profile = None
    if add_profile and customer_id in sb.profiles:
        payment_profile = sb.add_card_profile(str(customer_id), card, values["zip"])
        emit(sb, "net.authorize.customer.paymentProfile.created", {
            "customerProfileId": int(customer_id), "entityName": "customerPaymentProfile",
            "id": payment_profile, "customerType": "business"})
    del sb.page_tokens[token]  # a page token works once
    if tx:
        record = sb.record_transaction(tx, status="capturedPendingSettlement"
                                       if tx.get("transactionType") == "authCaptureTransaction"
                                       else "authorizedPendingCapture", account=f"XXXX{number[-4:]}")
        emit(sb, "net.authorize.payment.authcapture.created"
             if tx.get("transactionType") == "authCaptureTransaction" else "net.authorize.payment.authorization.created",
             {"responseCode": 1, "authCode": record["authCode"], "avsResponse": "Y",
              "authAmount": float(record["amount"]), "invoiceNumber": record["invoiceNumber"],
              "entityName": "transaction", "id": record["transId"]})
        back = settings.get("hostedPaymentReturnOptions") if isinstance(
            settings.get("hostedPaymentReturnOptions"), dict) else {}
        url, text = (back or {}).get("url", ""), (back or {}).get("urlText") or "Continue"
        if url and not (back or {}).get("showReceipt", True):
            return Response(status=302, headers={"Location": url})
        receipt = (f'<p id="receipt">Thank you. Transaction ID {record["transId"]}, {brand} '
                   f'{card["cardNumber"]}, ${record["amount"]}.</p>')
    else:
        url, text = str(settings.get("hostedProfileReturnUrl", "")), str(settings.get("hostedProfileReturnUrlText")
                                                                          or "Continue")
        receipt = f'<p id="receipt">Your payment information was saved: {brand} {card["cardNumber"]}.</p>'
    link = f'<p><a id="continue" href="{html.escape(url)}">{html.escape(text)}</a></p>' if url else ""
    return _page("Thank you", receipt + link)


def _page(title: str, body: str, status: int = 200) -> Response:
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:Arial,sans-serif;max-width:30rem;margin:2rem auto}} label{{display:block;margin-top:.8rem}}
input{{width:100%;padding:.4rem}} button{{margin-top:1rem;padding:.5rem 1.5rem}} .error{{color:#c00}}</style></head>
<body><p><b>Authorize.Net</b> sandbox</p><h1>{html.escape(title)}</h1>{body}</body></html>"""
    return Response(page, status=status, content_type="text/html; charset=utf-8")
