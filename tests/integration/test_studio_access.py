"""Who may call every studio endpoint: anonymous, another creator, the owner.

To cover a new endpoint, add one line to ENDPOINTS; every test below runs for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app.db.tables import CreatorSocial
from tests.support.studio_support import HX, add_links, snapshot


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "{link}" stands for the owner's first link id, "{social}" for their first icon
    # The form body, given the owner's link ids (reordering needs them).
    data: Callable[[list[int]], dict[str, Any]] | None = None
    writes: bool = True  # the owner's call changes the database
    files: dict[str, Any] | None = None  # sent as a multipart form with `data`

    @property
    def link_scoped(self) -> bool:
        return "{link}" in self.path or "{social}" in self.path or self.path.endswith("/order")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


PROFILE = {
    "display_name": "Mallory",
    "bio": "changed",
    "avatar_url": "",
    "theme": "midnight",
    "accent_color": "#112233",
}

PNG = (  # a 1 × 1 PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
    b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
)

IMPORT = {"document": json.dumps({"format": "linkmint-page", "version": 1, "profile": PROFILE,
                                  "links": []})}  # fmt: skip

ENDPOINTS = [
    Endpoint("GET", "/dashboard", writes=False),
    Endpoint("GET", "/dashboard/handle/check?handle=zed", writes=False),
    Endpoint("POST", "/dashboard/handle", lambda ids: {"handle": "zed"}, writes=False),
    Endpoint("POST", "/dashboard/profile", lambda ids: PROFILE),
    Endpoint("GET", "/dashboard/preview", writes=False),
    Endpoint(
        "POST",
        "/dashboard/links",
        lambda ids: {"kind": "link", "title": "New", "url": "https://new.example"},
    ),
    Endpoint("POST", "/dashboard/links/order", lambda ids: {"order": list(reversed(ids))}),
    Endpoint("GET", "/dashboard/links/{link}", writes=False),
    Endpoint("GET", "/dashboard/links/{link}/edit", writes=False),
    Endpoint(
        "POST",
        "/dashboard/links/{link}",
        lambda ids: {"title": "Changed", "url": "https://changed.example"},
    ),
    Endpoint("POST", "/dashboard/links/{link}/toggle", lambda ids: {"enabled": "false"}),
    Endpoint("POST", "/dashboard/links/{link}/move", lambda ids: {"direction": "down"}),
    Endpoint("POST", "/dashboard/links/{link}/delete", lambda ids: {}),
    # Premium pricing, earnings and payouts onboarding (issue 4).
    Endpoint("GET", "/dashboard/links/price-preview?price=4.99", writes=False),
    Endpoint("GET", "/dashboard/earnings", writes=False),
    Endpoint("POST", "/dashboard/payouts/enable", lambda ids: {}),  # stores the company
    Endpoint("GET", "/dashboard/payouts/return", writes=False),
    Endpoint("GET", "/dashboard/payouts/refresh", writes=False),
    # Sharing the page and the time zone of link schedules.
    Endpoint("GET", "/dashboard/share/qr.svg", writes=False),
    Endpoint("GET", "/dashboard/share/download.svg", writes=False),
    Endpoint("GET", "/dashboard/share/download.png", writes=False),
    Endpoint("POST", "/dashboard/time-zone", lambda ids: {"time_zone": "Asia/Tokyo"}),
    # Your data: export, import (the preview writes nothing; a confirm without one is a no-op),
    # a list of URLs, the sales as CSV.
    Endpoint("GET", "/dashboard/export.json", writes=False),
    Endpoint("GET", "/dashboard/earnings.csv", writes=False),
    Endpoint("POST", "/dashboard/import/preview", lambda ids: IMPORT, writes=False),
    Endpoint("POST", "/dashboard/import/confirm", lambda ids: {"preview": ""}, writes=False),
    Endpoint("POST", "/dashboard/import/urls", lambda ids: {"urls": "https://new.example"}),
    # The profile photo: upload, the studio after a refused plain upload, removal.
    Endpoint("POST", "/dashboard/avatar", lambda ids: {}, files={"avatar_file": ("me.png", PNG)}),
    Endpoint("GET", "/dashboard/avatar?refused=too-big", writes=False),
    Endpoint("POST", "/dashboard/avatar/delete", lambda ids: {}),
    # Social icons: the card, add, edit, move and remove.
    Endpoint("GET", "/dashboard/socials", writes=False),
    Endpoint("POST", "/dashboard/socials", lambda ids: {"network": "youtube", "value": "@mallory"}),
    Endpoint("GET", "/dashboard/socials/{social}/edit", writes=False),
    Endpoint("POST", "/dashboard/socials/{social}", lambda ids: {"value": "@changed"}),
    Endpoint("POST", "/dashboard/socials/{social}/move", lambda ids: {"direction": "down"}),
    Endpoint("POST", "/dashboard/socials/{social}/delete", lambda ids: {}),
    # The selling currency (usd is allowed, and the owner has no premium link).
    Endpoint("POST", "/dashboard/currency", lambda ids: {"currency": "usd"}, writes=False),
    # Insights: the page, its figures as CSV, and every month's totals as CSV.
    Endpoint("GET", "/dashboard/insights?days=7", writes=False),
    Endpoint("GET", "/dashboard/insights.csv?days=7", writes=False),
    Endpoint("GET", "/dashboard/insights-monthly.csv", writes=False),
]


# The payout page under /dashboard/payouts has its own access tests; the onboarding routes
# beside it (Enable earnings and the way back from Whop) are studio routes, listed above.
PAYOUTS_ONBOARDING = {
    "/dashboard/payouts/enable",
    "/dashboard/payouts/return",
    "/dashboard/payouts/refresh",
}


def test_every_studio_route_is_in_the_matrix(app):
    """A new /dashboard route without a row above fails here."""
    routed = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/dashboard")
        and (not route.path.startswith("/dashboard/payouts") or route.path in PAYOUTS_ONBOARDING)
        for method in getattr(route, "methods", ())
        if method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    }
    listed = {
        (
            e.method,
            e.path.split("?")[0]
            .replace("{link}", "{link_id:int}")
            .replace("{social}", "{social_id:int}"),
        )
        for e in ENDPOINTS
    }
    assert routed == listed


@pytest.fixture
async def owner(make_creator):
    alice = await make_creator(handle="alice", display_name="Ada Owner", email="ada@example.com")
    links = await add_links(alice, {"title": "One"}, {"title": "Two"})
    for position, (network, url) in enumerate(
        (("instagram", "https://www.instagram.com/ada"), ("github", "https://github.com/ada"))
    ):
        await CreatorSocial.insert(
            CreatorSocial(creator=alice["id"], network=network, url=url, position=position)
        )
    return alice, [link["id"] for link in links]


async def _call(client, endpoint: Endpoint, ids: list[int], headers=None):
    url = endpoint.path.replace("{link}", str(ids[0]))
    if "{social}" in url:
        first = await CreatorSocial.select(CreatorSocial.id).order_by(CreatorSocial.id).first()
        url = url.replace("{social}", str(first["id"]))
    if endpoint.method == "GET":
        return await client.get(url, headers=headers, follow_redirects=False)
    return await client.post(
        url, data=endpoint.data(ids), files=endpoint.files, headers=headers, follow_redirects=False
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_anonymous_is_sent_to_sign_in_and_nothing_changes(client, owner, endpoint):
    _, ids = owner
    before = await snapshot()
    r = await _call(client, endpoint, ids)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/auth/login?next=")
    assert await snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_anonymous_htmx_request_gets_hx_redirect_to_sign_in(client, owner, endpoint):
    _, ids = owner
    before = await snapshot()
    r = await _call(client, endpoint, ids, headers=HX)
    assert r.headers["hx-redirect"].startswith("/auth/login?next=")
    assert "Ada Owner" not in r.text
    assert await snapshot() == before


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.link_scoped], ids=str)
async def test_another_creator_gets_404_for_links_that_are_not_theirs(
    other_client, owner, make_creator, sign_in, endpoint
):
    _, ids = owner
    mallory = await make_creator(handle="mallory")
    await add_links(mallory, {"title": "Mine"})
    await sign_in(other_client, mallory)
    before = await snapshot()
    for headers in (HX, None):
        r = await _call(other_client, endpoint, ids, headers=headers)
        assert r.status_code == 404, r.text
        assert "One" not in r.text and "Two" not in r.text
    assert await snapshot() == before


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.link_scoped], ids=str)
async def test_another_creator_only_ever_touches_their_own_rows(
    other_client, owner, make_creator, sign_in, endpoint
):
    alice, ids = owner
    mallory = await make_creator(handle="mallory", email="mallory@example.com")
    await sign_in(other_client, mallory)
    creators, links, socials = await snapshot()
    r = await _call(other_client, endpoint, ids, headers=HX)
    assert r.status_code == 200
    assert "Ada Owner" not in r.text
    creators_after, links_after, socials_after = await snapshot()
    assert [c for c in creators_after if c["id"] == alice["id"]] == [
        c for c in creators if c["id"] == alice["id"]
    ]
    assert [x for x in links_after if x["creator"] == alice["id"]] == links
    assert [x for x in socials_after if x["creator"] == alice["id"]] == [
        x for x in socials if x["creator"] == alice["id"]
    ]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_the_owner_can_use_every_endpoint(client, owner, sign_in, endpoint):
    alice, ids = owner
    await sign_in(client, alice)
    before = await snapshot()
    r = await _call(client, endpoint, ids, headers=HX)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    if endpoint.writes:
        assert await snapshot() != before
