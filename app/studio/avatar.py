"""The studio's avatar photo: upload one (a multipart form) or remove it.

Both forms sit in the profile card, above the profile form. With htmx they answer with the
photo's block alone (the new photo in its preview, or the refusal beside the file field), so
unsaved edits in the profile form survive, plus the URL field it cleared and `HX-Trigger:
page-changed`; without JavaScript, a 303 back to the studio, or the whole page with the
refusal. A refused file changes nothing.

A body larger than an upload can be is refused before it is read (`request_max_body_size`).
htmx sends the CSRF token as a header, so the handler is the first to read the body and
answers with the block and its message. A plain form carries its token in the body, which
Litestar's CSRF check reads first; its refusal is then sent back to the studio with the
message (`?refused=too-big`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader, ResponseHeader, UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from app.auth.service import CreatorRecord
from app.shared.rules import InvalidField
from app.studio import avatars
from app.studio.forms import profile_form_for
from app.web.dashboard import VIEW_CONSTANTS, dashboard_url, page_context
from app.web.deps import CreatorDep
from app.web.limits import AVATAR_UPLOAD, limited

# The file, the CSRF token and the multipart framing: what a largest allowed upload sends.
MAX_BODY = avatars.MAX_BYTES + 64 * 1024
REFUSALS = {"too-big": avatars.TOO_BIG}


def _block(
    creator: CreatorRecord, *, error: str | None = None, message: str | None = None
) -> Template:
    """The photo's block as an htmx answer: with the refusal beside the file field (422), or
    with a status message, the cleared URL field and `page-changed`."""
    profile = profile_form_for(creator)
    if error:
        profile.errors["avatar_file"] = error
    return Template(
        template_name="studio/_avatar_response.html",
        context={**VIEW_CONSTANTS, "creator": creator, "profile": profile, "message": message},
        status_code=422 if error else 200,
        headers={} if error else {"HX-Trigger": "page-changed"},
    )


async def _refused_page(creator: CreatorRecord, error: str, status: int) -> Template:
    profile = profile_form_for(creator)
    profile.errors["avatar_file"] = error
    context = await page_context(creator, profile=profile)
    return Template(template_name="studio/dashboard.html", context=context, status_code=status)


def _too_large(request: Request[Any, Any, Any], _: RequestEntityTooLarge) -> Response[Any]:
    """A plain form's body over the limit, refused while the CSRF check read it: back to
    the studio, which shows why (an exception handler cannot render the page itself)."""
    url = request.app.route_reverse("studio:avatar_refused") + "?refused=too-big#profile"
    return Redirect(url, status_code=303)


async def _uploaded_file(request: HTMXRequest) -> bytes:
    """The file in the form's `avatar_file` field; InvalidField when there is none or the
    body is over the limit."""
    try:
        form = await request.form()
    except RequestEntityTooLarge:
        raise InvalidField(avatars.TOO_BIG) from None
    upload = form.get("avatar_file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidField(avatars.NO_FILE)
    return await upload.read()


class AvatarController(Controller):
    path = "/dashboard/avatar"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)
    response_headers = [ResponseHeader(name="Vary", value="HX-Request, Cookie")]

    @post(
        "/",
        name="studio:upload_avatar",
        status_code=200,
        request_max_body_size=MAX_BODY,
        before_request=limited(AVATAR_UPLOAD),
        exception_handlers={RequestEntityTooLarge: _too_large},
    )
    async def upload(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        try:
            data = await _uploaded_file(request)
            renditions = await avatars.prepare_upload(creator.id, data)
        except InvalidField as exc:
            if request.htmx:
                return _block(creator, error=str(exc))
            return await _refused_page(creator, str(exc), 422)
        creator = await avatars.store_avatar(creator.id, renditions)
        if not request.htmx:
            return Redirect(dashboard_url(request, "#profile"), status_code=303)
        return _block(creator, message="Photo saved.")

    @get("/", name="studio:avatar_refused")
    async def refused(
        self, request: HTMXRequest, creator: CreatorDep, refused: FromQuery[str] = ""
    ) -> Response[Any]:
        """The studio with why a plain upload was refused (see `_too_large`)."""
        error = REFUSALS.get(refused)
        if error is None:
            return Redirect(dashboard_url(request, "#profile"), status_code=303)
        return await _refused_page(creator, error, 200)

    @post("/delete", name="studio:remove_avatar", status_code=200)
    async def remove(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        """Back to the monogram: removes the uploaded photo and any photo URL."""
        creator = await avatars.remove_avatar(creator.id)
        if not request.htmx:
            return Redirect(dashboard_url(request, "#profile"), status_code=303)
        return _block(creator, message="Photo removed.")
