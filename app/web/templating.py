"""Jinja2 set-up: autoescaped, strict about undefined names, with a cache-busting asset URL.

Links to the app's own routes come from Litestar's `url_for("<route name>", **path_params)`,
which reverses the route through the request in the template's context: a `Template`
response puts it there; a template rendered by hand must be given `request=`, and a macro
file that builds links must be imported `with context`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache

from jinja2 import StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from markupsafe import Markup

from app.config import Settings
from app.resources import STATIC, TEMPLATES
from app.shared.dates import format_date, format_datetime, machine_datetime


@cache
def _fingerprint(path: str) -> str:
    return hashlib.sha256((STATIC / path.lstrip("/")).read_bytes()).hexdigest()[:10]


def asset(path: str) -> str:
    """`/static/<path>?v=<content hash>`: safe to cache for a year, changes when the file does."""
    return f"/static/{path.lstrip('/')}?v={_fingerprint(path)}"


def date_tag(moment: datetime) -> Markup:
    """`{{ moment | date }}`: `<time datetime="2026-12-02T15:33:00+00:00">2 Dec 2026</time>`."""
    return Markup('<time datetime="{}">{}</time>').format(
        machine_datetime(moment), format_date(moment)
    )


def datetime_tag(moment: datetime) -> Markup:
    """`{{ moment | datetime }}`: the same `<time>`, reading `2 Dec 2026, 15:33`."""
    return Markup('<time datetime="{}">{}</time>').format(
        machine_datetime(moment), format_datetime(moment)
    )


def template_config(settings: Settings) -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.undefined = StrictUndefined
        env.trim_blocks = True
        env.lstrip_blocks = True
        env.globals["asset"] = asset
        env.globals["app_url"] = settings.app_url
        # One way to show a moment on every page (app.shared.dates); amounts come formatted
        # by app.shared.money.format_money.
        env.filters["date"] = date_tag
        env.filters["datetime"] = datetime_tag
        env.filters["day_label"] = format_date  # a calendar day (a `date`): "2 Dec 2026"

    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure
    )
