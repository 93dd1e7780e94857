"""The scenarios: what each one requests, and what a correct answer looks like.

Each scenario is a list of requests (wrk picks one at random per request) plus the routes
it needs; a scenario whose route the app does not have yet is reported as
"n/a (route missing)" instead of measuring 404s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bench.app import PLAINTEXT_PATH, UNCACHED_PATH
from bench.dataset import Dataset
from bench.webhooks import WEBHOOK_PATH
from bench.wrk import Request

HTMX = {"HX-Request": "true"}
# What every browser sends with every request (the pages answer with brotli, the app's
# preference; see app/web/compression.py).
BROWSER = {"Accept-Encoding": "gzip, br"}
# A person's browser, as the insights count them (app/insights): a view or a click with
# this user agent is counted in full, not left out as a bot's.
PERSON = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
}
REFERRERS = ("https://www.instagram.com/", "https://t.co/x1", "https://www.tiktok.com/", "")


@dataclass(frozen=True, slots=True)
class BuyerCookies:
    """How a buyer's cookie is made: the app's own (app.payments.buyer), or a stand-in."""

    name: str
    seal: Callable[[str], str]  # buyer token -> cookie value
    real: bool
    # The CSRF cookie a buyer's browser holds by the time it polls (the premium fragment
    # with the Unlock form set it): `lm_csrf=<token>`, made as the app's middleware makes it.
    csrf: str = ""


def buyer_cookies(secret_key: str, secure: bool = False) -> BuyerCookies:
    try:
        from app.payments.buyer import Buyer, buyer_cookie_name, seal_buyer
    except ImportError:  # before issue 4's buyer cookie existed: a random cookie, noted
        return BuyerCookies("lm_buyer", lambda token: token, real=False)
    from litestar.middleware.csrf import generate_csrf_token

    return BuyerCookies(
        buyer_cookie_name(secure),
        lambda token: seal_buyer(Buyer(token=token), secret_key),
        True,
        csrf=f"lm_csrf={generate_csrf_token(secret_key)}",
    )


@dataclass(slots=True)
class Scenario:
    key: str
    title: str
    requests: list[Request]
    needs: tuple[tuple[str, str], ...] = ()  # (method, route path with {} for parameters)
    expect: tuple[int, ...] = (200,)
    pick: str = "random"
    note: str = ""
    probe_text: str | None = None  # the first request's answer must contain this
    extra: dict = field(default_factory=dict)
    connections: int | None = None  # wrk's connections, when not --connections
    # The least warm-up this scenario needs to be in the state it measures (--warmup may ask
    # for more): the cached page needs every handle seen by every worker first.
    warmup_at_least: float = 0.0


def normalise_route(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def app_routes(app) -> set[tuple[str, str]]:
    """(method, normalised path) of every HTTP route of a Litestar app."""
    found = set()
    for route in app.routes:
        for method in getattr(route, "methods", ()) or ():
            found.add((method, normalise_route(route.path)))
    return found


def missing_routes(scenario: Scenario, routes: set[tuple[str, str]]) -> list[str]:
    return [f"{m} {p}" for m, p in scenario.needs if (m, p) not in routes]


def baseline() -> Scenario:
    return Scenario("baseline", "plain text (baseline)", [Request("GET", PLAINTEXT_PATH)])


def _visitor(n: int) -> dict[str, str]:
    referrer = REFERRERS[n % len(REFERRERS)]
    return {**BROWSER, **PERSON, **({"Referer": referrer} if referrer else {})}


def public(data: Dataset) -> Scenario:
    """Anonymous views from a phone's browser, each one counted for the creator's insights."""
    return Scenario(
        "public",
        "public page, anonymous (random handles, views counted)",
        [Request("GET", f"/{c.handle}", _visitor(n)) for n, c in enumerate(data.creators)],
        needs=(("GET", "/{}"),),
        # Each worker caches its own copy of every page; a miss (the uncached scenario's
        # cost) takes tens of ms while PostgreSQL is busy, so 3 s does not fill 1,000 pages
        # in every worker, and the figure would measure the cache filling, not the page.
        warmup_at_least=12.0,
    )


def click(data: Dataset) -> Scenario:
    """A link's ping, as Chromium sends it when a visitor follows a link."""
    requests = [
        Request(
            "POST",
            f"/_c/{link.creator_id}/{link.id}",
            {**PERSON, "Content-Type": "text/ping", "Ping-To": link.url or "https://x.example"},
            "PING",
        )
        for link in data.links
        if link.visible and link.kind == "link"
    ]
    return Scenario(
        "click",
        "link click report (ping)",
        requests,
        needs=(("POST", "/_c/{}/{}"),),
        expect=(204,),
    )


def insights(token: str, session_cookie: str) -> Scenario:
    """The Insights page over 90 days, for a creator with 50 links and 90 days of counts."""
    return Scenario(
        "insights",
        "Insights page, 90 days × 50 links",
        [
            Request(
                "GET",
                "/dashboard/insights?days=90",
                {**BROWSER, "Cookie": f"{session_cookie}={token}"},
            )
        ],
        needs=(("GET", "/dashboard/insights"),),
        probe_text="Clicks per link",
        # A creator looking at their own figures, not a crowd: its latency is the point.
        connections=2,
        note="2 connections (a creator reading their figures); the rest use 32",
    )


def public_uncached(data: Dataset) -> Scenario:
    """Every view a first view after an edit: the page's miss path, through a bench-only
    route that renders /{handle} exactly as a cache miss does and never uses the cache."""
    return Scenario(
        "public_uncached",
        "public page, uncached (first view after an edit)",
        [Request("GET", f"{UNCACHED_PATH}/{c.handle}", BROWSER) for c in data.creators],
        needs=(("GET", "/{}"), ("GET", f"{UNCACHED_PATH}/{{}}")),
    )


def public_buyer(data: Dataset, cookies: BuyerCookies, limit: int = 2000) -> Scenario:
    """A visit by someone who bought one of the page's premium links, with their cookie.

    The page is the same for every visitor (cacheable); each premium link on it loads its
    buyer's private state from `/u/{id}` (htmx, no-store) right after. One view is therefore
    the page plus one fragment per premium link, all with the cookie, and the request file
    holds every view's requests (random picking keeps that mix). The first request is the
    fragment of the link this visitor bought: its answer must reveal the URL.
    """
    premium_by_creator: dict[int, list] = {}
    for link in data.premium_links():
        if link.visible:
            premium_by_creator.setdefault(link.creator_id, []).append(link)
    requests: list[Request] = []
    views = 0
    owned_url = None
    for unlock in data.unlocks_with("COMPLETED")[:limit]:
        handle = data.creator(unlock.creator_id).handle
        browser = {**BROWSER, "Cookie": f"{cookies.name}={cookies.seal(unlock.buyer_token)}"}
        for link in premium_by_creator.get(unlock.creator_id, []):
            fragment = Request("GET", f"/u/{link.id}", {**HTMX, **browser})
            if owned_url is None and link.id == unlock.link_id:
                owned_url = link.url
                requests.insert(0, fragment)
            else:
                requests.append(fragment)
        requests.append(Request("GET", f"/{handle}", browser))
        views += 1
    per_view = len(requests) / views if views else 0.0
    note = (
        f"one view = the page + its premium fragments (/u/{{id}}), {per_view:.1f} requests; "
        "req/s counts requests"
    )
    if not cookies.real:
        note += "; app.payments has no buyer cookie yet: measured with a random cookie"
    return Scenario(
        "public_buyer",
        "public page + premium fragments, visitor holding an unlock cookie",
        requests,
        needs=(("GET", "/{}"), ("GET", "/u/{}")),
        note=note,
        probe_text=owned_url if cookies.real else None,
        extra={"requests_per_view": round(per_view, 2)},
    )


def poll(data: Dataset, cookies: BuyerCookies, limit: int = 2000) -> Scenario:
    """htmx polling `/unlocks/{id}/status` for PENDING unlocks, by their buyers."""
    pending = data.unlocks_with("PENDING")[:limit]
    requests = [
        Request(
            "GET",
            f"/unlocks/{u.id}/status",
            {
                **HTMX,
                **BROWSER,
                "Cookie": "; ".join(
                    c for c in (cookies.csrf, f"{cookies.name}={cookies.seal(u.buyer_token)}") if c
                ),
            },
        )
        for u in pending
    ]
    return Scenario(
        "poll",
        "unlock status poll (pending unlocks)",
        requests,
        needs=(("GET", "/unlocks/{}/status"),),
        expect=(200, 286),
        # The probe is the unlock's first poll: the whole panel, still polling. Later polls
        # of an unchanged pending unlock are 204 from the process's memory (app/payments/
        # polls.py); wrk counts only answers >= 400 as errors.
        probe_text=f"/unlocks/{pending[0].id}/status" if cookies.real and pending else None,
        note="a poll that finds nothing new is 204 No Content; the first poll of each unlock "
        "in each process reads the database and sends the panel",
    )


def studio(signed_in: Iterable[tuple[str, int]], session_cookie: str) -> Scenario:
    """The htmx GET that swaps a link row for its edit form, by its signed-in owner."""
    requests = [
        Request(
            "GET",
            f"/dashboard/links/{link_id}/edit",
            {**HTMX, **BROWSER, "Cookie": f"{session_cookie}={token}"},
        )
        for token, link_id in signed_in
    ]
    return Scenario(
        "studio",
        "studio fragment swap (link edit form)",
        requests,
        needs=(("GET", "/dashboard/links/{}/edit"),),
        probe_text="<form",
    )


def webhooks(requests: list[Request]) -> Scenario:
    return Scenario(
        "webhooks",
        "signed webhook deliveries (10 % redeliveries)",
        requests,
        needs=(("POST", WEBHOOK_PATH),),
        pick="sequential",
    )
