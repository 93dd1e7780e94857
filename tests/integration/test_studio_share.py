"""Sharing the page from the studio: its address and its QR code, shown and downloadable."""

from __future__ import annotations

import segno

from tests.support.qr_decode import png_modules, svg_modules

PNG_SCALE = 12


def expected_modules(address: str) -> list[list[bool]]:
    """The code a scanner should read: the address, with its four-module quiet zone."""
    code = segno.make_qr(address, error="m")
    return [[bool(module) for module in row] for row in code.matrix_iter(border=4)]


async def test_the_svg_download_encodes_the_public_address_of_the_page(
    client, make_creator, sign_in, settings
):
    await sign_in(client, await make_creator(handle="alice"))
    r = await client.get("/dashboard/share/download.svg")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.headers["content-disposition"] == 'attachment; filename="linkmint-alice.svg"'
    assert r.headers["cache-control"] == "no-store"
    assert svg_modules(r.content) == expected_modules(f"{settings.app_url}/alice")
    assert svg_modules(r.content) != expected_modules("/alice")


async def test_the_png_download_is_the_same_code_dark_on_light(
    client, make_creator, sign_in, settings
):
    await sign_in(client, await make_creator(handle="bob.shop"))
    r = await client.get("/dashboard/share/download.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == 'attachment; filename="linkmint-bob.shop.png"'
    assert r.headers["cache-control"] == "no-store"
    modules = png_modules(r.content, PNG_SCALE)
    assert modules == expected_modules(f"{settings.app_url}/bob.shop")
    assert not any(modules[0]) and not any(row[0] for row in modules)  # light quiet zone


async def test_the_studio_shows_the_share_card_with_the_code_and_the_address(
    client, make_creator, sign_in, settings
):
    await sign_in(client, await make_creator(handle="alice"))
    page = (await client.get("/dashboard")).text
    card = page.split('<section id="share"', 1)[1].split("</section>", 1)[0]
    assert "Share your page" in card
    assert 'src="/dashboard/share/qr.svg"' in card
    assert f'value="{settings.app_url}/alice" readonly' in card
    assert 'href="/dashboard/share/download.svg" download' in card
    assert 'href="/dashboard/share/download.png" download' in card
    assert 'id="copy-share-url"' in card and "hidden>Copy link" in card  # shown by studio.js
    shown = await client.get("/dashboard/share/qr.svg")
    assert shown.status_code == 200 and "content-disposition" not in shown.headers
    assert svg_modules(shown.content) == expected_modules(f"{settings.app_url}/alice")


async def test_without_a_handle_there_is_no_code_to_make(client, make_creator, sign_in):
    await sign_in(client, await make_creator(handle=None))
    for path in ("qr.svg", "download.svg", "download.png"):
        assert (await client.get(f"/dashboard/share/{path}")).status_code == 404
    assert 'id="share"' not in (await client.get("/dashboard")).text


async def test_signed_out_gets_no_code(client, make_creator):
    await make_creator(handle="alice")
    for path in ("qr.svg", "download.svg", "download.png"):
        r = await client.get(f"/dashboard/share/{path}", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/auth/login?next=")
        assert not r.content.startswith((b"<?xml", b"\x89PNG"))
