"""Piccolo's entry point: the engine comes from Linkmint's settings, never from os.environ.

It lives in the package so that it travels in the wheel; `app/__init__.py` points Piccolo at
it (PICCOLO_CONF). The repository's top-level piccolo_conf.py only re-exports it, for
Piccolo's own command run in a checkout (`piccolo migrations new app --auto`).
"""

from piccolo.conf.apps import AppRegistry

from app.config import load_settings
from app.db.engine import make_engine

DB = make_engine(load_settings())

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app", "app.emulator.piccolo_app"])
