"""Editing links in the studio: add, inline edit, show/hide, delete, reorder, live preview."""

from __future__ import annotations

import re

import pytest

from app.shared.rules import MAX_LINKS
from tests.support.studio_support import HX, add_links, link_rows, snapshot


@pytest.fixture
async def alice(client, make_creator, sign_in):
    creator = await make_creator(handle="alice", display_name="Alice")
    await sign_in(client, creator)
    return creator


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="link-(\d+)"', html)]


# --- adding -------------------------------------------------------------------------------


async def test_adding_a_link_appends_it_and_answers_with_the_list(client, alice):
    await add_links(alice, {"title": "First"})
    r = await client.post(
        "/dashboard/links",
        data={"kind": "link", "title": " My  shop ", "url": "shop.example.com/a"},
        headers=HX,
    )
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert r.text.lstrip().startswith('<section id="links"')
    assert "Link “My shop” added." in r.text
    rows = await link_rows(alice)
    assert [(x["title"], x["url"], x["position"]) for x in rows] == [
        ("First", "https://example.com/0", 0),
        ("My shop", "https://shop.example.com/a", 1),
    ]
    assert row_ids(r.text) == [x["id"] for x in rows]
    assert 'value=""' in r.text.split('id="new-title"')[1][:80]  # the add form is cleared


async def test_a_section_header_has_a_title_and_no_url(client, alice):
    r = await client.post(
        "/dashboard/links",
        data={"kind": "header", "title": "Music", "url": "javascript:ignored"},
        headers=HX,
    )
    assert r.status_code == 200
    assert "Section “Music” added." in r.text
    [row] = await link_rows(alice)
    assert (row["kind"], row["title"], row["url"]) == ("header", "Music", "")


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"title": "x", "url": "javascript:alert(1)"}, "url", "Links must start with"),
        ({"title": "x", "url": "data:text/html,hi"}, "url", "Links must start with"),
        ({"title": "x", "url": "ftp://example.com"}, "url", "Links must start with"),
        ({"title": "x", "url": ""}, "url", "Enter a URL"),
        ({"title": "x", "url": "https://" + "a" * 2050 + ".com"}, "url", "at most 2048"),
        ({"title": "", "url": "https://example.com"}, "title", "cannot be empty"),
        ({"title": "t" * 101, "url": "https://example.com"}, "title", "at most 100"),
        ({"kind": "video", "title": "x", "url": "https://e.com"}, "kind", "a section header"),
        ({"title": "Shop\u202e", "url": "https://e.com"}, "title", "invisible character"),
        ({"title": "x", "url": "https://a\u00adb.com"}, "url", "invisible characters"),
        ({"title": "x", "url": "https://ab\u0660\u06f0.com"}, "url", "international domain"),
    ],
)
async def test_a_bad_link_is_refused_inline_and_nothing_is_added(
    client, alice, data, field, message
):
    before = await snapshot()
    r = await client.post("/dashboard/links", data={"kind": "link", **data}, headers=HX)
    assert r.status_code == 422
    assert message in r.text
    error_id = {"title": "new-title", "url": "new-url", "kind": "new-kind"}[field]
    assert f'id="{error_id}-error"' in r.text
    assert "hx-trigger" not in r.headers
    assert await snapshot() == before


async def test_a_link_to_an_international_domain_also_shows_its_ascii_form(client, alice):
    r = await client.post(
        "/dashboard/links",
        data={
            "kind": "link",
            "title": "Pay",
            "url": "https://\u0440\u0430\u0443\u0440\u0430l.com/x",
        },
        headers=HX,
    )
    assert r.status_code == 200
    assert "Domain as browsers read it: <bdi>xn--l-7sba6dbr.com</bdi>" in r.text
    r = await client.post(
        "/dashboard/links",
        data={"kind": "link", "title": "Plain", "url": "https://example.com"},
        headers=HX,
    )
    assert r.text.count("Domain as browsers read it") == 1  # only the non-ASCII host


async def test_a_refused_link_keeps_what_was_typed(client, alice):
    r = await client.post(
        "/dashboard/links",
        data={"kind": "link", "title": "Keep me", "url": "ftp://x.y"},
        headers=HX,
    )
    assert 'value="Keep me"' in r.text and 'value="ftp://x.y"' in r.text


async def test_a_page_holds_at_most_max_links_rows(client, alice):
    await add_links(alice, *({"title": f"L{i}"} for i in range(MAX_LINKS)))
    r = await client.post(
        "/dashboard/links", data={"kind": "link", "title": "One more", "url": "e.com"}, headers=HX
    )
    assert r.status_code == 422
    assert f"at most {MAX_LINKS} rows" in r.text
    assert len(await link_rows(alice)) == MAX_LINKS


async def test_adding_without_javascript_redirects_back(client, alice):
    r = await client.post(
        "/dashboard/links",
        data={"kind": "link", "title": "Shop", "url": "https://e.com"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#links"
    assert len(await link_rows(alice)) == 1


# --- editing inline -----------------------------------------------------------------------


async def test_edit_turns_the_row_into_a_form_and_cancel_turns_it_back(client, alice):
    [link] = await add_links(alice, {"title": "Shop", "url": "https://shop.example"})
    r = await client.get(f"/dashboard/links/{link['id']}/edit", headers=HX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<li id="link-{link["id"]}"')
    assert f'hx-post="/dashboard/links/{link["id"]}"' in r.text
    assert 'value="Shop"' in r.text and 'value="https://shop.example"' in r.text
    r = await client.get(f"/dashboard/links/{link['id']}", headers=HX)
    assert r.status_code == 200
    assert f'id="edit-{link["id"]}"' in r.text and '<form class="link-edit"' not in r.text


async def test_saving_an_edit_answers_with_the_row(client, alice):
    [link] = await add_links(alice, {"title": "Shop"})
    r = await client.post(
        f"/dashboard/links/{link['id']}",
        data={"title": "Store", "url": "mailto:me@example.com"},
        headers=HX,
    )
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert r.text.lstrip().startswith(f'<li id="link-{link["id"]}" class="link-row')
    assert "Store" in r.text and "mailto:me@example.com" in r.text
    [row] = await link_rows(alice)
    assert (row["title"], row["url"]) == ("Store", "mailto:me@example.com")


async def test_a_bad_edit_is_refused_inline_and_nothing_changes(client, alice):
    [link] = await add_links(alice, {"title": "Shop"})
    before = await snapshot()
    r = await client.post(
        f"/dashboard/links/{link['id']}",
        data={"title": "", "url": "vbscript:msgbox(1)"},
        headers=HX,
    )
    assert r.status_code == 422
    assert f'id="edit-title-{link["id"]}-error"' in r.text
    assert f'id="edit-url-{link["id"]}-error"' in r.text
    assert 'value="vbscript:msgbox(1)"' in r.text
    assert await snapshot() == before


async def test_editing_a_header_never_gives_it_a_url(client, alice):
    [header] = await add_links(alice, {"kind": "header", "title": "Music"})
    r = await client.post(
        f"/dashboard/links/{header['id']}",
        data={"title": "Videos", "url": "https://x.y"},
        headers=HX,
    )
    assert r.status_code == 200
    [row] = await link_rows(alice)
    assert (row["title"], row["url"]) == ("Videos", "")


async def test_without_javascript_edit_opens_the_row_in_the_full_page(client, alice):
    [link] = await add_links(alice, {"title": "Shop"})
    r = await client.get(f"/dashboard/links/{link['id']}/edit")
    assert r.status_code == 200
    assert "<!doctype html>" in r.text and 'class="link-edit"' in r.text
    before = await snapshot()
    r = await client.post(
        f"/dashboard/links/{link['id']}", data={"title": "", "url": "https://e.com"}
    )
    assert r.status_code == 422
    assert "<!doctype html>" in r.text and "cannot be empty" in r.text
    assert await snapshot() == before
    r = await client.get(f"/dashboard/links/{link['id']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/dashboard#link-{link['id']}"


# --- show / hide, delete --------------------------------------------------------------------


async def test_hiding_a_link_updates_the_row_and_the_counts(client, alice):
    link, _ = await add_links(alice, {"title": "Shop"}, {"title": "Blog"})
    r = await client.post(
        f"/dashboard/links/{link['id']}/toggle", data={"enabled": "false"}, headers=HX
    )
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert 'aria-checked="false"' in r.text and "is-hidden" in r.text
    assert '<p id="link-counts" class="counts" hx-swap-oob="true">' in r.text
    assert "<strong>1</strong> of 2 showing" in r.text
    assert "“Shop” is hidden from your page." in r.text
    assert [x["enabled"] for x in await link_rows(alice)] == [False, True]
    # the same request again leaves it hidden (the form says the wanted state)
    await client.post(
        f"/dashboard/links/{link['id']}/toggle", data={"enabled": "false"}, headers=HX
    )
    r = await client.post(
        f"/dashboard/links/{link['id']}/toggle", data={"enabled": "true"}, headers=HX
    )
    assert 'aria-checked="true"' in r.text
    assert [x["enabled"] for x in await link_rows(alice)] == [True, True]


async def test_toggle_needs_an_explicit_state(client, alice):
    [link] = await add_links(alice, {"title": "Shop"})
    before = await snapshot()
    r = await client.post(f"/dashboard/links/{link['id']}/toggle", data={}, headers=HX)
    assert r.status_code == 400
    assert await snapshot() == before


async def test_deleting_a_link_removes_it(client, alice):
    keep, gone = await add_links(alice, {"title": "Keep"}, {"title": "Gone"})
    r = await client.post(f"/dashboard/links/{gone['id']}/delete", headers=HX)
    assert r.status_code == 200
    assert "Deleted “Gone”." in r.text
    assert row_ids(r.text) == [keep["id"]]
    assert [x["id"] for x in await link_rows(alice)] == [keep["id"]]
    r = await client.post(f"/dashboard/links/{gone['id']}/delete", headers=HX)
    assert r.status_code == 404


async def test_the_delete_button_asks_for_confirmation(client, alice):
    [link] = await add_links(alice, {"title": "Shop"})
    r = await client.get("/dashboard")
    assert 'hx-confirm="Delete “Shop”? This cannot be undone."' in r.text
    assert f'id="delete-{link["id"]}"' in r.text


async def test_an_empty_list_invites_the_first_link(client, alice):
    r = await client.get("/dashboard")
    assert 'id="links-empty"' in r.text and "No links yet" in r.text


# --- reordering ------------------------------------------------------------------------------


async def test_dragging_sends_the_whole_order_in_one_request(client, alice):
    a, b, c = await add_links(alice, {"title": "A"}, {"title": "B"}, {"title": "C"})
    r = await client.post(
        "/dashboard/links/order", data={"order": [c["id"], a["id"], b["id"]]}, headers=HX
    )
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert row_ids(r.text) == [c["id"], a["id"], b["id"]]
    rows = await link_rows(alice)
    assert [(x["id"], x["position"]) for x in rows] == [(c["id"], 0), (a["id"], 1), (b["id"], 2)]


async def test_each_row_carries_its_id_for_the_reorder_form(client, alice):
    a, b = await add_links(alice, {"title": "A"}, {"title": "B"})
    r = await client.get("/dashboard")
    assert 'id="reorder-form"' in r.text and 'hx-trigger="links-reordered"' in r.text
    for link in (a, b):
        assert f'name="order" value="{link["id"]}" form="reorder-form"' in r.text
    assert "data-sortable" in r.text


@pytest.mark.parametrize(
    "make_order,status",
    [
        (lambda a, b, c, foreign: [a, b], 409),  # one missing
        (lambda a, b, c, foreign: [a, b, c, c], 409),  # repeated
        (lambda a, b, c, foreign: [a, a, b], 409),  # right count, one repeated, one missing
        (lambda a, b, c, foreign: [a, b, c, foreign], 404),  # someone else's
        (lambda a, b, c, foreign: [a, b, foreign], 404),
        (lambda a, b, c, foreign: [a, b, 999_999], 404),  # no such row
        (lambda a, b, c, foreign: [], 409),
    ],
)
async def test_a_reorder_that_is_not_exactly_my_rows_changes_nothing(
    client, alice, make_creator, make_order, status
):
    a, b, c = (
        x["id"] for x in await add_links(alice, {"title": "A"}, {"title": "B"}, {"title": "C"})
    )
    bob = await make_creator(handle="bob")
    [foreign] = await add_links(bob, {"title": "Bob's"})
    before = await snapshot()
    r = await client.post(
        "/dashboard/links/order", data={"order": make_order(a, b, c, foreign["id"])}, headers=HX
    )
    assert r.status_code == status
    if status == 409:
        assert r.headers["hx-refresh"] == "true"  # the studio reloads the true order
    assert await snapshot() == before


async def test_a_reorder_with_non_numeric_ids_is_a_bad_request(client, alice):
    a, b = await add_links(alice, {"title": "A"}, {"title": "B"})
    before = await snapshot()
    order = [str(b["id"]), str(a["id"]), "x"]
    r = await client.post("/dashboard/links/order", data={"order": order}, headers=HX)
    assert r.status_code == 400
    assert await snapshot() == before


async def test_move_up_and_down_swap_neighbours(client, alice):
    a, b, c = (
        x["id"] for x in await add_links(alice, {"title": "A"}, {"title": "B"}, {"title": "C"})
    )
    r = await client.post(f"/dashboard/links/{c}/move", data={"direction": "up"}, headers=HX)
    assert r.status_code == 200
    assert "Moved “C” up." in r.text
    assert row_ids(r.text) == [a, c, b]
    r = await client.post(f"/dashboard/links/{a}/move", data={"direction": "down"}, headers=HX)
    assert row_ids(r.text) == [c, a, b]
    assert [x["id"] for x in await link_rows(alice)] == [c, a, b]
    # the ends stay put
    r = await client.post(f"/dashboard/links/{c}/move", data={"direction": "up"}, headers=HX)
    assert row_ids(r.text) == [c, a, b]


async def test_move_buttons_are_labelled_and_disabled_at_the_ends(client, alice):
    a, b = await add_links(alice, {"title": "A"}, {"title": "B"})
    r = await client.get("/dashboard")
    assert re.search(rf'id="move-up-{a["id"]}"[^>]*disabled', r.text)
    assert not re.search(rf'id="move-down-{a["id"]}"[^>]*disabled', r.text)
    assert re.search(rf'id="move-down-{b["id"]}"[^>]*disabled', r.text)
    assert 'aria-label="Move “B” up"' in r.text


async def test_move_needs_a_direction(client, alice):
    # The middle row: a move either way would show in the snapshot.
    _, link, _ = await add_links(alice, {"title": "A"}, {"title": "B"}, {"title": "C"})
    before = await snapshot()
    r = await client.post(
        f"/dashboard/links/{link['id']}/move", data={"direction": "left"}, headers=HX
    )
    assert r.status_code == 400
    assert await snapshot() == before


# --- live preview ---------------------------------------------------------------------------


async def test_the_preview_is_the_public_page_fragment_and_refreshes_on_change(client, alice):
    await add_links(
        alice,
        {"title": "Shown"},
        {"title": "Hidden", "enabled": False},
        {"kind": "header", "title": "Section"},
    )
    page = await client.get("/dashboard")
    assert 'hx-get="/dashboard/preview"' in page.text
    assert 'hx-trigger="page-changed from:body"' in page.text
    assert "<iframe" not in page.text
    r = await client.get("/dashboard/preview", headers=HX)
    assert r.status_code == 200
    assert '<article class="page"' in r.text
    assert "Shown" in r.text and "Hidden" not in r.text
    assert '<li class="page-section"><h2>Section</h2></li>' in r.text
    assert 'href="/alice/theme.css?v=' in r.text
    public = await client.get("/alice")
    fragment = re.search(r'<ul class="page-links".*?</ul>', public.text, re.S).group(0)
    fragment = re.sub(r' ping="/_c/\d+/\d+"', "", fragment)  # the preview reports no clicks
    assert fragment.replace('rel="noopener nofollow ugc"', "") in r.text.replace(
        ' target="_blank"', ""
    ).replace('rel="noopener nofollow ugc"', "")


async def test_the_studio_page_loads_only_external_scripts(client, alice):
    r = await client.get("/dashboard")
    scripts = re.findall(r"<script[^>]*>", r.text)
    assert scripts and all(" src=" in s and " defer" in s for s in scripts)
    assert "/static/js/studio.js?v=" in r.text
    assert "/static/vendor/sortable-1.15.7.min.js?v=" in r.text
    assert " style=" not in r.text and "hx-on" not in r.text and "<style" not in r.text
    for script in re.findall(r"<script[^>]*>(.*?)</script>", r.text, re.S):
        assert script.strip() == ""


async def test_static_studio_script_is_served(client):
    r = await client.get("/static/js/studio.js")
    assert r.status_code == 200
    assert "links-reordered" in r.text and "Sortable.create" in r.text
