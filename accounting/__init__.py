"""Accounting export: QuickBooks Online, Business Central, and a generic CSV/JSON journal."""
