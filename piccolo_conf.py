"""Piccolo's entry point: the engine comes from Linkmint's settings, never from os.environ."""

from piccolo.conf.apps import AppRegistry

from app.config import load_settings
from app.db.engine import make_engine

DB = make_engine(load_settings())

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app", "app.emulator.piccolo_app"])
