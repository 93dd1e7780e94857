"""The social icons row: added, edited, moved and removed in the studio, shown on the page."""

from __future__ import annotations

import gzip
import re

import pytest
from litestar.testing import AsyncTestClient

from app.db.tables import CreatorSocial
from app.main import create_app
from app.profiles.cache import PageCache
from app.shared.socials import NETWORKS
from tests.support.cache_support import notifications_landed, wait_until
from tests.support.social_cases import ACCEPTED, REFUSED
from tests.support.studio_support import HX, snapshot


@pytest.fixture
async def alice(client, make_creator, sign_in):
    creator = await make_creator(handle="alice", display_name="Alice")
    await sign_in(client, creator)
    return creator


async def socials(creator) -> list[dict]:
    return await (
        CreatorSocial.select(CreatorSocial.network, CreatorSocial.url, CreatorSocial.label)
        .where(CreatorSocial.creator == creator["id"])
        .order_by(CreatorSocial.position, CreatorSocial.id)
    )


async def add(client, network: str, value: str, **kwargs):
    return await client.post(
        "/dashboard/socials", data={"network": network, "value": value}, **kwargs
    )


def social_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="social-(\d+)"', html)]


# --- adding -------------------------------------------------------------------------------


async def test_adding_a_profile_stores_its_canonical_address_and_answers_with_the_card(
    client, alice
):
    r = await add(
        client, "instagram", " https://www.instagram.com/alice.art/?igsh=xyz ", headers=HX
    )
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert r.text.lstrip().startswith('<section id="socials"')
    assert "Instagram saved: @alice.art." in r.text
    assert "Instagram: @alice.art" in r.text and "https://www.instagram.com/alice.art/" in r.text
    assert await socials(alice) == [
        {
            "network": "instagram",
            "url": "https://www.instagram.com/alice.art/",
            "label": "@alice.art",
        }
    ]
    # The add form is cleared for the next one.
    assert 'value=""' in r.text.split('id="social-value"')[1][:80]


@pytest.mark.parametrize("network,pasted,url,label", ACCEPTED)
async def test_every_networks_accepted_forms_are_stored_canonically(
    client, alice, network, pasted, url, label
):
    r = await add(client, network, pasted, headers=HX)
    assert r.status_code == 200, r.text
    assert await socials(alice) == [{"network": network, "url": url, "label": label}]


@pytest.mark.parametrize("network,pasted", REFUSED)
async def test_what_is_not_that_networks_profile_is_refused_beside_the_field(
    client, alice, network, pasted
):
    before = await snapshot(CreatorSocial)
    r = await add(client, network, pasted, headers=HX)
    assert r.status_code == 422
    assert 'id="social-value-error"' in r.text and 'aria-invalid="true"' in r.text
    if network != "website":
        assert NETWORKS[network].refusal.replace("'", "&#39;") in r.text
    assert await snapshot(CreatorSocial) == before
    assert "hx-trigger" not in r.headers


async def test_an_unknown_network_is_refused(client, alice):
    r = await add(client, "myspace", "@alice", headers=HX)
    assert r.status_code == 422
    assert "Choose one of the networks listed." in r.text
    assert await socials(alice) == []


async def test_the_instagram_refusal_reads_as_promised(client, alice):
    r = await add(client, "instagram", "https://www.youtube.com/@alice", headers=HX)
    assert r.status_code == 422
    assert (
        "That is not an Instagram profile: use your handle like @name or a link to "
        "instagram.com/name." in r.text
    )


async def test_adding_a_network_again_replaces_its_address_in_place(client, alice):
    await add(client, "x", "@first", headers=HX)
    await add(client, "github", "octocat", headers=HX)
    r = await add(client, "x", "@second", headers=HX)
    assert r.status_code == 200
    assert await socials(alice) == [
        {"network": "x", "url": "https://x.com/second", "label": "@second"},
        {"network": "github", "url": "https://github.com/octocat", "label": "@octocat"},
    ]


async def test_without_javascript_an_add_redirects_back_and_a_refusal_shows_the_studio(
    client, alice
):
    r = await add(client, "mastodon", "alice@mastodon.social", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard#socials"
    r = await add(client, "mastodon", "just-alice")
    assert r.status_code == 422
    assert "<html" in r.text and 'id="socials"' in r.text
    assert "That is not a Mastodon profile" in r.text
    assert 'value="just-alice"' in r.text  # what they typed is kept
    assert '<option value="mastodon" selected>' in r.text
    assert await socials(alice) == [
        {
            "network": "mastodon",
            "url": "https://mastodon.social/@alice",
            "label": "@alice@mastodon.social",
        }
    ]


# --- editing, moving, removing ----------------------------------------------------------


async def test_a_profile_is_edited_inline(client, alice):
    r = await add(client, "github", "octocat", headers=HX)
    [social_id] = social_ids(r.text)
    r = await client.get(f"/dashboard/socials/{social_id}/edit", headers=HX)
    assert r.status_code == 200
    assert (
        f'id="social-edit-{social_id}"' in r.text and 'value="https://github.com/octocat"' in r.text
    )

    r = await client.post(
        f"/dashboard/socials/{social_id}", data={"value": "not a name"}, headers=HX
    )
    assert r.status_code == 422
    assert "That is not a GitHub profile" in r.text
    assert (await socials(alice))[0]["url"] == "https://github.com/octocat"

    r = await client.post(
        f"/dashboard/socials/{social_id}", data={"value": "github.com/hubot"}, headers=HX
    )
    assert r.status_code == 200 and r.headers["hx-trigger"] == "page-changed"
    assert "GitHub saved: @hubot." in r.text
    assert f'id="social-edit-{social_id}"' not in r.text  # the editor is closed
    assert await socials(alice) == [
        {"network": "github", "url": "https://github.com/hubot", "label": "@hubot"}
    ]


async def test_without_javascript_edit_opens_in_the_whole_studio_and_saves_with_a_redirect(
    client, alice
):
    await add(client, "email", "me@example.com", headers=HX)
    [social_id] = social_ids((await client.get("/dashboard/")).text)
    r = await client.get(f"/dashboard/socials/{social_id}/edit")
    assert r.status_code == 200 and "<html" in r.text
    assert 'value="me@example.com"' in r.text
    r = await client.post(
        f"/dashboard/socials/{social_id}", data={"value": "you@example.com"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#socials"
    assert (await socials(alice))[0]["url"] == "mailto:you@example.com"


async def test_profiles_move_up_and_down_and_the_page_follows(client, alice):
    for network, value in (("x", "@a"), ("github", "b-b"), ("twitch", "cccc")):
        await add(client, network, value, headers=HX)
    ids = social_ids((await client.get("/dashboard/socials", headers=HX)).text)
    r = await client.post(f"/dashboard/socials/{ids[2]}/move", data={"direction": "up"}, headers=HX)
    assert r.status_code == 200 and "Moved Twitch up." in r.text
    assert social_ids(r.text) == [ids[0], ids[2], ids[1]]
    r = await client.post(
        f"/dashboard/socials/{ids[0]}/move", data={"direction": "down"}, headers=HX
    )
    assert social_ids(r.text) == [ids[2], ids[0], ids[1]]
    assert [s["network"] for s in await socials(alice)] == ["twitch", "x", "github"]
    page = (await client.get("/alice")).text
    assert page.index("Twitch: @cccc") < page.index("X: @a") < page.index("GitHub: @b-b")
    r = await client.post(
        f"/dashboard/socials/{ids[0]}/move", data={"direction": "sideways"}, headers=HX
    )
    assert r.status_code == 400


async def test_a_profile_is_removed(client, alice):
    r = await add(client, "spotify", "spotify:artist:abc123", headers=HX)
    [social_id] = social_ids(r.text)
    r = await client.post(f"/dashboard/socials/{social_id}/delete", headers=HX)
    assert r.status_code == 200 and r.headers["hx-trigger"] == "page-changed"
    assert "Removed Spotify." in r.text and "No social icons yet" in r.text
    assert await socials(alice) == []
    r = await client.post(f"/dashboard/socials/{social_id}/delete", follow_redirects=False)
    assert r.status_code == 404


async def test_someone_elses_profile_is_not_found(
    client, other_client, alice, make_creator, sign_in
):
    bob = await make_creator(handle="bob")
    await sign_in(other_client, bob)
    r = await add(other_client, "x", "@bob", headers=HX)
    [bobs] = social_ids(r.text)
    before = await snapshot(CreatorSocial)
    for method, path, data in [
        ("get", f"/dashboard/socials/{bobs}/edit", None),
        ("post", f"/dashboard/socials/{bobs}", {"value": "@alice"}),
        ("post", f"/dashboard/socials/{bobs}/move", {"direction": "up"}),
        ("post", f"/dashboard/socials/{bobs}/delete", {}),
        ("post", "/dashboard/socials/99999999999/delete", {}),
        ("get", "/dashboard/socials/0/edit", None),
    ]:
        if method == "get":
            r = await client.get(path, headers=HX)
        else:
            r = await client.post(path, data=data, headers=HX)
        assert r.status_code == 404, path
    assert await snapshot(CreatorSocial) == before


async def test_a_write_without_the_csrf_token_is_refused(client, alice):
    del client.headers["x-csrftoken"]
    r = await add(client, "x", "@alice", headers=HX)
    assert r.status_code == 403
    assert await socials(alice) == []


async def test_signed_out_visitors_cannot_add(client, make_creator):
    creator = await make_creator(handle="carol")
    r = await add(client, "x", "@carol", follow_redirects=False)
    assert r.status_code in (302, 303, 401)
    assert await socials(creator) == []


# --- the public page ----------------------------------------------------------------------


async def test_the_page_shows_the_icons_with_rel_me_and_their_names(client, alice):
    await add(client, "mastodon", "@alice@mastodon.social", headers=HX)
    await add(client, "email", "alice@example.com", headers=HX)
    await add(client, "linkedin", "alice-example", headers=HX)
    r = await client.get("/alice")
    assert r.status_code == 200
    row = r.text.split('<ul class="page-socials"')[1].split("</ul>")[0]
    anchors = re.findall(r"<a [^>]*>", row)
    assert len(anchors) == 3
    assert (
        'href="https://mastodon.social/@alice" rel="me noopener nofollow ugc" '
        'aria-label="Mastodon: @alice@mastodon.social"' in anchors[0]
    )
    assert (
        'href="mailto:alice@example.com"' in anchors[1]
        and 'aria-label="Email: alice@example.com"' in anchors[1]
    )
    assert 'aria-label="LinkedIn: alice-example"' in anchors[2]
    # Inline icons: no request, no image, drawn in the text colour.
    assert row.count("<svg") == 3 and "<img" not in row and 'fill="currentColor"' in row
    assert 'stroke="currentColor"' in row  # the neutral glyphs (email, LinkedIn)
    assert 'aria-hidden="true"' in row
    # The studio's live preview shows the same row.
    preview = (await client.get("/dashboard/preview")).text
    assert 'aria-label="Mastodon: @alice@mastodon.social"' in preview


async def test_a_stored_address_that_fails_the_render_check_is_left_out(client, alice):
    await CreatorSocial.insert(
        CreatorSocial(creator=alice["id"], network="website", url="javascript:alert(1)", label="x"),
        CreatorSocial(creator=alice["id"], network="x", url="mailto:a@example.com", label="y"),
        CreatorSocial(
            creator=alice["id"], network="myspace", url="https://myspace.com/a", label="z"
        ),
        CreatorSocial(
            creator=alice["id"], network="github", url="https://github.com/ok", label="@ok"
        ),
    )
    page = (await client.get("/alice")).text
    assert "javascript:" not in page and "myspace" not in page and "mailto:" not in page
    assert 'aria-label="GitHub: @ok"' in page


async def test_a_page_without_socials_has_no_row(client, alice):
    assert "page-socials" not in (await client.get("/alice")).text


async def test_a_page_with_every_network_and_many_links_stays_within_20_kb_gzip(client, alice):
    for network, pasted, *_ in {case[0]: case for case in ACCEPTED}.values():
        assert (await add(client, network, pasted, headers=HX)).status_code == 200
    for n in range(20):
        await client.post(
            "/dashboard/links",
            data={
                "kind": "link",
                "title": f"My link number {n}",
                "url": f"https://example.com/{n}",
            },
            headers=HX,
        )
    page = await client.get("/alice")
    assert page.text.count('class="page-social"') == 13
    total = len(gzip.compress(page.content))
    linked = re.findall(r'<link rel="stylesheet" href="([^"]+)"|<script src="([^"]+)"', page.text)
    for href in (a or b for a, b in linked):
        assert href.startswith("/"), href  # nothing third-party
        total += len(gzip.compress((await client.get(href)).content))
    assert total <= 20 * 1024, total


# --- the page cache -----------------------------------------------------------------------


async def test_an_edit_in_the_studio_invalidates_the_cached_page(settings, make_creator, sign_in):
    app = create_app(settings, caches=True)
    cache: PageCache = app.state.page_cache
    async with AsyncTestClient(app, base_url=settings.app_url) as client:

        async def live() -> bool:
            return cache.live

        await wait_until(live)
        creator = await make_creator(handle="dora")
        await sign_in(client, creator)
        await client.get("/healthz")
        client.headers["x-csrftoken"] = client.cookies["lm_csrf"]
        await notifications_landed(cache)
        assert "page-socials" not in (await client.get("/dora")).text
        assert (await client.get("/dora")).headers["x-cache"] == "hit"

        r = await add(client, "x", "@dora", headers=HX)
        [social_id] = social_ids(r.text)

        async def shows(text: str) -> bool:
            return text in (await client.get("/dora")).text

        await wait_until(lambda: shows('aria-label="X: @dora"'), within=1.0)
        await client.post(f"/dashboard/socials/{social_id}", data={"value": "@dora2"}, headers=HX)
        await wait_until(lambda: shows('aria-label="X: @dora2"'), within=1.0)
        await client.post(f"/dashboard/socials/{social_id}/delete", headers=HX)

        async def gone() -> bool:
            return "page-socials" not in (await client.get("/dora")).text

        await wait_until(gone, within=1.0)
