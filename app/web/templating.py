"""Jinja2 set-up: autoescaped, strict about undefined names, with a cache-busting asset URL.

Links to the app's own routes come from Litestar's `url_for("<route name>", **path_params)`,
which reverses the route through the request in the template's context: a `Template`
response puts it there; a template rendered by hand must be given `request=`, and a macro
file that builds links must be imported `with context`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from time import monotonic
from typing import Any
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from litestar import Litestar
from litestar.exceptions import NoRouteMatchFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.types.internal_types import PathParameterDefinition
from litestar.utils.path import join_paths
from markupsafe import Markup

from app.config import Settings
from app.resources import STATIC, TEMPLATES
from app.shared.dates import format_date, format_datetime, machine_datetime

TEMPLATE_RECHECK_SECONDS = 1.0


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


# --- url_for -------------------------------------------------------------------------------
#
# Litestar's own `url_for` calls `app.route_reverse`, which finds the handler by name and
# sorts its routes on every call: a public page builds a dozen links (each link's ping
# address), and that search cost more than the rest of the page's links together. This one
# picks the route exactly as `route_reverse` does, once per route name and set of parameter
# names, and only fills in the values on each call. Routes are all registered before the
# app serves, so a choice never goes stale.

Component = str | PathParameterDefinition
# The parameter types `route_reverse` also accepts as strings.
_STRING_FORMS = frozenset({datetime, date, time, timedelta, float, Path, UUID})


def _route_components(app: Litestar, name: str, given: frozenset[str]) -> tuple[Component, ...]:
    """The path components of the route `app.route_reverse(name, **given)` fills in."""
    index = app.get_handler_index_by_name(name)
    if index is None:
        raise NoRouteMatchFoundException(f"Route {name} can not be found")
    routes = sorted(
        app.asgi_router.route_mapping[index["identifier"]],
        key=lambda route: len(route.path_parameters),
        reverse=True,
    )
    route = next((r for r in routes if given.issuperset(r.path_parameters)), routes[-1])
    return tuple(route.path_components)


def _filled(components: tuple[Component, ...], values: Mapping[str, Any]) -> str:
    output = []
    for component in components:
        if isinstance(component, str):
            output.append(component)
            continue
        value = values.get(component.name)
        if not isinstance(value, component.type) and (
            component.type not in _STRING_FORMS or not isinstance(value, str)
        ):
            raise NoRouteMatchFoundException(
                f"Received type for path parameter {component.name} doesn't match declared "
                f"type {component.type}"
            )
        output.append(str(value))
    path = "/".join(output)
    # Already what join_paths would make of it (the usual case): skip its regex.
    if path.startswith("/") and not path.endswith("/") and "//" not in path:
        return path
    return join_paths(output)


def url_builder() -> Callable[..., str]:
    """`{{ url_for("profiles:page", handle=...) }}` for one Jinja environment (one app's):
    what `request.app.route_reverse` answers."""
    chosen: dict[tuple[str, frozenset[str]], tuple[Component, ...]] = {}
    apps: list[Litestar] = []  # the app whose routes `chosen` holds

    @pass_context
    def url_for(context: Mapping[str, Any], route_name: Any, /, **path_parameters: Any) -> str:
        app: Litestar = context["request"].app
        if not isinstance(route_name, str):
            return app.route_reverse(route_name, **path_parameters)
        if not apps or apps[0] is not app:
            apps[:] = [app]
            chosen.clear()
        key = (route_name, frozenset(path_parameters))
        components = chosen.get(key)
        if components is None:
            components = chosen[key] = _route_components(app, *key)
        return _filled(components, path_parameters)

    return url_for


# --- templates from disk --------------------------------------------------------------------


class GlancingLoader(FileSystemLoader):
    """Jinja's loader, looking at a template's file for a change at most once a second
    (Jinja asks at every use): an edit still shows without a restart, and a page no longer
    costs a stat() for each template it extends, includes or imports."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        contents, filename, unchanged = super().get_source(environment, template)
        next_look = monotonic() + TEMPLATE_RECHECK_SECONDS

        def glanced() -> bool:
            nonlocal next_look
            now = monotonic()
            if now < next_look:
                return True
            next_look = now + TEMPLATE_RECHECK_SECONDS
            return unchanged()

        return contents, filename, glanced


def template_config(settings: Settings) -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.undefined = StrictUndefined
        env.trim_blocks = True
        env.lstrip_blocks = True
        env.globals["asset"] = asset
        env.globals["url_for"] = url_builder()  # in place of Litestar's (above)
        env.loader = GlancingLoader(TEMPLATES)
        env.globals["app_url"] = settings.app_url
        # One way to show a moment on every page (app.shared.dates); amounts come formatted
        # by app.shared.money.format_money.
        env.filters["date"] = date_tag
        env.filters["datetime"] = datetime_tag
        env.filters["day_label"] = format_date  # a calendar day (a `date`): "2 Dec 2026"

    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure
    )
