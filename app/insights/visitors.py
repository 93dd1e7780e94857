"""Who a sighting was, as far as insights care: a bot or a person, which browser family and
device class, which site sent them. Read from the raw values the tally kept, at flush time.

Bots and crawlers are recognised by `crawlerdetect`'s maintained list of user agents;
browser family and device class come from `ua-parser` (with its native resolver,
`ua-parser-rs`, a parse takes tens of microseconds; the bot list a few hundred). Both are
remembered per user agent, and a flush reads at most `PARSE_BUDGET` user agents it has not
seen before (the rest get a cheap look for bot words, and "unknown" browser and device), so
made-up user agents cannot turn a flush into a long computation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawlerdetect import CrawlerDetect
from ua_parser import parse as parse_user_agent

PARSE_BUDGET = 300  # new user agents classified per flush
UNKNOWN = "unknown"
DIRECT = "direct"  # no referrer, or a page of this site

_crawlers = CrawlerDetect()
_COUNTRY = re.compile(r"[A-Z]{2}")
_NOT_A_COUNTRY = {"XX", "T1", "ZZ"}  # Cloudflare's unknown and Tor markers
_BOT_WORDS = re.compile(
    r"bot|crawl|spider|slurp|preview|fetch|scan|monitor|headless|python|curl|wget|"
    r"httpclient|okhttp|go-http|java/|facebookexternalhit|embedly|quora link",
    re.IGNORECASE,
)
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk|PlayBook|Android(?!.*Mobile)", re.IGNORECASE)
_PHONE = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone", re.IGNORECASE)
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "HeadlessChrome": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Samsung Internet": "Samsung Internet",
    "Other": UNKNOWN,
}


def is_bot(user_agent: str) -> bool:
    """A crawler, a link-preview fetcher, a monitor or a script (by crawlerdetect's list);
    an empty user agent too: every browser sends one."""
    return not user_agent or bool(_crawlers.isCrawler(user_agent))


def looks_like_a_bot(user_agent: str) -> bool:
    """The cheap first look, for user agents past a flush's budget: the words most bots
    and scripts put in their user agent."""
    return not user_agent or bool(_BOT_WORDS.search(user_agent))


@dataclass(frozen=True, slots=True)
class Visitor:
    bot: bool
    browser: str
    device: str


def parse_visitor(user_agent: str) -> Visitor:
    """A bot, or a person's browser family and device class ("Chrome", "phone")."""
    if is_bot(user_agent):
        return Visitor(True, UNKNOWN, UNKNOWN)
    result = parse_user_agent(user_agent)
    family = result.user_agent.family if result.user_agent else "Other"
    browser = _BROWSER_NAMES.get(family, family)[:40]
    if _TABLET.search(user_agent):
        device = "tablet"
    elif _PHONE.search(user_agent):
        device = "phone"
    else:
        device = "desktop"
    return Visitor(False, browser, device)


class Classifier:
    """Visitors by user agent, remembered across flushes (at most `CACHE_SIZE` of them, the
    oldest forgotten first). Each flush reads at most `budget` new ones in full; past it, a
    user agent is judged by `looks_like_a_bot` alone and its browser and device are
    "unknown" (until a later flush has the budget to read it)."""

    CACHE_SIZE = 8192
    _known: dict[str, Visitor] = {}  # shared by every flush of the process

    def __init__(self, budget: int = PARSE_BUDGET) -> None:
        self.budget = budget

    def visitor(self, user_agent: str) -> Visitor:
        known = self._known
        answer = known.get(user_agent)
        if answer is not None:
            return answer
        if self.budget <= 0:
            return Visitor(looks_like_a_bot(user_agent), UNKNOWN, UNKNOWN)
        self.budget -= 1
        answer = parse_visitor(user_agent)
        if len(known) >= self.CACHE_SIZE:
            del known[next(iter(known))]
        known[user_agent] = answer
        return answer


def referrer_domain(referrer: str, own_host: str) -> str:
    """The site a visitor came from, as a domain without "www.", or "direct"."""
    if not referrer:
        return DIRECT
    try:
        parts = urlsplit(referrer)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return UNKNOWN
    if parts.scheme == "android-app" and host:
        return f"android-app:{host}"[:100]  # e.g. the Instagram app on Android
    if parts.scheme not in ("http", "https") or not host:
        return UNKNOWN
    host = host.removeprefix("www.")
    if host == own_host.removeprefix("www."):
        return DIRECT
    return host[:100]


def country(value: str) -> str:
    """A trusted proxy's ISO 3166 country code, or "" when it gave none we can use."""
    code = value.strip().upper()
    if not _COUNTRY.fullmatch(code) or code in _NOT_A_COUNTRY:
        return ""
    return code
