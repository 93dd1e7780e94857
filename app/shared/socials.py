"""The social icons row: which networks a creator may list, how what they paste becomes a
canonical profile address, and the icon each network is drawn with.

People paste whatever they have at hand: `@name`, `name`, a profile link copied from an
app (with tracking parameters), `name@mastodon.social`, `name.bsky.social`, a `mailto:`.
`clean_social` turns each into one canonical address (https, or mailto: for email), built
from the parts it recognised rather than from the pasted text, and re-checked with the
link rules of `app.shared.rules`; anything else is refused with a message that says what
that network's profile looks like.

The canonical form matters beyond tidiness: Mastodon verifies a profile link by fetching
this page and looking for `rel="me"` on a link to exactly `https://<server>/@<name>`.

Brand icons are the `simple-icons` package's (CC0), vendored under static/vendor by
`update-simple-icons.sh` with their hashes. LinkedIn is not in simple-icons (removed at the
trademark owner's request), and email and website have no brand: those three are simple
outline glyphs drawn for Linkmint, below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import SplitResult, urlsplit

from app.resources import STATIC
from app.shared.rules import InvalidField, clean_link_url, is_safe_href

SIMPLE_ICONS_VERSION = "16.37.0"
SIMPLE_ICONS = STATIC / "vendor" / f"simple-icons-{SIMPLE_ICONS_VERSION}"
RAW_MAX = 500  # what the field takes: longer than any profile address


@dataclass(frozen=True, slots=True)
class SocialProfile:
    """What is stored for one network: the canonical address and the name shown with it."""

    url: str
    label: str  # "@name", "name@server", "me@example.com", "example.com"


@dataclass(frozen=True, slots=True)
class Icon:
    paths: tuple[str, ...]
    outline: bool  # a stroked glyph of our own, not a filled brand mark


@dataclass(frozen=True, slots=True)
class Network:
    key: str
    name: str
    placeholder: str
    refusal: str
    clean: Callable[[str], SocialProfile]
    icon_name: str

    @property
    def icon(self) -> Icon:
        return icon(self.icon_name)


# --- icons ------------------------------------------------------------------------------

# Outline glyphs on a 24 × 24 grid (stroke 2, round caps), in the studio's icon style.
GLYPHS = {
    "email": (
        "M5 5h14a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z",
        "m3 7 9 6 9-6",
    ),
    "website": (
        "M12 3a9 9 0 1 0 0 18 9 9 0 1 0 0-18z",
        "M3 12h18",
        "M12 3c2.4 2.5 3.6 5.5 3.6 9s-1.2 6.5-3.6 9c-2.4-2.5-3.6-5.5-3.6-9s1.2-6.5 3.6-9z",
    ),
    # A briefcase: a professional profile, without the brand's mark.
    "profile": (
        "M4 8h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V9a1 1 0 0 1 1-1z",
        "M9 8V6a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2",
        "M3 13h18",
    ),
}
PATH_RE = re.compile(r'<path d="([^"]+)"')


@cache
def icon(name: str) -> Icon:
    """A glyph of ours, or the path of the vendored simple-icons file of that name."""
    if name in GLYPHS:
        return Icon(paths=GLYPHS[name], outline=True)
    svg = (SIMPLE_ICONS / f"{name}.svg").read_text(encoding="utf-8")
    return Icon(paths=tuple(PATH_RE.findall(svg)), outline=False)


# --- what people paste ------------------------------------------------------------------

WEB = frozenset({"https", "http"})
SHORT_HOST_PREFIXES = ("www.", "m.", "mobile.")


def _as_url(text: str, hosts: frozenset[str]) -> SplitResult | None:
    """The pasted text as a web address when it is one (a scheme, a path, or one of the
    network's hosts), else None: then it is a bare handle."""
    head = text.split("/", 1)[0].lower()
    for prefix in SHORT_HOST_PREFIXES:
        head = head.removeprefix(prefix)
    if "/" not in text and not text.lower().startswith(("http:", "https:")) and head not in hosts:
        return None
    parts = urlsplit(clean_link_url(text, schemes=WEB))
    if parts.port is not None:
        raise InvalidField("")
    return parts


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    for prefix in SHORT_HOST_PREFIXES:
        host = host.removeprefix(prefix)
    return host


def _handle(
    text: str,
    *,
    hosts: frozenset[str],
    paths: tuple[re.Pattern[str], ...],
    bare: re.Pattern[str],
    reserved: frozenset[str] = frozenset(),
) -> re.Match[str]:
    """The match of the handle in a profile link on one of `hosts` (path by one of `paths`)
    or in a bare `@name`; its group `h` is the handle."""
    parts = _as_url(text, hosts)
    if parts is None:
        match = bare.fullmatch(text.removeprefix("@"))
    else:
        if _host(parts) not in hosts:
            raise InvalidField("")
        path = parts.path.rstrip("/")
        match = next((m for p in paths if (m := p.fullmatch(path))), None)
    if match is None or match["h"].lower() in reserved:
        raise InvalidField("")
    return match


def _instagram(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9._]{1,30})"
    match = _handle(
        text,
        hosts=frozenset({"instagram.com"}),
        paths=(re.compile(f"/{name}"),),
        bare=re.compile(name),
        reserved=frozenset({"p", "reel", "reels", "explore", "stories", "accounts", "direct"}),
    )
    return SocialProfile(f"https://www.instagram.com/{match['h']}/", f"@{match['h']}")


def _tiktok(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9._]{2,24})"
    match = _handle(
        text,
        hosts=frozenset({"tiktok.com"}),
        paths=(re.compile(f"/@{name}"),),
        bare=re.compile(name),
    )
    return SocialProfile(f"https://www.tiktok.com/@{match['h']}", f"@{match['h']}")


def _youtube(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9._-]{3,30})"
    match = _handle(
        text,
        hosts=frozenset({"youtube.com"}),
        paths=(
            re.compile(f"/@{name}"),
            re.compile(r"/(?P<kind>channel)/(?P<h>UC[A-Za-z0-9_-]{22})"),
            re.compile(r"/(?P<kind>c|user)/(?P<h>[A-Za-z0-9._-]{1,100})"),
        ),
        bare=re.compile(name),
    )
    kind = match.groupdict().get("kind")
    if kind == "channel":
        return SocialProfile(f"https://www.youtube.com/channel/{match['h']}", "channel")
    if kind:
        return SocialProfile(f"https://www.youtube.com/{kind}/{match['h']}", match["h"])
    return SocialProfile(f"https://www.youtube.com/@{match['h']}", f"@{match['h']}")


def _x(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9_]{1,15})"
    match = _handle(
        text,
        hosts=frozenset({"x.com", "twitter.com"}),
        paths=(re.compile(f"/{name}"),),
        bare=re.compile(name),
        reserved=frozenset({"home", "i", "intent", "search", "explore", "settings", "share"}),
    )
    return SocialProfile(f"https://x.com/{match['h']}", f"@{match['h']}")


def _threads(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9._]{1,30})"
    match = _handle(
        text,
        hosts=frozenset({"threads.com", "threads.net"}),
        paths=(re.compile(f"/@{name}"),),
        bare=re.compile(name),
    )
    return SocialProfile(f"https://www.threads.com/@{match['h']}", f"@{match['h']}")


# A Bluesky handle is a domain name: `name.bsky.social`, or the creator's own domain.
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN_HANDLE = rf"(?P<h>(?:{LABEL}\.)+{TOP_LABEL})"


def _bluesky(text: str) -> SocialProfile:
    match = _handle(
        text,
        hosts=frozenset({"bsky.app"}),
        paths=(re.compile(f"/profile/{DOMAIN_HANDLE}"),),
        bare=re.compile(DOMAIN_HANDLE),
    )
    handle = match["h"].lower()
    if len(handle) > 253:
        raise InvalidField("")
    return SocialProfile(f"https://bsky.app/profile/{handle}", f"@{handle}")


MASTODON_NAME = r"(?P<h>[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,28}[A-Za-z0-9_])?)"
MASTODON_ADDRESS = re.compile(rf"@?{MASTODON_NAME}@(?P<server>[^@/\s]+)")
MASTODON_PATHS = (re.compile(f"/@{MASTODON_NAME}"), re.compile(f"/users/{MASTODON_NAME}"))


def _mastodon(text: str) -> SocialProfile:
    """`name@server` or `@name@server`, or the profile's address on its server (any
    server: Mastodon is federated, so there is no list of hosts to hold it to)."""
    address = MASTODON_ADDRESS.fullmatch(text)
    if address:
        name, server = address["h"], address["server"]
    else:
        if "/" not in text and not text.lower().startswith(("http:", "https:")):
            raise InvalidField("")
        parts = urlsplit(clean_link_url(text, schemes=WEB))
        path = parts.path.rstrip("/")
        match = next((m for p in MASTODON_PATHS if (m := p.fullmatch(path))), None)
        if match is None or parts.port is not None:
            raise InvalidField("")
        name, server = match["h"], parts.netloc
    checked = urlsplit(clean_link_url(f"https://{server}/", schemes=WEB))
    host = checked.hostname or ""
    if not host or host == "localhost" or checked.port is not None:
        raise InvalidField("")
    return SocialProfile(f"https://{host}/@{name}", f"@{name}@{host}")


def _github(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38})"
    match = _handle(
        text,
        hosts=frozenset({"github.com"}),
        paths=(re.compile(f"/{name}"),),
        bare=re.compile(name),
        reserved=frozenset({"settings", "orgs", "login", "explore", "marketplace", "topics"}),
    )
    return SocialProfile(f"https://github.com/{match['h']}", f"@{match['h']}")


def _linkedin(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9_%-]{3,100})"
    match = _handle(
        text,
        hosts=frozenset({"linkedin.com"}),
        paths=(re.compile(f"/(?P<kind>in|company)/{name}"),),
        bare=re.compile(name),
    )
    kind = match.groupdict().get("kind") or "in"
    return SocialProfile(f"https://www.linkedin.com/{kind}/{match['h']}", match["h"])


def _twitch(text: str) -> SocialProfile:
    name = r"(?P<h>[A-Za-z0-9_]{4,25})"
    match = _handle(
        text,
        hosts=frozenset({"twitch.tv"}),
        paths=(re.compile(f"/{name}"),),
        bare=re.compile(name),
        reserved=frozenset({"directory", "videos", "settings", "search"}),
    )
    return SocialProfile(f"https://www.twitch.tv/{match['h']}", f"@{match['h']}")


SPOTIFY_KINDS = {"artist": "artist", "user": "profile", "show": "podcast", "playlist": "playlist"}
SPOTIFY_PATH = re.compile(
    r"/(?:intl-[a-z]{2}(?:-[A-Za-z]{2})?/)?(?P<kind>artist|user|show|playlist)/(?P<h>[A-Za-z0-9._-]{1,64})"
)
SPOTIFY_URI = re.compile(r"spotify:(?P<kind>artist|user|show|playlist):(?P<h>[A-Za-z0-9._-]{1,64})")


def _spotify(text: str) -> SocialProfile:
    """Spotify has no handles: a link to an artist, a user, a podcast or a playlist (or
    the `spotify:artist:…` URI the app copies)."""
    match = SPOTIFY_URI.fullmatch(text)
    if match is None:
        match = _handle(
            text,
            hosts=frozenset({"open.spotify.com"}),
            paths=(SPOTIFY_PATH,),
            bare=re.compile("(?!)"),
        )
    kind = match["kind"]
    return SocialProfile(f"https://open.spotify.com/{kind}/{match['h']}", SPOTIFY_KINDS[kind])


EMAIL = re.compile(
    r"(?P<h>[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)


def _email(text: str) -> SocialProfile:
    if text[:7].lower() == "mailto:":
        text = text[7:]
    match = EMAIL.fullmatch(text)
    if match is None or len(text) > 254:
        raise InvalidField("")
    return SocialProfile(f"mailto:{text}", text)


def _website(text: str) -> SocialProfile:
    """Any web page of theirs; the rules' own message says what is wrong with it."""
    url = clean_link_url(text, schemes=WEB)
    host = _host(urlsplit(url)) if url.startswith(("https:", "http:")) else ""
    return SocialProfile(url, host)


NETWORKS: dict[str, Network] = {
    network.key: network
    for network in (
        Network(
            "instagram",
            "Instagram",
            "@name or instagram.com/name",
            "That is not an Instagram profile: use your handle like @name "
            "or a link to instagram.com/name.",
            _instagram,
            "instagram",
        ),
        Network(
            "tiktok",
            "TikTok",
            "@name or tiktok.com/@name",
            "That is not a TikTok profile: use your handle like @name "
            "or a link to tiktok.com/@name.",
            _tiktok,
            "tiktok",
        ),
        Network(
            "youtube",
            "YouTube",
            "@name or youtube.com/@name",
            "That is not a YouTube channel: use your handle like @name "
            "or a link to youtube.com/@name.",
            _youtube,
            "youtube",
        ),
        Network(
            "x",
            "X",
            "@name or x.com/name",
            "That is not an X profile: use your handle like @name or a link to x.com/name.",
            _x,
            "x",
        ),
        Network(
            "threads",
            "Threads",
            "@name or threads.com/@name",
            "That is not a Threads profile: use your handle like @name "
            "or a link to threads.com/@name.",
            _threads,
            "threads",
        ),
        Network(
            "bluesky",
            "Bluesky",
            "name.bsky.social",
            "That is not a Bluesky profile: use your full handle like name.bsky.social "
            "or a link to bsky.app/profile/name.bsky.social.",
            _bluesky,
            "bluesky",
        ),
        Network(
            "mastodon",
            "Mastodon",
            "name@mastodon.social",
            "That is not a Mastodon profile: use your full address like name@mastodon.social "
            "or a link like https://mastodon.social/@name.",
            _mastodon,
            "mastodon",
        ),
        Network(
            "github",
            "GitHub",
            "name or github.com/name",
            "That is not a GitHub profile: use your user name like name "
            "or a link to github.com/name.",
            _github,
            "github",
        ),
        Network(
            "linkedin",
            "LinkedIn",
            "linkedin.com/in/name",
            "That is not a LinkedIn profile: use a link to linkedin.com/in/name "
            "or the name at its end.",
            _linkedin,
            "profile",
        ),
        Network(
            "twitch",
            "Twitch",
            "name or twitch.tv/name",
            "That is not a Twitch channel: use your name like name or a link to twitch.tv/name.",
            _twitch,
            "twitch",
        ),
        Network(
            "spotify",
            "Spotify",
            "open.spotify.com/artist/…",
            "That is not a Spotify profile: use a link to your artist page, profile, "
            "podcast or playlist on open.spotify.com.",
            _spotify,
            "spotify",
        ),
        Network(
            "email",
            "Email",
            "name@example.com",
            "That is not an email address: use one like name@example.com.",
            _email,
            "email",
        ),
        Network(
            "website",
            "Website",
            "example.com",
            "That is not a web address: use one like https://example.com.",
            _website,
            "website",
        ),
    )
}


def clean_network(raw: str) -> Network:
    network = NETWORKS.get(raw)
    if network is None:
        raise InvalidField("Choose one of the networks listed.")
    return network


def clean_social(network: Network, raw: str) -> SocialProfile:
    """What the creator pasted for `network` as its canonical profile, or InvalidField
    with the network's own message (the website's says what is wrong with the address)."""
    text = raw.strip()
    if not text:
        raise InvalidField(f"Enter your {_what(network)}.")
    if len(text) > RAW_MAX:
        raise InvalidField(f"That is too long for your {_what(network)}.")
    try:
        profile = network.clean(text)
    except InvalidField as exc:
        if network.key == "website" and str(exc):
            raise
        raise InvalidField(network.refusal) from None
    if not is_safe_href(profile.url):
        raise InvalidField(network.refusal)
    return profile


def _what(network: Network) -> str:
    return {"email": "email address", "website": "website's address"}.get(
        network.key, f"{network.name} profile"
    )


def accessible_name(network_key: str, label: str) -> str:
    """What a screen reader says for the icon: "Instagram: @name"."""
    network = NETWORKS.get(network_key)
    name = network.name if network else network_key
    return f"{name}: {label}" if label else name
