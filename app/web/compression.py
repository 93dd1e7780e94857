"""Content codings: bodies compressed once, the variant chosen per request.

Each body is compressed at most once per coding. A cached public page is compressed in a
coding when a request first asks for it (app/profiles/cache.py: a page seen once needs only
its visitor's coding) and static assets once after start-up (app/web/assets.py); every other
request only picks among the variants already made, by its `Accept-Encoding`
(RFC 9110 §12.5.3).

Each variant is its own representation with its own strong ETag (the identity's hash plus
`-gzip` or `-br`; RFC 9110 §8.8.3: a strong validator differs whenever the bytes do), so
`If-None-Match` is answered per variant, and every answer that could have been another
variant says `Vary: Accept-Encoding`.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Container
from dataclasses import dataclass
from functools import lru_cache

import brotli  # type: ignore[import-untyped]

IDENTITY = "identity"
# Among codings a client accepts equally, the smallest first.
PREFERENCE = ("br", "gzip", IDENTITY)
# Brotli's best quality costs about 5 ms even for a 3 kB page (its big-window match search);
# quality 5 takes a tenth of a millisecond and is still ~15 % smaller than gzip.
PAGE_BROTLI_QUALITY = 5
BEST_BROTLI_QUALITY = 11


@dataclass(frozen=True, slots=True)
class Encoded:
    """One representation: the bytes as sent, their content coding and their ETag."""

    coding: str
    body: bytes
    etag: str  # strong, quoted

    def matches(self, if_none_match: str | None) -> bool:
        """RFC 9110 §13.1.2: If-None-Match compares weakly, and `*` matches any."""
        if not if_none_match:
            return False
        for tag in if_none_match.split(","):
            tag = tag.strip()
            if tag == "*" or tag.removeprefix("W/") == self.etag:
                return True
        return False


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def variants(body: bytes, *, brotli_quality: int, etag: str | None = None) -> dict[str, Encoded]:
    """`body` as identity, gzip and brotli, keyed by coding; a coding that saves less than a
    tenth is left out (the client gets identity instead)."""
    identity = Encoded(IDENTITY, body, etag or etag_of(body))
    out = {IDENTITY: identity}
    for coding in ("br", "gzip"):
        made = encode(identity, coding, brotli_quality=brotli_quality)
        if made is not identity:
            out[coding] = made
    return out


def encode(identity: Encoded, coding: str, *, brotli_quality: int) -> Encoded:
    """`identity` in `coding` ("br" or "gzip"), or `identity` itself when that would save
    less than a tenth of its bytes."""
    body = identity.body
    if coding == "br":
        data = brotli.compress(body, quality=brotli_quality, mode=brotli.MODE_TEXT)
    else:
        data = gzip.compress(body, compresslevel=9, mtime=0)
    if len(data) >= 0.9 * len(body):
        return identity
    return Encoded(coding, data, f'{identity.etag[:-1]}-{coding}"')


def negotiate(accept_encoding: str | None, available: Container[str]) -> str:
    """The coding to send among `available` (identity always is): the one with the highest
    q-value, the smallest on a tie. No header, or nothing else acceptable: identity, which
    RFC 9110 §12.5.3 prefers to a 406 even when the client excluded it."""
    if not accept_encoding:
        return IDENTITY
    return _negotiate(accept_encoding.lower(), tuple(c for c in PREFERENCE if c in available))


@lru_cache(maxsize=256)  # browsers send a handful of distinct values
def _negotiate(accept_encoding: str, offered: tuple[str, ...]) -> str:
    listed: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if not coding or coding in listed:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        listed[coding] = q
    star = listed.get("*")
    best, best_q = IDENTITY, 0.0
    for coding in offered:
        weight = listed.get(coding, star)
        if coding == IDENTITY and weight is None:
            weight = 0.0005  # acceptable unless excluded, but only when nothing listed is
        if weight is not None and weight > best_q:
            best, best_q = coding, weight
    return best
