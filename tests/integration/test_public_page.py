"""The public page /{handle}: what visitors see, with JavaScript off."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.db.tables import Link
from app.profiles.service import theme_version
from tests.support.studio_support import add_links


def hrefs(text: str) -> list[str]:
    return re.findall(r'<a class="page-link" href="([^"]*)"', text)


def meta(text: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', text)
    return html.unescape(found.group(1)) if found else None


@pytest.fixture
async def alice(make_creator):
    return await make_creator(
        handle="alice",
        display_name="Alice Example",
        bio="I make <b>things</b>.\nDaily.",
        avatar_url="https://cdn.example.com/alice.png",
        theme="ocean",
        accent_color="#ff5500",
    )


async def test_the_page_shows_the_profile_and_links_in_order(client, alice):
    await add_links(
        alice,
        {"title": "Shop", "url": "https://shop.example"},
        {"kind": "header", "title": "Listen"},
        {"title": "Podcast", "url": "https://pod.example/ep?1=2&b=3"},
        {"title": "Mail me", "url": "mailto:alice@example.com"},
    )
    r = await client.get("/alice")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<h1 class="page-name">Alice Example</h1>' in r.text
    assert "I make &lt;b&gt;things&lt;/b&gt;." in r.text  # escaped, never markup
    assert hrefs(r.text) == [
        "https://shop.example",
        "https://pod.example/ep?1=2&amp;b=3",
        "mailto:alice@example.com",
    ]
    assert r.text.index("Shop") < r.text.index("Listen") < r.text.index("Podcast")
    assert '<li class="page-section"><h2>Listen</h2></li>' in r.text


async def test_links_are_ordered_by_position_then_id(client, alice):
    for title, position in (("Second", 1), ("First", 0), ("Third", 1)):
        await Link.insert(
            Link(creator=alice["id"], title=title, url="https://e.com", position=position)
        )
    r = await client.get("/alice")
    assert r.text.index("First") < r.text.index("Second") < r.text.index("Third")


async def test_every_link_has_rel_noopener_nofollow_ugc(client, alice):
    await add_links(alice, {"title": "A"}, {"title": "B"}, {"title": "C", "url": "tel:+15551234"})
    r = await client.get("/alice")
    anchors = re.findall(r'<a class="page-link"[^>]*>', r.text)
    assert len(anchors) == 3
    assert all('rel="noopener nofollow ugc"' in a for a in anchors)
    assert all("target=" not in a for a in anchors)


async def test_disabled_links_are_hidden(client, alice):
    await add_links(alice, {"title": "Visible"}, {"title": "Switched off", "enabled": False})
    r = await client.get("/alice")
    assert "Visible" in r.text and "Switched off" not in r.text


async def test_links_outside_their_time_window_are_hidden(client, alice):
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    await add_links(
        alice,
        {"title": "Not yet", "starts_at": now + hour},
        {"title": "Over", "ends_at": now - hour},
        {"title": "Running", "starts_at": now - hour, "ends_at": now + hour},
        {"title": "Started", "starts_at": now - hour},
        {"title": "Until later", "ends_at": now + hour},
    )
    r = await client.get("/alice")
    for shown in ("Running", "Started", "Until later"):
        assert shown in r.text
    for hidden in ("Not yet", "Over"):
        assert hidden not in r.text


async def test_premium_links_never_reach_the_page_yet(client, alice):
    await add_links(
        alice,
        {"title": "Free"},
        {"kind": "premium", "title": "Secret", "url": "https://secret.example", "price_cents": 500},
    )
    r = await client.get("/alice")
    assert "Free" in r.text
    assert "secret.example" not in r.text


@pytest.mark.parametrize(
    "stored",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://user:pw@example.com",
        "ftp://example.com/file",
    ],
)
async def test_an_unsafe_stored_url_is_shown_as_text_not_as_a_link(client, alice, stored):
    """Rows written before a rule tightened, or edited by hand, are re-checked at render."""
    await add_links(
        alice, {"title": "Good", "url": "https://good.example"}, {"title": "Bad", "url": stored}
    )
    r = await client.get("/alice")
    assert hrefs(r.text) == ["https://good.example"]
    assert '<span class="page-link is-unavailable">Bad</span>' in r.text
    lowered = html.unescape(r.text).lower()
    for bad in ("javascript:", "data:text", "user:pw", "ftp://"):
        assert bad not in lowered


async def test_titles_are_escaped(client, alice):
    await add_links(alice, {"title": '<script>alert("x")</script>', "url": "https://e.com"})
    r = await client.get("/alice")
    assert "<script>" not in r.text
    assert "&lt;script&gt;" in r.text


async def test_open_graph_and_twitter_tags_describe_the_page(client, alice, settings):
    r = await client.get("/alice")
    url = f"{settings.app_url}/alice"
    assert meta(r.text, "og:title") == "Alice Example"
    assert meta(r.text, "og:description") == "I make <b>things</b>.\nDaily."
    assert meta(r.text, "og:image") == "https://cdn.example.com/alice.png"
    assert meta(r.text, "og:url") == url
    assert meta(r.text, "og:type") == "profile"
    assert meta(r.text, "twitter:card") == "summary"
    assert meta(r.text, "twitter:title") == "Alice Example"
    assert meta(r.text, "twitter:description") == "I make <b>things</b>.\nDaily."
    assert meta(r.text, "twitter:image") == "https://cdn.example.com/alice.png"
    assert meta(r.text, "description") == "I make <b>things</b>.\nDaily."
    assert f'<link rel="canonical" href="{url}">' in r.text
    assert "<title>Alice Example (@alice) · Linkmint</title>" in r.text


async def test_a_bare_profile_falls_back_to_the_handle_and_a_monogram(client, make_creator):
    await make_creator(handle="zed", avatar_url="http://insecure.example/a.png")
    r = await client.get("/zed")
    assert meta(r.text, "og:title") == "@zed"
    assert meta(r.text, "og:description") == "@zed on Linkmint"
    # No photo to show: previews get Linkmint's logo (tests/integration/test_page_metadata.py).
    assert "/static/img/og.png" in meta(r.text, "og:image")
    assert meta(r.text, "twitter:image") == meta(r.text, "og:image")
    assert "insecure.example" not in r.text  # http avatars are never shown
    assert '<span class="page-avatar page-monogram" aria-hidden="true">Z</span>' in r.text
    assert "Nothing here yet" in r.text  # no links: an empty state, not a blank page


async def test_the_theme_preset_is_a_body_class_and_the_accent_a_stylesheet(client, alice):
    r = await client.get("/alice")
    assert '<body class="public theme-ocean">' in r.text
    version = theme_version("#ff5500")
    assert f'<link rel="stylesheet" href="/alice/theme.css?v={version}">' in r.text
    css = await client.get(f"/alice/theme.css?v={version}")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "--page-accent: #ff5500;" in css.text
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-security-policy" in css.headers
    stale = await client.get("/alice/theme.css?v=old")
    assert stale.headers["cache-control"] == "public, max-age=60"
    assert "--page-accent: #ff5500;" in stale.text
    missing = await client.get("/nobody/theme.css")
    assert missing.status_code == 404


async def test_the_accent_ink_keeps_text_readable(client, make_creator):
    await make_creator(handle="light", accent_color="#ffee00")
    await make_creator(handle="dark", accent_color="#1a237e")
    assert "--page-accent-ink: #111111;" in (await client.get("/light/theme.css")).text
    assert "--page-accent-ink: #ffffff;" in (await client.get("/dark/theme.css")).text


async def test_the_page_needs_no_javascript_and_no_inline_style(client, alice):
    await add_links(alice, {"title": "Shop"})
    r = await client.get("/alice")
    # Only small deferred scripts of our own that enhance it (the Share button is hidden
    # without them).
    scripts = re.findall(r"<script[^>]*>", r.text)
    own = r'<script src="/static/js/[a-z-]+\.js\?v=[0-9a-f]+" defer>'
    assert all(re.fullmatch(own, script) for script in scripts), scripts
    assert any("/static/js/share.js" in script for script in scripts)
    assert "htmx" not in r.text
    assert " style=" not in r.text and "<style" not in r.text
    assert "hx-" not in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp


async def test_the_page_sets_no_cookie_and_is_revalidated(app, settings, alice):
    async with AsyncTestClient(app, base_url=settings.app_url) as fresh:
        r = await fresh.get("/alice")
    assert r.status_code == 200
    assert "set-cookie" not in r.headers
    assert r.headers["cache-control"] == "public, max-age=0, must-revalidate"


@pytest.mark.parametrize("path", ["/Alice", "/ALICE", "/@alice"])
async def test_handles_in_the_url_are_case_insensitive(client, alice, path):
    r = await client.get(path, follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "/alice"
    assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize(
    "path,claimable",
    [
        ("/nobody", True),
        ("/x", False),
        ("/bad-handle!", False),
        ("/login", False),
        ("/index.html", False),
        ("/a..b", False),
        ("/" + "a" * 40, False),
    ],
)
async def test_an_unknown_handle_gets_a_friendly_404(client, path, claimable):
    r = await client.get(path)
    assert r.status_code == 404
    assert "Nothing here yet" in r.text
    assert ("It could be yours" in r.text) is claimable
    assert "<script" not in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]


async def test_the_routes_of_the_app_are_not_shadowed_by_handles(client):
    assert (await client.get("/healthz")).text == "ok\n"
    assert (await client.get("/static/css/page.css")).status_code == 200
    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 303


async def test_the_page_stylesheet_is_served(client):
    r = await client.get("/static/css/page.css")
    assert r.status_code == 200
    for theme in ("mint", "midnight", "sunrise", "paper", "ocean"):
        assert f".theme-{theme}" in r.text


async def test_head_answers_what_get_would_without_the_body(client, alice):
    got = await client.get("/alice")
    headed = await client.head("/alice")
    assert headed.status_code == 200 and headed.content == b""
    for name in ("etag", "cache-control", "content-security-policy"):
        assert headed.headers[name] == got.headers[name]
    assert headed.headers["content-type"].startswith("text/html")
    moved = await client.head("/Alice", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/alice"
    assert (await client.head("/nobody.here")).status_code == 404
    assert "set-cookie" not in headed.headers
