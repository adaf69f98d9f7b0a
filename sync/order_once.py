"""Send a provider order exactly once, whether or not the provider has an idempotency key.

Partner Center replays a request carrying the same MS-RequestId, so a retry is safe. Pax8 (and any
adapter whose `idempotent_orders` is False) has nothing like it, so the guarantee is ours:
1. before the POST the change log records the intent (Sending, the time, our reference);
2. a later attempt on a Sending change log first asks the provider for the company's orders and
   subscriptions since that time (adapter.find_orders), drops those another change log or
   subscription already holds, and
   - posts again only when nothing is left (certain that nothing was committed),
   - adopts the one order left when no other change log of that customer is mid-send for the
     same product and quantity,
   - otherwise stops at NeedsReview, listing the candidates: never a second purchase;
3. an adopted order id is claimed on the change log first; the column is an alternate key, so
   the same order can never be held by two change logs.
A send younger than the lease may still be in flight on another worker: it is retried later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dataverse import order_ledger
from dataverse.client import DataverseClient
from dataverse.stores.change_logs import Change
from dataverse.stores.provider_accounts import OrderingAccount
from distributors.base import DistributorAdapter, OrderCandidate, OrderContext, OrderResult
from shared.errors import RetriableError
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Review:
    """The provider may hold this change's order but it cannot be told apart: a person decides."""

    message: str


@dataclass(frozen=True)
class OrderRequest:
    changelog_id: str
    subscription_id: str
    provider_account_id: str
    company_id: str
    product: str           # what Dynamics holds: product[:sku[:availability]]
    product_id: str        # the subscription's product and SKU ids, to compare with other change logs
    sku_id: str
    quantity: int
    billing_term: str
    commitment_term: str | None
    key: str


def send_lease() -> timedelta:
    """How long a send may still be in flight: the HTTP timeout of the POST, plus a margin."""
    from shared.config import get_settings

    return timedelta(seconds=float(get_settings().http_timeout_seconds) + 2)


def place(adapter: DistributorAdapter, dv: DataverseClient, request: OrderRequest, *, change: Change,
          account: OrderingAccount, now: datetime) -> OrderResult | Review:
    """The order for `request`, sent at most once. Raises RetriableError when the outcome is
    not known yet (the provider is unreachable, or a send may still be in flight)."""
    sending, sent_at, claimed = order_ledger.send_state(change)
    context = order_ledger.order_context(dv, account) if adapter.uses_order_context else None
    if adapter.idempotent_orders:
        if not sending:
            order_ledger.mark_sending(dv, request.changelog_id, request.key, now)
        return _send(adapter, request, context)
    if sending:
        if claimed:
            return _adopted(adapter, request, claimed, sent_at or now)
        if sent_at is not None and now - sent_at < send_lease():
            raise RetriableError(f"an order for this change was sent at {sent_at.isoformat()} and may still be in "
                                 "flight; it is reconciled with the provider once that send has timed out")
        verdict = reconcile(adapter, dv, request, since=sent_at or now)
        if verdict is not None:
            return _claim(dv, request, verdict)
    order_ledger.mark_sending(dv, request.changelog_id, request.key, now)
    try:
        return _send(adapter, request, context)
    except RetriableError:
        # The POST is no longer in flight from here: look now, so a committed order is kept at once.
        verdict = reconcile(adapter, dv, request, since=now)
        if verdict is None:
            raise
        return _claim(dv, request, verdict)


def _send(adapter: DistributorAdapter, request: OrderRequest, context: OrderContext | None) -> OrderResult:
    return adapter.place_order(request.company_id, request.product, request.quantity, request.billing_term,
                               request.commitment_term, request.key, context=context)


def _find(adapter: DistributorAdapter, request: OrderRequest, since: datetime) -> list[OrderCandidate]:
    reference = request.key if adapter.finds_by_reference else ""
    return list(adapter.find_orders(request.company_id, request.product, request.quantity, request.billing_term,
                                    since, reference=reference))


def reconcile(adapter: DistributorAdapter, dv: DataverseClient, request: OrderRequest, *, since: datetime) -> OrderResult | Review | None:
    """None when the provider holds nothing a send at `since` could have committed."""
    found = _find(adapter, request, since)
    taken_orders = order_ledger.claimed_orders(dv, [c.order_id for c in found],
                                               except_changelog=request.changelog_id)
    taken_subs = order_ledger.claimed_subscriptions(dv, [s for c in found for s in c.subscription_ids],
                                                    except_subscription=request.subscription_id)
    free = [c for c in found if c.order_id not in taken_orders and not set(c.subscription_ids) & taken_subs]
    if not free:
        return None
    exact = [c for c in free if c.reference == request.key and c.order_id]
    if len(exact) == 1:
        # The provider kept our reference on the order: it is this change's, whatever else is in flight.
        log.info("change %s: order %s carries our reference; keeping it", request.changelog_id, exact[0].order_id)
        return OrderResult(exact[0].order_id, "Provisioned", exact[0].subscription_ids, replayed=True,
                           message="the provider had committed this order (found by our reference) before its "
                                   "response was lost")
    rivals = [r for r in order_ledger.rival_sends(dv, request.provider_account_id,
                                                  except_changelog=request.changelog_id)
              if (r.product_id, r.sku_id, r.quantity) == (request.product_id, request.sku_id, request.quantity)]
    if len(free) == 1 and free[0].order_id and not rivals:
        log.info("change %s: order %s was committed before the response was lost; keeping it", request.changelog_id,
                 free[0].order_id)
        return OrderResult(free[0].order_id, "Provisioned", free[0].subscription_ids, replayed=True,
                           message="the provider had committed this order before its response was lost")
    listed = "; ".join(c.describe() for c in free)
    others = f"; other change logs sending the same order: {', '.join(r.changelog_id for r in rivals)}" if rivals \
        else ""
    return Review(f"the provider holds {len(free)} order(s) that may be this change's, not bought again: "
                  f"{listed}{others}")


def _claim(dv: DataverseClient, request: OrderRequest, verdict: OrderResult | Review) -> OrderResult | Review:
    if isinstance(verdict, Review):
        return verdict
    if not order_ledger.claim_order(dv, request.changelog_id, verdict.order_id):
        return Review(f"order {verdict.order_id} is already held by another change log; not bought again")
    return verdict


def _adopted(adapter: DistributorAdapter, request: OrderRequest, order_id: str, since: datetime) -> OrderResult:
    """The change log already claimed `order_id` (a crash came before the write-back)."""
    found = _find(adapter, request, since)
    match = next((c for c in found if c.order_id == order_id), None)
    return OrderResult(order_id, "Provisioned", match.subscription_ids if match else (), replayed=True)
