"""Counting views and clicks in memory, and what a flush makes of them (no database)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from app.insights.flush import roll_up
from app.insights.tally import MAX_FIELD, Sighting, Tally
from app.insights.visitors import Classifier, country, looks_like_a_bot, referrer_domain

DAY = date(2026, 12, 3)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0"
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-httpx/0.28.1",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "",
]


def test_the_same_request_twice_is_one_key_counted_twice():
    tally = Tally()
    for _ in range(2):
        tally.note(7, user_agent=IPHONE, referrer="https://instagram.com/", today=DAY)
    tally.note(7, link_id=3, user_agent=IPHONE, today=DAY)
    taken = tally.take()
    assert sorted(taken.values()) == [1, 2]
    assert sum(taken.values()) == 3
    assert len(tally) == 0 and tally.take() == Counter()


def test_past_the_key_limit_requests_are_counted_without_their_details():
    tally = Tally(max_keys=3)
    for n in range(10):
        tally.note(1, user_agent=f"agent {n}", referrer=f"https://site{n}.example/", today=DAY)
    taken = tally.take()
    assert len(taken) == 4  # three with details, and one without for the other seven
    assert taken[Sighting(1, DAY)] == 7
    assert sum(taken.values()) == 10


def test_long_values_are_cut_and_given_back_counts_add_up():
    tally = Tally()
    tally.note(1, user_agent="x" * 5000, today=DAY)
    (sighting,) = tally.take()
    assert len(sighting.user_agent) == MAX_FIELD
    tally.note(1, today=DAY)
    tally.give_back(Counter({Sighting(1, DAY): 4}))
    assert tally.take() == Counter({Sighting(1, DAY): 5})


@pytest.mark.parametrize("agent", BOTS)
def test_bots_and_scripts_are_not_people(agent):
    assert Classifier().visitor(agent).bot
    assert looks_like_a_bot(agent)


@pytest.mark.parametrize(
    ("agent", "browser", "device"),
    [
        (IPHONE, "Safari", "phone"),
        (DESKTOP_CHROME, "Chrome", "desktop"),
        (ANDROID_TABLET, "Chrome", "tablet"),
        (FIREFOX_MAC, "Firefox", "desktop"),
    ],
)
def test_browser_family_and_device_class(agent, browser, device):
    visitor = Classifier().visitor(agent)
    assert (visitor.bot, visitor.browser, visitor.device) == (False, browser, device)


def test_past_its_budget_a_flush_reads_no_new_user_agent_in_full():
    classifier = Classifier(budget=1)
    classifier._known.clear()
    assert classifier.visitor(IPHONE).browser == "Safari"
    unread = classifier.visitor(DESKTOP_CHROME)
    assert (unread.bot, unread.browser, unread.device) == (False, "unknown", "unknown")
    assert classifier.visitor("Googlebot/2.1").bot  # the cheap look still sees bot words
    assert classifier.visitor(IPHONE).browser == "Safari"  # remembered: costs no budget
    assert Classifier(budget=1).visitor(DESKTOP_CHROME).browser == "Chrome"  # a later flush


@pytest.mark.parametrize(
    ("referrer", "domain"),
    [
        ("", "direct"),
        ("https://www.instagram.com/p/abc?igsh=1", "instagram.com"),
        ("https://l.facebook.com/l.php?u=x", "l.facebook.com"),
        ("https://linkmint.example/alice", "direct"),
        ("https://www.linkmint.example/", "direct"),
        ("android-app://com.google.android.gm/", "android-app:com.google.android.gm"),
        ("javascript:alert(1)", "unknown"),
        ("https://[::1", "unknown"),
        ("not a url", "unknown"),
    ],
)
def test_referrers_become_domains(referrer, domain):
    assert referrer_domain(referrer, "linkmint.example") == domain


@pytest.mark.parametrize(
    ("value", "code"), [("DE", "DE"), (" us ", "US"), ("XX", ""), ("T1", ""), ("DEU", ""), ("", "")]
)
def test_only_real_country_codes_are_kept(value, code):
    assert country(value) == code


def test_a_roll_up_counts_people_and_leaves_out_bots_and_the_creator_own_views():
    sightings = Counter(
        {
            Sighting(1, DAY, 0, IPHONE, "https://www.instagram.com/x", "DE"): 3,
            Sighting(1, DAY, 0, DESKTOP_CHROME, ""): 2,
            Sighting(1, DAY, 0, BOTS[0], ""): 50,
            Sighting(1, DAY, 0, DESKTOP_CHROME, "", "", "own-session"): 4,
            Sighting(1, DAY, 0, DESKTOP_CHROME, "", "", "someone-else"): 1,
            Sighting(1, DAY, 9, IPHONE): 2,
            Sighting(2, DAY, 0, FIREFOX_MAC, "https://t.co/abc"): 1,
        }
    )
    owners = {"own-session": 1, "someone-else": 2}
    rollup = roll_up(sightings, own_host="linkmint.example", owners=owners)
    assert rollup == Counter(
        {
            (1, DAY, "view", ""): 6,
            (1, DAY, "referrer", "instagram.com"): 3,
            (1, DAY, "referrer", "direct"): 3,
            (1, DAY, "browser", "Safari"): 3,
            (1, DAY, "browser", "Chrome"): 3,
            (1, DAY, "device", "phone"): 3,
            (1, DAY, "device", "desktop"): 3,
            (1, DAY, "country", "DE"): 3,
            (1, DAY, "click", "9"): 2,
            (2, DAY, "view", ""): 1,
            (2, DAY, "referrer", "t.co"): 1,
            (2, DAY, "browser", "Firefox"): 1,
            (2, DAY, "device", "desktop"): 1,
        }
    )
