"""Jinja2 set-up: autoescaped, strict about undefined names, with a cache-busting asset URL.

Links to the app's own routes come from Litestar's `url_for("<route name>", **path_params)`,
which reverses the route through the request in the template's context: a `Template`
response puts it there; a template rendered by hand must be given `request=`, and a macro
file that builds links must be imported `with context`.
"""

from __future__ import annotations

import hashlib
from functools import cache

from jinja2 import StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from app.config import Settings
from app.resources import STATIC, TEMPLATES


@cache
def _fingerprint(path: str) -> str:
    return hashlib.sha256((STATIC / path.lstrip("/")).read_bytes()).hexdigest()[:10]


def asset(path: str) -> str:
    """`/static/<path>?v=<content hash>`: safe to cache for a year, changes when the file does."""
    return f"/static/{path.lstrip('/')}?v={_fingerprint(path)}"


def template_config(settings: Settings) -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.undefined = StrictUndefined
        env.trim_blocks = True
        env.lstrip_blocks = True
        env.globals["asset"] = asset
        env.globals["app_url"] = settings.app_url

    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure
    )
