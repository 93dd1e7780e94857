"""18+ content: a page behind an interstitial (cached and fast-laned correctly), a link behind
a warning page, link previews that learn nothing, and the studio's switches for both."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from app.db.tables import Creator, Link
from app.main import create_app
from app.profiles.cache import PageCache
from tests.support.cache_support import (  # noqa: F401 (framework_calls: a fixture)
    framework_calls,
    notifications_landed,
    wait_until,
)
from tests.support.studio_support import HX, add_links, creator_row, link_rows, snapshot

BIO = "Spicy drawings, weekly."
AVATAR = "https://cdn.example.com/alice.png"
SECRET = "https://adults.example/gallery"


def meta(text: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', text)
    return html.unescape(found.group(1)) if found else None


def title(text: str) -> str:
    found = re.search(r"<title>(.*?)</title>", text, re.S)
    assert found
    return html.unescape(found.group(1))


def assert_tells_nothing(text: str) -> None:
    """What a link preview or a crawler could take from the page: nothing of the creator."""
    assert meta(text, "robots") == "noindex, nofollow"
    for key in ("description", "og:description", "og:image", "twitter:description"):
        assert meta(text, key) is None, key
    assert meta(text, "twitter:image") is None
    assert meta(text, "og:title") == "Sensitive content"
    assert title(text) == "Sensitive content · Linkmint"
    assert "Alice Example" not in text.split("</head>")[0]


def assert_interstitial(text: str) -> None:
    assert_tells_nothing(text)
    assert "This page may contain content for adults." in text
    assert '<a class="page-link" id="continue" href="/alice?adult=1" rel="nofollow">' in text
    assert 'id="go-back" href="/"' in text
    for private in (BIO, AVATAR, "Alice Example", "Gallery", SECRET, "example.com/0"):
        assert private not in text, private
    assert "<script" not in text


def assert_content(text: str) -> None:
    assert_tells_nothing(text)
    assert BIO in text and AVATAR in text and "Gallery" in text
    assert f'href="{SECRET}"' in text


@pytest.fixture
async def alice(make_creator):
    creator = await make_creator(
        handle="alice", display_name="Alice Example", bio=BIO, avatar_url=AVATAR, sensitive=True
    )
    await add_links(creator, {"title": "Gallery", "url": SECRET})
    return creator


# --- the page, without the cache --------------------------------------------------------


async def test_an_18_plus_page_answers_with_an_interstitial_that_tells_nothing(client, alice):
    r = await client.get("/alice")
    assert r.status_code == 200
    assert_interstitial(r.text)
    assert "set-cookie" not in r.headers
    head = await client.head("/alice")
    assert head.status_code == 200
    assert head.headers["etag"] == r.headers["etag"]  # the interstitial's, not the page's
    assert head.headers["content-length"] == r.headers["content-length"]


async def test_continue_shows_the_page_still_unindexed_and_without_a_preview(client, alice):
    r = await client.get("/alice?adult=1")
    assert r.status_code == 200
    assert_content(r.text)
    # Another query beside it changes nothing; any other value of `adult` is no consent.
    assert (await client.get("/alice?utm_source=bio&adult=1")).content == r.content
    for unconfirmed in ("/alice?adult=0", "/alice?adult=", "/alice?utm_source=bio"):
        assert_interstitial((await client.get(unconfirmed)).text)


async def test_the_canonical_redirect_keeps_the_confirmation(client, alice):
    r = await client.get("/Alice?adult=1", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/alice?adult=1"


async def test_a_page_for_everyone_keeps_its_preview_and_ignores_the_query(client, make_creator):
    await make_creator(handle="bob", display_name="Bob", bio="Bread.", avatar_url=AVATAR)
    for path in ("/bob", "/bob?adult=1"):
        r = await client.get(path)
        assert meta(r.text, "og:description") == "Bread." and meta(r.text, "og:image") == AVATAR
        assert meta(r.text, "robots") is None and "Bread." in r.text


# --- the cache and its fast lane ----------------------------------------------------------


@pytest.fixture
async def cached(settings) -> AsyncIterator[tuple[AsyncTestClient, PageCache]]:
    """A client of an app with the page cache and its fast lane on."""
    app = create_app(settings, caches=True)
    cache: PageCache = app.state.page_cache
    async with AsyncTestClient(app, base_url=settings.app_url) as client:

        async def live() -> bool:
            return cache.live

        await wait_until(live)
        yield client, cache


@pytest.fixture
async def cached_alice(alice, cached):
    await notifications_landed(cached[1])
    return alice


async def test_a_visitor_who_has_not_confirmed_never_gets_the_cached_page(
    cached, cached_alice, framework_calls
):
    client, _ = cached
    # A confirmed visitor primes the cache (and the fast lane's head) with the content.
    first = await client.get("/alice?adult=1")
    second = await client.get("/alice?adult=1")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert_content(second.text)
    # A new visitor asks for the page: the interstitial, rendered, then cached in turn.
    fresh = await client.get("/alice")
    assert fresh.headers["x-cache"] == "miss"
    assert_interstitial(fresh.text)
    again = await client.get("/alice", params={"utm_source": "bio"})
    assert again.headers["x-cache"] == "hit" and again.content == fresh.content
    # And the confirmed visitor still gets the content, not the interstitial: no loop.
    back = await client.get("/alice?adult=1")
    assert back.headers["x-cache"] == "hit"
    assert_content(back.text)
    # The very first view went through the app (the head to replay); every other view, the
    # interstitial's miss included, was answered by the lane.
    assert framework_calls == ["/alice"]
    assert fresh.headers["etag"] != first.headers["etag"]


async def test_a_confirmed_visitor_never_loops_through_a_cached_interstitial(
    cached, cached_alice, framework_calls
):
    client, _ = cached
    for _ in range(2):
        assert_interstitial((await client.get("/alice")).text)
    continued = await client.get("/alice?adult=1")
    assert continued.headers["x-cache"] == "miss"
    assert_content(continued.text)
    hit = await client.get("/alice?adult=1")
    assert hit.headers["x-cache"] == "hit" and hit.content == continued.content
    assert framework_calls == ["/alice"]  # the content's miss was rendered by the lane


async def test_a_conditional_request_is_answered_for_its_own_variant(cached, cached_alice):
    client, _ = cached
    content = await client.get("/alice?adult=1")
    interstitial = await client.get("/alice")
    held = {"if-none-match": content.headers["etag"]}
    assert (await client.get("/alice?adult=1", headers=held)).status_code == 304
    other = await client.get("/alice", headers=held)
    assert other.status_code == 200 and other.content == interstitial.content


async def test_marking_the_page_ends_the_cached_content_at_once(cached, make_creator):
    client, cache = cached
    bob = await make_creator(handle="bob", display_name="Bob", bio=BIO)
    await notifications_landed(cache)
    await client.get("/bob")
    assert (await client.get("/bob")).headers["x-cache"] == "hit"
    await Creator.update({Creator.sensitive: True}).where(Creator.id == bob["id"])

    async def behind_the_interstitial() -> bool:
        return "This page may contain content for adults." in (await client.get("/bob")).text

    await wait_until(behind_the_interstitial, within=1.0)


# --- a single 18+ link ------------------------------------------------------------------


@pytest.fixture
async def carol(make_creator):
    creator = await make_creator(handle="carol", display_name="Carol", bio="Photos.")
    rows = await add_links(
        creator,
        {"title": "Portfolio", "url": "https://portfolio.example"},
        {"title": "After dark", "url": SECRET, "sensitive": True},
        {"title": "Hidden", "url": "https://hidden.example", "sensitive": True, "enabled": False},
    )
    return creator, rows


async def test_an_18_plus_link_shows_a_badge_and_leads_through_a_warning(client, carol):
    _, (_, after_dark, _) = carol
    r = await client.get("/carol")
    warning = f"/carol/go/{after_dark['id']}"
    assert (
        f'<a class="page-link" href="{warning}" rel="nofollow">After dark '
        '<span class="page-badge">18+</span></a>'
    ) in r.text
    assert SECRET not in r.text and "adults.example" not in r.text
    assert 'href="https://portfolio.example"' in r.text  # the others are untouched
    assert meta(r.text, "og:description") == "Photos."  # the page itself is for everyone
    go = await client.get(warning)
    assert go.status_code == 200
    assert_tells_nothing(go.text)
    assert "This link may lead to content for adults." in go.text
    assert f'<a class="page-link" id="continue" href="{SECRET}" rel="noopener nofollow ugc">' in (
        go.text
    )
    assert 'id="go-back" href="/carol"' in go.text
    assert "Photos." not in go.text


async def test_only_a_visible_18_plus_link_of_that_page_has_a_warning(client, carol, make_creator):
    _, (portfolio, after_dark, hidden) = carol
    dave = await make_creator(handle="dave")
    [daves] = await add_links(dave, {"title": "Dave's", "url": SECRET, "sensitive": True})
    for path in (
        f"/dave/go/{after_dark['id']}",  # someone else's link
        f"/carol/go/{daves['id']}",
        f"/carol/go/{portfolio['id']}",  # not marked 18+
        f"/carol/go/{hidden['id']}",  # switched off
        "/carol/go/99999999999",  # no row can have it
        f"/nobody/go/{after_dark['id']}",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert SECRET not in r.text
    assert (await client.get(f"/dave/go/{daves['id']}")).status_code == 200


async def test_on_a_confirmed_18_plus_page_a_marked_link_goes_straight_there(client, alice):
    await Link.update({Link.sensitive: True}).where(Link.creator == alice["id"])
    r = await client.get("/alice?adult=1")
    assert f'href="{SECRET}"' in r.text and '<span class="page-badge">18+</span>' in r.text


# --- the studio ---------------------------------------------------------------------------


@pytest.fixture
async def signed_in(client, alice, sign_in):
    await sign_in(client, alice)
    return alice


PROFILE = {
    "display_name": "Alice Example",
    "bio": BIO,
    "avatar_url": AVATAR,
    "theme": "mint",
    "accent_color": "#0f9d76",
}


async def test_the_profile_box_marks_and_unmarks_the_page(client, signed_in):
    page = await client.get("/dashboard/")
    assert re.search(r'id="sensitive"\s+checked', page.text)
    assert "My page is for adults (18+)" in page.text
    r = await client.post("/dashboard/profile", data=PROFILE, headers=HX)
    assert r.status_code == 200
    assert not (await creator_row(signed_in))["sensitive"]
    assert not re.search(r'id="sensitive"\s+checked', r.text)
    public = await client.get("/alice")
    assert BIO in public.text  # the page is for everyone again
    r = await client.post(
        "/dashboard/profile", data={**PROFILE, "sensitive": "on"}, follow_redirects=False
    )
    assert r.status_code == 303  # without JavaScript: back to the studio
    assert (await creator_row(signed_in))["sensitive"]
    assert_interstitial((await client.get("/alice")).text)


async def test_the_live_preview_shows_the_content_with_an_18_plus_marker(client, signed_in):
    r = await client.get("/dashboard/preview", headers=HX)
    assert 'id="preview-sensitive"' in r.text and "18+" in r.text
    assert BIO in r.text and f'href="{SECRET}"' in r.text


async def test_a_forged_box_value_is_refused_beside_the_box(client, signed_in):
    before = await snapshot()
    r = await client.post("/dashboard/profile", data={**PROFILE, "sensitive": "yes"}, headers=HX)
    assert r.status_code == 422
    assert '<p class="field-error" id="sensitive-error">Tick the box or leave it clear.</p>' in (
        r.text
    )
    assert await snapshot() == before


async def test_a_link_is_added_and_edited_as_18_plus(client, signed_in):
    r = await client.post(
        "/dashboard/links",
        data={
            "kind": "link",
            "title": "Drafts",
            "url": "https://drafts.example",
            "sensitive": "on",
        },
        headers=HX,
    )
    assert r.status_code == 200
    drafts = (await link_rows(signed_in))[-1]
    assert drafts["title"] == "Drafts" and drafts["sensitive"]
    assert f'<span class="badge badge-warn" id="sensitive-{drafts["id"]}">18+</span>' in r.text
    editor = await client.get(f"/dashboard/links/{drafts['id']}/edit", headers=HX)
    assert re.search(rf'id="edit-sensitive-{drafts["id"]}"\s+checked', editor.text)
    saved = await client.post(
        f"/dashboard/links/{drafts['id']}",
        data={"title": "Drafts", "url": "https://drafts.example"},
        headers=HX,
    )
    assert saved.status_code == 200
    assert not (await link_rows(signed_in))[-1]["sensitive"]
    assert f'id="sensitive-{drafts["id"]}"' not in saved.text


@pytest.mark.parametrize("kind", ["header", "premium"])
async def test_only_a_free_link_can_be_18_plus(client, signed_in, kind):
    await Creator.update({Creator.payout_enabled: True}).where(Creator.id == signed_in["id"])
    before = await snapshot()
    r = await client.post(
        "/dashboard/links",
        data={"kind": kind, "title": "X", "url": SECRET, "price": "5", "sensitive": "on"},
        headers=HX,
    )
    assert r.status_code == 422
    assert 'id="new-sensitive-error">Only a free link can be marked 18+.' in r.text
    assert re.search(r'id="new-sensitive"\s+checked', r.text)  # what they typed is kept
    assert await snapshot() == before


async def test_someone_elses_link_cannot_be_marked(client, signed_in, make_creator):
    erin = await make_creator(handle="erin")
    [theirs] = await add_links(erin, {"title": "Theirs"})
    before = await snapshot()
    r = await client.post(
        f"/dashboard/links/{theirs['id']}",
        data={"title": "Theirs", "url": "https://example.com/0", "sensitive": "on"},
        headers=HX,
    )
    assert r.status_code == 404
    assert await snapshot() == before


async def test_marking_without_the_csrf_token_is_refused(client, signed_in):
    [gallery] = await link_rows(signed_in)
    del client.headers["x-csrftoken"]
    before = await snapshot()
    profile = await client.post("/dashboard/profile", data=PROFILE, headers=HX)
    link = await client.post(
        f"/dashboard/links/{gallery['id']}",
        data={"title": "Gallery", "url": SECRET, "sensitive": "on"},
        headers=HX,
    )
    assert (profile.status_code, link.status_code) == (403, 403)
    assert await snapshot() == before


async def test_premium_links_on_an_18_plus_page_keep_their_unlock_card(client, make_creator):
    creator = await make_creator(
        handle="fay", whop_company_id="biz_Fay", payout_enabled=True, sensitive=True
    )
    [premium] = await add_links(
        creator, {"kind": "premium", "title": "Extras", "url": SECRET, "price_cents": 500}
    )
    behind = await client.get("/fay")
    assert "Extras" not in behind.text and f"/u/{premium['id']}" not in behind.text
    page = await client.get("/fay?adult=1")
    card = f'hx-get="/u/{premium["id"]}"'
    assert card in page.text and "Extras" in page.text and SECRET not in page.text
    unlock = await client.get(f"/u/{premium['id']}", headers=HX)
    assert unlock.status_code == 200 and "Extras" in unlock.text and SECRET not in unlock.text
