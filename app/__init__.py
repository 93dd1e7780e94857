"""Linkmint: a self-hostable link-in-bio service with paid unlocks through Whop."""

import os

# Piccolo imports its configuration by module name; Linkmint's travels in this package.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
