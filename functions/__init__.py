"""Triggers. Each module defines one `bp = func.Blueprint()`; list it here to register it.

Triggers only decode input, call one service function, and map the result. Only
RetriableError is allowed to reach the host."""

from __future__ import annotations

import importlib

# Add a module name here when you add a trigger module.
BLUEPRINT_MODULES: list[str] = [
    # sync area
    "dataverse_webhook", "provisioning_worker", "catalog_timer", "accounts_timer", "subscription_sync_timer",
    "subscription_sync_worker", "catalog_worker", "price_preview_timer", "inbox_sweeper_timer",
    "scheduled_changes_timer", "trials_timer",
    # portal area
    "portal_http",
    # distributors / payments / accounting area
    "payment_webhook", "authorizenet_webhook", "post_invoice", "journal_timer", "dunning_timer",
    # billing area
    "billing_timer", "billing_worker", "billing_preview_http",
    # recon area
    "recon_timer", "assessment_timer",
]

BLUEPRINTS = [importlib.import_module(f"functions.{name}").bp for name in BLUEPRINT_MODULES]
