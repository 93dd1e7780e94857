"""Uploading a profile photo: judged by its content, re-encoded as WebP without metadata,
stored in PostgreSQL, served under a content hash; every bad file is refused beside the
field and changes nothing."""

from __future__ import annotations

import io
import re

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from app.db.tables import Creator
from app.db.tables import Image as ImageRow
from app.main import create_app
from app.studio import avatars
from tests.support.cache_support import notifications_landed, wait_until
from tests.support.studio_support import HX, creator_row, snapshot

UPLOAD = "/dashboard/avatar"
IMG_SRC = re.compile(r'id="avatar-preview" src="(/media/[0-9a-f]{32}-96\.webp)"')


def picture(fmt: str = "PNG", size: tuple[int, int] = (40, 40), colour="red", **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


def two_halves_with_orientation() -> bytes:
    """40 × 20: left red, right blue, with EXIF saying "rotate 90° clockwise to show"."""
    image = Image.new("RGB", (40, 20), "blue")
    image.paste("red", (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "Secret Camera Maker"  # Make: must not survive
    out = io.BytesIO()
    image.save(out, "PNG", exif=exif.tobytes())
    return out.getvalue()


def bomb() -> bytes:
    """A few kilobytes that would decode to 8193 × 8193 pixels (over twice Pillow's limit)."""
    out = io.BytesIO()
    Image.new("1", (8193, 8193)).save(out, "PNG", optimize=True)
    return out.getvalue()


def three_frame_gif() -> bytes:
    frames = [Image.new("RGB", (30, 30), colour) for colour in ("red", "lime", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def upload(client, data: bytes, name: str = "me.png", kind: str = "image/png", **kwargs):
    return client.post(UPLOAD, files={"avatar_file": (name, data, kind)}, **kwargs)


@pytest.fixture
async def alice(client, make_creator, sign_in):
    creator = await make_creator(handle="alice", display_name="Alice")
    await sign_in(client, creator)
    return creator


async def images() -> list[dict]:
    return await ImageRow.select(ImageRow.id, ImageRow.creator).order_by(ImageRow.id)


async def served(client, path: str) -> Image.Image:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert b"Exif" not in r.content and b"Secret Camera" not in r.content
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "WEBP"
    assert not image.getexif() and "exif" not in image.info
    return image


async def test_an_upload_is_stored_as_two_webp_sizes_and_shown_in_the_form_and_on_the_page(
    client, alice, settings
):
    r = await upload(client, picture("JPEG", (300, 200)), "me.jpg", "image/jpeg", headers=HX)
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert r.text.lstrip().startswith('<div id="avatar"') and "Photo saved." in r.text
    small = IMG_SRC.search(r.text)[1]
    large = small.replace("-96.webp", "-256.webp")
    assert f'srcset="{large} 2x"' in r.text
    assert (await served(client, small)).size == (96, 96)
    assert (await served(client, large)).size == (256, 256)
    row = await creator_row(alice)
    assert row["avatar_image"] == small[len("/media/") :][:32] and row["avatar_url"] == ""
    assert [i["creator"] for i in await images()] == [alice["id"]]
    page = await client.get("/alice")
    assert f'src="{small}"' in page.text and f'srcset="{large} 2x"' in page.text
    assert f'<meta property="og:image" content="{settings.app_url}{large}">' in page.text
    assert '<meta property="og:image:width" content="256">' in page.text
    assert '<meta property="og:image:height" content="256">' in page.text


async def test_the_exif_orientation_is_applied_and_every_bit_of_metadata_dropped(client, alice):
    r = await upload(client, two_halves_with_orientation(), headers=HX)
    assert r.status_code == 200
    image = (await served(client, IMG_SRC.search(r.text)[1])).convert("RGB")
    # Turned upright the left (red) half is on top: top right red, bottom left blue.
    top_right, bottom_left = image.getpixel((90, 5)), image.getpixel((5, 90))
    assert top_right[0] > 200 and top_right[2] < 60, top_right
    assert bottom_left[2] > 200 and bottom_left[0] < 60, bottom_left


async def test_a_png_named_jpg_is_judged_by_its_content(client, alice):
    r = await upload(client, picture("PNG"), "holiday.jpg", "image/jpeg", headers=HX)
    assert r.status_code == 200 and "Photo saved." in r.text


async def test_only_the_first_frame_of_an_animated_gif_is_kept(client, alice):
    r = await upload(client, three_frame_gif(), "wave.gif", "image/gif", headers=HX)
    assert r.status_code == 200
    image = await served(client, IMG_SRC.search(r.text)[1])
    assert getattr(image, "n_frames", 1) == 1
    red, green, blue = image.convert("RGB").getpixel((48, 48))
    assert red > 200 and green < 60 and blue < 60


def _truncated_jpeg() -> bytes:
    whole = picture("JPEG", (400, 400), "purple", quality=95)
    return whole[: len(whole) // 2]


BAD_FILES = [
    pytest.param(b"", "me.png", avatars.EMPTY, id="zero bytes"),
    pytest.param(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "me.svg",
        avatars.NOT_AN_IMAGE,
        id="svg",
    ),
    pytest.param(
        b"<!doctype html><html><script>alert(1)</script></html>",
        "me.png",
        avatars.NOT_AN_IMAGE,
        id="html renamed png",
    ),
    pytest.param(b"%PDF-1.4 not a picture", "me.jpg", avatars.NOT_AN_IMAGE, id="pdf"),
    pytest.param(
        picture("BMP"), "me.bmp", avatars.NOT_AN_IMAGE, id="bmp, an image of another kind"
    ),
    pytest.param(
        picture("PNG", (5000, 10)), "wide.png", avatars.TOO_MANY_PIXELS, id="5000x10 pixels"
    ),
    pytest.param(
        picture("PNG", (4097, 4097), compress_level=9),
        "huge.png",
        avatars.TOO_MANY_PIXELS,
        id="4097x4097 pixels",
    ),
    pytest.param(bomb(), "bomb.png", avatars.TOO_MANY_PIXELS, id="decompression bomb"),
    pytest.param(_truncated_jpeg(), "cut.jpg", avatars.DAMAGED, id="truncated jpeg"),
    pytest.param(
        b"\x00" * (avatars.MAX_BYTES + 1), "big.png", avatars.TOO_BIG, id="5 MB and a byte"
    ),
]


@pytest.mark.parametrize("data,name,message", BAD_FILES)
async def test_a_bad_file_is_refused_beside_the_field_and_changes_nothing(
    client, alice, data, name, message
):
    await upload(client, picture("PNG", colour="green"), headers=HX)  # a photo to keep
    before = await snapshot(Creator, ImageRow)
    r = await upload(client, data, name, headers=HX)
    assert r.status_code == 422
    assert 'id="avatar_file-error"' in r.text and message in r.text
    assert 'aria-invalid="true"' in r.text
    assert await snapshot(Creator, ImageRow) == before


async def test_a_bad_file_without_javascript_shows_the_whole_page_with_the_message(client, alice):
    before = await snapshot(Creator, ImageRow)
    r = await upload(client, b"<svg/>", "me.svg", "image/svg+xml")
    assert r.status_code == 422
    assert "<!doctype html>" in r.text and avatars.NOT_AN_IMAGE in r.text
    assert await snapshot(Creator, ImageRow) == before


async def test_a_body_over_the_limit_is_refused_with_the_same_message(client, alice):
    before = await snapshot(Creator, ImageRow)
    too_big = b"\x00" * (avatars.MAX_BYTES + 200_000)
    r = await upload(client, too_big, headers=HX)
    assert r.status_code == 422 and avatars.TOO_BIG in r.text
    # Without JavaScript the token travels in the body, read by the CSRF check first.
    token = client.headers.pop("x-csrftoken")
    try:
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token},
            files={"avatar_file": ("me.png", too_big)},
            follow_redirects=False,
        )
        assert r.status_code == 303
        r = await client.get(r.headers["location"])
    finally:
        client.headers["x-csrftoken"] = token
    assert r.status_code == 200 and avatars.TOO_BIG in r.text
    assert 'id="avatar_file-error"' in r.text
    assert await snapshot(Creator, ImageRow) == before


async def test_without_javascript_an_upload_is_a_plain_post_and_303(client, alice):
    token = client.headers.pop("x-csrftoken")
    try:
        r = await client.post(
            UPLOAD,
            data={"_csrf_token": token},
            files={"avatar_file": ("me.png", picture())},
            follow_redirects=False,
        )
    finally:
        client.headers["x-csrftoken"] = token
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#profile"
    assert (await creator_row(alice))["avatar_image"]


async def test_an_upload_without_the_csrf_token_is_refused(client, alice):
    before = await snapshot(Creator, ImageRow)
    token = client.headers.pop("x-csrftoken")
    try:
        r = await upload(client, picture())
    finally:
        client.headers["x-csrftoken"] = token
    assert r.status_code == 403
    assert await snapshot(Creator, ImageRow) == before


async def test_an_upload_replaces_the_url_and_the_earlier_upload_leaving_no_orphans(client, alice):
    await Creator.update({Creator.avatar_url: "https://cdn.example.com/a.png"}).where(
        Creator.id == alice["id"]
    )
    await upload(client, picture(colour="red"), headers=HX)
    first = (await creator_row(alice))["avatar_image"]
    await upload(client, picture(colour="blue"), headers=HX)
    row = await creator_row(alice)
    assert row["avatar_url"] == "" and row["avatar_image"] not in (None, first)
    assert [i["id"] for i in await images()] == [row["avatar_image"]]
    assert (await client.get(f"/media/{first}-96.webp")).status_code == 404


async def test_typing_a_url_replaces_the_upload(client, alice):
    await upload(client, picture(), headers=HX)
    r = await client.post(
        "/dashboard/profile",
        data={
            "display_name": "Alice",
            "bio": "",
            "avatar_url": "https://cdn.example.com/new.png",
            "theme": "mint",
            "accent_color": "#0f9d76",
        },
        headers=HX,
    )
    assert r.status_code == 200
    row = await creator_row(alice)
    assert row["avatar_image"] is None and row["avatar_url"] == "https://cdn.example.com/new.png"
    assert await images() == []


async def test_remove_photo_goes_back_to_the_monogram(client, alice):
    await upload(client, picture(), headers=HX)
    r = await client.post(f"{UPLOAD}/delete", headers=HX)
    assert r.status_code == 200 and "Photo removed." in r.text
    assert 'class="avatar-monogram"' in r.text and 'id="remove-avatar"' not in r.text
    # The URL field it cleared is sent along, so a later "Save profile" cannot bring it back.
    assert '<div id="avatar-url-field" hx-swap-oob="true">' in r.text
    row = await creator_row(alice)
    assert row["avatar_image"] is None and row["avatar_url"] == ""
    assert await images() == []
    page = await client.get("/alice")
    assert 'class="page-avatar page-monogram"' in page.text


async def test_someone_else_cannot_remove_your_photo(
    client, other_client, alice, make_creator, sign_in
):
    await upload(client, picture(), headers=HX)
    mine = (await creator_row(alice))["avatar_image"]
    bob = await make_creator(handle="bob")
    await sign_in(other_client, bob)
    r = await other_client.post(f"{UPLOAD}/delete", headers=HX)
    assert r.status_code == 200
    assert (await creator_row(alice))["avatar_image"] == mine
    assert [i["id"] for i in await images()] == [mine]


async def test_signed_out_uploads_are_sent_to_sign_in(client):
    r = await upload(client, picture(), follow_redirects=False)
    assert r.status_code == 303 and "/auth/login" in r.headers["location"]
    assert await images() == []


@pytest.mark.parametrize(
    "name",
    ["0" * 32 + "-96.webp", "0" * 32 + "-500.webp", "nothex-96.webp", "../etc-96.webp", "x"],
)
async def test_an_unknown_image_is_not_found(client, alice, name):
    assert (await client.get(f"/media/{name}")).status_code == 404


async def test_uploads_are_rate_limited(client, alice):
    small = picture("PNG", (8, 8))
    for _ in range(20):
        assert (await upload(client, small, headers=HX)).status_code == 200
    r = await upload(client, small, headers=HX)
    assert r.status_code == 429 and r.headers["retry-after"]


async def test_the_cached_public_page_follows_an_upload_and_a_removal(
    settings, make_creator, sign_in
):
    """The photo is named by the creator row, whose trigger invalidates cached pages."""
    app = create_app(settings, caches=True)
    cache = app.state.page_cache
    async with AsyncTestClient(app, base_url=settings.app_url) as client:

        async def live() -> bool:
            return cache.live

        await wait_until(live)
        creator = await make_creator(handle="alice", display_name="Alice")
        await sign_in(client, creator)
        await client.get("/healthz")
        client.headers["x-csrftoken"] = client.cookies["lm_csrf"]
        await notifications_landed(cache)
        await client.get("/alice")
        cached = await client.get("/alice")
        assert cached.headers["x-cache"] == "hit" and "page-monogram" in cached.text

        await upload(client, picture(), headers=HX)

        async def shows_the_photo() -> bool:
            return 'class="page-avatar" src="/media/' in (await client.get("/alice")).text

        await wait_until(shows_the_photo, within=1.0)
        await client.post(f"{UPLOAD}/delete", headers=HX)

        async def shows_the_monogram() -> bool:
            return "page-monogram" in (await client.get("/alice")).text

        await wait_until(shows_the_monogram, within=1.0)


# --- photos stored at 192 px, before the larger size became 256 ------------------------------


def migration_of_the_256_px_avatars():
    """The migration module itself (its file name is no Python identifier's)."""
    import importlib.util

    from app.resources import MIGRATIONS

    path = MIGRATIONS / "app_2026_12_03t18_30_00_000000.py"
    spec = importlib.util.spec_from_file_location("avatar_256_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def webp(side: int, colour: str) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (side, side), colour)
    image.paste("blue", (0, 0, side // 2, side))  # left half blue: the drawing must keep it
    image.save(out, "WEBP", quality=82)
    return out.getvalue()


async def stored_at_192(creator: dict) -> str:
    """An avatar as the version before stored it: 96 and 192 px renditions."""
    image_id = "ab" * 16
    await ImageRow.insert(
        ImageRow(id=image_id, creator=creator["id"], small=webp(96, "red"), large=webp(192, "red"))
    )
    await Creator.update({Creator.avatar_image: image_id}).where(Creator.id == creator["id"])
    return image_id


async def test_a_photo_stored_at_192_px_is_drawn_again_at_256_by_the_migration(
    client, alice, settings
):
    image_id = await stored_at_192(alice)
    untouched = (await ImageRow.select(ImageRow.small).where(ImageRow.id == image_id))[0]
    await migration_of_the_256_px_avatars().redraw_all(256)

    large = await served(client, f"/media/{image_id}-256.webp")
    assert large.size == (256, 256)
    # The same picture: blue on the left, red on the right.
    rgb = large.convert("RGB")
    assert rgb.getpixel((40, 128))[2] > 200 and rgb.getpixel((216, 128))[0] > 200
    assert (await served(client, f"/media/{image_id}-96.webp")).size == (96, 96)
    assert (await ImageRow.select(ImageRow.small).where(ImageRow.id == image_id))[0] == untouched
    page = await client.get("/alice")
    og = f"{settings.app_url}/media/{image_id}-256.webp"
    assert f'<meta property="og:image" content="{og}">' in page.text
    assert '<meta property="og:image:width" content="256">' in page.text

    # Run again (or over photos already at 256): nothing changes.
    before = await ImageRow.select(ImageRow.large).where(ImageRow.id == image_id)
    await migration_of_the_256_px_avatars().redraw_all(256)
    assert await ImageRow.select(ImageRow.large).where(ImageRow.id == image_id) == before


async def test_the_migration_backwards_draws_them_at_192_again(client, alice):
    image_id = await stored_at_192(alice)
    migration = migration_of_the_256_px_avatars()
    await migration.redraw_all(256)
    await migration.redraw_all(192)
    row = (await ImageRow.select(ImageRow.large).where(ImageRow.id == image_id))[0]
    assert Image.open(io.BytesIO(row["large"])).size == (192, 192)


async def test_an_address_at_the_former_192_px_size_redirects_to_the_256_px_one(client, alice):
    """Pages cached, and link previews shared, before the change keep a working photo."""
    r = await upload(client, picture("PNG", (300, 300)), headers=HX)
    image_id = IMG_SRC.search(r.text)[1][len("/media/") :][:32]
    old = await client.get(f"/media/{image_id}-192.webp", follow_redirects=False)
    assert old.status_code == 301
    assert old.headers["location"] == f"/media/{image_id}-256.webp"
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await served(client, old.headers["location"])).size == (256, 256)
    gone = await client.get(f"/media/{'0' * 32}-192.webp", follow_redirects=False)
    assert gone.status_code == 404


def og(text: str, key: str) -> str | None:
    found = re.search(rf'<meta property="og:image{key}" content="([^"]*)"', text)
    return found[1] if found else None


@pytest.mark.parametrize("photo", ["upload", "url", "none"])
async def test_the_og_image_size_tags_are_the_served_images_own_or_absent(
    client, alice, settings, photo
):
    """Link previews lay out the card from og:image:width/height before the image arrives:
    when given they must be its true size; an avatar typed as a URL has none (not known)."""
    if photo == "upload":
        await upload(client, picture("PNG", (300, 300)), headers=HX)
    elif photo == "url":
        url = "https://cdn.example.com/alice.png"
        await Creator.update({Creator.avatar_url: url}).where(Creator.id == alice["id"])
    page = (await client.get("/alice")).text
    if photo == "url":
        assert og(page, "") == "https://cdn.example.com/alice.png"
        assert og(page, ":width") is None and og(page, ":height") is None
        return
    image = await client.get(og(page, "").removeprefix(settings.app_url))
    width, height = Image.open(io.BytesIO(image.content)).size
    assert (og(page, ":width"), og(page, ":height")) == (str(width), str(height))
    assert width >= 200 and height >= 200
