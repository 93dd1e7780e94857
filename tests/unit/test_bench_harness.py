"""The benchmark harness's pure parts: the data set, wrk's request files and figures, and
the page-weight parser (bench/dataset.py, bench/wrk.py, bench/weight.py)."""

from __future__ import annotations

import json
import random

import pytest

from app.shared.rules import clean_handle, clean_link_url
from bench.dataset import build_dataset
from bench.scenarios import normalise_route
from bench.weight import css_resources, html_resources, same_origin
from bench.wrk import Request, parse_figures, request_line


def fee(price_cents: int) -> int:
    return max(50, price_cents // 10)


@pytest.fixture(scope="module")
def data():
    return build_dataset(
        random.Random(6),
        creators=60,
        links_per_creator=12,
        completed_unlocks=50,
        pending_unlocks=20,
        fee_for=fee,
    )


def test_the_data_set_has_the_shape_the_issue_asks_for(data):
    assert len(data.creators) == 60 and len(data.links) == 60 * 12
    kinds = {k.kind for k in data.links}
    assert kinds == {"link", "header", "premium"}
    assert any(not k.enabled for k in data.links)
    payout = {c.id for c in data.creators if c.payout_enabled}
    assert payout and all(c.whop_company_id for c in data.creators if c.payout_enabled)
    assert {k.creator_id for k in data.premium_links()} == payout
    assert all(k.price_cents and k.plan_id for k in data.premium_links())
    assert len(data.unlocks_with("COMPLETED")) == 50 and len(data.unlocks_with("PENDING")) == 20
    assert all(u.fee_cents < u.price_cents for u in data.unlocks)


def test_the_seeded_values_pass_the_apps_own_rules(data):
    for creator in data.creators:
        assert clean_handle(creator.handle) == creator.handle
    assert len({c.handle for c in data.creators}) == len(data.creators)
    for link in data.links:
        if link.kind != "header":
            assert clean_link_url(link.url) == link.url  # raises InvalidField naming the URL


def test_the_plain_page_has_no_premium_links_and_no_avatar(data):
    page = data.plain_page()
    links = [k for k in data.links if k.creator_id == page.id]
    assert not page.avatar_url
    assert all(k.kind != "premium" and k.visible for k in links)


def test_the_same_seed_makes_the_same_data_set():
    def make():
        return build_dataset(
            random.Random(6),
            creators=5,
            links_per_creator=12,
            completed_unlocks=3,
            pending_unlocks=2,
            fee_for=fee,
        )

    first, second = make(), make()
    assert [c.handle for c in first.creators] == [c.handle for c in second.creators]
    assert [u.id for u in first.unlocks] == [u.id for u in second.unlocks]


def test_a_request_line_is_tab_separated_with_unit_separated_headers():
    line = request_line(Request("POST", "/webhooks/whop", {"a": "1", "b": "2"}, '{"x":1}'))
    assert line == 'POST\t/webhooks/whop\ta: 1\x1fb: 2\t{"x":1}'
    assert request_line(Request("GET", "/alice")) == "GET\t/alice\t\t"
    with pytest.raises(ValueError, match="tab, newline"):
        request_line(Request("POST", "/x", {}, "two\nlines"))


def test_wrk_figures_are_read_in_milliseconds_and_requests_per_second():
    raw = {
        "requests": 16000,
        "duration_us": 8_000_000,
        "bytes": 16000 * 1793,
        "wrapped": 0,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 1},
        "latency_us": {
            "mean": 2500.0,
            "stdev": 1.0,
            "max": 40000,
            "p50": 2100,
            "p90": 4000,
            "p99": 9500,
            "p999": 20000,
        },
        "sent_per_thread": [8010, 8012],
    }
    figures = parse_figures(json.dumps(raw))
    assert figures.rps == 2000.0
    assert (figures.p50_ms, figures.p99_ms, figures.max_ms) == (2.1, 9.5, 40.0)
    assert figures.failed == 4 and figures.sent_per_thread == (8010, 8012)
    assert figures.as_dict()["bytes_per_request"] == 1793  # heads and bodies, as received


def test_page_weight_counts_what_the_browser_loads_and_not_navigation():
    html = """<html><head>
      <link rel="stylesheet" href="/static/css/page.css?v=1">
      <link rel="icon" href="/static/img/favicon.svg">
      <link rel="canonical" href="https://elsewhere.example/alice">
      <meta property="og:image" content="https://cdn.example/a.png">
      <script src="/static/vendor/htmx.min.js" defer></script>
      <script src="https://third.example/track.js"></script>
    </head><body><a href="https://youtube.com/x">video</a>
      <img src="/static/img/a.png" srcset="/static/img/a.png 1x, /static/img/a2.png 2x">
    </body></html>"""
    found = html_resources(html, "http://127.0.0.1:8000/alice")
    assert found == [
        ("stylesheet", "http://127.0.0.1:8000/static/css/page.css?v=1"),
        ("icon", "http://127.0.0.1:8000/static/img/favicon.svg"),
        ("script", "http://127.0.0.1:8000/static/vendor/htmx.min.js"),
        ("script", "https://third.example/track.js"),
        ("img", "http://127.0.0.1:8000/static/img/a.png"),
        ("img", "http://127.0.0.1:8000/static/img/a2.png"),
    ]
    assert not same_origin("https://third.example/track.js", "http://127.0.0.1:8000")
    css = "@import 'base.css'; body{background:url(../img/bg.webp)} i{src:url(data:x)}"
    assert css_resources(css, "http://h/static/css/page.css") == [
        "http://h/static/css/base.css",
        "http://h/static/img/bg.webp",
    ]


def test_routes_are_compared_without_their_parameter_names():
    assert normalise_route("/unlocks/{unlock_id:str}/status") == "/unlocks/{}/status"
    assert normalise_route("/dashboard/") == "/dashboard"
