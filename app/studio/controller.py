"""The creator studio at /dashboard: one page of partials, edited live with htmx.

Every edit is an htmx request answered with the fragment it changed (the row, the link list,
the form with its inline errors); changes to the public page also send `HX-Trigger:
page-changed`, which refreshes the live preview. Every form is also a plain POST form, so
without JavaScript the studio still works with full page loads (303 back to the page).

The Earnings card shows the payouts onboarding (`app.payouts`) and the creator's sales
(`app.payments.earnings`); premium links may be priced once payouts are enabled.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from app.auth.service import CreatorRecord
from app.db.tables import is_serial_id
from app.payments.earnings import earnings_for
from app.payouts.onboarding import NOTICES
from app.profiles.service import page_for_creator
from app.shared.fees import money_rules
from app.shared.rules import InvalidField, clean_handle, clean_time_zone
from app.studio import service
from app.studio.forms import (
    PROFILE_FIELDS,
    Form,
    blank_link_form,
    edit_form_for,
    edit_link_form,
    new_link_form,
    profile_form,
    profile_form_for,
)
from app.studio.pricing import check_premium, preview_for_input
from app.studio.service import StudioLink
from app.web.dashboard import VIEW_CONSTANTS, dashboard_url, page_context, pricing
from app.web.deps import CreatorDep
from app.web.limits import HANDLE_CHECK, limited

OUT_OF_DATE = "Your links changed in another tab or window; reloading the latest version."


async def _fields(request: HTMXRequest, *names: str) -> dict[str, str]:
    form = await request.form()
    values = {}
    for name in names:
        value = form.get(name, "")
        values[name] = value if isinstance(value, str) else ""
    return values


def _fragment(
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    message: str | None = None,
    changed: bool = False,
    counts: service.LinkCounts | None = None,
) -> Template:
    """One fragment, plus out-of-band updates: a status message for the live region and,
    when a row changed alone, the link counts."""
    headers = {"HX-Trigger": "page-changed"} if changed else {}
    return Template(
        template_name="studio/_response.html",
        context={
            **VIEW_CONSTANTS,
            **context,
            "fragment": name,
            "message": message,
            "oob_counts": counts,
        },
        status_code=status,
        headers=headers,
    )


async def _refused(
    request: HTMXRequest, creator: CreatorRecord, fragment: str, **overrides: Any
) -> Template:
    """422 with the form and its errors: the fragment for htmx, the whole page otherwise."""
    context = await page_context(creator, **overrides)
    if request.htmx:
        return _fragment(fragment, context, status=422)
    return Template(template_name="studio/dashboard.html", context=context, status_code=422)


def _back(request: Request[Any, Any, Any], anchor: str = "") -> Redirect:
    """After a plain (non-htmx) POST: 303 back to the studio."""
    return Redirect(dashboard_url(request, anchor), status_code=303)


async def _links_panel(
    creator: CreatorRecord,
    *,
    message: str,
    add: Form | None = None,
    fragment: str = "studio/_links.html",
    **extra: Any,
) -> Template:
    links = await service.studio_links(creator.id)
    context = {
        **extra,
        "creator": creator,
        "links": links,
        "counts": service.count_links(links),
        "add": add or blank_link_form(),
        "editing_id": None,
        "edit": None,
        "pricing": await pricing(creator),
    }
    return _fragment(fragment, context, message=message, changed=fragment == "studio/_links.html")


async def _owned_link(creator: CreatorRecord, link_id: int) -> tuple[StudioLink, list[StudioLink]]:
    """The creator's row with this id (and all their rows), or 404: someone else's id and a
    missing id look the same."""
    links = await service.studio_links(creator.id)
    for link in links:
        if link.id == link_id:
            return link, links
    raise NotFoundException("No such link.")


def _out_of_date(verdict: service.Verdict) -> Response[str]:
    if verdict == "foreign":
        raise NotFoundException("No such link.")
    return Response(
        OUT_OF_DATE, status_code=409, media_type="text/plain", headers={"HX-Refresh": "true"}
    )


def _link_id_in_range(request: Request[Any, Any, Any]) -> None:
    """A link id no row can have is a missing link, before any handler asks the database."""
    link_id = request.path_params.get("link_id")
    if link_id is not None and not is_serial_id(link_id):
        raise NotFoundException("No such link.")


class StudioController(Controller):
    path = "/dashboard"
    include_in_schema = False
    before_request = staticmethod(_link_id_in_range)
    # Signed-in pages: never stored by a shared cache; htmx and full-page answers differ.
    cache_control = CacheControlHeader(no_store=True)
    response_headers = [ResponseHeader(name="Vary", value="HX-Request, Cookie")]

    @get("/", name="studio:dashboard")
    async def dashboard(self, creator: CreatorDep, payouts: FromQuery[str] = "") -> Template:
        """The studio; `?payouts=…` is where Whop's hosted pages send the creator back to
        (`app.payouts.controller`), and only picks one of a few fixed notices."""
        context = await page_context(creator, payouts_notice=NOTICES.get(payouts))
        return Template(template_name="studio/dashboard.html", context=context)

    # --- handle ---------------------------------------------------------------------------

    @get("/handle/check", name="studio:check_handle", before_request=limited(HANDLE_CHECK))
    async def check_handle(self, creator: CreatorDep, handle: FromQuery[str] = "") -> Template:
        """The live availability line under the handle field (runs while the creator types)."""
        error = None
        cleaned = handle.strip()
        if cleaned:
            try:
                cleaned = clean_handle(handle)
            except InvalidField as exc:
                error = str(exc)
            else:
                if not await service.handle_is_free(cleaned):
                    error = f"“{cleaned}” is taken. Try another."
        return Template(
            template_name="studio/_handle_status.html",
            context={"handle": cleaned, "error": error, **VIEW_CONSTANTS},
        )

    @post("/handle", name="studio:claim_handle", status_code=200)
    async def claim_handle(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        raw = (await _fields(request, "handle"))["handle"]
        try:
            await service.claim_handle(creator.id, raw)
        except InvalidField as exc:
            claim = Form(values={"handle": raw}, errors={"handle": str(exc)})
            return await _refused(request, creator, "studio/_claim_form.html", claim=claim)
        if request.htmx:
            return Response("", status_code=200, headers={"HX-Redirect": dashboard_url(request)})
        return _back(request)

    # --- profile --------------------------------------------------------------------------

    @post("/profile", name="studio:save_profile", status_code=200)
    async def save_profile(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        raw = await _fields(request, *PROFILE_FIELDS, "accent_picker", "sensitive")
        form = profile_form(raw, current_accent=creator.accent_color)
        if not form.ok:
            return await _refused(request, creator, "studio/_profile_form.html", profile=form)
        creator = await service.save_profile(creator.id, form.values)
        if not request.htmx:
            return _back(request, "#profile")
        context = {"creator": creator, "profile": profile_form_for(creator)}
        return _fragment(
            "studio/_profile_form.html", context, message="Profile saved.", changed=True
        )

    @post("/time-zone", name="studio:set_time_zone", status_code=200)
    async def set_time_zone(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        """The zone link schedules are entered and shown in: picked from the list, or sent
        by studio.js from the browser's own setting. Stored link times do not move; the
        rows are shown again in the new zone."""
        raw = await _fields(request, "time_zone")
        try:
            zone = clean_time_zone(raw["time_zone"])
        except InvalidField as exc:
            form = Form(values=raw, errors={"time_zone": str(exc)})
            return await _refused(request, creator, "studio/_time_zone.html", time_zone_form=form)
        creator = await service.set_time_zone(creator.id, zone)
        if not request.htmx:
            return _back(request, "#time-zone")
        return await _links_panel(
            creator,
            message=f"Link times are now shown in {zone} time.",
            fragment="studio/_time_zone.html",
            links_oob=True,
        )

    @get("/preview", name="studio:preview")
    async def preview(self, creator: CreatorDep) -> Template:
        page = await page_for_creator(creator) if creator.handle else None
        return Template(template_name="studio/_preview.html", context={"page": page})

    # --- links ----------------------------------------------------------------------------

    @post("/links", name="studio:add_link", status_code=200)
    async def add_link(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        raw = await _fields(
            request, "kind", "title", "url", "price", "starts_at", "ends_at", "sensitive"
        )
        form = new_link_form(raw, currency=creator.currency, time_zone=creator.time_zone)
        check_premium(form, creator, await money_rules())
        if form.ok:
            try:
                await service.add_link(
                    creator.id,
                    kind=form.values["kind"],
                    title=form.values["title"],
                    url=form.values["url"],
                    price_cents=form.price_cents,
                    sensitive=form.values["sensitive"] == "on",
                    starts_at=form.starts_at,
                    ends_at=form.ends_at,
                )
            except service.PricingLocked as exc:
                form.errors["price"] = str(exc)
            except InvalidField as exc:
                form.errors["title"] = str(exc)
        if not form.ok:
            return await _refused(request, creator, "studio/_links.html", add=form)
        if not request.htmx:
            return _back(request, "#links")
        what = {"header": "Section", "premium": "Premium link"}.get(form.values["kind"], "Link")
        return await _links_panel(creator, message=f"{what} “{form.values['title']}” added.")

    @get("/links/price-preview", name="studio:price_preview")
    async def price_preview(self, creator: CreatorDep, price: FromQuery[str] = "") -> Template:
        """The line under a price field: what the creator keeps after the platform fee."""
        preview, error = preview_for_input(price, creator.currency, await money_rules())
        return Template(
            template_name="studio/_price_preview.html",
            context={"preview": preview, "error": error},
        )

    @post("/links/order", name="studio:reorder_links", status_code=200)
    async def reorder_links(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        """The whole new order in one request (sent by studio.js after a drag)."""
        form = await request.form()
        try:
            ids = [int(value) for value in form.getall("order")] if "order" in form else []
        except (TypeError, ValueError):
            raise ValidationException("Link ids must be numbers.") from None
        verdict = await service.reorder_links(creator.id, ids)
        if verdict != "ok":
            return _out_of_date(verdict)
        if not request.htmx:
            return _back(request, "#links")
        return await _links_panel(creator, message="New order saved.")

    @get("/links/{link_id:int}", name="studio:link_row")
    async def link_row(
        self, request: HTMXRequest, creator: CreatorDep, link_id: FromPath[int]
    ) -> Response[Any]:
        """A row as it shows in the list (Cancel in the inline editor)."""
        link, _ = await _owned_link(creator, link_id)
        if not request.htmx:
            return _back(request, f"#link-{link_id}")
        return _fragment("studio/_link_row.html", {"link": link})

    @get("/links/{link_id:int}/edit", name="studio:edit_link")
    async def edit_link(
        self, request: HTMXRequest, creator: CreatorDep, link_id: FromPath[int]
    ) -> Template:
        """The row as a form (the whole page with that row open, without JavaScript)."""
        link, _ = await _owned_link(creator, link_id)
        edit = edit_form_for(link, creator.currency)
        if request.htmx:
            context = {"link": link, "edit": edit, "pricing": await pricing(creator)}
            return _fragment("studio/_link_edit.html", context)
        context = await page_context(creator, editing_id=link_id, edit=edit)
        return Template(template_name="studio/dashboard.html", context=context)

    @post("/links/{link_id:int}", name="studio:update_link", status_code=200)
    async def update_link(
        self, request: HTMXRequest, creator: CreatorDep, link_id: FromPath[int]
    ) -> Response[Any]:
        link, _ = await _owned_link(creator, link_id)
        raw = await _fields(
            request, "title", "url", "premium", "price", "starts_at", "ends_at", "sensitive"
        )
        form = edit_link_form(
            raw, current_kind=link.kind, currency=creator.currency, time_zone=creator.time_zone
        )
        check_premium(form, creator, await money_rules(), current=link)
        if form.ok:
            try:
                updated = await service.update_link(
                    creator.id,
                    link_id,
                    title=form.values["title"],
                    url=form.values["url"],
                    kind=form.values["kind"],
                    price_cents=form.price_cents,
                    sensitive=form.values["sensitive"] == "on",
                    starts_at=form.starts_at,
                    ends_at=form.ends_at,
                )
            except service.PricingLocked as exc:
                form.errors["price"] = str(exc)
            else:
                if not updated:
                    raise NotFoundException("No such link.")
        if not form.ok:
            if request.htmx:
                context = {"link": link, "edit": form, "pricing": await pricing(creator)}
                return _fragment("studio/_link_edit.html", context, status=422)
            return await _refused(
                request, creator, "studio/_link_edit.html", editing_id=link_id, edit=form
            )
        if not request.htmx:
            return _back(request, f"#link-{link_id}")
        link, _ = await _owned_link(creator, link_id)
        return _fragment("studio/_link_row.html", {"link": link}, message="Saved.", changed=True)

    @post("/links/{link_id:int}/toggle", name="studio:toggle_link", status_code=200)
    async def toggle_link(
        self, request: HTMXRequest, creator: CreatorDep, link_id: FromPath[int]
    ) -> Response[Any]:
        """Show or hide a row; the form says which (so a double click cannot flip it back)."""
        wanted = (await _fields(request, "enabled"))["enabled"]
        if wanted not in ("true", "false"):
            raise ValidationException("enabled must be true or false.")
        if not await service.set_link_enabled(creator.id, link_id, wanted == "true"):
            raise NotFoundException("No such link.")
        if not request.htmx:
            return _back(request, f"#link-{link_id}")
        link, links = await _owned_link(creator, link_id)
        shown = "now on your page" if wanted == "true" else "hidden from your page"
        return _fragment(
            "studio/_link_row.html",
            {"link": link},
            message=f"“{link.title}” is {shown}.",
            changed=True,
            counts=service.count_links(links),
        )

    @post("/links/{link_id:int}/move", name="studio:move_link", status_code=200)
    async def move_link(
        self, request: HTMXRequest, creator: CreatorDep, link_id: FromPath[int]
    ) -> Response[Any]:
        """Move up / Move down: the keyboard-friendly twin of drag and drop."""
        direction = (await _fields(request, "direction"))["direction"]
        if direction not in ("up", "down"):
            raise ValidationException("direction must be up or down.")
        where: Literal["up", "down"] = "up" if direction == "up" else "down"
        verdict = await service.move_link(creator.id, link_id, where)
        if verdict != "ok":
            return _out_of_date(verdict)
        if not request.htmx:
            return _back(request, f"#link-{link_id}")
        link, _ = await _owned_link(creator, link_id)
        return await _links_panel(creator, message=f"Moved “{link.title}” {direction}.")

    @post("/links/{link_id:int}/delete", name="studio:delete_link", status_code=200)
    async def delete_link(
        self, request: HTMXRequest, creator: CreatorDep, link_id: FromPath[int]
    ) -> Response[Any]:
        title = await service.delete_link(creator.id, link_id)
        if title is None:
            raise NotFoundException("No such link.")
        if not request.htmx:
            return _back(request, "#links")
        return await _links_panel(creator, message=f"Deleted “{title}”.")

    # --- earnings -------------------------------------------------------------------------

    @get("/earnings", name="studio:earnings")
    async def earnings(
        self, request: HTMXRequest, creator: CreatorDep, older: FromQuery[str] = ""
    ) -> Template:
        """A page of sales (older ones after the `older` cursor), with the totals."""
        try:
            page = await earnings_for(creator.id, older_than=older or None)
        except ValueError:
            raise ValidationException("That page of earnings does not exist.") from None
        if request.htmx:
            context = {"creator": creator, "earnings": page, "older_page": bool(older)}
            return _fragment("studio/_earnings_list.html", context)
        context = await page_context(creator, earnings=page, older_page=bool(older))
        return Template(template_name="studio/dashboard.html", context=context)
