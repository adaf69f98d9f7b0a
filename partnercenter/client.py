"""PartnerCenterClient: Partner Center REST v1 plus the Graph partner billing exports.

Two HttpClients (Partner Center base URL and Graph base URL) do retries, Retry-After and error
decoding. This module only knows paths, headers and shapes:
- every write sends `MS-RequestId` (one value per logical write, reused on every retry, so a
  retry after a lost answer replays instead of buying twice) and `MS-CorrelationId`;
  https://learn.microsoft.com/partner-center/developer/partner-center-rest-api-reference
  ("REST request/response headers");
- the new-commerce price sheet is on another host, `api.partner.microsoft.com` (the
  `partner_api_url` setting): `GET /v1.0/sales/pricesheets(Market='XX',PricesheetView='...')/$value`
  (https://learn.microsoft.com/partner-center/developer/get-a-price-sheet);
- collections page through `links.next` exactly as given: its uri (relative to the API version
  root, so `/v1` is prefixed when absent) and every header it lists, such as MS-ContinuationToken;
  the uri is never taken apart (get-a-list-of-customers, get-invoiceline-items: seekOperation=Next);
- usage and invoice recon come from the Graph export flow: POST .../export -> 202 + Location,
  poll the operation until `succeeded`, read the manifest, download each blob from
  `rootDirectory/name?sasToken` straight to disk
  (https://learn.microsoft.com/partner-center/developer/get-billed-unbilled-usage-reconciliation,
  https://learn.microsoft.com/partner-center/developer/billed-invoice-reconciliation).
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from partnercenter.auth import SecretStore, graph_token, partner_api_token, partner_center_token
from partnercenter.errors import decode_error
from partnercenter.models import (
    Agreement,
    AgreementMetadata,
    Availability,
    AzureEntitlement,
    Cart,
    CartLineItem,
    CheckoutResult,
    Customer,
    DownloadedExport,
    ExportOperation,
    Invoice,
    InvoiceLineItem,
    Manifest,
    Order,
    PriceSheetRow,
    Product,
    ProvisioningStatus,
    Sku,
    Subscription,
)
from shared.config import Settings, get_settings
from shared.errors import ConflictError, FatalError, RetriableError, ValidationError
from shared.http import HttpClient, RetryPolicy, parse_retry_after
from shared.logging import get_logger

log = get_logger(__name__)

GRAPH_BILLING = "/v1.0/reports/partners/billing"
MCA = "MicrosoftCustomerAgreement"
# "A partner confirmed agreement already exists for the customer." (409)
AGREEMENT_ALREADY_EXISTS = "600061"
_CHUNK = 1 << 20


def request_id_for(key: str, step: str = "") -> str:
    """A GUID MS-RequestId derived from a caller's idempotency key, so the same logical write
    (e.g. a change-log row) always sends the same id, even from another worker after a crash."""
    try:
        base = uuid.UUID(key)
    except ValueError:
        base = uuid.uuid5(uuid.NAMESPACE_URL, f"cspbridge:{key}")
    return str(uuid.uuid5(base, step)) if step else str(base)


class PartnerCenterClient:
    def __init__(
        self,
        partner_center: HttpClient,
        graph: HttpClient,
        *,
        correlation_id: str | None = None,
        poll_interval: float = 5.0,
        max_polls: int = 360,
        sleep: Callable[[float], None] = time.sleep,
        partner_api: HttpClient | None = None,
    ) -> None:
        self.pc = partner_center
        self.graph = graph
        # api.partner.microsoft.com (price sheets); one client serves both where one server answers both.
        self.partner_api = partner_api or partner_center
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        retry: RetryPolicy | None = None,
        secret_store: SecretStore | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> PartnerCenterClient:
        s = settings or get_settings()
        policy = retry or RetryPolicy(max_attempts=s.http_max_attempts, cap_seconds=s.http_backoff_cap_seconds)
        seconds = s.http_timeout_seconds if timeout is None else timeout
        headers = {"Accept": "application/json"}
        pc = HttpClient(s.partner_center_url, token_provider=partner_center_token(s, secret_store),
                        default_headers=headers, error_decoder=decode_error, retry=policy, timeout=seconds,
                        service="partnercenter")
        graph = HttpClient(s.graph_url, token_provider=graph_token(s), default_headers=headers,
                           error_decoder=decode_error, retry=policy, timeout=seconds, service="graph")
        sales = HttpClient(s.partner_api_url, token_provider=partner_api_token(s, secret_store),
                           default_headers=headers, error_decoder=decode_error, retry=policy, timeout=seconds,
                           service="partnercenter")
        return cls(pc, graph, partner_api=sales, **kwargs)

    def scoped(self, correlation_id: str | None = None) -> PartnerCenterClient:
        """The same connections under a new MS-CorrelationId, so one operation's calls (e.g. cart +
        checkout + order reads for one change log) can be traced together in Partner Center."""
        return PartnerCenterClient(self.pc, self.graph, correlation_id=correlation_id or str(uuid.uuid4()),
                                   poll_interval=self.poll_interval, max_polls=self.max_polls, sleep=self.sleep,
                                   partner_api=self.partner_api)

    # ------------------------------------------------------------------ plumbing
    def _headers(self, request_id: str | None = None) -> dict[str, str]:
        headers = {"MS-CorrelationId": self.correlation_id}
        if request_id is not None:
            headers["MS-RequestId"] = request_id
        return headers

    def _get(self, path: str, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> Any:
        return self.pc.request("GET", path, params=params, headers={**self._headers(), **(headers or {})},
                               ok=(200,)).json()

    def _write(self, method: str, path: str, body: Any, request_id: str | None) -> Any:
        # Built once here, so every retry inside HttpClient sends the same MS-RequestId.
        rid = request_id or str(uuid.uuid4())
        response = self.pc.request(method, path, json=body, headers=self._headers(rid), ok=(200, 201, 202))
        return response.json() if response.content else None

    @staticmethod
    def _items(body: Any) -> list[dict[str, Any]]:
        return list((body or {}).get("items") or [])

    def _pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Each page body of a collection, following `links.next` as given. Amounts parse to Decimal.
        Stops if the service hands back a next link it already gave (a stuck cursor)."""
        headers: dict[str, str] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while True:
            response = self.pc.request("GET", path, params=params, headers={**self._headers(), **headers}, ok=(200,))
            body = json.loads(response.text, parse_float=Decimal) if response.content else {}
            yield body
            nxt = ((body or {}).get("links") or {}).get("next")
            if not isinstance(nxt, Mapping) or not nxt.get("uri"):
                return
            headers = {str(h.get("key")): str(h.get("value", "")) for h in nxt.get("headers") or [] if h.get("key")}
            key = (str(nxt["uri"]), tuple(sorted(headers.items())))
            if key in seen:
                log.warning("partner center repeated a next link; stopping the listing at %s", path.partition("?")[0])
                return
            seen.add(key)
            path, params = _version_root(str(nxt["uri"])), None

    # ------------------------------------------------------------------ customers
    def iter_customers(self, page_size: int = 500) -> Iterator[Customer]:
        """All customers, page by page (links.next + MS-ContinuationToken)."""
        for body in self._pages("/v1/customers", {"size": page_size}):
            for item in self._items(body):
                yield Customer.from_wire(item)

    def list_customers(self, page_size: int = 500) -> list[Customer]:
        return list(self.iter_customers(page_size))

    def get_customer(self, customer_id: str) -> Customer:
        return Customer.from_wire(self._get(f"/v1/customers/{customer_id}"))

    # ------------------------------------------------------------------ subscriptions
    def list_subscriptions(self, customer_id: str) -> list[Subscription]:
        return [Subscription.from_wire(d) for d in self._items(self._get(f"/v1/customers/{customer_id}/subscriptions"))]

    def get_subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        return Subscription.from_wire(self._get(f"/v1/customers/{customer_id}/subscriptions/{subscription_id}"))

    def update_subscription(self, customer_id: str, subscription_id: str, changes: Mapping[str, Any], *,
                            current: Subscription | None = None, request_id: str | None = None) -> Subscription:
        """PATCH the subscription with `changes` (quantity, autoRenewEnabled, status, friendlyName).

        Partner Center wants the full Subscription resource in the body, so the current one is read
        first unless the caller passes it
        (https://learn.microsoft.com/partner-center/developer/change-the-quantity-of-a-subscription)."""
        base = current or self.get_subscription(customer_id, subscription_id)
        body = {**base.raw, **dict(changes)}
        return Subscription.from_wire(
            self._write("PATCH", f"/v1/customers/{customer_id}/subscriptions/{subscription_id}", body, request_id))

    def set_quantity(self, customer_id: str, subscription_id: str, quantity: int, *,
                     request_id: str | None = None) -> Subscription:
        if quantity < 1:
            raise ValidationError("quantity must be at least 1; cancel the subscription instead")
        return self.update_subscription(customer_id, subscription_id, {"quantity": quantity}, request_id=request_id)

    def set_auto_renew(self, customer_id: str, subscription_id: str, enabled: bool, *,
                       request_id: str | None = None) -> Subscription:
        return self.update_subscription(customer_id, subscription_id, {"autoRenewEnabled": enabled},
                                        request_id=request_id)

    def suspend_subscription(self, customer_id: str, subscription_id: str, *,
                             request_id: str | None = None) -> Subscription:
        return self.update_subscription(customer_id, subscription_id, {"status": "suspended"}, request_id=request_id)

    def reactivate_subscription(self, customer_id: str, subscription_id: str, *,
                                request_id: str | None = None) -> Subscription:
        return self.update_subscription(customer_id, subscription_id, {"status": "active"}, request_id=request_id)

    def cancel_subscription(self, customer_id: str, subscription_id: str, *,
                            request_id: str | None = None) -> Subscription:
        """New commerce cancellation: status `deleted`, allowed only inside the cancellation window."""
        return self.update_subscription(customer_id, subscription_id, {"status": "deleted"}, request_id=request_id)

    def transition_eligibilities(self, customer_id: str, subscription_id: str,
                                 eligibility_type: str = "immediate") -> list[dict[str, Any]]:
        """GET .../transitionEligibilities?eligibilityType=immediate|scheduled: the catalog items this
        subscription can move to, each with eligibilities[{isEligible, transitionType, errors}]
        (transition-a-new-commerce-subscription)."""
        if eligibility_type not in ("immediate", "scheduled"):
            raise ValidationError("eligibility_type must be immediate or scheduled")
        body = self._get(f"/v1/customers/{customer_id}/subscriptions/{subscription_id}/transitionEligibilities",
                         params={"eligibilityType": eligibility_type})
        return list(self._items(body))

    def create_transition(self, customer_id: str, subscription_id: str, body: Mapping[str, Any], *,
                          request_id: str | None = None) -> dict[str, Any]:
        """POST .../transitions {toCatalogItemId, quantity, transitionType, termDuration?, billingCycle?}:
        an upgrade, a term or billing-cycle conversion, or a trial's conversion to paid."""
        return dict(self._write("POST", f"/v1/customers/{customer_id}/subscriptions/{subscription_id}/transitions",
                                dict(body), request_id))

    def list_azure_entitlements(self, customer_id: str, subscription_id: str) -> list[AzureEntitlement]:
        body = self._get(f"/v1/customers/{customer_id}/subscriptions/{subscription_id}/azureEntitlements")
        return [AzureEntitlement.from_wire(d) for d in self._items(body)]

    # ------------------------------------------------------------------ carts and orders
    def create_cart(self, customer_id: str, items: Sequence[CartLineItem], *, request_id: str | None = None) -> Cart:
        if not items:
            raise ValidationError("a cart needs at least one line item")
        body = {"lineItems": [item.to_wire(i) for i, item in enumerate(items)]}
        return Cart.from_wire(self._write("POST", f"/v1/customers/{customer_id}/carts", body, request_id))

    def get_cart(self, customer_id: str, cart_id: str) -> Cart:
        return Cart.from_wire(self._get(f"/v1/customers/{customer_id}/carts/{cart_id}"))

    def checkout(self, customer_id: str, cart_id: str, *, request_id: str | None = None) -> CheckoutResult:
        body = self._write("POST", f"/v1/customers/{customer_id}/carts/{cart_id}/checkout", None, request_id) or {}
        return CheckoutResult(orders=[Order.from_wire(o) for o in body.get("orders") or []],
                              order_errors=list(body.get("orderErrors") or []))

    def purchase(self, customer_id: str, items: Sequence[CartLineItem], *, idempotency_key: str) -> CheckoutResult:
        """Cart + checkout as one exactly-once purchase: both MS-RequestIds derive from the key, so
        running this again after a crash or timeout replays the first cart and the first order."""
        cart = self.create_cart(customer_id, items, request_id=request_id_for(idempotency_key, "cart"))
        return self.checkout(customer_id, cart.id, request_id=request_id_for(idempotency_key, "checkout"))

    def list_orders(self, customer_id: str) -> list[Order]:
        return [Order.from_wire(d) for d in self._items(self._get(f"/v1/customers/{customer_id}/orders"))]

    def get_order(self, customer_id: str, order_id: str) -> Order:
        return Order.from_wire(self._get(f"/v1/customers/{customer_id}/orders/{order_id}"))

    def get_provisioning_status(self, customer_id: str, order_id: str) -> list[ProvisioningStatus]:
        body = self._get(f"/v1/customers/{customer_id}/orders/{order_id}/provisioningstatus")
        return [ProvisioningStatus(int(d.get("lineItemNumber") or 0), d.get("status", ""), d.get("subscriptionId", ""))
                for d in self._items(body)]

    # ------------------------------------------------------------------ catalog and prices
    def list_products(self, country: str, target_view: str = "OnlineServicesNCE") -> list[Product]:
        body = self._get("/v1/products", params={"country": country, "targetView": target_view})
        return [Product.from_wire(d) for d in self._items(body)]

    def get_product(self, product_id: str, country: str) -> Product:
        return Product.from_wire(self._get(f"/v1/products/{product_id}", params={"country": country}))

    def list_skus(self, product_id: str, country: str) -> list[Sku]:
        body = self._get(f"/v1/products/{product_id}/skus", params={"country": country})
        return [Sku.from_wire(d) for d in self._items(body)]

    def list_availabilities(self, product_id: str, sku_id: str, country: str) -> list[Availability]:
        body = self._get(f"/v1/products/{product_id}/skus/{sku_id}/availabilities", params={"country": country})
        return [Availability.from_wire(d) for d in self._items(body)]

    def download_price_sheet(self, market: str, dest: Path | str, *, view: str = "updatedlicensebased",
                             timeline: str = "current", month: str | None = None) -> Path:
        """Stream the new commerce license-based price sheet CSV for `market` to `dest` from the
        partner API host (https://learn.microsoft.com/partner-center/developer/get-a-price-sheet)."""
        params: dict[str, str] = {"timeline": timeline}
        if month:
            params["month"] = month
        response = self.partner_api.request("GET", price_sheet_path(market, view), params=params,
                                            headers={**self._headers(), "Accept": "text/csv"}, ok=(200,), stream=True)
        return _stream_to_file(response, Path(dest))

    # ------------------------------------------------------------------ Microsoft Customer Agreement
    def get_agreement_metadata(self, agreement_type: str = MCA) -> list[AgreementMetadata]:
        body = self._get("/v1/agreements", params={"agreementType": agreement_type})
        return [AgreementMetadata(d.get("templateId", ""), d.get("agreementType", ""), d.get("agreementLink", ""),
                                  int(d.get("versionRank") or 0)) for d in self._items(body)]

    def get_mca_template_id(self) -> str:
        metadata = self.get_agreement_metadata(MCA)
        if not metadata:
            raise FatalError("Partner Center returned no Microsoft Customer Agreement template")
        return min(metadata, key=lambda m: m.version_rank).template_id

    def list_agreements(self, customer_id: str, agreement_type: str = MCA) -> list[Agreement]:
        body = self._get(f"/v1/customers/{customer_id}/agreements", params={"agreementType": agreement_type})
        return [Agreement.from_wire(d) for d in self._items(body)]

    def create_agreement(self, customer_id: str, *, first_name: str, last_name: str, email: str, phone: str = "",
                         date_agreed: datetime | None = None, template_id: str | None = None,
                         request_id: str | None = None) -> Agreement:
        """Record that the customer accepted the MCA (the partner attests it)."""
        when = (date_agreed or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"primaryContact": {"firstName": first_name, "lastName": last_name, "email": email,
                                   "phoneNumber": phone},
                "templateId": template_id or self.get_mca_template_id(), "dateAgreed": when, "type": MCA}
        try:
            answer = self._write("POST", f"/v1/customers/{customer_id}/agreements", body, request_id)
        except ConflictError as exc:
            if exc.code != AGREEMENT_ALREADY_EXISTS:
                raise
            # A repeat of an attestation Partner Center already holds: the customer is attested.
            log.info("MCA for customer %s was already confirmed (600061)", customer_id)
            return Agreement.from_wire(body, already_attested=True)
        return Agreement.from_wire(answer)

    # ------------------------------------------------------------------ invoices
    def list_invoices(self, page_size: int = 200) -> list[Invoice]:
        return [Invoice.from_wire(d) for body in self._pages("/v1/invoices", {"size": page_size})
                for d in self._items(body)]

    def get_invoice(self, invoice_id: str) -> Invoice:
        return Invoice.from_wire(self._get(f"/v1/invoices/{invoice_id}"))

    def iter_invoice_line_items(self, invoice_id: str, currency_code: str = "", *,
                                page_size: int = 2000) -> Iterator[InvoiceLineItem]:
        """Billed recon lines of a new commerce invoice through the v1 API, seek-paged
        (https://learn.microsoft.com/partner-center/developer/get-invoice-billed-consumption-lineitems).
        For current periods prefer export_billed_reconciliation (Graph v2), which Microsoft now steers to."""
        params: dict[str, Any] = {"provider": "onetime", "invoicelineitemtype": "billinglineitems",
                                  "currencycode": currency_code, "size": page_size}
        # Amounts parse straight to Decimal: no float ever holds money.
        for body in self._pages(f"/v1/invoices/{invoice_id}/lineitems", params):
            for item in self._items(body):
                yield InvoiceLineItem.from_wire(item)

    # ------------------------------------------------------------------ Graph billing exports
    def begin_export(self, path: str, body: Mapping[str, Any]) -> str:
        """POST an export request; returns the operation URL from the 202's Location header."""
        response = self.graph.request("POST", f"{GRAPH_BILLING}/{path.lstrip('/')}", json=dict(body),
                                      headers=self._headers(), ok=(202,))
        location = response.headers.get("Location", "")
        if not location:
            raise RetriableError("Graph export answered 202 without a Location header", status=202)
        return location

    def wait_for_export(self, operation_url: str) -> ExportOperation:
        for _ in range(self.max_polls):
            response = self.graph.request("GET", operation_url, headers=self._headers(), ok=(200,))
            op = ExportOperation.from_wire(response.json())
            if op.status == "succeeded":
                return op
            if op.status == "failed":
                raise FatalError(f"Graph export failed: {op.error_message or 'no reason given'}",
                                 code=op.error_code or None)
            hinted = parse_retry_after(response.headers.get("Retry-After"))
            self.sleep(self.poll_interval if hinted is None else hinted)
        raise RetriableError(f"Graph export still running after {self.max_polls} polls")

    def get_manifest(self, manifest_url: str) -> Manifest:
        return Manifest.from_wire(self.graph.request("GET", manifest_url, headers=self._headers(), ok=(200,)).json())

    def download_blobs(self, manifest: Manifest, dest_dir: Path | str) -> list[Path]:
        """Each blob straight to disk (never whole in memory). No Authorization header: the SAS is the key."""
        out = Path(dest_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for blob in manifest.blobs:
            name = Path(blob.name).name
            if len({b.partition_value for b in manifest.blobs}) > 1:
                name = f"{blob.partition_value}-{name}"
            response = self.graph.request("GET", manifest.blob_url(blob), ok=(200,), stream=True, auth=False)
            files.append(_stream_to_file(response, out / name))
        return files

    def _export(self, kind: str, path: str, body: Mapping[str, Any], dest_dir: Path | str) -> DownloadedExport:
        op = self.wait_for_export(self.begin_export(path, body))
        manifest = self.get_manifest(op.manifest_url)
        files = self.download_blobs(manifest, dest_dir)
        return DownloadedExport(kind, manifest, files, sum(f.stat().st_size for f in files))

    def export_billed_usage(self, invoice_id: str, dest_dir: Path | str, *,
                            attribute_set: str = "full") -> DownloadedExport:
        return self._export("billed_usage", "usage/billed/export",
                            {"invoiceId": invoice_id, "attributeSet": attribute_set}, dest_dir)

    def export_unbilled_usage(self, currency: str, dest_dir: Path | str, *, billing_period: str = "current",
                              attribute_set: str = "full") -> DownloadedExport:
        if billing_period not in ("current", "last"):
            raise ValidationError("billing_period is 'current' or 'last'")
        return self._export("unbilled_usage", "usage/unbilled/export",
                            {"currencyCode": currency.upper(), "billingPeriod": billing_period,
                             "attributeSet": attribute_set}, dest_dir)

    def export_billed_reconciliation(self, invoice_id: str, dest_dir: Path | str, *,
                                     attribute_set: str = "full") -> DownloadedExport:
        return self._export("invoice_recon", "reconciliation/billed/export",
                            {"invoiceId": invoice_id, "attributeSet": attribute_set}, dest_dir)


def _version_root(uri: str) -> str:
    """Partner Center links are relative to the API version root (`/customers?...`); some carry it (`/v1/...`)."""
    if uri.startswith(("http://", "https://", "/v1/")):
        return uri
    return "/v1/" + uri.lstrip("/")


def price_sheet_path(market: str, view: str = "updatedlicensebased") -> str:
    """The price sheet resource on the partner API host (OData key syntax, `$value` for the file)."""
    return f"/v1.0/sales/pricesheets(Market='{market.upper()}',PricesheetView='{view}')/$value"


def iter_price_sheet(path: Path | str) -> Iterator[PriceSheetRow]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            yield PriceSheetRow.from_csv(row)


def _stream_to_file(response: requests.Response, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with open(tmp, "wb") as fh:
            for chunk in response.iter_content(_CHUNK):
                fh.write(chunk)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        tmp.unlink(missing_ok=True)
        raise RetriableError(f"download of {dest.name} broke off: {type(exc).__name__}") from exc
    finally:
        response.close()
    tmp.replace(dest)
    return dest
