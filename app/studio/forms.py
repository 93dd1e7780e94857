"""Submitted studio forms, checked field by field with the rules in `app.shared.rules`.

A `Form` keeps what the creator typed next to the message for every field that failed, so
a refused form is re-rendered with their input intact and each error beside its field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from app.shared import rules
from app.shared.rules import InvalidField

if TYPE_CHECKING:
    from app.auth.service import CreatorRecord
    from app.studio.service import StudioLink

PROFILE_FIELDS = ("display_name", "bio", "avatar_url", "theme", "accent_color")


@dataclass(slots=True)
class Form:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    price_cents: int | None = None  # a premium link's parsed price
    starts_at: datetime | None = None  # a link's schedule, parsed to UTC
    ends_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _check(raw: Mapping[str, str], cleaners: Mapping[str, Callable[[str], str]]) -> Form:
    form = Form(values={})
    for name, clean in cleaners.items():
        given = raw.get(name, "")
        try:
            form.values[name] = clean(given)
        except InvalidField as exc:
            form.values[name] = given
            form.errors[name] = str(exc)
    return form


def profile_form(raw: Mapping[str, str], *, current_accent: str) -> Form:
    """The profile; the accent comes from the colour picker or its text twin, whichever
    the creator changed (without JavaScript the two are not kept in step)."""
    raw = dict(raw)
    picker = raw.get("accent_picker", "").strip().lower()
    typed = raw.get("accent_color", "").strip().lower()
    if picker and typed == current_accent and picker != current_accent:
        raw["accent_color"] = picker
    return _check(
        raw,
        {
            "display_name": rules.clean_display_name,
            "bio": rules.clean_bio,
            "avatar_url": rules.clean_avatar_url,
            "theme": rules.clean_theme,
            "accent_color": rules.clean_accent,
            "sensitive": _tick,
        },
    )


def new_link_form(raw: Mapping[str, str], *, currency: str, time_zone: str = "UTC") -> Form:
    kind_form = _check(raw, {"kind": rules.clean_link_kind})
    kind = kind_form.values["kind"] if kind_form.ok else "link"
    form = link_form(raw, kind=kind, currency=currency, time_zone=time_zone)
    form.values["kind"] = kind
    form.errors.update(kind_form.errors)
    return form


def edit_link_form(
    raw: Mapping[str, str], *, current_kind: str, currency: str, time_zone: str = "UTC"
) -> Form:
    """The inline editor: a header stays a header; a link becomes premium when its
    "Premium" box is ticked, and free again when it is not."""
    kind = "premium" if raw.get("premium") else "link"
    if current_kind == "header":
        kind = "header"
    form = link_form(raw, kind=kind, currency=currency, time_zone=time_zone)
    form.values["kind"] = kind
    return form


def link_form(raw: Mapping[str, str], *, kind: str, currency: str, time_zone: str = "UTC") -> Form:
    """Title for every row; a URL for links and premium links (a section header has none);
    a price, in the creator's currency, for premium links only; for any row, an optional
    start and end in the creator's time zone."""
    cleaners: dict[str, Callable[[str], str]] = {"title": rules.clean_title}
    if kind in ("link", "premium"):
        cleaners["url"] = rules.clean_link_url
    form = _check(raw, cleaners)
    form.values.setdefault("url", "")
    _check_sensitive(form, raw, kind)
    form.values["price"] = raw.get("price", "").strip()
    if kind == "premium":
        try:
            form.price_cents = rules.parse_price(form.values["price"], currency)
        except InvalidField as exc:
            form.errors["price"] = str(exc)
    _check_schedule(form, raw, time_zone)
    return form


def _check_schedule(form: Form, raw: Mapping[str, str], time_zone: str) -> None:
    for name in ("starts_at", "ends_at"):
        form.values[name] = raw.get(name, "").strip()
        try:
            setattr(form, name, rules.parse_local_time(form.values[name], time_zone))
        except InvalidField as exc:
            form.errors[name] = str(exc)
    if form.starts_at and form.ends_at and form.ends_at <= form.starts_at:
        form.errors["ends_at"] = "The end must be after the start."


def _tick(value: str) -> str:
    """A checkbox: "on" (what a browser sends for a ticked box) or "" (not sent)."""
    if value not in ("", "on"):
        raise InvalidField("Tick the box or leave it clear.")
    return value


def _check_sensitive(form: Form, raw: Mapping[str, str], kind: str) -> None:
    """18+ is for a free link: its warning page shows the URL. A premium link's URL is
    shown only to its buyer; a whole 18+ page covers those."""
    checked = _check(raw, {"sensitive": _tick})
    form.values.update(checked.values)
    form.errors.update(checked.errors)
    if checked.ok and checked.values["sensitive"] and kind != "link":
        form.errors["sensitive"] = (
            "Only a free link can be marked 18+. To cover premium links, mark your whole "
            "page 18+ in your profile."
        )


def blank_link_form() -> Form:
    return Form(
        values={"kind": "link", "title": "", "url": "", "price": "", "starts_at": "", "ends_at": ""}
    )


def edit_form_for(link: StudioLink, currency: str) -> Form:
    price = link.price_cents
    return Form(
        values={
            "kind": link.kind,
            "title": link.title,
            "url": link.url,
            "sensitive": "on" if link.sensitive else "",
            "price": rules.price_input(price, currency) if price else "",
            "starts_at": rules.local_time_input(link.starts_at, link.time_zone),
            "ends_at": rules.local_time_input(link.ends_at, link.time_zone),
        },
        price_cents=price,
        starts_at=link.starts_at,
        ends_at=link.ends_at,
    )


def profile_form_for(creator: CreatorRecord) -> Form:
    return Form(
        values={
            "display_name": creator.display_name,
            "bio": creator.bio,
            "avatar_url": creator.avatar_url,
            "theme": creator.theme,
            "accent_color": creator.accent_color,
            "sensitive": "on" if creator.sensitive else "",
        }
    )
