"""The studio's "Your data" card: export the page as JSON and import it back (preview, then
confirm, all or nothing), import a list of URLs, and the sales as CSV."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from app.db.tables import Creator, CreatorSocial
from app.db.tables import Image as ImageRow
from app.shared.rules import MAX_LINKS
from tests.support.sales import record_sale
from tests.support.studio_support import HX, add_links, creator_row, link_rows, snapshot

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def alice(client, make_creator, sign_in) -> dict[str, Any]:
    creator = await make_creator(
        handle="alice",
        display_name="Alice",
        bio="I make things.\nSecond line.",
        avatar_url="https://cdn.example.com/alice.png",
        theme="sunrise",
        accent_color="#ff5500",
        whop_company_id="biz_AliceTransfer",
        payout_enabled=True,
    )
    await sign_in(client, creator)
    return creator


@pytest.fixture
async def bob(other_client, make_creator, sign_in) -> dict[str, Any]:
    creator = await make_creator(handle="bob", display_name="Bob")
    await sign_in(other_client, creator)
    return creator


async def alice_page(alice: dict[str, Any]) -> list[dict[str, Any]]:
    return await add_links(
        alice,
        {"kind": "header", "title": "Music"},
        {"title": "Shop ✨", "url": "https://shop.example.com/a?b=1"},
        {
            "kind": "premium",
            "title": "Secret",
            "url": "https://vault.example.com/x",
            "price_cents": 499,
        },
        {
            "title": "Later",
            "url": "mailto:alice@example.com",
            "enabled": False,
            "starts_at": NOW,
            "ends_at": NOW + timedelta(days=2),
        },
    )


async def add_socials(creator: dict[str, Any], *pairs: tuple[str, str]) -> None:
    for position, (network, url) in enumerate(pairs):
        label = url.rsplit("/", 1)[-1]
        await CreatorSocial.insert(
            CreatorSocial(
                creator=creator["id"], network=network, url=url, label=label, position=position
            )
        )


async def socials(creator: dict[str, Any]) -> list[tuple[str, str, int]]:
    rows = await CreatorSocial.select().where(CreatorSocial.creator == creator["id"])
    return sorted((row["network"], row["url"], row["position"]) for row in rows)


SOCIALS = (("github", "https://github.com/alice"), ("email", "mailto:alice@example.com"))


async def export(client) -> dict[str, Any]:
    r = await client.get("/dashboard/export.json")
    assert r.status_code == 200, r.text
    return r.json()


def as_file(document: Any, name: str = "page.json") -> dict[str, Any]:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return {"file": (name, body, "application/json")}


async def preview(client, document: Any, name: str = "page.json", htmx: bool = True):
    return await client.post(
        "/dashboard/import/preview", files=as_file(document, name), headers=HX if htmx else {}
    )


def token_of(page: str) -> str:
    return html.unescape(re.search(r'name="preview" value="([^"]+)"', page)[1])


def card(page: str) -> str:
    """The "Your data" card's text, tags removed."""
    section = re.search(r'<section id="transfer".*?</section>', page, re.S)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section)).split())


async def import_document(client, document: Any) -> Any:
    shown = await preview(client, document)
    assert shown.status_code == 200, card(shown.text)
    return await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )


def page_shape(links: list[dict[str, Any]]) -> list[tuple]:
    return [
        (
            x["kind"],
            x["title"],
            x["url"],
            x["price_cents"],
            x["enabled"],
            x["starts_at"],
            x["ends_at"],
            x["position"],
        )
        for x in links
    ]


PROFILE = ("display_name", "bio", "avatar_url", "theme", "accent_color")


# --- export -------------------------------------------------------------------------------


async def test_export_is_a_dated_attachment_with_the_whole_page(client, alice):
    made = await alice_page(alice)
    await add_socials(alice, *SOCIALS)
    r = await client.get("/dashboard/export.json")
    assert r.status_code == 200
    today = datetime.now(UTC).date().isoformat()
    assert r.headers["content-disposition"] == f'attachment; filename="linkmint-alice-{today}.json"'
    assert "no-store" in r.headers["cache-control"]
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["format"] == "linkmint-page" and doc["version"] == 1
    assert doc["exported_at"].endswith("Z") and doc["handle"] == "alice"
    assert doc["profile"] == {
        **{name: alice[name] for name in PROFILE},
        "avatar_image": None,  # a photo's address, no uploaded photo
        "sensitive": False,
    }
    assert doc["socials"] == [{"network": n, "url": u} for n, u in SOCIALS]
    blank = {"price_cents": None, "currency": None, "enabled": True, "sensitive": False}
    no_schedule = {"starts_at": None, "ends_at": None}
    assert doc["links"] == [
        {"id": made[0]["id"], "kind": "header", "title": "Music", "url": "", **blank,
         **no_schedule},
        {"id": made[1]["id"], "kind": "link", "title": "Shop ✨",
         "url": "https://shop.example.com/a?b=1", **blank, **no_schedule},
        {"id": made[2]["id"], "kind": "premium", "title": "Secret",
         "url": "https://vault.example.com/x", **blank, "price_cents": 499, "currency": "usd",
         **no_schedule},
        {"id": made[3]["id"], "kind": "link", "title": "Later", "url": "mailto:alice@example.com",
         **blank, "enabled": False,
         "starts_at": "2026-11-20T12:00:00Z", "ends_at": "2026-11-22T12:00:00Z"},
    ]  # fmt: skip


async def test_export_and_import_need_a_signed_in_creator(client):
    for method, path in [
        ("get", "/dashboard/export.json"),
        ("get", "/dashboard/earnings.csv"),
        ("post", "/dashboard/import/preview"),
        ("post", "/dashboard/import/confirm"),
        ("post", "/dashboard/import/urls"),
    ]:
        r = await getattr(client, method)(path, follow_redirects=False)
        assert r.status_code in (302, 303, 401), (path, r.status_code)
        assert "linkmint-page" not in r.text


# --- round trip ---------------------------------------------------------------------------


async def test_a_page_exported_and_imported_by_another_creator_is_the_same_page(
    client, other_client, alice, bob
):
    await alice_page(alice)
    await add_socials(alice, *SOCIALS)
    await add_links(bob, {"title": "Bob's old link"})
    await add_socials(bob, ("github", "https://github.com/bob"), ("x", "https://x.com/bob"))
    document = await export(client)
    await Creator.update({Creator.payout_enabled: True}).where(Creator.id == bob["id"])

    shown = await preview(other_client, document)
    assert shown.status_code == 200
    text = card(shown.text)
    assert "Links: 4 added, 1 removed." in text
    assert "Social icons: 1 added, 1 removed, 1 changed." in text
    assert "Profile: display name, bio, avatar URL, theme and accent colour change." in text
    assert await link_rows(bob) != []  # a preview changes nothing

    r = await other_client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 200, card(r.text)
    assert r.headers["hx-trigger"] == "page-changed"
    assert "Imported." in card(r.text)
    assert page_shape(await link_rows(bob)) == page_shape(await link_rows(alice))
    row = await creator_row(bob)
    assert {name: row[name] for name in PROFILE} == {name: alice[name] for name in PROFILE}
    assert await socials(bob) == await socials(alice)
    assert (await export(other_client))["links"][1]["title"] == "Shop ✨"


async def test_importing_your_own_export_updates_rows_in_place_so_sales_keep_their_link(
    client, alice
):
    made = await alice_page(alice)
    document = await export(client)
    # What the creator did in a text editor: a new title, the premium row moved first.
    document["links"][2]["title"] = "Secret, renamed"
    document["links"].insert(0, document["links"].pop(2))
    del document["links"][-1]
    shown = await preview(client, document)
    assert "Links: 1 removed, 1 changed, new order." in card(shown.text)
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 200
    rows = await link_rows(alice)
    assert [x["id"] for x in rows] == [made[2]["id"], made[0]["id"], made[1]["id"]]
    assert rows[0]["title"] == "Secret, renamed" and rows[0]["price_cents"] == 499


async def test_18_plus_marks_travel_with_the_page_and_follow_the_studio_rules(
    client, other_client, alice, bob
):
    await Creator.update({Creator.sensitive: True}).where(Creator.id == alice["id"])
    await add_links(
        alice, {"title": "Spicy", "url": "https://spicy.example.com", "sensitive": True}
    )
    document = await export(client)
    assert document["profile"]["sensitive"] is True
    assert document["links"][0]["sensitive"] is True
    r = await import_document(other_client, document)
    assert r.status_code == 200, card(r.text)
    assert (await creator_row(bob))["sensitive"] is True
    assert [x["sensitive"] for x in await link_rows(bob)] == [True]

    document["links"][0]["kind"] = "header"
    document["profile"]["sensitive"] = "yes"
    r = await preview(other_client, document)
    text = card(r.text)
    assert "Profile, 18+: true or false." in text
    assert "Link 1 (“Spicy”), 18+: Only a free link can be marked 18+." in text


async def test_rows_without_ids_match_by_kind_title_and_url(client, alice):
    made = await alice_page(alice)
    document = await export(client)
    for link in document["links"]:
        del link["id"]
    shown = await preview(client, document)
    assert "Links: no change." in card(shown.text)
    await client.post("/dashboard/import/confirm", data={"preview": token_of(shown.text)})
    assert [x["id"] for x in await link_rows(alice)] == [x["id"] for x in made]


async def test_the_import_preview_and_confirm_work_without_javascript(client, alice):
    document = await export(client)
    document["links"] = [{"kind": "link", "title": "New", "url": "https://new.example.com"}]
    shown = await preview(client, document, htmx=False)
    assert shown.status_code == 200 and "Your studio" in shown.text
    r = await client.post(
        "/dashboard/import/confirm",
        data={"preview": token_of(shown.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#transfer"
    assert [x["title"] for x in await link_rows(alice)] == ["New"]


# --- refused files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,name,message",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "me.png", "Choose a .json file"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(range(256)), "page.json", "The file is not text"),
        (b'{"format": "linkmint-page", "version": 1,', "page.json", "not valid JSON (line 1"),
        (b"", "page.json", "this one is empty"),
        (b"[1, 2]", "page.json", "not a Linkmint page export"),
        (b'{"format": "other"}', "page.json", "not a Linkmint page export"),
        (
            b'{"format": "linkmint-page", "version": 2}',
            "page.json",
            "format version 2, from a newer",
        ),
        (b'{"format": "linkmint-page", "version": "1"}', "page.json", "not one Linkmint knows"),
        (b"[" * 200_000 + b"]" * 200_000, "page.json", "The file is larger than 256 KB"),
        (b" " * (256 * 1024) + b"{}", "page.json", "The file is larger than 256 KB"),
    ],
)
async def test_a_file_that_is_not_an_export_is_refused_with_a_reason(
    client, alice, body, name, message
):
    await alice_page(alice)
    before = await snapshot()
    r = await preview(client, body, name)
    assert r.status_code == 422
    assert message in card(r.text)
    assert 'name="preview"' not in r.text
    assert await snapshot() == before


async def test_a_file_beyond_the_request_limit_is_refused_not_a_crash(client, alice):
    await alice_page(alice)
    before = await snapshot()
    r = await preview(client, b" " * (2 * 1024 * 1024))
    assert r.status_code == 413
    assert await snapshot() == before


async def test_a_deeply_nested_file_is_refused_not_a_crash(client, alice):
    body = b'{"format": "linkmint-page", "version": 1, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = await preview(client, body)
    assert r.status_code == 422
    assert "nested too deeply" in card(r.text) or "valid JSON" in card(r.text)


async def test_no_file_chosen(client, alice):
    r = await client.post("/dashboard/import/preview", data={"x": "1"}, files={}, headers=HX)
    assert r.status_code == 422 and "Choose the .json file to import." in card(r.text)


def valid_document() -> dict[str, Any]:
    return {
        "format": "linkmint-page",
        "version": 1,
        "profile": {
            "display_name": "Al",
            "bio": "",
            "avatar_url": "",
            "theme": "mint",
            "accent_color": "#0f9d76",
        },
        "socials": [],
        "links": [
            {"kind": "link", "title": "One", "url": "https://one.example.com"},
            {"kind": "link", "title": "Two", "url": "https://two.example.com"},
            {"kind": "link", "title": "Three", "url": "https://three.example.com"},
        ],
    }


@pytest.mark.parametrize(
    "change,message",
    [
        (
            ("links", 2, "url", "javascript:alert(1)"),
            "Link 3 (“Three”), URL: Links must start with",
        ),
        (
            ("links", 2, "url", "ftp://x.example.com"),
            "Link 3 (“Three”), URL: Links must start with",
        ),
        (("links", 0, "url", ""), "Link 1 (“One”), URL: Enter a URL."),
        (("links", 1, "title", ""), "Link 2, title: Title cannot be empty."),
        (("links", 1, "title", "t" * 101), "title: Title can have at most 100 characters."),
        (("links", 1, "title", "Shop\u202e"), "Link 2, title: Title contains an invisible"),
        (("links", 1, "title", 5), "Link 2, title: not text."),
        (("links", 1, "kind", "video"), "kind: Choose a link, a premium link or a section header."),
        (("links", 1, "enabled", "yes"), "Link 2 (“Two”), enabled: true or false."),
        (("links", 1, "starts_at", "tomorrow"), "Link 2 (“Two”), schedule: use an ISO 8601"),
        (("links", 1, "starts_at", "2026-12-01T10:00:00"), "schedule: use an ISO 8601"),
        (("links", 1, "ends_at", 1700000000), "schedule: use an ISO 8601"),
        (("links", 1, None, "not an object"), "Link 2: not an object"),
        (("profile", None, "theme", "neon"), "Profile, theme: Choose one of the themes shown."),
        (("profile", None, "accent_color", "red"), "Profile, accent colour: Use a colour like"),
        (("profile", None, "bio", "b" * 281), "Profile, bio: Bio can have at most 280"),
        (("profile", None, "avatar_url", "http://x.example.com/a.png"), "Profile, avatar URL:"),
        (("profile", None, "display_name", None), "Profile, display name: missing, or not text."),
        (
            ("socials", None, None, [{"network": "myspace", "url": "https://myspace.com/a"}]),
            "Social icon 1: Choose one of the networks listed.",
        ),
        (
            ("socials", None, None, [{"network": "github", "url": "javascript:alert(1)"}]),
            "Social icon 1 (GitHub): ",
        ),
        (
            ("socials", None, None, [{"network": "x", "url": "https://x.com/a"}] * 2),
            "Social icon 2: X is listed twice; keep one.",
        ),
        (("socials", None, None, ["github"]), "Social icon 1: an object with"),
        (("socials", None, None, {"github": "a"}), "Social icons: a list of at most"),
        (("links", None, None, {"a": 1}), "Links: the file has no “links” list."),
    ],
)
async def test_each_invalid_field_is_named_and_nothing_changes(client, alice, change, message):
    await alice_page(alice)
    document = valid_document()
    where, index, name, value = change
    if index is None and name is None:
        document[where] = value
    elif name is None:
        document[where][index] = value
    elif index is None:
        document[where][name] = value
    else:
        document[where][index][name] = value
    before = await snapshot()
    r = await preview(client, document)
    assert r.status_code == 422
    assert message in card(r.text), card(r.text)
    assert "Nothing was imported." in card(r.text)
    assert await snapshot() == before


async def test_a_schedule_must_end_after_it_starts(client, alice):
    document = valid_document()
    document["links"][1].update(
        starts_at="2026-12-02T10:00:00+01:00", ends_at="2026-12-02T09:00:00Z"
    )
    r = await preview(client, document)
    assert r.status_code == 422
    assert "Link 2 (“Two”), schedule: the end must be after the start." in card(r.text)
    document["links"][1]["ends_at"] = "2026-12-02T09:00:01Z"
    r = await import_document(client, document)
    assert r.status_code == 200
    row = (await link_rows(alice))[1]
    assert (row["starts_at"], row["ends_at"]) == (
        datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 9, 0, 1, tzinfo=UTC),
    )


async def test_every_problem_is_listed_at_once(client, alice):
    document = valid_document()
    document["links"][0]["url"] = "javascript:x"
    document["links"][2]["title"] = ""
    document["profile"]["theme"] = "neon"
    r = await preview(client, document)
    text = card(r.text)
    assert "Link 1 (“One”), URL" in text and "Link 3, title" in text and "Profile, theme" in text


async def test_more_links_than_a_page_holds_are_refused(client, alice):
    document = valid_document()
    document["links"] = [
        {"kind": "link", "title": f"L{n}", "url": f"https://e.com/{n}"}
        for n in range(MAX_LINKS + 1)
    ]
    before = await snapshot()
    r = await preview(client, document)
    assert r.status_code == 422
    assert f"Links: the file has {MAX_LINKS + 1}; a page can hold at most {MAX_LINKS}." in card(
        r.text
    )
    assert await snapshot() == before


async def test_a_premium_link_needs_payouts_enabled(client, other_client, alice, bob):
    await alice_page(alice)
    document = await export(client)
    before = await snapshot()
    r = await preview(other_client, document)
    assert r.status_code == 422
    assert "Link 3 (“Secret”), price: Enable earnings before you price a link" in card(r.text)
    assert await snapshot() == before


@pytest.mark.parametrize(
    "price,currency,message",
    [
        (50, "usd", "price: The lowest price is $1.00."),
        (10_000_000, "usd", "price: The highest price is $1,000.00."),
        (0, "usd", "price: a whole number of minor units above zero, like 499 for $4.99."),
        ("4.99", "usd", "price: a whole number of minor units above zero, like 499 for $4.99."),
        (499, "eur", "price: priced in EUR, but your page sells in USD."),
        (None, None, "price: Enter a price, like 4.99."),
    ],
)
async def test_a_premium_price_follows_the_studio_rules(client, alice, price, currency, message):
    document = valid_document()
    document["links"][0].update(kind="premium", price_cents=price, currency=currency)
    r = await preview(client, document)
    assert r.status_code == 422
    assert f"Link 1 (“One”), {message}" in card(r.text), card(r.text)


@pytest.mark.parametrize(
    "price,message",
    [
        (0, "price: a whole number of minor units above zero, like 500 for ¥500."),
        (None, "price: Enter a price, like 500."),
    ],
)
async def test_a_premium_price_problem_shows_an_example_in_the_pages_currency(
    client, alice, price, message
):
    """A page selling in yen is told about whole yen, never about cents or 4.99."""
    await Creator.update({Creator.currency: "jpy"}).where(Creator.id == alice["id"])
    document = valid_document()
    document["links"][0].update(kind="premium", price_cents=price, currency="jpy")
    r = await preview(client, document)
    assert r.status_code == 422
    shown = card(r.text)
    assert f"Link 1 (“One”), {message}" in shown, shown
    assert "cents" not in shown and "4.99" not in shown


async def test_an_unchanged_premium_price_may_be_kept_while_payouts_are_off(client, alice):
    """As in the studio: a creator whose payouts are being re-verified can still re-import
    their own page."""
    await alice_page(alice)
    document = await export(client)
    await Creator.update({Creator.payout_enabled: False}).where(Creator.id == alice["id"])
    r = await import_document(client, document)
    assert r.status_code == 200, card(r.text)
    document["links"][2]["price_cents"] = 599
    r = await preview(client, document)
    assert r.status_code == 422 and "Enable earnings" in card(r.text)


# --- confirming ---------------------------------------------------------------------------


async def test_a_confirm_after_the_page_changed_is_refused(client, alice):
    made = await alice_page(alice)
    document = await export(client)
    document["links"] = document["links"][:1]
    shown = await preview(client, document)
    await client.post(f"/dashboard/links/{made[1]['id']}/toggle", data={"enabled": "false"})
    before = await snapshot()
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 422
    assert "Your page changed since the preview; preview again." in card(r.text)
    assert await snapshot() == before


async def test_a_confirm_after_a_social_icon_changed_is_refused(client, alice):
    shown = await preview(client, valid_document())
    await add_socials(alice, ("github", "https://github.com/alice"))
    before = await snapshot(Creator, CreatorSocial)
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 422 and "preview again" in card(r.text)
    assert await snapshot(Creator, CreatorSocial) == before


async def test_a_confirm_applies_only_once(client, alice):
    await alice_page(alice)
    document = valid_document()
    shown = await preview(client, document)
    token = token_of(shown.text)
    first = await client.post("/dashboard/import/confirm", data={"preview": token}, headers=HX)
    assert first.status_code == 200
    again = await client.post("/dashboard/import/confirm", data={"preview": token}, headers=HX)
    assert again.status_code == 422 and "preview again" in card(again.text)


@pytest.mark.parametrize("forge", ["nonsense", "ab.cd", "x" * 64 + ".eJw", "tamper"])
async def test_a_forged_or_damaged_preview_is_refused(client, alice, forge):
    await alice_page(alice)
    shown = await preview(client, valid_document())
    token = token_of(shown.text)
    if forge == "tamper":
        signature, body = token.split(".")
        forge = signature + "." + body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
    before = await snapshot()
    r = await client.post("/dashboard/import/confirm", data={"preview": forge}, headers=HX)
    assert r.status_code == 422 and "too old or damaged" in card(r.text)
    assert await snapshot() == before


async def test_a_confirm_without_a_preview_shows_the_card_again(client, alice):
    await alice_page(alice)
    before = await snapshot()
    r = await client.post("/dashboard/import/confirm", data={}, headers=HX)
    assert r.status_code == 200 and 'id="import-form"' in r.text
    r = await client.post("/dashboard/import/confirm", data={}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#transfer"
    assert await snapshot() == before


async def test_the_file_may_be_posted_as_text(client, alice):
    r = await client.post(
        "/dashboard/import/preview", data={"document": json.dumps(valid_document())}, headers=HX
    )
    assert r.status_code == 200 and "Links: 3 added." in card(r.text)


async def test_another_creators_preview_cannot_be_confirmed(client, other_client, alice, bob):
    shown = await preview(client, valid_document())
    before = await snapshot()
    r = await other_client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 422 and "too old or damaged" in card(r.text)
    assert await snapshot() == before


async def test_an_import_that_fails_while_writing_changes_nothing(client, alice, monkeypatch):
    """All or nothing inside the transaction too: a failure on the last row undoes the
    profile and every row written before it."""
    from app.studio import transfer_service

    await alice_page(alice)
    shown = await preview(client, valid_document())
    before = await snapshot()
    real = transfer_service.Link.insert
    calls = []

    def failing_insert(*rows):
        calls.append(rows)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(*rows)

    monkeypatch.setattr(transfer_service.Link, "insert", failing_insert)
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 500
    assert len(calls) == 3
    assert await snapshot() == before


async def test_the_import_forms_need_the_csrf_token(client, alice):
    del client.headers["x-csrftoken"]
    before = await snapshot()
    for path in ("/dashboard/import/preview", "/dashboard/import/urls"):
        r = await client.post(path, files=as_file(valid_document()), data={"urls": "e.com"})
        assert r.status_code == 403
    r = await client.post("/dashboard/import/confirm", data={"preview": "x"})
    assert r.status_code == 403
    assert await snapshot() == before


# --- a list of URLs -----------------------------------------------------------------------


async def test_a_list_of_urls_is_appended_titled_by_host(client, alice):
    await add_links(alice, {"title": "Existing"})
    urls = (
        "https://www.example.com/shop\n\n  My newsletter | news.example.org/join  \n"
        "mailto:hi@example.com\r\ntel:+15551234\n"
    )
    r = await client.post("/dashboard/import/urls", data={"urls": urls}, files={}, headers=HX)
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert "4 links added at the end of your page." in card(r.text)
    assert 'id="links"' in r.text
    assert [(x["title"], x["url"], x["position"]) for x in await link_rows(alice)] == [
        ("Existing", "https://example.com/0", 0),
        ("example.com", "https://www.example.com/shop", 1),
        ("My newsletter", "https://news.example.org/join", 2),
        ("hi@example.com", "mailto:hi@example.com", 3),
        ("+15551234", "tel:+15551234", 4),
    ]


async def test_a_txt_file_of_urls_is_imported(client, alice):
    body = "\ufeffhttps://a.example.com\nB | https://b.example.com\n".encode()
    r = await client.post(
        "/dashboard/import/urls",
        data={"urls": ""},
        files={"file": ("links.txt", body, "text/plain")},
        headers=HX,
    )
    assert r.status_code == 200
    assert [x["title"] for x in await link_rows(alice)] == ["a.example.com", "B"]


async def test_bad_lines_are_listed_and_no_link_is_added(client, alice):
    await add_links(alice, {"title": "Existing"})
    before = await snapshot()
    urls = (
        "https://ok.example.com\njavascript:alert(1)\nTitle only |\n"
        + "x" * 101
        + " | https://e.com"
    )
    r = await client.post("/dashboard/import/urls", data={"urls": urls}, files={}, headers=HX)
    assert r.status_code == 422
    text = card(r.text)
    assert "No link was added." in text
    assert "Line 2, URL: Links must start with" in text
    assert "Line 3, URL: Enter a URL." in text
    assert "Line 4, title: Title can have at most 100 characters." in text
    assert "Line 1" not in text
    assert "javascript:alert(1)" in text  # the textarea keeps what was typed
    assert await snapshot() == before


async def test_a_list_past_the_link_limit_adds_nothing(client, alice):
    await add_links(alice, *({"title": f"L{n}"} for n in range(MAX_LINKS - 2)))
    before = await snapshot()
    urls = "\n".join(f"https://e.com/{n}" for n in range(3))
    r = await client.post("/dashboard/import/urls", data={"urls": urls}, files={}, headers=HX)
    assert r.status_code == 422
    assert f"{MAX_LINKS - 2} rows: 3 more would pass the limit of {MAX_LINKS}" in card(r.text)
    assert await snapshot() == before


@pytest.mark.parametrize(
    "name,body,message",
    [
        ("links.csv", b"https://e.com", "Choose a .txt file"),
        ("links.txt", b"\xff\xfe\x00bad", "not UTF-8 text"),
        ("links.txt", b"a" * (64 * 1024 + 1), "larger than 64 KB"),
    ],
)
async def test_a_bad_txt_file_is_refused(client, alice, name, body, message):
    r = await client.post(
        "/dashboard/import/urls", data={"urls": ""}, files={"file": (name, body)}, headers=HX
    )
    assert r.status_code == 422 and message in card(r.text)
    assert await link_rows(alice) == []


async def test_an_empty_list_is_refused(client, alice):
    r = await client.post("/dashboard/import/urls", data={"urls": " \n "}, files={}, headers=HX)
    assert r.status_code == 422 and "Paste at least one URL" in card(r.text)


async def test_a_list_of_urls_works_without_javascript(client, alice):
    r = await client.post(
        "/dashboard/import/urls", data={"urls": "e.com"}, files={}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#links"
    assert [x["url"] for x in await link_rows(alice)] == ["https://e.com"]


# --- sales as CSV -------------------------------------------------------------------------


async def sale(creator: dict[str, Any], *, at: datetime = NOW, **fields: Any) -> str:
    return await record_sale(creator, at=at, **fields)


async def sales_csv(client) -> tuple[Any, list[list[str]]]:
    r = await client.get("/dashboard/earnings.csv")
    assert r.status_code == 200
    assert r.content.startswith("\ufeff".encode())
    return r, list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))


HEADER = ["date_utc", "link_title", "status", "price", "fee", "net", "refunded", "currency",
          "payment_id"]  # fmt: skip


async def test_the_sales_csv_lists_each_sale_with_decimal_amounts(client, alice, make_creator):
    paid = await sale(alice, title="Recipe", price=499, fee=50, at=NOW - timedelta(days=1))
    part = await sale(alice, title="Guide", price=2000, fee=200, refunded=500, at=NOW)
    back = await sale(
        alice, title="Gone", status="REFUNDED", price=1000, fee=100, at=NOW + timedelta(hours=1)
    )
    yen = await sale(
        alice, title="東京 ガイド", price=1500, fee=150, currency="jpy", at=NOW - timedelta(days=2)
    )
    await sale(alice, status="PENDING")
    await sale(alice, status="EXPIRED")
    await sale(await make_creator(handle="someone"), title="Not Alice's")
    r, rows = await sales_csv(client)
    today = datetime.now(UTC).date().isoformat()
    assert (
        r.headers["content-disposition"]
        == f'attachment; filename="linkmint-alice-sales-{today}.csv"'
    )
    assert r.headers["content-type"].startswith("text/csv")
    assert "no-store" in r.headers["cache-control"]
    assert rows == [
        HEADER,
        ["2026-11-20T13:00:00Z", "Gone", "refunded", "10.00", "1.00", "0.00", "10.00", "USD",
         f"pay_{back}"],
        ["2026-11-20T12:00:00Z", "Guide", "paid", "20.00", "2.00", "13.00", "5.00", "USD",
         f"pay_{part}"],
        ["2026-11-19T12:00:00Z", "Recipe", "paid", "4.99", "0.50", "4.49", "0.00", "USD",
         f"pay_{paid}"],
        ["2026-11-18T12:00:00Z", "東京 ガイド", "paid", "1500", "150", "1350", "0", "JPY",
         f"pay_{yen}"],
    ]  # fmt: skip


@pytest.mark.parametrize(
    "title,cell",
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1 trick", "'+1 trick"),
        ("-2 trick", "'-2 trick"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTabbed", "'\tTabbed"),
        ('Quote "and", comma', 'Quote "and", comma'),
        ("Line\nbreak", "Line\nbreak"),
        ("Safe = title", "Safe = title"),
    ],
)
async def test_the_sales_csv_defuses_formulas_and_escapes_cells(client, alice, title, cell):
    await sale(alice, title=title)
    _, rows = await sales_csv(client)
    assert rows[1][1] == cell


async def test_the_sales_csv_of_a_creator_without_sales_is_its_header(client, alice):
    r, rows = await sales_csv(client)
    assert rows == [HEADER]
    assert r.content == "\ufeff".encode() + b",".join(h.encode() for h in HEADER) + b"\r\n"


async def test_the_sales_csv_streams_page_after_page_without_repeats_or_gaps(
    client, alice, monkeypatch
):
    from app.payments import sales_csv as module

    monkeypatch.setattr(module, "PAGE_SIZE", 4)
    pages = []
    real = module.sales_page

    async def counted(*args, **kwargs):
        page = await real(*args, **kwargs)
        pages.append(len(page))
        return page

    monkeypatch.setattr(module, "sales_page", counted)
    total = 13
    for n in range(total):  # three sales share each moment
        await sale(alice, title=f"Sale {n:02d}", at=NOW - timedelta(minutes=n // 3))
    _, rows = await sales_csv(client)
    titles = [row[1] for row in rows[1:]]
    assert sorted(titles) == [f"Sale {n:02d}" for n in range(total)]
    assert [row[0] for row in rows[1:]] == sorted((row[0] for row in rows[1:]), reverse=True)
    assert pages == [4, 4, 4, 1]


# --- the uploaded photo -------------------------------------------------------------------


def photo(fmt: str = "PNG", side: int = 300) -> bytes:
    """Left half blue, right half red: a picture whose every re-encoding is recognisable."""
    image = Image.new("RGB", (side, side), "red")
    image.paste("blue", (0, 0, side // 2, side))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


async def upload_photo(client, data: bytes | None = None) -> str:
    """Upload a photo in the studio; the id its files are served under."""
    r = await client.post(
        "/dashboard/avatar", files={"avatar_file": ("me.png", data or photo(), "image/png")},
        headers=HX,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return re.search(r"/media/([0-9a-f]{32})-96\.webp", r.text)[1]


async def served(client, image_id: str, side: int) -> Image.Image:
    r = await client.get(f"/media/{image_id}-{side}.webp")
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    return Image.open(io.BytesIO(r.content))


def difference(a: Image.Image, b: Image.Image) -> float:
    """The mean difference of two pictures' pixels, 0 to 255 per channel."""
    assert a.size == b.size
    means = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean
    return sum(means) / len(means)


async def image_rows() -> list[tuple[str, int]]:
    return [(row["id"], row["creator"]) for row in await ImageRow.select().order_by(ImageRow.id)]


async def test_an_uploaded_photo_is_exported_as_its_larger_webp(client, alice):
    image_id = await upload_photo(client)
    document = await export(client)
    assert document["profile"]["avatar_url"] == ""
    stored = (await client.get(f"/media/{image_id}-256.webp")).content
    assert base64.b64decode(document["profile"]["avatar_image"], validate=True) == stored


async def test_a_photo_exported_and_imported_by_another_creator_is_the_same_photo(
    client, other_client, alice, bob
):
    """Round trip: Bob's page then serves Alice's photo, drawn again from the file's pixels
    by the upload's own checks, under Bob's own image id."""
    alices = await upload_photo(client)
    document = await export(client)
    shown = await preview(other_client, document)
    assert shown.status_code == 200, card(shown.text)
    assert "photo" in card(shown.text).split("Profile:")[1].split(".")[0]
    assert await image_rows() == [(alices, alice["id"])]  # a preview stores nothing

    r = await other_client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 200, card(r.text)
    bobs = (await creator_row(bob))["avatar_image"]
    assert bobs and bobs != alices
    assert sorted(await image_rows()) == sorted([(alices, alice["id"]), (bobs, bob["id"])])
    for side in (96, 256):
        theirs, ours = await served(other_client, bobs, side), await served(client, alices, side)
        assert theirs.size == (side, side)
        assert difference(theirs, ours) < 3, side  # the same picture, re-encoded once more
    page = await other_client.get("/bob")
    assert f"/media/{bobs}-256.webp" in page.text

    # Bob's export carries Bob's photo, which his page imports back as it is.
    again = await export(other_client)
    assert (
        base64.b64decode(again["profile"]["avatar_image"])
        == (await other_client.get(f"/media/{bobs}-256.webp")).content
    )
    shown = await preview(other_client, again)
    assert "Profile: no change." in card(shown.text)
    await other_client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert (await creator_row(bob))["avatar_image"] == bobs


def with_photo(**profile: Any) -> dict[str, Any]:
    document = valid_document()
    document["profile"].update(profile)
    return document


@pytest.mark.parametrize(
    "given,message",
    [
        (base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode(),
         "Profile, photo: That file is not a JPEG, PNG, WebP or GIF image."),
        (base64.b64encode(photo()[:200]).decode(), "Profile, photo: That image is damaged"),
        ("not base64!", "Profile, photo: not base64 text."),
        (42, "Profile, photo: the image as base64 text, or null."),
        ("", "Profile, photo: That file is empty."),
    ],
)  # fmt: skip
async def test_a_photo_that_is_no_image_is_refused_with_the_rest_and_nothing_changes(
    client, alice, given, message
):
    await alice_page(alice)
    document = with_photo(avatar_url="", avatar_image=given)
    document["links"][0]["url"] = "javascript:alert(1)"
    before = await snapshot()
    r = await preview(client, document)
    assert r.status_code == 422
    text = card(r.text)
    assert message in text, text
    assert "Link 1 (“One”), URL:" in text  # every problem at once
    assert await snapshot() == before and await image_rows() == []


async def test_a_photo_too_large_in_pixels_is_refused_as_an_upload_is(client, alice):
    big = io.BytesIO()
    Image.new("1", (4097, 16)).save(big, "PNG", optimize=True)
    r = await preview(client, with_photo(avatar_url="", avatar_image=b64(big.getvalue())))
    assert r.status_code == 422
    assert "Profile, photo: That image is larger than 4096 × 4096 pixels." in card(r.text)


async def test_a_file_with_both_a_photo_and_a_photo_url_is_refused(client, alice):
    document = with_photo(avatar_url="https://cdn.example.com/a.png", avatar_image=b64(photo()))
    r = await preview(client, document)
    assert r.status_code == 422
    assert "Profile, photo: an uploaded photo or an avatar URL, not both" in card(r.text)


async def test_null_removes_the_uploaded_photo_and_a_file_without_the_key_keeps_it(client, alice):
    image_id = await upload_photo(client)
    document = await export(client)
    del document["profile"]["avatar_image"]  # a file exported before photos were
    assert (await import_document(client, document)).status_code == 200
    assert (await creator_row(alice))["avatar_image"] == image_id

    document["profile"]["avatar_image"] = None
    shown = await preview(client, document)
    assert "Profile: photo changes." in card(shown.text)
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 200
    assert (await creator_row(alice))["avatar_image"] is None and await image_rows() == []


async def test_a_photo_in_a_file_of_any_upload_format_is_drawn_again_as_webp(client, alice):
    document = with_photo(avatar_url="", avatar_image=b64(photo("JPEG", 600)))
    assert (await import_document(client, document)).status_code == 200
    image_id = (await creator_row(alice))["avatar_image"]
    large = await served(client, image_id, 256)
    assert large.format == "WEBP" and large.size == (256, 256)


async def test_an_import_with_a_photo_that_fails_while_writing_stores_no_photo(
    client, alice, monkeypatch
):
    from app.studio import transfer_service

    image_id = await upload_photo(client)
    shown = await preview(client, with_photo(avatar_url="", avatar_image=b64(photo("JPEG"))))
    assert shown.status_code == 200, card(shown.text)
    before = await snapshot()

    def failing_insert(*rows):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(transfer_service.Link, "insert", failing_insert)
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 500
    assert await snapshot() == before
    assert await image_rows() == [(image_id, alice["id"])]


async def test_a_confirm_after_the_photo_changed_is_refused(client, alice):
    await upload_photo(client)
    shown = await preview(client, await export(client))
    await upload_photo(client, photo("JPEG", 80))
    before = await snapshot()
    r = await client.post(
        "/dashboard/import/confirm", data={"preview": token_of(shown.text)}, headers=HX
    )
    assert r.status_code == 422 and "Your page changed since the preview" in card(r.text)
    assert await snapshot() == before


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
