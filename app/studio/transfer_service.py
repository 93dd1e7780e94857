"""What the studio's "Your data" card does (its controller is `app.studio.transfer`): export
the page as JSON, import it back, and append a list of URLs.

An import is checked with the studio's own rules (`app.studio.forms`, `app.studio.pricing`),
all of it before anything is written, and applied in one transaction: a file with one bad
item changes nothing and is answered with the list of what is wrong. It is applied in two
steps. The preview says what would change; its Confirm button carries the file itself in a
signed hidden field, together with a fingerprint of the page as it was previewed, so
confirming applies exactly what was shown, and is refused if the page changed since.

Rows of the page and of the file are matched, so that a link with sales is updated in place
rather than deleted and added again (its buyers keep their unlocks): first by the `id` the
export wrote, when that row is still the creator's, then by the same (kind, title, URL).
Rows of the page that match nothing in the file are deleted, as the studio's Delete does
(their sales stay in the earnings, which keep each sale's link title). docs/export-format.md
describes the file.

An uploaded photo travels in the file as its larger WebP, base64-encoded. Coming back it is
untrusted bytes like any upload: checked and drawn again by `app.studio.avatars`, before the
transaction, and written in it with the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from piccolo.columns import Column

from app.auth.service import CreatorRecord, creator_by_id
from app.config import Settings
from app.db.tables import Creator, CreatorSocial, Image, Link
from app.profiles.service import socials_of
from app.shared.fees import MoneyRules, money_rules
from app.shared.money import format_money
from app.shared.rules import (
    MAX_LINKS,
    TITLE_MAX,
    InvalidField,
    example_minor_units,
    price_input,
)
from app.shared.socials import NETWORKS, clean_network, clean_social
from app.studio import avatars, service
from app.studio.forms import PROFILE_FIELDS, Form, blank_link_form, new_link_form, profile_form
from app.studio.pricing import check_premium
from app.studio.service import StudioLink

FORMAT_NAME = "linkmint-page"
FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 256 * 1024
MAX_URL_LIST_BYTES = 64 * 1024
PREVIEW_LIFETIME = timedelta(minutes=30)

STALE = "Your page changed since the preview; preview again."
PREVIEW_EXPIRED = "That preview is too old or damaged; choose the file and preview again."
PROFILE_LABELS = {
    "display_name": "display name",
    "bio": "bio",
    "avatar_url": "avatar URL",
    "theme": "theme",
    "accent_color": "accent colour",
    "sensitive": "18+",
}
LINK_LABELS = {
    "kind": "kind",
    "title": "title",
    "url": "URL",
    "price": "price",
    "sensitive": "18+",
    "starts_at": "schedule",
    "ends_at": "schedule",
}


class ImportRefused(Exception):
    """Nothing was changed; `problems` are sentences for the creator, one per mistake."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- export -------------------------------------------------------------------------------


def iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _link_document(link: StudioLink) -> dict[str, Any]:
    premium = link.kind == "premium"
    return {
        "id": link.id,
        "kind": link.kind,
        "title": link.title,
        "url": link.url,
        "price_cents": link.price_cents if premium else None,
        "currency": link.currency if premium else None,
        "enabled": link.enabled,
        "sensitive": link.sensitive,
        "starts_at": iso_utc(link.starts_at),
        "ends_at": iso_utc(link.ends_at),
    }


async def stored_avatar(creator: CreatorRecord) -> bytes | None:
    """The larger WebP of the creator's uploaded photo, or None when there is none."""
    if not creator.avatar_image:
        return None
    row = await Image.select(Image.large).where(Image.id == creator.avatar_image).first()
    return bytes(row["large"]) if row else None


async def export_document(creator: CreatorRecord, *, now: datetime) -> dict[str, Any]:
    """The whole page as the creator edits it; premium URLs included (the file is theirs)."""
    links = await service.studio_links(creator.id)
    socials = await socials_of(creator.id)
    photo = await stored_avatar(creator)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": iso_utc(now),
        "handle": creator.handle,
        "profile": {
            **{name: getattr(creator, name) for name in PROFILE_FIELDS},
            "avatar_image": base64.b64encode(photo).decode() if photo else None,
            "sensitive": creator.sensitive,
        },
        "socials": [{"network": social.network, "url": social.href} for social in socials],
        "links": [_link_document(link) for link in links],
    }


def export_filename(creator: CreatorRecord, today: date, kind: str = "") -> str:
    suffix = f"-{kind}" if kind else ""
    return f"linkmint-{creator.handle or 'page'}{suffix}-{today.isoformat()}"


# --- reading a file -----------------------------------------------------------------------


def read_document(data: bytes, filename: str) -> dict[str, Any]:
    """The uploaded export as a JSON object, or ImportRefused saying why it is not one."""
    if filename and not filename.lower().endswith(".json"):
        raise ImportRefused("Choose a .json file exported by Linkmint: this file is not one.")
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"The file is larger than {MAX_IMPORT_BYTES // 1024} KB.")
    if not data.strip():
        raise ImportRefused("Choose a file to import: this one is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(
            "The file is not text: choose the .json file Linkmint exported."
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportRefused(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    except RecursionError:
        raise ImportRefused("The file is not a Linkmint export: it is nested too deeply.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ImportRefused(
            f"The file is not a Linkmint page export (its “format” is not “{FORMAT_NAME}”)."
        )
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        if isinstance(version, int) and not isinstance(version, bool) and version > 1:
            raise ImportRefused(
                f"The file is in format version {version}, from a newer Linkmint; "
                f"this one reads version {FORMAT_VERSION}."
            )
        raise ImportRefused(f"The file's format version is not one Linkmint knows ({version!r}).")
    return document


# --- the plan: what an import would do ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedLink:
    kind: str
    title: str
    url: str
    price_cents: int | None
    enabled: bool
    sensitive: bool
    starts_at: datetime | None
    ends_at: datetime | None
    existing: StudioLink | None  # the page's row it updates; None: a new row

    @property
    def changes_existing(self) -> bool:
        now = self.existing
        return now is not None and (
            (now.kind, now.title, now.url, now.price_cents, now.enabled, now.sensitive)
            != (self.kind, self.title, self.url, self.price_cents, self.enabled, self.sensitive)
            or (now.starts_at, now.ends_at) != (self.starts_at, self.ends_at)
        )


@dataclass(frozen=True, slots=True)
class Summary:
    """What the preview shows."""

    profile_changes: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    reordered: bool
    socials_before: tuple[tuple[str, str], ...] = ()  # (network, url), in order
    socials_after: tuple[tuple[str, str], ...] = ()

    @property
    def profile_line(self) -> str:
        if not self.profile_changes:
            return "Profile: no change."
        fields = list(self.profile_changes)
        said = fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
        verb = "changes" if len(fields) == 1 else "change"
        return f"Profile: {said} {verb}."

    @property
    def links_line(self) -> str:
        parts = [
            f"{len(self.added)} added" if self.added else "",
            f"{len(self.removed)} removed" if self.removed else "",
            f"{len(self.changed)} changed" if self.changed else "",
            "new order" if self.reordered else "",
        ]
        said = ", ".join(part for part in parts if part)
        return f"Links: {said}." if said else "Links: no change."

    @property
    def socials_line(self) -> str:
        before, after = dict(self.socials_before), dict(self.socials_after)
        parts = [
            f"{len(after.keys() - before.keys())} added",
            f"{len(before.keys() - after.keys())} removed",
            f"{sum(before[key] != after[key] for key in before.keys() & after.keys())} changed",
        ]
        said = ", ".join(part for part in parts if not part.startswith("0 "))
        if not said and list(before) != list(after):
            said = "new order"
        return f"Social icons: {said}." if said else "Social icons: no change."

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.profile_changes
            or self.added
            or self.removed
            or self.changed
            or self.reordered
            or self.socials_before != self.socials_after
        )


@dataclass(frozen=True, slots=True)
class PlannedSocial:
    network: str
    url: str
    label: str


@dataclass(frozen=True, slots=True)
class PlannedAvatar:
    """What an import does to the uploaded photo: nothing (`keep`), or show `renditions`
    instead (None: no uploaded photo)."""

    keep: bool = True
    renditions: avatars.Renditions | None = None


KEEP_AVATAR = PlannedAvatar()
AVATAR_LABEL = "Profile, photo"


async def read_avatar(
    document: Mapping[str, Any], creator: CreatorRecord
) -> tuple[PlannedAvatar, tuple[str, ...]]:
    """The file's uploaded photo (`profile.avatar_image`), checked and drawn again exactly as
    an upload is (CPU-bound work, in a thread), and what is wrong with it. Missing: the
    page's photo stays; null: no uploaded photo; the page's own photo: no change."""
    given = document.get("profile")
    if not isinstance(given, dict) or "avatar_image" not in given:
        return KEEP_AVATAR, ()
    encoded = given["avatar_image"]
    if encoded is None:
        return PlannedAvatar(keep=not creator.avatar_image), ()
    if not isinstance(encoded, str):
        return KEEP_AVATAR, (f"{AVATAR_LABEL}: the image as base64 text, or null.",)
    if given.get("avatar_url"):
        problem = "an uploaded photo or an avatar URL, not both; empty one of them."
        return KEEP_AVATAR, (f"{AVATAR_LABEL}: {problem}",)
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError:
        return KEEP_AVATAR, (f"{AVATAR_LABEL}: not base64 text.",)
    if data == await stored_avatar(creator):
        return KEEP_AVATAR, ()
    try:
        renditions = await avatars.prepare_upload(creator.id, data)
    except InvalidField as exc:
        return KEEP_AVATAR, (f"{AVATAR_LABEL}: {exc}",)
    return PlannedAvatar(keep=False, renditions=renditions), ()


@dataclass(frozen=True, slots=True)
class Plan:
    profile: dict[str, str]
    socials: tuple[PlannedSocial, ...]
    links: tuple[PlannedLink, ...]
    removed: tuple[StudioLink, ...]
    summary: Summary
    avatar: PlannedAvatar = KEEP_AVATAR


def _profile(
    document: Mapping[str, Any], creator: CreatorRecord, problems: list[str]
) -> dict[str, str]:
    given = document.get("profile")
    if not isinstance(given, dict):
        problems.append("Profile: the file has no “profile” object.")
        return {}
    raw: dict[str, str] = {}
    for name in PROFILE_FIELDS:
        value = given.get(name)
        if isinstance(value, str):
            raw[name] = value
        else:
            problems.append(f"Profile, {PROFILE_LABELS[name]}: missing, or not text.")
    raw["sensitive"] = _tick(given, "Profile, 18+", problems)
    if len(raw) <= len(PROFILE_FIELDS):
        return {}
    form = profile_form(raw, current_accent=creator.accent_color)
    for name, message in form.errors.items():
        problems.append(f"Profile, {PROFILE_LABELS[name]}: {message}")
    return form.values


def _tick(given: Mapping[str, Any], label: str, problems: list[str]) -> str:
    """An 18+ flag (missing: false) as the studio's checkbox sends it: "on" or ""."""
    value = given.get("sensitive", False)
    if not isinstance(value, bool):
        problems.append(f"{label}: true or false.")
    return "on" if value is True else ""


def _socials(given: Any, problems: list[str]) -> tuple[PlannedSocial, ...]:
    """The file's social profiles, each checked as the studio's Social icons card checks
    it; one per network."""
    if given is None:
        return ()
    if not isinstance(given, list) or len(given) > len(NETWORKS):
        problems.append(f"Social icons: a list of at most {len(NETWORKS)} profiles.")
        return ()
    planned: list[PlannedSocial] = []
    seen: set[str] = set()
    for number, entry in enumerate(given, 1):
        network, url = (
            entry.get(name) if isinstance(entry, dict) else None for name in ("network", "url")
        )
        if not isinstance(network, str) or not isinstance(url, str):
            problems.append(f"Social icon {number}: an object with a “network” and a “url”.")
            continue
        try:
            kind = clean_network(network)
        except InvalidField as exc:
            problems.append(f"Social icon {number}: {exc}")
            continue
        try:
            profile = clean_social(kind, url)
        except InvalidField as exc:
            problems.append(f"Social icon {number} ({kind.name}): {exc}")
            continue
        if kind.key in seen:
            problems.append(f"Social icon {number}: {kind.name} is listed twice; keep one.")
            continue
        seen.add(kind.key)
        planned.append(PlannedSocial(network=kind.key, url=profile.url, label=profile.label))
    return tuple(planned)


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset (`2026-12-24T18:00:00Z`), as UTC; None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    raise ValueError("use an ISO 8601 time with its offset, like 2026-12-24T18:00:00Z, or null.")


@dataclass(slots=True)
class _Item:
    """One entry of the file's "links", cleaned; `problems` empty when it may be imported."""

    number: int
    given_id: int | None
    form: Form = field(default_factory=blank_link_form)
    enabled: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.form.values["kind"], self.form.values["title"], self.form.values["url"]

    def label(self) -> str:
        """`Link 3 (“Shop”)`; without a title that was refused (it may hold a character that
        reverses the text after it)."""
        title = "" if "title" in self.form.errors else self.form.values.get("title")
        return f"Link {self.number} (“{title}”)" if title else f"Link {self.number}"


def _clean_item(number: int, given: Any, creator: CreatorRecord) -> _Item:
    if not isinstance(given, dict):
        item = _Item(number=number, given_id=None)
        item.problems.append(f"Link {number}: not an object with a kind, title and URL.")
        return item
    given_id = given.get("id")
    valid_id = isinstance(given_id, int) and not isinstance(given_id, bool)
    item = _Item(number=number, given_id=given_id if valid_id else None)
    raw = {}
    for name in ("kind", "title", "url"):
        value = given.get(name, "")
        raw[name] = value if isinstance(value, str) else ""
        if not isinstance(value, str):
            item.problems.append(f"Link {number}, {LINK_LABELS[name]}: not text.")
    raw["sensitive"] = _tick(given, f"Link {number}, 18+", item.problems)
    price_problem = _price_problem(raw, given, creator)
    form = new_link_form(raw, currency=creator.currency)
    item.form = form
    item.problems.extend(
        f"{item.label()}, {LINK_LABELS.get(name, name)}: {message}"
        for name, message in form.errors.items()
        if not (name == "price" and price_problem)
    )
    if price_problem:
        item.problems.append(f"{item.label()}, price: {price_problem}")
    enabled = given.get("enabled", True)
    if not isinstance(enabled, bool):
        item.problems.append(f"{item.label()}, enabled: true or false.")
    item.enabled = enabled is not False
    try:
        item.starts_at = parse_instant(given.get("starts_at"))
        item.ends_at = parse_instant(given.get("ends_at"))
    except ValueError as exc:
        item.problems.append(f"{item.label()}, schedule: {exc}")
    else:
        if item.starts_at and item.ends_at and item.ends_at <= item.starts_at:
            item.problems.append(f"{item.label()}, schedule: the end must be after the start.")
    return item


def _price_problem(raw: dict[str, str], given: Mapping[str, Any], creator: CreatorRecord) -> str:
    """A premium link's price from the file, in `raw` as the studio's form takes it; or what
    is wrong with it (a missing price is left to the form, which says so)."""
    price, currency = given.get("price_cents"), given.get("currency")
    if raw["kind"] != "premium" or price is None:
        return ""
    if not isinstance(price, int) or isinstance(price, bool) or price <= 0:
        example = example_minor_units(creator.currency)
        shown = format_money(example, creator.currency)
        return f"a whole number of minor units above zero, like {example} for {shown}."
    if not isinstance(currency, str) or currency.lower() != creator.currency:
        priced_in = currency.upper() if isinstance(currency, str) else "no currency"
        return f"priced in {priced_in}, but your page sells in {creator.currency.upper()}."
    raw["price"] = price_input(price, creator.currency)
    return ""


def _match(items: list[_Item], current: Sequence[StudioLink]) -> dict[int, StudioLink]:
    """Item number → the page's row it updates: by id first, then by (kind, title, URL)."""
    by_id = {link.id: link for link in current}
    matched: dict[int, StudioLink] = {}
    taken: set[int] = set()
    for item in items:
        link = by_id.get(item.given_id) if item.given_id is not None else None
        if link and link.id not in taken:
            matched[item.number] = link
            taken.add(link.id)
    for item in items:
        if item.number in matched:
            continue
        for link in current:
            if link.id not in taken and (link.kind, link.title, link.url) == item.key:
                matched[item.number] = link
                taken.add(link.id)
                break
    return matched


def plan_import(
    document: Mapping[str, Any],
    creator: CreatorRecord,
    rules: MoneyRules,
    current: Sequence[StudioLink],
    current_socials: Sequence[tuple[str, str]] = (),
    avatar: tuple[PlannedAvatar, tuple[str, ...]] = (KEEP_AVATAR, ()),
) -> Plan:
    """What importing `document` would do to the creator's page, or ImportRefused with
    every problem found (all of them at once, not the first). `avatar` is `read_avatar`'s
    answer for the same file."""
    problems: list[str] = []
    profile = _profile(document, creator, problems)
    planned_avatar, avatar_problems = avatar
    problems.extend(avatar_problems)
    socials = _socials(document.get("socials"), problems)
    given = document.get("links")
    if not isinstance(given, list):
        problems.append("Links: the file has no “links” list.")
        given = []
    if len(given) > MAX_LINKS:
        problems.append(f"Links: the file has {len(given)}; a page can hold at most {MAX_LINKS}.")
        given = []
    items = [_clean_item(number, entry, creator) for number, entry in enumerate(given, 1)]
    usable = [item for item in items if not item.problems]
    matched = _match(usable, current)
    for item in items:
        problems.extend(item.problems)
        if item.problems:
            continue
        check_premium(item.form, creator, rules, current=matched.get(item.number))
        if "price" in item.form.errors:
            problems.append(f"{item.label()}, price: {item.form.errors['price']}")
    if problems:
        raise ImportRefused(*problems)
    links = tuple(
        PlannedLink(
            kind=item.form.values["kind"],
            title=item.form.values["title"],
            url=item.form.values["url"],
            price_cents=item.form.price_cents if item.form.values["kind"] == "premium" else None,
            enabled=item.enabled,
            sensitive=item.form.values.get("sensitive") == "on",
            starts_at=item.starts_at,
            ends_at=item.ends_at,
            existing=matched.get(item.number),
        )
        for item in items
    )
    kept = {link.existing.id for link in links if link.existing}
    removed = tuple(link for link in current if link.id not in kept)
    kept_order = [link.existing.id for link in links if link.existing]
    summary = Summary(
        profile_changes=tuple(
            PROFILE_LABELS[name]
            for name in PROFILE_FIELDS
            if profile[name] != getattr(creator, name)
        )
        + (("photo",) if not planned_avatar.keep else ())
        + (("18+",) if (profile["sensitive"] == "on") != creator.sensitive else ()),
        added=tuple(link.title for link in links if link.existing is None),
        removed=tuple(link.title for link in removed),
        changed=tuple(link.title for link in links if link.changes_existing),
        reordered=kept_order != [link.id for link in current if link.id in kept],
        socials_before=tuple(current_socials),
        socials_after=tuple((social.network, social.url) for social in socials),
    )
    return Plan(
        profile=profile,
        socials=socials,
        links=links,
        removed=removed,
        summary=summary,
        avatar=planned_avatar,
    )


# --- the page's fingerprint and the sealed preview ---------------------------------------


async def current_socials(creator_id: int) -> list[tuple[str, str]]:
    return [(social.network, social.href) for social in await socials_of(creator_id)]


def page_fingerprint(
    creator: CreatorRecord, links: Sequence[StudioLink], socials: Sequence[tuple[str, str]]
) -> str:
    """Changes whenever anything an import reads or writes changes."""
    state = [
        [list(social) for social in socials],
        [getattr(creator, name) for name in PROFILE_FIELDS],
        creator.avatar_image,
        creator.sensitive,
        creator.payout_enabled,
        creator.currency,
        [
            [link.id, link.kind, link.title, link.url, link.price_cents, link.enabled]
            + [link.sensitive]
            + [iso_utc(link.starts_at), iso_utc(link.ends_at)]
            for link in links
        ],
    ]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def _key(settings: Settings) -> bytes:
    return hashlib.sha256(b"linkmint import preview\0" + settings.secret_key.encode()).digest()


def seal_preview(
    settings: Settings, creator_id: int, fingerprint: str, document: Mapping[str, Any]
) -> str:
    """The file and the page's fingerprint, for the Confirm button's hidden field."""
    body = {"c": creator_id, "f": fingerprint, "t": int(time.time()), "d": document}
    packed = zlib.compress(json.dumps(body, separators=(",", ":")).encode())
    encoded = base64.urlsafe_b64encode(packed).decode()
    signature = hmac.new(_key(settings), encoded.encode(), hashlib.sha256).hexdigest()
    return f"{signature}.{encoded}"


def open_preview(settings: Settings, creator_id: int, sealed: str) -> tuple[str, dict[str, Any]]:
    """(fingerprint, document) of a preview this app sealed for this creator, in time."""
    signature, _, encoded = sealed.partition(".")
    expected = hmac.new(_key(settings), encoded.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise ImportRefused(PREVIEW_EXPIRED)
    body = json.loads(zlib.decompress(base64.urlsafe_b64decode(encoded)))
    too_old = time.time() - body["t"] > PREVIEW_LIFETIME.total_seconds()
    if body["c"] != creator_id or too_old:
        raise ImportRefused(PREVIEW_EXPIRED)
    return body["f"], body["d"]


# --- applying -----------------------------------------------------------------------------


async def _lock_creator(creator_id: int) -> CreatorRecord:
    # Hand-written: the creator's row is locked for the transaction, so two imports (or an
    # import and a list of URLs) of the same page run one after the other.
    await Creator.raw("SELECT id FROM creator WHERE id = {} FOR UPDATE", creator_id)
    creator = await creator_by_id(creator_id)
    assert creator is not None  # a signed-in creator's row; sessions go with it
    return creator


async def preview_import(
    settings: Settings, creator: CreatorRecord, document: Mapping[str, Any]
) -> tuple[Summary, str]:
    """(what would change, the sealed token for Confirm); ImportRefused if anything is wrong."""
    current = await service.studio_links(creator.id)
    socials = await current_socials(creator.id)
    avatar = await read_avatar(document, creator)
    plan = plan_import(document, creator, await money_rules(), current, socials, avatar)
    fingerprint = page_fingerprint(creator, current, socials)
    token = seal_preview(settings, creator.id, fingerprint, document)
    return plan.summary, token


async def confirm_import(settings: Settings, creator_id: int, sealed: str) -> Summary:
    """Apply a previewed file, in one transaction; refused (nothing written) when the page
    changed since the preview, or when the preview is not valid."""
    fingerprint, document = open_preview(settings, creator_id, sealed)
    rules = await money_rules()
    # The photo is drawn before the transaction (no row stays locked meanwhile), against the
    # page as it is now; the fingerprint, which names the photo, then says it still is.
    before = await creator_by_id(creator_id)
    assert before is not None  # a signed-in creator's row; sessions go with it
    avatar = await read_avatar(document, before)
    async with Creator._meta.db.transaction():
        creator = await _lock_creator(creator_id)
        current = await service.studio_links(creator_id)
        socials = await current_socials(creator_id)
        if page_fingerprint(creator, current, socials) != fingerprint:
            raise ImportRefused(STALE)
        plan = plan_import(document, creator, rules, current, socials, avatar)
        await _write(creator_id, plan)
    return plan.summary


async def _write(creator_id: int, plan: Plan) -> None:
    now = datetime.now(UTC)
    profile = {getattr(Creator, name): plan.profile[name] for name in PROFILE_FIELDS}
    sensitive = plan.profile["sensitive"] == "on"
    await Creator.update({**profile, Creator.sensitive: sensitive, Creator.updated_at: now}).where(
        Creator.id == creator_id
    )
    if plan.avatar.renditions:
        await avatars.store_avatar(creator_id, plan.avatar.renditions)
    elif not plan.avatar.keep:
        await Creator.update({Creator.avatar_image: None}).where(Creator.id == creator_id)
    # Social profiles have no history to keep: the file's list replaces the page's.
    await CreatorSocial.delete().where(CreatorSocial.creator == creator_id)
    for position, social in enumerate(plan.socials):
        await CreatorSocial.insert(
            CreatorSocial(
                creator=creator_id,
                network=social.network,
                url=social.url,
                label=social.label,
                position=position,
            )
        )
    if plan.removed:
        removed = [link.id for link in plan.removed]
        await Link.delete().where((Link.creator == creator_id) & Link.id.is_in(removed))
    for position, link in enumerate(plan.links):
        values: dict[Column, Any] = {
            Link.kind: link.kind,
            Link.title: link.title,
            Link.url: link.url,
            Link.price_cents: link.price_cents,
            Link.enabled: link.enabled,
            Link.sensitive: link.sensitive,
            Link.starts_at: link.starts_at,
            Link.ends_at: link.ends_at,
            Link.position: position,
            Link.updated_at: now,
        }
        if link.existing:
            await Link.update(cast(dict[Column | str, Any], values)).where(
                (Link.id == link.existing.id) & (Link.creator == creator_id)
            )
        else:
            await Link.insert(Link({**values, Link.creator: creator_id}))


# --- a list of URLs -----------------------------------------------------------------------


def title_for(url: str) -> str:
    """A link's title from its URL: the host of a web address (without `www.`), the address
    of a mailto: link, the number of a tel: one."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return (parts.hostname or url).removeprefix("www.")[:TITLE_MAX]
    return (parts.path or url)[:TITLE_MAX]


def plan_url_list(text: str, creator: CreatorRecord) -> list[tuple[str, str]]:
    """(title, URL) for each non-blank line (`URL` or `Title | URL`), in order; refused with
    every bad line named."""
    wanted: list[tuple[str, str]] = []
    problems: list[str] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        title, bar, url = line.rpartition("|")
        if not bar:
            title, url = "", line
        form = new_link_form(
            {"kind": "link", "title": title.strip() or "-", "url": url.strip()},
            currency=creator.currency,
        )
        if not title.strip() and "url" not in form.errors:
            form = new_link_form(
                {"kind": "link", "title": title_for(form.values["url"]), "url": url.strip()},
                currency=creator.currency,
            )
        problems.extend(
            f"Line {number}, {LINK_LABELS[name]}: {message}"
            for name, message in form.errors.items()
        )
        wanted.append((form.values["title"], form.values["url"]))
    if not wanted and not problems:
        problems.append("Paste at least one URL, one per line.")
    if len(wanted) > MAX_LINKS:
        problems.append(f"That is {len(wanted)} links; a page can hold at most {MAX_LINKS}.")
    if problems:
        raise ImportRefused(*problems)
    return wanted


async def append_links(creator_id: int, links: Sequence[tuple[str, str]]) -> None:
    """Add the links at the end of the page, all of them or (past the limit) none."""
    async with Creator._meta.db.transaction():
        await _lock_creator(creator_id)
        rows = await Link.select(Link.position).where(Link.creator == creator_id)
        if len(rows) + len(links) > MAX_LINKS:
            raise ImportRefused(
                f"Your page has {len(rows)} rows: {len(links)} more would pass the limit of "
                f"{MAX_LINKS}. Remove some first, or import fewer."
            )
        start = max((row["position"] for row in rows), default=-1) + 1
        for offset, (title, url) in enumerate(links):
            await Link.insert(
                Link(creator=creator_id, kind="link", title=title, url=url, position=start + offset)
            )
