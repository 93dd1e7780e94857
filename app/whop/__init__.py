"""The one place that speaks HTTP to Whop."""
