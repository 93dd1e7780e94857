"""The templates' shape: every page extends one of the layouts, htmx is configured in one
place, and links to the app's own routes are built from route names (`url_for`), never
written as paths. Read from the template sources, so a new page is held to it too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from jinja2 import Environment, FileSystemLoader, meta, nodes

from app.resources import TEMPLATES

PUBLIC_BASE = "layouts/public.html"
DASHBOARD_BASE = "layouts/dashboard.html"
HTMX = "layouts/_htmx.html"
PUBLIC_PAGES = {
    "profiles/page.html",
    "profiles/not_found.html",
    "payments/unlock_page.html",
    "payments/to_checkout.html",
    "payments/confirming.html",
}
DASHBOARDS = {"studio/dashboard.html", "payouts/dashboard.html"}
# The whole documents: every other page extends one of them.
DOCUMENTS = {"base.html", PUBLIC_BASE}

# Attributes whose value is an address the browser requests or navigates to.
URL_ATTRIBUTE = re.compile(
    r'\s(href|src|action|formaction|hx-get|hx-post|hx-put|hx-patch|hx-delete)="([^"]*)"'
)
EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
PATH_LITERAL = re.compile(r"""(["'])/[^"']*\1""")  # "/dashboard" inside an expression
EXTERNAL = re.compile(r"(https?:|mailto:|tel:)", re.IGNORECASE)

env = Environment(loader=FileSystemLoader(TEMPLATES))


def templates() -> Iterator[str]:
    """The app's templates; the Whop emulator's are its own."""
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if not name.startswith("emulator/"):
            yield name


def source(name: str) -> str:
    return (TEMPLATES / name).read_text()


def extended(name: str) -> str | None:
    found = env.parse(source(name)).find(nodes.Extends)
    if found is None:
        return None
    assert isinstance(found.template, nodes.Const), name
    return str(found.template.value)


def used(name: str) -> set[str]:
    """`name` and every template it extends, includes or imports, however deep."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            found = meta.find_referenced_templates(env.parse(source(current)))
            todo.extend(t for t in found if t is not None)
    return seen


@pytest.mark.parametrize("page", sorted(PUBLIC_PAGES))
def test_every_public_page_extends_the_public_layout(page):
    assert extended(page) == PUBLIC_BASE


@pytest.mark.parametrize("page", sorted(DASHBOARDS))
def test_every_dashboard_extends_the_dashboard_layout(page):
    assert extended(page) == DASHBOARD_BASE


def test_only_the_layouts_write_a_whole_document():
    """A page is a layout's blocks: no second <head> to keep in step with the first."""
    writers = {name for name in templates() if "<!doctype" in source(name).lower()}
    assert writers == DOCUMENTS
    pages = [n for n in templates() if not n.rsplit("/", 1)[-1].startswith("_")]
    loose = [n for n in pages if n not in DOCUMENTS and extended(n) is None]
    assert loose == []


def test_htmx_and_its_configuration_are_written_once_and_used_by_the_layouts():
    assert [n for n in templates() if "htmx-config" in source(n)] == [HTMX]
    assert [n for n in templates() if "vendor/htmx-" in source(n)] == [HTMX]
    users = {n for n in templates() if HTMX in meta.find_referenced_templates(env.parse(source(n)))}
    assert users == {PUBLIC_BASE, DASHBOARD_BASE}
    for page in PUBLIC_PAGES | DASHBOARDS:
        assert HTMX in used(page), page


def hard_coded_paths(name: str) -> Iterator[str]:
    text = source(name)
    for attribute, value in URL_ATTRIBUTE.findall(text):
        if EXTERNAL.match(value):
            continue
        literal = EXPRESSION.sub("", value)  # what is left once the expressions are gone
        if "/" in literal:
            yield f'{attribute}="{value}"'
    for tag in TAG.findall(text):
        for match in PATH_LITERAL.finditer(tag):
            yield f"{match.group(0)} in {tag}"


@pytest.mark.parametrize("name", list(templates()))
def test_links_to_the_app_are_built_from_route_names(name):
    """href/action/hx-get… hold an external URL, an #anchor, or an expression (url_for,
    asset, a URL the handler built); a path of ours written out in a template breaks
    silently when the route moves."""
    assert list(hard_coded_paths(name)) == []


def test_the_cached_public_page_depends_on_no_visitor():
    """/{handle} is rendered once and served to everyone from the page cache: nothing that
    carries one visitor's state (their CSRF token, the request) may be read while it renders."""
    for name in used("profiles/page.html"):
        assert not re.search(r"csrf_token|csrf_input|request\.", source(name)), name
