"""What link previews and search engines read: a description and an absolute `og:image` on
the home page and on every public page (the creator's photo, else Linkmint's logo)."""

from __future__ import annotations

import html
import io
import re

import pytest
from PIL import Image

from tests.support.studio_support import HX

OG_KEYS = ("og:title", "og:description", "og:url", "og:image", "twitter:card", "twitter:image")


def meta(text: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', text)
    return html.unescape(found.group(1)) if found else None


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(out, "PNG")
    return out.getvalue()


async def fetch_absolute(client, url: str, app_url: str):
    assert url.startswith(app_url + "/"), url
    return await client.get(url[len(app_url) :])


async def test_the_home_page_describes_itself_with_the_logo_as_its_image(client, settings):
    r = await client.get("/")
    assert r.status_code == 200
    assert "Build a page for your links" in (meta(r.text, "description") or "")
    for key in OG_KEYS:
        assert meta(r.text, key), key
    assert meta(r.text, "og:url") == f"{settings.app_url}/"
    image = await fetch_absolute(client, meta(r.text, "og:image"), settings.app_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (512, 512)
    assert 'name="robots"' not in r.text


@pytest.mark.parametrize(
    "bio,description", [("I draw cats.", "I draw cats."), ("", "Bo on Linkmint")]
)
async def test_a_page_without_a_photo_shows_the_logo_and_its_description(
    client, make_creator, settings, bio, description
):
    await make_creator(handle="bo", display_name="Bo", bio=bio)
    r = await client.get("/bo")
    assert meta(r.text, "description") == description
    assert meta(r.text, "og:description") == description
    assert meta(r.text, "og:url") == f"{settings.app_url}/bo"
    assert meta(r.text, "og:image") == meta(r.text, "twitter:image")
    assert meta(r.text, "og:image:alt") == "Linkmint"
    logo = await fetch_absolute(client, meta(r.text, "og:image"), settings.app_url)
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png"
    # Public pages are meant to be found: no noindex (unlike a handle nobody has).
    assert 'name="robots"' not in r.text
    assert 'name="robots" content="noindex"' in (await client.get("/nobody-here")).text


async def test_a_page_with_a_photo_url_shows_that_photo(client, make_creator):
    await make_creator(handle="cy", avatar_url="https://cdn.example.com/cy.png")
    r = await client.get("/cy")
    assert meta(r.text, "og:image") == "https://cdn.example.com/cy.png"
    assert meta(r.text, "twitter:image") == "https://cdn.example.com/cy.png"


async def test_a_page_with_an_uploaded_photo_shows_its_larger_size_by_absolute_url(
    client, make_creator, sign_in, settings
):
    creator = await make_creator(handle="di", display_name="Di")
    await sign_in(client, creator)
    r = await client.post(
        "/dashboard/avatar", files={"avatar_file": ("me.png", png(), "image/png")}, headers=HX
    )
    assert r.status_code == 200
    page = await client.get("/di")
    og_image = meta(page.text, "og:image")
    assert re.fullmatch(rf"{re.escape(settings.app_url)}/media/[0-9a-f]{{32}}-256\.webp", og_image)
    assert meta(page.text, "twitter:image") == og_image
    assert meta(page.text, "og:image:alt") == "Di"
    image = await fetch_absolute(client, og_image, settings.app_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(image.content)).size == (256, 256)
