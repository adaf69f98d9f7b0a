"""Queue worker: re-read a license change log, apply the rules, call the provider once, write back.

Exactly once in effect, by three layers:
1. a change log that is no longer Awaiting is never sent again (duplicate deliveries stop here);
2. before the first provider call the idempotency key (a GUID derived from the change log id,
   so every retry and every redelivery computes the same one) is written to the change log;
   an order also moves the change log to Sending, with the time;
3. the provider call carries that key (Partner Center: MS-RequestId), so a retry after a
   timeout, or a redelivery after a crash between the provider's accept and our write-back,
   replays the earlier result instead of buying again. A provider without such a key (Pax8)
   is reconciled instead before any new POST (sync/order_once.py), and an ambiguous case
   stops at NeedsReview.
Only RetriableError leaves this module; fatal provider errors are written to the change log.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from billing import scheduling
from billing.models import Provider
from billing.provisioning_rules import Action, ChangeFacts, ChangeType, Plan, ProvisioningStatus, decide
from dataverse import transitions
from dataverse.client import DataverseClient
from dataverse.stores import change_logs, provider_accounts, subscriptions
from dataverse.stores.change_logs import Change
from dataverse.stores.provider_accounts import OrderingAccount
from dataverse.stores.subscriptions import OrderPlaced, Provisioned
from dataverse.stores.terms import seat_additions
from dataverse.tables import MappingStatus, SubscriptionStatus, Table
from distributors.base import (
    PROVIDER_NAMES,
    Adapters,
    DistributorAdapter,
    ManualActionRequired,
    OrderResult,
    ProviderRefused,
    adapter_of,
)
from shared.config import Settings
from shared.errors import FatalError, IntegrationError, NotFoundError, RetriableError, ValidationError
from shared.logging import get_logger
from sync import azure_plan, inbox, order_once, rep_changes
from sync.records import parse_dt

log = get_logger(__name__)

_KEY_NAMESPACE = uuid.UUID("5f0c3a52-6f43-4c59-9d0e-2f8f3b7c9a11")

STATUS_ACTIVE = int(SubscriptionStatus.ACTIVE)
STATUS_CANCELLED = int(SubscriptionStatus.CANCELLED)
STATUS_PENDING = int(SubscriptionStatus.PENDING)


def idempotency_key_for(changelog_id: str) -> str:
    """A GUID (Partner Center wants MS-RequestId as one), the same for every attempt on this change."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{Table.LICENSE_CHANGE_LOG}:{changelog_id.lower()}"))


@dataclass(frozen=True)
class Outcome:
    changelog_id: str
    status: str          # Provisioned | Failed | NotApplicable | Refused | AlreadyDone | NeedsReview | ManualAction
    message: str = ""
    order_id: str = ""
    replayed: bool = False


_STATUS_FOR = {
    Action.NOT_APPLICABLE: (ProvisioningStatus.NOT_APPLICABLE, "NotApplicable"),
    Action.REFUSE: (ProvisioningStatus.REFUSED, "Refused"),
    Action.FAIL: (ProvisioningStatus.FAILED, "Failed"),
}


def process_change(changelog_id: str, *, dv: DataverseClient, adapters: Adapters,
                   now: datetime | None = None) -> Outcome:
    now = now or datetime.now(UTC)
    try:
        change = change_logs.get_change(dv, changelog_id)
    except NotFoundError:
        return Outcome(changelog_id, "AlreadyDone", "the change log no longer exists")
    sub = subscriptions.provisioned(dv, change.subscription_id)
    account = provider_accounts.ordering_account(dv, sub.provider_account_id if sub is not None else None)
    if sub is None:
        plan = Plan(Action.FAIL, "the change log has no subscription")
    elif change.sending:
        # The rules passed when the order was first sent; what is left is to learn whether it was bought.
        plan = Plan(Action.ORDER, "an order send was interrupted")
    else:
        facts = _facts(change, sub, account)
        if facts.change_type == ChangeType.DECREASE:
            facts = replace(facts, seat_additions=seat_additions(dv, sub.id, changelog_id))
        plan = decide(facts, now)
        if plan.calls_provider or plan.action is Action.REFUSE:
            # A dated change is judged on its date (a seat decrease at renewal needs no refund window).
            timed = _scheduled(change, sub, account, adapters, now, dv, changelog_id)
            if timed is not None:
                return timed
        if plan.action is Action.ORDER and azure_plan.is_azure_plan(sub.product_id):
            refusal = azure_plan.plan_refusal_for(dv, str(sub.provider_account_id), sub.id)
            if refusal:
                plan = Plan(Action.REFUSE, refusal)
    if plan.action is Action.ALREADY_DONE:
        return Outcome(changelog_id, "AlreadyDone", plan.reason)
    if not plan.calls_provider:
        code, label = _STATUS_FOR[plan.action]
        _write_back(dv, changelog_id, code, error=plan.reason)
        if plan.action is Action.REFUSE:
            _revert_edit(dv, change, sub)
        return Outcome(changelog_id, label, plan.reason)
    assert sub is not None
    adapter = adapter_of(adapters, sub.provider)
    if adapter is None:
        message = f"no adapter configured for provider {sub.provider}"
        _write_back(dv, changelog_id, ProvisioningStatus.FAILED, error=message)
        return Outcome(changelog_id, "Failed", message)
    key = change.idempotency_key or idempotency_key_for(changelog_id)
    if plan.action is not Action.ORDER and (change.idempotency_key != key or not change.sent_on):
        # Written before the call: after a crash the next attempt finds the same key already in place.
        change_logs.record_key(dv, changelog_id, key, now)
    try:
        return _call_provider(plan.action, adapter, change, sub, account, key, dv, changelog_id, now)
    except RetriableError:
        raise
    except ManualActionRequired as exc:
        _write_back(dv, changelog_id, ProvisioningStatus.MANUAL_ACTION, error=exc.message)
        return Outcome(changelog_id, "ManualAction", exc.message)
    except ProviderRefused as exc:
        _write_back(dv, changelog_id, ProvisioningStatus.REFUSED, error=exc.message)
        _revert_edit(dv, change, sub)
        return Outcome(changelog_id, "Refused", exc.message)
    except FatalError as exc:
        message = f"provider refused the change: {exc.message}"
        _write_back(dv, changelog_id, ProvisioningStatus.FAILED, error=message)
        _revert_edit(dv, change, sub)
        return Outcome(changelog_id, "Failed", message)


def _scheduled(change: Change, sub: Provisioned, account: OrderingAccount | None,
               adapters: Adapters, now: datetime, dv: DataverseClient, changelog_id: str) -> Outcome | None:
    """A change log with a future effective date: wait for its day, or send it now as a change
    at renewal / cancel at term end (billing/scheduling.py). None when it is due now."""
    adapter = adapter_of(adapters, sub.provider)
    timing = scheduling.schedule_for(
        change_type=int(change.change_type or 0), effective=change.effective,
        now=now, commitment_end=parse_dt(sub.commitment_end), auto_renew=sub.auto_renew,
        next_term_supported=adapter is not None and adapter.schedules_next_term,
        auto_renew_supported=adapter is not None and adapter.sets_auto_renew)
    if timing.when is scheduling.When.NOW:
        return None
    if timing.when is scheduling.When.WAIT:
        return Outcome(changelog_id, "Scheduled", timing.reason)
    if timing.when is scheduling.When.REFUSE:
        _write_back(dv, changelog_id, ProvisioningStatus.REFUSED, error=timing.reason)
        return Outcome(changelog_id, "Refused", timing.reason)
    # Sending at renewal needed one of the adapter's declared capabilities, so there is an adapter.
    assert adapter is not None
    company = account.external_id if account is not None else None
    key = change.idempotency_key or idempotency_key_for(changelog_id)
    provider_sub: str = sub.provider_subscription_id or ""
    try:
        if timing.when is scheduling.When.AUTO_RENEW_OFF:
            adapter.set_auto_renew(provider_sub, False, key, company_id=company)
            subscriptions.set_auto_renew(dv, sub.id, False)
        else:
            quantity = int(change.new_quantity or sub.quantity or 0)
            item, term, frequency = change.target
            product: dict[str, str] = {}
            if item:
                product.update(zip(("productId", "skuId", "availabilityId"), item.split(":"), strict=False))
            if term:
                product["termDuration"] = term
            if frequency:
                product["billingCycle"] = {"P1M": "monthly", "P1Y": "annual", "P3Y": "triennial"}.get(frequency,
                                                                                                    frequency)
            adapter.schedule_next_term(provider_sub, quantity, key, company_id=company, product=product or None)
    except RetriableError:
        raise
    except FatalError as exc:
        message = f"provider refused the change: {exc.message}"
        _write_back(dv, changelog_id, ProvisioningStatus.FAILED, error=message)
        return Outcome(changelog_id, "Failed", message)
    # Provisioned: the provider holds it now; the error column carries what happens when, for the rep.
    _write_back(dv, changelog_id, ProvisioningStatus.PROVISIONED, error=None)
    return Outcome(changelog_id, "Provisioned", timing.reason)


def _cotermed(dv: DataverseClient, sub_id: str, start: str) -> str | None:
    """A rep's new subscription is co-termed to its billing contract (the sync refines it later):
    its first commitment end, or None when it is on no contract."""
    from dataverse.stores.terms import coterm_end

    began = parse_dt(start)
    end = coterm_end(dv, sub_id, began.date()) if began is not None else None
    return f"{end.isoformat()}T00:00:00Z" if end is not None else None


def _revert_edit(dv: DataverseClient, change: Change, sub: Provisioned | None) -> None:
    """A refused change that came from editing the subscription form: put the form back."""
    if sub is not None and str(change.change_key or "").startswith("rep|"):
        rep_changes.revert_refused(dv, sub.id, change.change_type, change.old_quantity)


def _call_provider(action: Action, adapter: DistributorAdapter, change: Change, sub: Provisioned,
                   account: OrderingAccount | None, key: str, dv: DataverseClient, changelog_id: str, now: datetime) -> Outcome:
    sub_id = sub.id
    if action is Action.ORDER:
        if account is None or not account.external_id:
            raise FatalError("the subscription has no provider account to order for")
        request = order_once.OrderRequest(
            changelog_id=changelog_id, subscription_id=sub_id, provider_account_id=account.id,
            company_id=account.external_id, product=sub.catalog_item, product_id=sub.product_id or "",
            sku_id=sub.sku_id or "", quantity=int(change.new_quantity or 0),
            billing_term=sub.billing_frequency or sub.term or "P1M",
            commitment_term=sub.term, key=key)
        result = order_once.place(adapter, dv, request, change=change, account=account, now=now)
        if isinstance(result, order_once.Review):
            _write_back(dv, changelog_id, ProvisioningStatus.NEEDS_REVIEW, error=result.message)
            return Outcome(changelog_id, "NeedsReview", result.message)
        provider_id = result.subscription_ids[0] if result.subscription_ids else None
        # The purchase starts the 7-day reduction window; the next subscription sync refines the dates.
        status = _ordered_status(adapter, result, provider_id, account)
        start = sub.start_date or now.strftime("%Y-%m-%dT%H:%M:%SZ")
        subscriptions.record_order(dv, sub_id, OrderPlaced(
            order_id=result.order_id, status=status, quantity=int(change.new_quantity or 0), start_date=start,
            provider_subscription_id=provider_id, commitment_end=_cotermed(dv, sub_id, start)))
        _write_back(dv, changelog_id, ProvisioningStatus.PROVISIONED, order_id=result.order_id)
        return Outcome(changelog_id, "Provisioned", result.message, result.order_id, result.replayed)
    provider_sub = sub.provider_subscription_id or ""
    company = account.external_id if account is not None else None
    if adapter.needs_company and not company:
        raise FatalError("the subscription has no provider account")
    if action is Action.TRANSITION:
        item, term, frequency = change.target
        if not adapter.transitions:
            # The provider's API cannot be asked: nothing is sent, and a person does it in its portal.
            raise ManualActionRequired(transitions.manual_steps(
                PROVIDER_NAMES[adapter.provider], company=company or "",
                subscription=provider_sub, item=item, term=term, frequency=frequency,
                quantity=int(change.new_quantity or sub.quantity or 0)))
        current = sub.catalog_item
        before = int(sub.quantity or 0)
        moved = int(change.new_quantity or before)
        done = adapter.transition(provider_sub, item or current, moved, term, frequency, key, company_id=company)
        new_id = transitions.record_transition(dv, sub_id, done, quantity_before=before, when=now)
        _write_back(dv, changelog_id, ProvisioningStatus.PROVISIONED)
        return Outcome(changelog_id, "Provisioned", f"transitioned to subscription {done.get('toSubscriptionId')} "
                                                    f"({new_id})")
    if action is Action.SET_QUANTITY:
        quantity = int(change.new_quantity)  # type: ignore[arg-type]  # the rules only set a quantity they have
        adapter.change_quantity(provider_sub, quantity, key, company_id=company)
        subscriptions.set_seats(dv, sub_id, quantity=quantity)
    else:
        adapter.cancel(provider_sub, key, company_id=company)
        subscriptions.set_seats(dv, sub_id, status=STATUS_CANCELLED)
    _write_back(dv, changelog_id, ProvisioningStatus.PROVISIONED)
    return Outcome(changelog_id, "Provisioned")


def status_after_order(label: str | None) -> int | None:
    """The subscription status for a provider's subscription or order status right after a purchase: any
    pending state (Pax8 PendingManual / PendingAutomated / WaitingForDetails, Partner Center
    `pending`) is Pending, so the subscription is never shown Active before the provider says so.
    None when the label says nothing about the subscription (e.g. "Provisioned", "completed")."""
    text = (label or "").strip().lower()
    if not text:
        return None
    if text.startswith(("pending", "waiting")) or text in ("processing", "inprogress", "in progress"):
        return STATUS_PENDING
    if text in ("active", "activated"):
        return STATUS_ACTIVE
    if text == "trial":
        return int(SubscriptionStatus.TRIAL)
    return None


def _ordered_status(adapter: DistributorAdapter, result: OrderResult, provider_id: str | None,
                    account: OrderingAccount | None) -> int:
    """Pending or Active, from the provider's subscription when it can be read (an order answer
    does not say whether the distributor still has to act), else from the order's status."""
    status = status_after_order(result.status)
    if provider_id:
        company = account.external_id if account is not None else None
        try:
            status = status_after_order(adapter.get_subscription(provider_id, company_id=company).status) or status
        except RetriableError:
            raise
        except FatalError as exc:
            # The order stands; the next subscription sync reads the status again.
            log.warning("could not read subscription %s after the order: %s", provider_id, exc.message)
    return STATUS_ACTIVE if status is None else status


def _facts(change: Change, sub: Provisioned, account: OrderingAccount | None) -> ChangeFacts:
    return ChangeFacts(
        change_type=int(change.change_type or 0),
        provisioning_status=int(change.provisioning_status or ProvisioningStatus.AWAITING),
        origin=change.origin,
        provider=sub.provider,
        old_quantity=change.old_quantity if change.old_quantity is not None else sub.quantity,
        new_quantity=change.new_quantity,
        term=sub.term,
        start=parse_dt(sub.start_date),
        commitment_end=parse_dt(sub.commitment_end),
        provider_subscription_id=sub.provider_subscription_id,
        mca_attested=bool(account and account.mca_attested),
        account_mapped=account is None or account.mapping_status != MappingStatus.UNMAPPED,
        target=":".join(p for p in change.target if p),
    )


def _write_back(dv: DataverseClient, changelog_id: str, status: int, *, error: str | None = None, order_id: str | None = None,
                ) -> None:
    change_logs.write_back(dv, changelog_id, status, error=error, order_id=order_id)


def handle_message(body: Mapping[str, Any], *, dv: DataverseClient | None = None, adapters: Adapters | None = None,
                   now: datetime | None = None, delivery_count: int | None = None,
                   max_attempts: int | None = None) -> Outcome | None:
    """One queue message from the webhook (or the CLI). Counts the attempt on the inbox row
    and marks the row with the result. A retriable failure leaves it Queued
    ("will retry") until the attempts reach `max_attempts` (the queue's max deliveries; the queue
    then dead-letters the message), when it is marked Failed with the last error: the payload stays
    on the inbox row, so nothing is lost. Only RetriableError leaves; other provider errors are
    recorded as Failed and the message completes."""
    from dataverse.client import client_or_default
    from shared.queue import DEFAULT_MAX_DELIVERIES

    dv = client_or_default(dv)
    if adapters is None:
        adapters = default_adapters()
    inbox_id = body.get("inboxId")
    attempts = inbox.begin_attempt(dv, inbox_id)
    limit = max_attempts or DEFAULT_MAX_DELIVERIES
    entity, record_id = body.get("entity"), body.get("recordId")
    if entity not in inbox.HANDLED_ENTITIES or not record_id:
        inbox.mark(dv, inbox_id, inbox.InboxStatus.PROCESSED, "nothing to provision")
        return None
    try:
        if entity == Table.ACTION_REQUEST:
            # Form commands are answered by jobs.worker (they reach billing and the inbox); never here.
            raise ValidationError("action requests are handled by jobs.worker.handle, not the provisioning worker")
        if entity == Table.AGREEMENT:
            from sync import mca

            attested = mca.attest(dv, adapters[Provider.PARTNER_CENTER], agreement_id=str(record_id))
            failed = attested.status == "Failed"
            inbox.mark(dv, inbox_id, inbox.InboxStatus.FAILED if failed else inbox.InboxStatus.PROCESSED,
                       attested.message or None)
            return None
        changelog_id: str | None = str(record_id)
        if entity == Table.SUBSCRIPTION:
            changelog_id = rep_changes.record_rep_change(dv, str(record_id), str(body.get("eventKey") or record_id),
                                                         now=now)
            if changelog_id is None:
                inbox.mark(dv, inbox_id, inbox.InboxStatus.PROCESSED, "no seat or status change")
                return None
        outcome = process_change(str(changelog_id), dv=dv, adapters=adapters, now=now)
    except RetriableError as exc:
        tried = max(attempts or 0, delivery_count or 0)
        if tried >= limit:
            inbox.mark(dv, inbox_id, inbox.InboxStatus.FAILED,
                       f"gave up after {tried} attempts; last error: {exc.message}")
        else:
            inbox.mark(dv, inbox_id, inbox.InboxStatus.QUEUED, f"will retry: {exc.message}")
        raise
    except IntegrationError as exc:
        inbox.mark(dv, inbox_id, inbox.InboxStatus.FAILED, exc.message)
        return Outcome(str(record_id), "Failed", exc.message)
    failed = outcome.status == "Failed"
    inbox.mark(dv, inbox_id, inbox.InboxStatus.FAILED if failed else inbox.InboxStatus.PROCESSED,
               outcome.message or None)
    return outcome


def default_adapters(settings: Settings | None = None) -> dict[Provider, DistributorAdapter]:
    """Provider -> adapter, built from the settings. Pax8 joins when its client
    id is configured (CSPB_PAX8_CLIENT_ID) or, in sandbox mode, when its URL is the loopback
    sandbox, so an installation without Pax8 never calls it. TD SYNNEX joins when
    CSPB_TDSYNNEX_ACCOUNT_ID is set (the sandbox's account is 5212)."""
    from distributors.partnercenter_adapter import PartnerCenterAdapter

    if settings is None:
        from shared.config import get_settings

        settings = get_settings()
    adapters: dict[Provider, DistributorAdapter] = {Provider.PARTNER_CENTER: PartnerCenterAdapter.from_settings(settings)}
    loopback = settings.pax8_url.startswith(("http://127.0.0.1", "http://localhost"))
    if settings.pax8_client_id or (settings.mode == "sandbox" and loopback):
        from distributors.pax8 import Pax8Adapter

        adapters[Provider.PAX8] = Pax8Adapter.from_settings(settings)
    # TD SYNNEX only when its account is configured (also in sandbox mode: its rotating refresh token
    # is state that a run against the wrong sandbox would spend).
    if settings.tdsynnex_account_id:
        from distributors.tdsynnex import TdSynnexAdapter

        adapters[Provider.TDSYNNEX] = TdSynnexAdapter.from_settings(settings)
    return adapters
