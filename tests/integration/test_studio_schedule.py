"""Scheduling a link from the studio: a start and an end typed in the creator's own time
zone, stored in UTC, shown on the row, and honoured by the public page and its cache."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient

from app.db.tables import Creator
from app.main import create_app
from app.profiles.cache import PageCache
from tests.support.cache_support import notifications_landed, wait_until
from tests.support.studio_support import HX, add_links, creator_row, link_rows, snapshot

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
async def alice(client, make_creator, sign_in):
    creator = await make_creator(handle="alice", time_zone="Asia/Tokyo")
    await sign_in(client, creator)
    return creator


def local_input(moment: datetime, zone: ZoneInfo = TOKYO) -> str:
    """What a `datetime-local` input sends for `moment` in `zone`, to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


async def test_a_new_link_takes_its_schedule_in_the_creators_time_and_stores_utc(client, alice):
    r = await client.post(
        "/dashboard/links",
        data={
            "kind": "link",
            "title": "Launch",
            "url": "https://launch.example",
            "starts_at": "2031-12-04T09:00",
            "ends_at": "2031-12-05T18:30",
        },
        headers=HX,
    )
    assert r.status_code == 200, r.text
    [row] = await link_rows(alice)
    assert row["starts_at"] == datetime(2031, 12, 4, 0, 0, tzinfo=UTC)
    assert row["ends_at"] == datetime(2031, 12, 5, 9, 30, tzinfo=UTC)
    assert "Scheduled: starts 4 Dec 2031, 09:00, until 5 Dec 2031, 18:30" in r.text
    edit = await client.get(f"/dashboard/links/{row['id']}/edit", headers=HX)
    assert 'value="2031-12-04T09:00"' in edit.text and 'value="2031-12-05T18:30"' in edit.text


async def test_the_inline_editor_sets_and_clears_a_schedule(client, alice):
    [link] = await add_links(alice, {"title": "Sale"})
    url = f"/dashboard/links/{link['id']}"
    fields = {"title": "Sale", "url": "https://example.com/0"}
    r = await client.post(url, data={**fields, "ends_at": "2032-01-01T00:00"}, headers=HX)
    assert r.status_code == 200, r.text
    assert "Live until 1 Jan 2032, 00:00" in r.text
    [row] = await link_rows(alice)
    assert (row["starts_at"], row["ends_at"]) == (None, datetime(2031, 12, 31, 15, tzinfo=UTC))

    r = await client.post(url, data={**fields, "starts_at": "", "ends_at": ""}, headers=HX)
    assert r.status_code == 200
    assert 'class="link-schedule"' not in r.text
    [row] = await link_rows(alice)
    assert (row["starts_at"], row["ends_at"]) == (None, None)


async def test_an_ended_link_says_when_it_ended(client, alice):
    await add_links(
        alice,
        {"title": "Old", "ends_at": datetime(2025, 12, 1, 3, tzinfo=UTC)},
        {"title": "Always"},
    )
    page = (await client.get("/dashboard")).text
    assert "Ended 1 Dec 2025" in page  # 12:00 in Tokyo
    assert page.count('class="link-schedule"') == 1


BERLIN_GAP = "28 Mar 2027, 02:30 does not exist in Europe/Berlin: the clocks skip that hour"
NEW_YORK_TWICE = "7 Nov 2027, 01:30 happens twice in America/New_York"
AFTER = "The end must be after the start."


@pytest.mark.parametrize(
    "zone,fields,field,message",
    [
        ("Europe/Berlin", {"starts_at": "2027-03-28T02:30"}, "starts_at", BERLIN_GAP),
        ("America/New_York", {"ends_at": "2027-11-07T01:30"}, "ends_at", NEW_YORK_TWICE),
        ("UTC", {"starts_at": "2030-05-02T10:00", "ends_at": "2030-05-01T10:00"}, "ends_at", AFTER),
        ("UTC", {"starts_at": "2030-05-02T10:00", "ends_at": "2030-05-02T10:00"}, "ends_at", AFTER),
        ("UTC", {"starts_at": "1970-01-01T00:00"}, "starts_at", "between 2000 and 2099"),
        ("UTC", {"ends_at": "2100-01-01T00:00"}, "ends_at", "between 2000 and 2099"),
        ("UTC", {"ends_at": "275760-09-13T00:00"}, "ends_at", "Enter a date and a time"),
        ("UTC", {"starts_at": "2030-02-30T10:00"}, "starts_at", "That date does not exist"),
        ("UTC", {"starts_at": "tomorrow"}, "starts_at", "Enter a date and a time"),
    ],
)
async def test_an_impossible_schedule_is_refused_beside_its_field_and_changes_nothing(
    client, alice, zone, fields, field, message
):
    await Creator.update({Creator.time_zone: zone}).where(Creator.id == alice["id"])
    [link] = await add_links(alice, {"title": "Keep"})
    before = await snapshot()
    typed = {"kind": "link", "title": "T", "url": "https://example.com", **fields}
    for url, prefix in (("/dashboard/links", "new"), (f"/dashboard/links/{link['id']}", None)):
        r = await client.post(url, data=typed, headers=HX)
        assert r.status_code == 422, r.text
        assert message in r.text
        error_id = f"{prefix or 'edit-' + str(link['id'])}-{field.replace('_', '-')}-error"
        assert f'<p class="field-error" id="{error_id}">' in r.text
        assert f'value="{fields[field]}"' in r.text  # what was typed stays
        assert '<details class="schedule-fields" open>' in r.text
        assert "hx-trigger" not in r.headers
    assert await snapshot() == before


async def test_the_time_zone_is_set_from_the_list_and_unknown_names_are_refused(client, alice):
    r = await client.post(
        "/dashboard/time-zone", data={"time_zone": "America/Sao_Paulo"}, follow_redirects=False
    )
    assert r.status_code == 303  # without JavaScript: back to the studio
    assert (await creator_row(alice))["time_zone"] == "America/Sao_Paulo"

    [link] = await add_links(
        alice, {"title": "Later", "starts_at": datetime(2031, 1, 1, 12, tzinfo=UTC)}
    )
    r = await client.post("/dashboard/time-zone", data={"time_zone": "Asia/Tokyo"}, headers=HX)
    assert r.status_code == 200
    assert (
        '<section id="links" class="card" aria-labelledby="links-heading" hx-swap-oob="true">'
        in r.text
    )
    assert "Scheduled: starts 1 Jan 2031, 21:00" in r.text  # the same moment, now in Tokyo
    assert (await link_rows(alice))[0]["starts_at"] == datetime(2031, 1, 1, 12, tzinfo=UTC)

    for bad in ("Mars/Olympus", "localtime", "", "../../etc/passwd"):
        before = await snapshot()
        r = await client.post("/dashboard/time-zone", data={"time_zone": bad}, headers=HX)
        assert r.status_code == 422
        assert "Choose a time zone from the list" in r.text
        assert await snapshot() == before


async def test_the_studio_offers_every_zone_and_asks_the_browser_only_while_on_utc(
    client, make_creator, sign_in
):
    bob = await make_creator(handle="bob")
    await sign_in(client, bob)
    page = (await client.get("/dashboard")).text
    form = page.split('<form id="time-zone-form"', 1)[1].split("</form>", 1)[0]
    assert "data-detect-time-zone" in form
    assert "<option selected>UTC</option>" in form
    assert "<option>Asia/Tokyo</option>" in form and "<option>Europe/Berlin</option>" in form
    assert "localtime" not in form
    await Creator.update({Creator.time_zone: "Europe/Berlin"}).where(Creator.id == bob["id"])
    page = (await client.get("/dashboard")).text
    assert "data-detect-time-zone" not in page
    assert "<option selected>Europe/Berlin</option>" in page


# --- the public page and its cache ---------------------------------------------------------


@pytest.fixture
async def cached(settings) -> AsyncIterator[tuple[AsyncTestClient, PageCache]]:
    """A client of an app with the page cache on, and a TTL far beyond any schedule here."""
    app = create_app(dataclasses.replace(settings, page_cache_ttl=3600), caches=True)
    cache: PageCache = app.state.page_cache
    async with AsyncTestClient(app, base_url=settings.app_url) as client:
        await client.get("/healthz")
        client.headers["x-csrftoken"] = client.cookies["lm_csrf"]

        async def live() -> bool:
            return cache.live

        await wait_until(live)
        yield client, cache


async def test_the_public_page_shows_a_scheduled_link_once_its_start_has_passed(
    cached, make_creator, sign_in
):
    client, cache = cached
    carol = await make_creator(handle="carol", time_zone="Asia/Tokyo")
    await sign_in(client, carol)
    await notifications_landed(cache)
    soon = datetime.now(UTC) + timedelta(minutes=10)
    r = await client.post(
        "/dashboard/links",
        data={
            "kind": "link",
            "title": "Drop",
            "url": "https://drop.example",
            "starts_at": local_input(soon),
        },
        headers=HX,
    )
    assert r.status_code == 200 and "Scheduled: starts" in r.text
    await notifications_landed(cache)
    page = await client.get("/carol")
    assert page.headers["x-cache"] == "miss" and "Drop" not in page.text
    # The cached page expires when the link starts (within ten minutes), not after the TTL.
    left = cache.get("carol").expires_at - time.monotonic()
    assert 0 < left <= 600

    [row] = await link_rows(carol)
    past = datetime.now(UTC) - timedelta(minutes=5)
    r = await client.post(
        f"/dashboard/links/{row['id']}",
        data={"title": "Drop", "url": "https://drop.example", "starts_at": local_input(past)},
        headers=HX,
    )
    assert r.status_code == 200 and "link-schedule" not in r.text
    await notifications_landed(cache)
    page = await client.get("/carol")
    assert page.headers["x-cache"] == "miss" and "Drop" in page.text


async def test_an_end_set_in_the_past_takes_the_link_off_the_public_page(
    cached, make_creator, sign_in
):
    client, cache = cached
    dave = await make_creator(handle="dave", time_zone="America/Los_Angeles")
    [link] = await add_links(dave, {"title": "Flash sale"})
    await sign_in(client, dave)
    await notifications_landed(cache)
    assert "Flash sale" in (await client.get("/dave")).text
    assert (await client.get("/dave")).headers["x-cache"] == "hit"
    ended = datetime.now(UTC) - timedelta(minutes=1)
    r = await client.post(
        f"/dashboard/links/{link['id']}",
        data={
            "title": "Flash sale",
            "url": "https://example.com/0",
            "ends_at": local_input(ended, ZoneInfo("America/Los_Angeles")),
        },
        headers=HX,
    )
    assert r.status_code == 200 and "Ended " in r.text
    await notifications_landed(cache)
    assert "Flash sale" not in (await client.get("/dave")).text
