"""The public page /{handle}."""
