"""Sign in with Whop, sessions and guards."""
