"""Content codings (app/web/compression.py): which variant a request gets, and the variants."""

from __future__ import annotations

import gzip

import brotli
import pytest

from app.web.compression import IDENTITY, etag_of, negotiate, variants

ALL = {IDENTITY, "gzip", "br"}


@pytest.mark.parametrize(
    ("accept_encoding", "chosen"),
    [
        (None, IDENTITY),  # no header: identity, whatever RFC 9110 would allow
        ("", IDENTITY),
        ("gzip, deflate, br, zstd", "br"),  # what browsers send: the smaller one
        ("gzip", "gzip"),
        ("GZip", "gzip"),
        ("br;q=0.5, gzip;q=0.6", "gzip"),  # q-values rule, not the server's preference
        ("br;q=0.5, identity", IDENTITY),
        ("gzip;q=0.2", "gzip"),  # identity is acceptable, but only as a fallback
        ("identity", IDENTITY),
        ("*", "br"),
        ("br;q=0, *", "gzip"),  # `*` covers what is not listed
        ("gzip;q=0, br;q=0", IDENTITY),
        ("*;q=0", IDENTITY),  # nothing acceptable: identity rather than a 406
        ("identity;q=0, gzip;q=0", IDENTITY),
        ("deflate, zstd", IDENTITY),
        ("gzip;q=nonsense", IDENTITY),  # a malformed q-value accepts nothing
        ("br ; q=0.9 , gzip ; q=1", "gzip"),
    ],
)
def test_the_variant_follows_accept_encoding(accept_encoding, chosen):
    assert negotiate(accept_encoding, ALL) == chosen


def test_only_the_variants_there_are_can_be_chosen():
    assert negotiate("br, gzip", {IDENTITY, "gzip"}) == "gzip"
    assert negotiate("br", {IDENTITY}) == IDENTITY


def test_each_variant_decodes_to_the_identity_and_has_its_own_strong_etag():
    body = b"<p>" + b"a link in bio " * 200 + b"</p>"
    made = variants(body, brotli_quality=5)
    assert gzip.decompress(made["gzip"].body) == body
    assert brotli.decompress(made["br"].body) == body
    etag = etag_of(body)
    assert made[IDENTITY].etag == etag and made[IDENTITY].body == body
    assert made["gzip"].etag == etag[:-1] + '-gzip"'
    assert made["br"].etag == etag[:-1] + '-br"'
    assert made["gzip"].matches(f"W/{made['gzip'].etag}")  # If-None-Match compares weakly
    assert not made["gzip"].matches(etag) and not made[IDENTITY].matches(made["br"].etag)


def test_a_body_that_does_not_shrink_is_only_sent_as_it_is():
    assert set(variants(b"tiny", brotli_quality=5)) == {IDENTITY}
