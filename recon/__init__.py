"""Reconciliation: provider recon files into Blob Storage, streaming aggregation into usage
summaries, matching against Dynamics, and the margin report. Billing rules proper stay in billing/."""
