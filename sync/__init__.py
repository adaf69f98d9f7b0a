"""Sync and provisioning between Dynamics and the providers (catalog, provider accounts,
subscriptions, webhook-driven provisioning, MCA, Azure plan)."""
