"""The rendered public-page cache: hits, misses, invalidation across processes, ETag/304,
the listener going down, schedule boundaries, and what must never be cached."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import brotli
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.auth.sessions import cookie_name, start_session
from app.db.outage import DatabaseUnavailable
from app.db.tables import Creator, Link
from app.main import create_app
from app.profiles.cache import PageCache
from app.profiles.render import PageRenderer
from app.profiles.service import public_page
from tests.support.cache_support import (  # noqa: F401 (framework_calls: a fixture)
    FakeClock,
    as_sent,
    framework_calls,
    notifications_landed,
    wait_until,
)
from tests.support.servers import start_server

SECRET_URL = "https://secret.example/the-goods"


def live_cache(**kwargs) -> tuple[PageCache, FakeClock]:
    clock = FakeClock()
    cache = PageCache(clock=clock, **kwargs)
    cache.set_live(True)
    return cache, clock


# --- the cache itself ------------------------------------------------------------------


def test_a_stored_page_is_served_until_its_creator_is_invalidated():
    cache, _ = live_cache()
    cache.put("alice", cache.page(1, b"<p>a</p>", None), cache.generation)
    cache.put("bob", cache.page(2, b"<p>b</p>", None), cache.generation)
    assert cache.get("alice").body == b"<p>a</p>"
    cache.invalidate("1")
    assert cache.get("alice") is None
    assert cache.get("bob").body == b"<p>b</p>"
    cache.invalidate("*")  # what a TRUNCATE sends
    assert cache.get("bob") is None and len(cache) == 0


def test_a_page_loaded_before_an_invalidation_is_not_stored():
    cache, _ = live_cache()
    generation = cache.generation
    cache.invalidate("7")  # a write committed while the page was being loaded
    assert not cache.put("alice", cache.page(1, b"old", None), generation)
    assert cache.get("alice") is None


def test_entries_expire_after_the_ttl_or_at_the_next_schedule_boundary():
    cache, clock = live_cache(ttl=60)
    cache.put("alice", cache.page(1, b"a", None), cache.generation)
    cache.put("bob", cache.page(2, b"b", fresh_for=5.0), cache.generation)
    clock.now += 5.0
    assert cache.get("bob") is None  # a scheduled link starts or ends now
    assert cache.get("alice") is not None
    clock.now += 55.0
    assert cache.get("alice") is None
    assert not cache.put("carol", cache.page(3, b"c", fresh_for=0.0), cache.generation)


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    cache, _ = live_cache(max_entries=2)
    for n, handle in enumerate(("a", "b"), start=1):
        cache.put(handle, cache.page(n, handle.encode(), None), cache.generation)
    cache.get("a")  # a is now the most recent
    cache.put("c", cache.page(3, b"c", None), cache.generation)
    assert len(cache) == 2
    assert cache.get("b") is None and cache.get("a") and cache.get("c")


def test_nothing_is_stored_or_served_while_the_listener_is_down():
    cache, _ = live_cache()
    cache.put("alice", cache.page(1, b"a", None), cache.generation)
    cache.set_live(False)
    assert cache.get("alice") is None
    assert not cache.put("alice", cache.page(1, b"a", None), cache.generation)
    cache.set_live(True)
    assert cache.get("alice") is None  # notifications may have been missed meanwhile


def test_the_last_known_page_outlives_the_ttl_and_the_listener_but_not_an_invalidation():
    cache, clock = live_cache(ttl=60, max_entries=2)
    cache.put("alice", cache.page(1, b"a", None), cache.generation)
    cache.put("bob", cache.page(2, b"b", None), cache.generation)
    clock.now += 3600
    cache.set_live(False)
    assert cache.get("alice") is None  # never served as fresh
    assert cache.last_known("alice").body == b"a"  # but kept for an outage, however old
    cache.set_live(True)
    assert cache.get("alice") is None and cache.last_known("alice").body == b"a"
    cache.invalidate("1")  # those bytes are known to be wrong now
    assert cache.last_known("alice") is None and cache.last_known("bob").body == b"b"
    cache.set_live(False)
    assert not cache.put("carol", cache.page(3, b"c", None), cache.generation)
    cache.put("dave", cache.page(4, b"d", None), cache.generation)
    assert cache.last_known("carol").body == b"c"  # rendered while down: still the last known
    assert len(cache) == 2 and cache.last_known("bob") is None  # the same bound


def test_etags_match_as_if_none_match_says():
    cache, _ = live_cache()
    entry = cache.variant(cache.page(1, b"a", None), None)
    assert entry.matches(entry.etag)
    assert entry.matches(f'"nope", W/{entry.etag}')
    assert entry.matches("*")
    assert not entry.matches('"nope"') and not entry.matches(None)


# --- one process -------------------------------------------------------------------------


@pytest.fixture
async def cached(settings) -> AsyncIterator[tuple[AsyncTestClient, PageCache]]:
    """A client of an app with the page cache on (the shared test app has it off)."""
    app = create_app(settings, caches=True)
    cache: PageCache = app.state.page_cache
    async with AsyncTestClient(app, base_url=settings.app_url) as client:

        async def live() -> bool:
            return cache.live

        await wait_until(live)
        yield client, cache


@pytest.fixture
async def alice(make_creator, cached):
    creator = await make_creator(handle="alice", display_name="Alice")
    await Link.insert(Link(creator=creator["id"], title="Blog", url="https://blog.example"))
    # Those writes notify the cache; a late notification would drop the test's first page.
    await notifications_landed(cached[1])
    return creator


async def test_the_second_view_is_served_from_the_cache(cached, alice):
    client, cache = cached
    first = await client.get("/alice")
    second = await client.get("/alice")
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert second.content == first.content and "Blog" in second.text
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-type"].startswith("text/html")
    assert second.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert "default-src 'self'" in second.headers["content-security-policy"]
    assert len(cache) == 1


async def test_a_hit_is_answered_before_the_framework_with_the_same_head(
    cached, alice, framework_calls
):
    client, cache = cached
    first = await client.get("/alice")  # the miss: rendered, stored, its head captured
    second = await client.get("/alice")
    third = await client.get("/alice", params={"utm_source": "bio"})
    assert framework_calls == ["/alice"]  # the hits never reached Litestar
    assert third.status_code == 200 and third.content == first.content
    assert third.headers["x-cache"] == "hit"
    # The same head but what names one answer: the cache's verdict, and the id the routed
    # request got (a hit is not routed, so it carries none rather than the miss's).
    heads = [
        {k: v for k, v in r.headers.items() if k not in ("x-cache", "x-request-id")}
        for r in (first, second, third)
    ]
    assert heads[0] == heads[1] == heads[2]
    assert "x-request-id" in first.headers
    assert "x-request-id" not in second.headers and "x-request-id" not in third.headers
    assert "set-cookie" not in third.headers
    assert "default-src 'self'" in third.headers["content-security-policy"]


def _own_fields_aside(response: httpx.Response) -> dict[str, str]:
    """A page's head without what is each answer's own."""
    own = ("etag", "content-length", "x-cache", "x-request-id")
    return {k: v for k, v in response.headers.items() if k not in own}


async def test_a_miss_is_rendered_before_the_framework_with_the_same_head_and_bytes(
    cached, alice, make_creator, framework_calls
):
    client, cache = cached
    first = await client.get("/alice")  # through the app: the head to replay is captured
    bob = await make_creator(handle="bob", display_name="Bob")
    await Link.insert(Link(creator=bob["id"], title="Shop", url="https://shop.example"))
    await notifications_landed(cache)
    missed = await client.get("/bob")
    assert framework_calls == ["/alice"]  # Bob's miss never reached Litestar
    assert missed.status_code == 200 and missed.headers["x-cache"] == "miss"
    assert _own_fields_aside(missed) == _own_fields_aside(first)
    assert "x-request-id" not in missed.headers and "set-cookie" not in missed.headers
    # The bytes the handler would have rendered, stored as it would store them.
    rendered = await client.app.state.page_renderer.render("bob")
    assert missed.content == rendered.body and "Shop" in missed.text
    assert missed.headers["etag"] == cache.get("bob").variants["br"].etag
    assert int(missed.headers["content-length"]) == len(cache.get("bob").variants["br"].body)
    again = await client.get("/bob")
    assert again.headers["x-cache"] == "hit" and again.content == missed.content
    assert framework_calls == ["/alice"]


async def test_the_lane_leaves_what_only_the_app_can_answer_to_the_app(
    cached, alice, make_creator, framework_calls
):
    client, cache = cached
    await client.get("/alice")
    # A handle that is also the first segment of another route ("dashboard" is a well-formed
    # handle, and pages claimed before a rule tightened stay reachable): never shadowed.
    await make_creator(handle="dashboard")
    await notifications_landed(cache)
    framework_calls.clear()
    answer = await client.get("/dashboard", follow_redirects=False)
    assert framework_calls == ["/dashboard"] and answer.headers.get("x-cache") is None
    for path, status in (("/nobody", 404), ("/Alice", 301), ("/a b", 404)):
        framework_calls.clear()
        cache.clear()
        assert (await client.get(path, follow_redirects=False)).status_code == status
        assert framework_calls == [path]


async def test_while_the_database_cannot_be_reached_the_lane_sends_the_last_known_page(
    cached, alice, monkeypatch, framework_calls
):
    client, cache = cached
    fresh = await client.get("/alice")
    cache.set_live(False)  # the listener's connection went away …
    cache.set_live(True)  # … and came back: nothing stored so far is fresh
    assert cache.get("alice") is None and cache.last_known("alice") is not None

    async def unreachable(*args):
        raise DatabaseUnavailable("database unreachable (ConnectionRefusedError)")

    monkeypatch.setattr(PageRenderer, "render", unreachable)
    stale = await client.get("/alice")
    assert framework_calls == ["/alice"]  # only the first view
    assert stale.status_code == 200 and stale.headers["x-cache"] == "stale"
    assert stale.content == fresh.content and _own_fields_aside(stale) == _own_fields_aside(fresh)


async def test_conditional_and_other_requests_still_go_through_the_app(
    cached, alice, framework_calls
):
    client, cache = cached
    first = await client.get("/alice")
    await client.get("/alice")
    framework_calls.clear()
    etag = first.headers["etag"]
    assert (await client.get("/alice", headers={"if-none-match": etag})).status_code == 304
    assert (await client.head("/alice")).status_code == 200
    assert (await client.get("/Alice", follow_redirects=False)).status_code == 301
    assert (await client.get("/alice/theme.css")).status_code == 200
    assert framework_calls == ["/alice", "/alice", "/Alice", "/alice/theme.css"]


async def test_an_edit_ends_the_fast_answer_too(cached, alice, framework_calls):
    client, _ = cached
    await client.get("/alice")
    hit = await client.get("/alice")
    assert hit.headers["x-cache"] == "hit" and framework_calls == ["/alice"]
    await Creator.update({Creator.display_name: "Alice Again"}).where(Creator.id == alice["id"])

    async def renamed() -> bool:
        return "Alice Again" in (await client.get("/alice")).text

    await wait_until(renamed, within=1.0)


async def test_adding_or_switching_off_a_link_invalidates_the_page(cached, alice):
    client, _ = cached
    await client.get("/alice")
    rows = await Link.insert(
        Link(creator=alice["id"], title="Shop", url="https://shop.example")
    ).returning(Link.id)

    async def shows_shop() -> bool:
        return "Shop" in (await client.get("/alice")).text

    await wait_until(shows_shop, within=1.0)
    await Link.update({Link.enabled: False}).where(Link.id == rows[0]["id"])

    async def hides_shop() -> bool:
        return "Shop" not in (await client.get("/alice")).text

    await wait_until(hides_shop, within=1.0)


async def test_a_changed_handle_frees_the_old_address(cached, alice):
    client, _ = cached
    assert (await client.get("/alice")).status_code == 200
    await Creator.update({Creator.handle: "alicia"}).where(Creator.id == alice["id"])

    async def moved() -> bool:
        return (await client.get("/alice")).status_code == 404

    await wait_until(moved, within=1.0)
    assert (await client.get("/alicia")).status_code == 200


async def test_if_none_match_gets_a_304_without_a_body(cached, alice):
    client, _ = cached
    etag = (await client.get("/alice")).headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    for _cached_or_not in range(2):
        r = await client.get("/alice", headers={"if-none-match": etag})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["etag"] == etag
    r = await client.get("/alice", headers={"if-none-match": '"something-else"'})
    assert r.status_code == 200 and r.content


# --- content codings: compressed once, chosen per request --------------------------------

DECOMPRESS = {"br": brotli.decompress, "gzip": gzip.decompress, "identity": lambda body: body}


def _head(response: httpx.Response) -> dict[str, str]:
    """The headers that must be alike: all but where the answer came from and the
    request's own id."""
    return {k: v for k, v in response.headers.items() if k not in ("x-cache", "x-request-id")}


async def test_each_coding_is_sent_by_the_app_and_by_the_fast_lane_alike(
    cached, alice, framework_calls
):
    client, cache = cached
    identity = None
    for coding in ("br", "gzip", "identity"):
        (first, sent), (again, resent) = [
            await as_sent(client, "/alice", f"{coding}, identity;q=0.1") for _ in range(2)
        ]
        assert (first.status_code, again.status_code) == (200, 200)
        identity = identity or DECOMPRESS[coding](sent)  # the first view: the miss
        assert "Blog" in identity.decode() and DECOMPRESS[coding](sent) == identity
        assert resent == sent and _head(again) == _head(first)
        assert first.headers["vary"] == "accept-encoding"
        assert first.headers.get("content-encoding", "identity") == coding
        assert int(first.headers["content-length"]) == len(sent)
        suffix = "" if coding == "identity" else f"-{coding}"
        assert first.headers["etag"] == cache.get("alice").etag[:-1] + suffix + '"'
        assert "default-src 'self'" in again.headers["content-security-policy"]
        assert again.headers["x-cache"] == "hit"
    assert len(cache.get("alice").variants["br"].body) < len(identity) / 2
    # The first answer of each coding came from the app (a miss, then two hits whose head
    # was not captured yet); every repeat came from the fast lane.
    assert framework_calls == ["/alice"] * 3


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        (None, "identity"),
        ("identity", "identity"),
        ("gzip;q=0, br;q=0", "identity"),
        ("*;q=0", "identity"),  # identity excluded too: still identity, not a 406
        ("br;q=0, *", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip, deflate, br, zstd", "br"),
    ],
)
async def test_accept_encoding_is_honoured_with_its_q_values(
    cached, alice, accept_encoding, coding
):
    client, _ = cached
    for _through_the_app_then_the_lane in range(2):
        r, body = await as_sent(client, "/alice", accept_encoding)
        assert r.status_code == 200 and r.headers["vary"] == "accept-encoding"
        assert r.headers.get("content-encoding", "identity") == coding
        assert b"Blog" in DECOMPRESS[coding](body)


async def test_if_none_match_is_answered_per_variant(cached, alice):
    client, _ = cached
    br, _ = await as_sent(client, "/alice", "br")
    plain, _ = await as_sent(client, "/alice", None)
    assert br.headers["etag"] != plain.headers["etag"]
    holds_br = {"if-none-match": br.headers["etag"]}
    same, body = await as_sent(client, "/alice", "br", headers=holds_br)
    assert same.status_code == 304 and body == b""
    assert same.headers["etag"] == br.headers["etag"]
    assert same.headers["vary"] == "accept-encoding" and "content-encoding" not in same.headers
    # The client holds the brotli page but now accepts only gzip: that is another variant.
    other, body = await as_sent(client, "/alice", "gzip", headers=holds_br)
    assert other.status_code == 200 and other.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (await as_sent(client, "/alice", None))[1]
    held = {"if-none-match": plain.headers["etag"]}
    assert (await as_sent(client, "/alice", "identity", headers=held))[0].status_code == 304
    assert (await as_sent(client, "/alice", "gzip, br", headers=held))[0].status_code == 200


async def test_head_tells_the_variant_and_its_length(cached, alice):
    client, _ = cached
    for coding in ("br", "gzip", "identity"):
        got, body = await as_sent(client, "/alice", coding)
        headed, nothing = await as_sent(client, "/alice", coding, method="HEAD")
        assert headed.status_code == 200 and nothing == b""
        for name in ("etag", "vary", "content-length", "content-type", "cache-control"):
            assert headed.headers[name] == got.headers[name], name
        assert headed.headers.get("content-encoding") == got.headers.get("content-encoding")
        assert int(headed.headers["content-length"]) == len(body)


async def test_the_last_known_page_is_served_compressed_while_the_database_is_down(
    cached, alice, monkeypatch
):
    client, cache = cached
    fresh, fresh_body = await as_sent(client, "/alice", "gzip, br")
    cache.set_live(False)

    async def unreachable(*args):
        raise DatabaseUnavailable("database unreachable (ConnectionRefusedError)")

    monkeypatch.setattr(PageRenderer, "render", unreachable)
    stale, stale_body = await as_sent(client, "/alice", "gzip, br")
    assert stale.headers["x-cache"] == "stale" and stale.headers["content-encoding"] == "br"
    assert stale_body == fresh_body and stale.headers["etag"] == fresh.headers["etag"]
    assert _head(stale) == _head(fresh)
    gzipped, body = await as_sent(client, "/alice", "gzip")
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == brotli.decompress(stale_body) == cache.last_known("alice").body
    held = {"if-none-match": fresh.headers["etag"]}
    assert (await as_sent(client, "/alice", "br", headers=held))[0].status_code == 304


async def test_cached_pages_set_no_cookie_even_for_signed_in_visitors(cached, settings, alice):
    client, _ = cached
    client.cookies.set(cookie_name(settings.secure_cookies), await start_session(alice["id"]))
    for _ in range(2):
        r = await client.get("/alice")
        assert r.status_code == 200 and "set-cookie" not in r.headers
    assert r.headers["x-cache"] == "hit"


async def test_a_premium_links_url_never_reaches_the_cached_page(cached, make_creator):
    client, cache = cached
    bob = await make_creator(
        handle="bob", payout_enabled=True, whop_company_id="biz_Bob00000000001"
    )
    await Link.insert(
        Link(creator=bob["id"], kind="premium", title="The goods", url=SECRET_URL, price_cents=500)
    )
    pages = [await client.get("/bob") for _ in range(2)]
    assert [p.headers["x-cache"] for p in pages] == ["miss", "hit"]
    assert "The goods" in pages[1].text and "$5.00" in pages[1].text
    assert SECRET_URL not in pages[1].text
    assert SECRET_URL.encode() not in cache.get("bob").body


async def test_not_found_pages_are_not_cached(cached, make_creator):
    client, cache = cached
    assert (await client.get("/carol")).status_code == 404
    assert len(cache) == 0
    await make_creator(handle="carol")
    assert (await client.get("/carol")).status_code == 200  # no wait: nothing was cached


async def test_the_next_schedule_boundary_is_loaded_with_the_page(alice):
    soon = datetime.now(UTC) + timedelta(hours=1)
    await Link.insert(Link(creator=alice["id"], title="Later", url="https://e.com", starts_at=soon))
    page = await public_page("alice")
    assert page is not None and 3590 < page.changes_in <= 3600
    assert "Later" not in [link.title for link in page.links]


async def test_while_the_listener_is_down_every_view_renders_fresh(cached, alice):
    client, cache = cached
    listener = cache.listener
    await client.get("/alice")
    assert (await client.get("/alice")).headers["x-cache"] == "hit"

    good_dsn = listener.dsn
    listener.dsn = good_dsn.rsplit("/", 1)[0] + "/no_such_database_for_the_page_cache"
    listener.min_backoff = listener.max_backoff = 0.05
    await Creator.raw("SELECT pg_terminate_backend({})", listener.server_pid)

    async def down() -> bool:
        return not cache.live

    await wait_until(down)
    r = await client.get("/alice")
    assert r.headers["x-cache"] == "bypass" and cache.get("alice") is None
    assert cache.last_known("alice").body == r.content  # kept only for an outage
    await Creator.update({Creator.display_name: "Seen at once"}).where(Creator.id == alice["id"])
    assert "Seen at once" in (await client.get("/alice")).text  # no waiting: nothing cached

    listener.dsn = good_dsn  # the database is back: the listener reconnects by itself

    async def back() -> bool:
        return cache.live

    await wait_until(back)
    assert (await client.get("/alice")).headers["x-cache"] == "miss"
    assert (await client.get("/alice")).headers["x-cache"] == "hit"


async def test_while_the_database_cannot_be_reached_a_page_seen_before_is_served_stale(
    cached, alice, monkeypatch
):
    client, cache = cached
    fresh = await client.get("/alice")
    cache.set_live(False)  # the listener's connection went down with the database

    async def unreachable(*args):
        raise DatabaseUnavailable("database unreachable (ConnectionRefusedError)")

    monkeypatch.setattr(PageRenderer, "render", unreachable)
    stale = await client.get("/alice")
    assert stale.status_code == 200 and stale.headers["x-cache"] == "stale"
    assert stale.content == fresh.content and stale.headers["etag"] == fresh.headers["etag"]
    same = ("content-security-policy", "x-frame-options", "cache-control", "content-type")
    assert all(stale.headers[name] == fresh.headers[name] for name in same)
    assert "set-cookie" not in stale.headers
    etag = {"if-none-match": fresh.headers["etag"]}
    assert (await client.get("/alice", headers=etag)).status_code == 304
    never_seen = await client.get("/bob")
    assert never_seen.status_code == 503 and "Temporarily unavailable" in never_seen.text
    assert "default-src 'self'" in never_seen.headers["content-security-policy"]


# --- two processes sharing the database ---------------------------------------------------


@pytest.fixture(scope="module")
def two_servers() -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        servers = (start_server(stack, "a"), start_server(stack, "b"))  # both start at once
        for server in servers:
            server.wait_ready()
        yield tuple(server.url for server in servers)


async def test_an_edit_through_one_process_is_visible_through_the_other_within_a_second(
    two_servers, alice, settings
):
    a, b = two_servers
    async with httpx.AsyncClient() as http:

        async def view(base: str, **kwargs) -> httpx.Response:
            return await http.get(f"{base}/alice", **kwargs)

        for base in (a, b):
            await wait_until(lambda base=base: _is_hit(view(base)))  # listener up, page cached
            r = await view(base)
            assert r.headers["x-cache"] == "hit" and "set-cookie" not in r.headers
            assert "Alice" in r.text

        # The edit goes through process A's studio, as the creator would make it.
        token = await start_session(alice["id"])
        studio = httpx.AsyncClient(base_url=a, cookies={cookie_name(False): token})
        async with studio:
            csrf = (await studio.get("/dashboard")).cookies["lm_csrf"]
            saved = await studio.post(
                "/dashboard/profile",
                data={
                    "display_name": "Alice Edited",
                    "bio": "",
                    "avatar_url": "",
                    "theme": "mint",
                    "accent_color": "#0f9d76",
                },
                headers={"x-csrftoken": csrf, "hx-request": "true"},
            )
            assert saved.status_code == 200, saved.text

        async def b_shows_the_edit() -> bool:
            return "Alice Edited" in (await view(b)).text

        assert await wait_until(b_shows_the_edit, within=1.0) < 1.0
        assert "Alice Edited" in (await view(a)).text

        # And a write that no process made (psql, a migration) reaches both as well.
        await Creator.update({Creator.bio: "Written by hand"}).where(Creator.id == alice["id"])
        for base in (a, b):

            async def shows_bio(base: str = base) -> bool:
                return "Written by hand" in (await view(base)).text

            await wait_until(shows_bio, within=1.0)

        etag = (await view(b)).headers["etag"]
        assert (await view(b, headers={"if-none-match": etag})).status_code == 304


async def _is_hit(response) -> bool:
    return (await response).headers.get("x-cache") == "hit"
