"""What Piccolo's own command looks for when run in a checkout (`piccolo migrations new app
--auto`). Linkmint's configuration is app/piccolo_conf.py, which travels in the wheel."""

from app.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
