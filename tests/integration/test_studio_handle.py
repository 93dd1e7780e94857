"""Claiming a handle: the first thing a new creator does in the studio."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from app.shared.rules import InvalidField
from app.studio import service
from tests.support.studio_support import HX, creator_row, snapshot


@pytest.fixture
async def newcomer(client, make_creator, sign_in):
    creator = await make_creator(handle=None, display_name="New Person")
    await sign_in(client, creator)
    return creator


async def test_a_creator_without_a_handle_is_asked_to_claim_one_first(client, newcomer):
    r = await client.get("/dashboard")
    assert r.status_code == 200
    assert 'id="claim-form"' in r.text
    assert 'hx-get="/dashboard/handle/check"' in r.text
    assert 'hx-trigger="input changed delay:300ms"' in r.text
    assert 'id="links"' not in r.text and 'id="profile"' not in r.text


async def test_a_creator_with_a_handle_sees_the_studio(client, make_creator, sign_in):
    await sign_in(client, await make_creator(handle="alice"))
    r = await client.get("/dashboard")
    assert 'id="claim-form"' not in r.text
    assert 'id="profile"' in r.text and 'id="links"' in r.text and 'id="preview"' in r.text
    assert 'href="/alice"' in r.text  # "view my page"
    assert 'action="/auth/logout"' in r.text and 'name="_csrf_token"' in r.text


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("zed", "“zed” is available"),
        ("Zed", "“zed” is available"),
        ("z", "at least 2"),
        ("z" * 31, "at most 30"),
        ("zed!", "lower-case letters"),
        ("dashboard", "reserved"),
        ("security.txt", "reserved"),
        ("zed.json", "looks like a file"),
        ("zed.", "start or end with a dot"),
        ("alice", "“alice” is taken"),
        ("", "2–30 characters"),
    ],
)
async def test_availability_is_checked_while_typing(
    client, newcomer, make_creator, typed, expected
):
    await make_creator(handle="alice")
    r = await client.get("/dashboard/handle/check", params={"handle": typed}, headers=HX)
    assert r.status_code == 200
    assert expected in r.text
    assert "<form" not in r.text  # just the status line


async def test_claiming_without_javascript_redirects_to_the_studio(client, newcomer):
    r = await client.post("/dashboard/handle", data={"handle": "Zed.Makes"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard"
    assert (await creator_row(newcomer))["handle"] == "zed.makes"


async def test_claiming_with_htmx_sends_the_browser_to_the_studio(client, newcomer):
    r = await client.post("/dashboard/handle", data={"handle": "zed"}, headers=HX)
    assert r.status_code == 200
    assert r.headers["hx-redirect"] == "/dashboard"
    assert (await creator_row(newcomer))["handle"] == "zed"


@pytest.mark.parametrize(
    "typed,message",
    [
        ("z", "at least 2"),
        ("auth", "reserved"),
        ("no spaces", "lower-case"),
        ("", "Choose"),
        ("sw.js", "reserved"),
        ("index.html", "looks like a file"),
        (".zed", "start or end with a dot"),
        ("z..ed", "two dots"),
    ],
)
async def test_a_bad_handle_is_refused_inline_and_nothing_changes(client, newcomer, typed, message):
    before = await snapshot()
    r = await client.post("/dashboard/handle", data={"handle": typed}, headers=HX)
    assert r.status_code == 422
    assert message in r.text
    assert r.text.lstrip().startswith('<form id="claim-form"')
    assert 'aria-invalid="true"' in r.text
    assert await snapshot() == before


async def test_a_bad_handle_without_javascript_shows_the_page_with_the_error(client, newcomer):
    r = await client.post("/dashboard/handle", data={"handle": "api"})
    assert r.status_code == 422
    assert "<!doctype html>" in r.text and "reserved" in r.text
    assert (await creator_row(newcomer))["handle"] is None


async def test_a_taken_handle_is_refused_with_a_clear_message(client, newcomer, make_creator):
    await make_creator(handle="alice")
    before = await snapshot()
    r = await client.post("/dashboard/handle", data={"handle": "ALICE"}, headers=HX)
    assert r.status_code == 422
    assert "“alice” is taken" in r.text
    assert await snapshot() == before


async def test_a_creator_keeps_the_handle_they_already_have(client, make_creator, sign_in):
    alice = await make_creator(handle="alice")
    await sign_in(client, alice)
    r = await client.post("/dashboard/handle", data={"handle": "other"}, headers=HX)
    assert r.headers["hx-redirect"] == "/dashboard"
    assert (await creator_row(alice))["handle"] == "alice"


async def test_two_creators_claiming_one_handle_at_once_exactly_one_wins(
    client, other_client, make_creator, sign_in
):
    first = await make_creator(handle=None)
    second = await make_creator(handle=None)
    await sign_in(client, first)
    await sign_in(other_client, second)
    responses = await asyncio.gather(
        client.post("/dashboard/handle", data={"handle": "zed"}, headers=HX),
        other_client.post("/dashboard/handle", data={"handle": "zed"}, headers=HX),
    )
    assert sorted(r.status_code for r in responses) == [200, 422]
    loser = next(r for r in responses if r.status_code == 422)
    assert "“zed” is taken" in loser.text
    handles = [(await creator_row(c))["handle"] for c in (first, second)]
    assert sorted(handles, key=str) == sorted([None, "zed"], key=str)


async def test_the_database_decides_a_claim_race_not_a_prior_check(make_creator):
    """While one claim is uncommitted, a second claim of the same handle waits on the unique
    index, then fails once the first commits: no check-then-act window."""
    first = await make_creator(handle=None)
    second = await make_creator(handle=None)
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("UPDATE creator SET handle = 'zed' WHERE id = $1", first["id"])
        racing = asyncio.create_task(service.claim_handle(second["id"], "zed"))
        await asyncio.sleep(0.3)
        assert not racing.done()  # blocked on the first claim's row in the unique index
        await tx.commit()
        with pytest.raises(InvalidField, match="taken"):
            await racing
    finally:
        await conn.close()
    assert (await creator_row(second))["handle"] is None
