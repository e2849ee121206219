"""Tracking plans: versions, starter plans, and drafts inferred from traffic."""
