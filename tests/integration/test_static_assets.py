"""Static text assets sent compressed, compressed once after start-up (app/web/assets.py)."""

from __future__ import annotations

import gzip

import brotli

from app.resources import STATIC
from tests.support.cache_support import as_sent, wait_until

ISLAND = "/static/payouts/dist/island.js"
HTMX = "/static/vendor/htmx-2.0.11.min.js"
DECOMPRESS = {"br": brotli.decompress, "gzip": gzip.decompress, "identity": lambda body: body}


async def _compressed(client, *paths: str) -> None:
    """Wait for the thread that compresses the assets after start-up (a second of CPU)."""

    async def ready() -> bool:
        for path in paths:
            r, _ = await as_sent(client, path, "br")
            if r.headers.get("content-encoding") != "br":
                return False
        return True

    await wait_until(ready, within=60)


async def test_the_payout_bundle_and_htmx_are_sent_in_the_coding_asked_for(client):
    await _compressed(client, ISLAND, HTMX)
    for path in (ISLAND, HTMX):
        original = (STATIC / path.removeprefix("/static/")).read_bytes()
        etags = set()
        for coding in ("br", "gzip", "identity"):
            r, body = await as_sent(client, path, coding)
            assert r.status_code == 200, (path, coding)
            assert r.headers.get("content-encoding", "identity") == coding
            assert DECOMPRESS[coding](body) == original
            assert int(r.headers["content-length"]) == len(body)
            assert r.headers["vary"] == "accept-encoding"
            assert r.headers["cache-control"] == "max-age=31536000, public"
            assert r.headers["content-type"].startswith("text/javascript")
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["x-content-type-options"] == "nosniff"
            etags.add(r.headers["etag"])
            if coding != "identity":
                assert len(body) < len(original) / 3, (path, coding, len(body))
        assert len(etags) == 3  # one representation each


async def test_a_static_asset_answers_304_per_variant_and_head_without_the_body(client):
    await _compressed(client, "/static/css/app.css")
    br, body = await as_sent(client, "/static/css/app.css", "gzip, br")
    assert br.headers["content-encoding"] == "br"
    held = {"if-none-match": br.headers["etag"]}
    same, nothing = await as_sent(client, "/static/css/app.css", "br", headers=held)
    assert same.status_code == 304 and nothing == b""
    assert same.headers["etag"] == br.headers["etag"] and same.headers["vary"]
    other, _ = await as_sent(client, "/static/css/app.css", "gzip", headers=held)
    assert other.status_code == 200 and other.headers["content-encoding"] == "gzip"
    headed, nothing = await as_sent(client, "/static/css/app.css", "br", method="HEAD")
    assert headed.status_code == 200 and nothing == b""
    assert headed.headers["content-length"] == str(len(body))
    assert headed.headers["content-type"] == br.headers["content-type"]


async def test_what_compression_would_not_shrink_is_sent_as_it_is(client):
    await _compressed(client, "/static/img/favicon.svg")
    # The favicon is 166 bytes: gzip saves 5 %, not worth a variant; brotli saves a fifth.
    r, body = await as_sent(client, "/static/img/favicon.svg", "gzip")
    assert "content-encoding" not in r.headers and body.startswith(b"<svg")
    assert r.headers["content-type"] == "image/svg+xml"
    r, _ = await as_sent(client, "/static/img/favicon.svg", "br")
    assert r.headers["content-encoding"] == "br"
    assert (await client.get("/static/nope.css")).status_code == 404


async def test_only_what_pages_use_is_served_never_the_build(client):
    """The payout island's npm manifest, lock file, build script and sources, the vendoring
    script and hash list, and the package marker live under static/ but are not the site."""
    for name in (
        "payouts/package.json",
        "payouts/package-lock.json",
        "payouts/build.mjs",
        "payouts/src/island.jsx",
        "vendor/update.sh",
        "vendor/SHA256SUMS",
        "__init__.py",
    ):
        assert (STATIC / name).is_file(), name  # they exist: the 404 is the rule, not absence
        for method in ("GET", "HEAD"):
            r = await client.request(method, f"/static/{name}")
            assert r.status_code == 404, (method, name)
            assert not r.content or r.content == b"Not Found"
    for path in (ISLAND, HTMX, "/static/css/page.css", "/static/img/favicon.svg"):
        assert (await client.get(path)).status_code == 200, path


def test_the_served_files_are_exactly_the_pages_own():
    from app.web.assets import servable

    names = (p.relative_to(STATIC) for p in STATIC.rglob("*") if p.is_file())
    served = sorted(
        name.as_posix()
        for name in names
        if "node_modules" not in name.parts and servable(name.as_posix())
    )
    assert all(name.endswith((".css", ".js", ".svg", ".png")) for name in served), served
    assert "payouts/dist/island.js" in served and "css/page.css" in served
    assert "img/og.png" in served  # the link preview's picture of a page without a photo
    assert not any(name.startswith("payouts/src/") for name in served)
