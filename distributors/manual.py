"""The "manual" distributor: for vendors without an API. It records each request as a JSON
document in the blob store (manual-requests/{key}.json) and notifies a person, who places the
order by hand and later marks the change log Provisioned. Reads come from what was recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime

from billing.models import Provider
from distributors.base import (
    AdapterBase,
    ChangeRequest,
    Company,
    DistributorAdapter,
    Invoice,
    InvoiceLine,
    OrderContext,
    OrderResult,
    Price,
    Product,
    Subscription,
    check_term,
)
from shared.blobstore import BlobStore, blob_store_from_settings
from shared.dates import parse_datetime
from shared.errors import NotFoundError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)

Notifier = Callable[[ChangeRequest], None]
PREFIX = "manual-requests/"


def log_notifier(request: ChangeRequest) -> None:
    log.warning("manual distributor action needed: %s %s (key %s)", request.action,
                request.subscription_id or request.product_id, request.idempotency_key)


class ManualAdapter(AdapterBase):
    provider = Provider.MANUAL
    # The ledger blob is keyed by the idempotency key: a repeat returns the recorded order.
    idempotent_orders = True

    def __init__(self, store: BlobStore | None = None, notifier: Notifier = log_notifier) -> None:
        self.store = store or blob_store_from_settings()
        self.notifier = notifier

    def _record(self, request: ChangeRequest) -> tuple[ChangeRequest, bool]:
        """Store the request once per idempotency key; notify only the first time."""
        path = f"{PREFIX}{request.idempotency_key}.json"
        if self.store.exists(path):
            stored = json.loads(self.store.get(path))
            stored["requested_on"] = parse_datetime(stored.get("requested_on"))
            return ChangeRequest(**stored), True
        self.store.put(path, json.dumps(asdict(request), default=str).encode(), content_type="application/json")
        self.notifier(request)
        return request, False

    def requests(self) -> Iterator[ChangeRequest]:
        for path in self.store.list(PREFIX):
            data = json.loads(self.store.get(path))
            data["requested_on"] = parse_datetime(data.get("requested_on"))
            yield ChangeRequest(**data)

    def place_order(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    commitment_term: str | None, idempotency_key: str, *,
                    context: OrderContext | None = None) -> OrderResult:
        check_term(billing_term, "billing_term")
        check_term(commitment_term, "commitment_term", optional=True)
        if quantity < 1:
            raise ValidationError("quantity must be at least 1")
        request, replayed = self._record(ChangeRequest(
            action="order", idempotency_key=idempotency_key, company_id=company_id, product_id=product_id,
            quantity=quantity, billing_term=billing_term, commitment_term=commitment_term,
            requested_on=datetime.now(UTC)))
        return OrderResult(order_id=f"manual-{request.idempotency_key}", status="Pending", replayed=replayed,
                           message="recorded for manual fulfilment")

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription:
        if quantity < 1:
            raise ValidationError("quantity must be at least 1")
        self._record(ChangeRequest(action="change_quantity", idempotency_key=idempotency_key,
                                   subscription_id=subscription_id, quantity=quantity, requested_on=datetime.now(UTC)))
        return Subscription(id=subscription_id, company_id="", product_id="", quantity=quantity, status="Pending",
                            billing_term="")

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription:
        self._record(ChangeRequest(action="cancel", idempotency_key=idempotency_key, subscription_id=subscription_id,
                                   requested_on=datetime.now(UTC)))
        return Subscription(id=subscription_id, company_id="", product_id="", quantity=0, status="Pending",
                            billing_term="")

    # Nothing to read from a provider without an API.
    def list_companies(self) -> Iterator[Company]:
        return iter(())

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        return iter(())

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription:
        raise NotFoundError(f"manual provider keeps no subscription {subscription_id}")

    def list_products(self) -> Iterator[Product]:
        return iter(())

    def list_prices(self, product_id: str, currency: str | None = None) -> list[Price]:
        return []

    def list_invoices(self) -> Iterator[Invoice]:
        return iter(())

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]:
        return iter(())

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]:
        return iter(())


def adapter_for(provider: Provider) -> DistributorAdapter:
    """The distributor adapter for Pax8 or the manual provider, built from the settings."""
    if provider is Provider.PAX8:
        from distributors.pax8 import Pax8Adapter

        return Pax8Adapter.from_settings()
    if provider is Provider.MANUAL:
        return ManualAdapter()
    raise ValidationError(f"no distributor adapter for {provider.name.lower()}")
