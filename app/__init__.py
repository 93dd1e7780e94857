"""Linkmint: a self-hostable link-in-bio service with paid unlocks through Whop."""
