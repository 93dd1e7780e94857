"""Unlocks, checkout, convergence, the webhook inbox and reconciliation."""
