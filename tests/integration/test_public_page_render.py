"""How the public page is read and rendered on a cache miss: one statement, kept prepared
where the engine allows it, on the engine the caller names; links built as Litestar would
build them; templates read from disk once and looked at again only now and then."""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import Environment

from app.db.engine import BoundedPostgresEngine
from app.profiles.service import public_page
from app.web.templating import GlancingLoader
from tests.support.studio_support import add_links

PAGE_STATEMENT = "%FROM creator WHERE handle = $1"


class CountingEngine(BoundedPostgresEngine):
    """The app's database through an engine of its own, counting the connections it lends."""

    lent = 0

    @asynccontextmanager
    async def connection(self):
        self.lent += 1
        async with super().connection() as conn:
            yield conn


@asynccontextmanager
async def pooled_engine(settings, **config):
    engine = CountingEngine(
        config={"dsn": os.environ["DATABASE_URL"], **config},
        acquire_timeout=settings.db_acquire_timeout,
    )
    # One connection, so that each view uses the same one.
    await engine.start_connection_pool(min_size=1, max_size=1, **engine.pool_options())
    try:
        yield engine
    finally:
        await engine.close_connection_pool()


async def prepared_page_statements(engine: BoundedPostgresEngine) -> int:
    async with engine.connection() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1",
            PAGE_STATEMENT,
        )


@pytest.fixture
async def alice(make_creator):
    alice = await make_creator(handle="alice", display_name="Alice", accent_color="#ff5500")
    await add_links(
        alice,
        {"title": "Shop", "url": "https://shop.example"},
        {"kind": "header", "title": "Listen"},
        {"title": "Mail me", "url": "mailto:alice@example.com"},
    )
    return alice


async def test_the_page_is_read_through_the_engine_the_caller_names(settings, alice):
    async with pooled_engine(settings) as engine:
        page = await public_page("alice", engine=engine)
        assert engine.lent == 1
        assert await public_page("nobody", engine=engine) is None
        assert engine.lent == 2
    assert page is not None and page.name == "Alice"
    assert [(link.kind, link.title, link.href) for link in page.links] == [
        ("link", "Shop", "https://shop.example"),
        ("header", "Listen", None),
        ("link", "Mail me", "mailto:alice@example.com"),
    ]
    assert page == await public_page("alice")  # the app's own engine reads the same page


async def test_the_page_statement_is_prepared_once_per_connection(settings, alice):
    async with pooled_engine(settings) as engine:
        assert engine.prepared_statements
        for _ in range(3):
            assert (await public_page("alice", engine=engine)) is not None
        assert await prepared_page_statements(engine) == 1


async def test_without_prepared_statements_the_page_still_reads_right(settings, alice):
    """Behind a transaction pooler the engine keeps no statement prepared (asyncpg's
    statement_cache_size=0): the page is the same, and nothing is left prepared."""
    async with pooled_engine(settings, statement_cache_size=0) as engine:
        assert not engine.prepared_statements
        pages = [await public_page("alice", engine=engine) for _ in range(3)]
        assert await prepared_page_statements(engine) == 0
    assert pages[0] is not None and pages.count(pages[0]) == 3
    assert pages[0] == await public_page("alice")


def sample(kind: type) -> object:
    return {int: 7, str: "alice", Path: "img/og.png"}[kind]


def test_url_for_builds_every_named_route_as_litestar_does(app):
    url_for = app.template_engine.engine.globals["url_for"]
    context = {"request": SimpleNamespace(app=app)}
    checked = 0
    for route in app.routes:
        values = {p.name: sample(p.type) for p in route.path_parameters.values()}
        for handler in getattr(route, "route_handlers", ()):
            if handler.name:
                expected = app.route_reverse(handler.name, **values)
                assert url_for(context, handler.name, **values) == expected, handler.name
                assert url_for(context, handler.name, **values) == expected  # remembered
                checked += 1
    assert checked > 50


def test_an_edited_template_shows_without_a_restart(tmp_path):
    template = tmp_path / "page.html"
    template.write_text("one")
    env = Environment(loader=GlancingLoader(str(tmp_path)))
    assert env.get_template("page.html").render() == "one"
    template.write_text("two")
    stat = template.stat()
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    deadline = time.monotonic() + 10
    while env.get_template("page.html").render() != "two":
        assert time.monotonic() < deadline, "the edit never showed"
        time.sleep(0.05)
