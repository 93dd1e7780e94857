"""The studio's "Social icons" card: the creator's profiles elsewhere, shown as a row of
icons on their page.

A creator picks a network and pastes what they have (`@name`, a profile link, an email
address); `app.shared.socials` turns it into the canonical address, or refuses it with that
network's own message beside the field. One profile per network: adding a network again
replaces its address. Every change answers htmx with the whole card (and `HX-Trigger:
page-changed`, which refreshes the live preview); every form is also a plain POST, answered
with 303 back to the studio, or with the whole studio and the error when refused.

Ownership is part of each statement's WHERE clause, as in the rest of the studio: an id
that is not the creator's matches no row and answers 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from app.auth.service import CreatorRecord
from app.db.tables import CreatorSocial, is_serial_id
from app.profiles.service import PublicSocial, socials_of
from app.shared.rules import InvalidField
from app.shared.socials import NETWORKS, SocialProfile, clean_network, clean_social
from app.studio.forms import Form
from app.web.dashboard import VIEW_CONSTANTS, dashboard_url, page_context
from app.web.deps import CreatorDep

CARD = "studio/_socials.html"
ANCHOR = "#socials"

# --- writes -------------------------------------------------------------------------------

# Hand-written: one profile per network, so a second "add" of a network replaces its
# address in place (the unique constraint decides, even for two tabs at once); a new one
# goes at the end of the row.
_SAVE_SQL = """
INSERT INTO creator_social (creator, network, url, label, position)
SELECT {}, {}, {}, {}, coalesce(max(position) + 1, 0) FROM creator_social WHERE creator = {}
ON CONFLICT (creator, network)
DO UPDATE SET url = EXCLUDED.url, label = EXCLUDED.label, updated_at = now()
RETURNING id
"""


async def save_social(creator_id: int, network: str, profile: SocialProfile) -> int:
    rows = await CreatorSocial.raw(
        _SAVE_SQL, creator_id, network, profile.url, profile.label, creator_id
    )
    social_id: int = rows[0]["id"]
    return social_id


async def update_social(creator_id: int, social_id: int, profile: SocialProfile) -> bool:
    rows = await CreatorSocial.raw(
        "UPDATE creator_social SET url = {}, label = {}, updated_at = now() "
        "WHERE id = {} AND creator = {} RETURNING id",
        profile.url,
        profile.label,
        social_id,
        creator_id,
    )
    return bool(rows)


async def delete_social(creator_id: int, social_id: int) -> str | None:
    """The deleted profile's network, or None when the creator has no such row."""
    rows = await (
        CreatorSocial.delete()
        .where((CreatorSocial.id == social_id) & (CreatorSocial.creator == creator_id))
        .returning(CreatorSocial.network)
    )
    return rows[0]["network"] if rows else None


async def move_social(creator_id: int, social_id: int, direction: Literal["up", "down"]) -> bool:
    """Swap a profile with its neighbour in the row; False when the creator has no such row."""
    order = [social.id for social in await socials_of(creator_id)]
    if social_id not in order:
        return False
    i = order.index(social_id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    await CreatorSocial.raw(
        "UPDATE creator_social SET position = t.ord - 1, updated_at = now() "
        "FROM unnest({}::int[]) WITH ORDINALITY AS t(id, ord) "
        "WHERE creator_social.id = t.id AND creator_social.creator = {} "
        "AND creator_social.position <> t.ord - 1",
        order,
        creator_id,
    )
    return True


# --- the card -----------------------------------------------------------------------------


def blank_form() -> Form:
    return Form(values={"network": "", "value": ""})


def _owned(socials: Sequence[PublicSocial], social_id: int) -> PublicSocial:
    for social in socials:
        if social.id == social_id:
            return social
    raise NotFoundException("No such profile.")


def _social_id_in_range(request: Request[Any, Any, Any]) -> None:
    """An id no row can have is a missing profile, before any handler asks the database."""
    social_id = request.path_params.get("social_id")
    if social_id is not None and not is_serial_id(social_id):
        raise NotFoundException("No such profile.")


async def _value(request: HTMXRequest, name: str) -> str:
    value = (await request.form()).get(name, "")
    return value if isinstance(value, str) else ""


def _back(request: Request[Any, Any, Any]) -> Redirect:
    return Redirect(dashboard_url(request, ANCHOR), status_code=303)


async def _answer(
    request: HTMXRequest,
    creator: CreatorRecord,
    *,
    message: str | None = None,
    changed: bool = False,
    status: int = 200,
    **card: Any,
) -> Response[Any]:
    """The card for htmx (with a status message, and `page-changed` after a change); a
    plain POST gets 303 back to the studio, or the whole studio when refused."""
    if not request.htmx:
        if status < 400 and request.method == "POST":
            return _back(request)
        context = await page_context(creator, **card)
        return Template(template_name="studio/dashboard.html", context=context, status_code=status)
    context = {
        **VIEW_CONSTANTS,
        "socials": await socials_of(creator.id),
        "fragment": CARD,
        "message": message,
        "oob_counts": None,
        **card,
    }
    headers = {"HX-Trigger": "page-changed"} if changed else {}
    return Template(
        template_name="studio/_response.html", context=context, status_code=status, headers=headers
    )


class SocialsController(Controller):
    path = "/dashboard/socials"
    include_in_schema = False
    before_request = staticmethod(_social_id_in_range)
    # Signed-in pages: never stored by a shared cache; htmx and full-page answers differ.
    cache_control = CacheControlHeader(no_store=True)
    response_headers = [ResponseHeader(name="Vary", value="HX-Request, Cookie")]

    @get("/", name="studio:socials")
    async def card(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        """The card as it is (Cancel in the inline editor)."""
        if not request.htmx:
            return _back(request)
        return await _answer(request, creator)

    @post("/", name="studio:add_social", status_code=200)
    async def add(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        form = Form(
            values={
                "network": await _value(request, "network"),
                "value": await _value(request, "value"),
            }
        )
        try:
            network = clean_network(form.values["network"])
        except InvalidField as exc:
            form.errors["network"] = str(exc)
            return await _answer(request, creator, status=422, social_add=form)
        try:
            profile = clean_social(network, form.values["value"])
        except InvalidField as exc:
            form.errors["value"] = str(exc)
            return await _answer(request, creator, status=422, social_add=form)
        await save_social(creator.id, network.key, profile)
        message = f"{network.name} saved: {profile.label or profile.url}."
        return await _answer(
            request, creator, message=message, changed=True, social_add=blank_form()
        )

    @get("/{social_id:int}/edit", name="studio:edit_social")
    async def edit(
        self, request: HTMXRequest, creator: CreatorDep, social_id: FromPath[int]
    ) -> Response[Any]:
        """The profile as a form (the whole studio with it open, without JavaScript)."""
        social = _owned(await socials_of(creator.id), social_id)
        edit = Form(values={"value": social.href.removeprefix("mailto:")})
        return await _answer(request, creator, social_editing_id=social_id, social_edit=edit)

    @post("/{social_id:int}", name="studio:update_social", status_code=200)
    async def update(
        self, request: HTMXRequest, creator: CreatorDep, social_id: FromPath[int]
    ) -> Response[Any]:
        social = _owned(await socials_of(creator.id), social_id)
        network = NETWORKS[social.network]
        edit = Form(values={"value": await _value(request, "value")})
        try:
            profile = clean_social(network, edit.values["value"])
        except InvalidField as exc:
            edit.errors["value"] = str(exc)
            return await _answer(
                request, creator, status=422, social_editing_id=social_id, social_edit=edit
            )
        if not await update_social(creator.id, social_id, profile):
            raise NotFoundException("No such profile.")
        message = f"{network.name} saved: {profile.label or profile.url}."
        return await _answer(request, creator, message=message, changed=True)

    @post("/{social_id:int}/move", name="studio:move_social", status_code=200)
    async def move(
        self, request: HTMXRequest, creator: CreatorDep, social_id: FromPath[int]
    ) -> Response[Any]:
        direction = await _value(request, "direction")
        if direction not in ("up", "down"):
            raise ValidationException("direction must be up or down.")
        where: Literal["up", "down"] = "up" if direction == "up" else "down"
        if not await move_social(creator.id, social_id, where):
            raise NotFoundException("No such profile.")
        name = NETWORKS[_owned(await socials_of(creator.id), social_id).network].name
        return await _answer(request, creator, message=f"Moved {name} {direction}.", changed=True)

    @post("/{social_id:int}/delete", name="studio:delete_social", status_code=200)
    async def delete(
        self, request: HTMXRequest, creator: CreatorDep, social_id: FromPath[int]
    ) -> Response[Any]:
        network = await delete_social(creator.id, social_id)
        if network is None:
            raise NotFoundException("No such profile.")
        name = NETWORKS[network].name if network in NETWORKS else network
        return await _answer(request, creator, message=f"Removed {name}.", changed=True)
