"""The studio's "Your data" card and its handlers: export the page as JSON, preview and
confirm an import, import a list of URLs, download the sales as CSV.

What an import checks and how it is applied (all or nothing) is `app.studio.transfer_service`;
here the requests are read and the card is rendered.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader, ResponseHeader, UploadFile
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Stream, Template

from app.auth.service import CreatorRecord, creator_by_id
from app.payments.sales_csv import sales_csv
from app.studio.transfer_service import (
    MAX_IMPORT_BYTES,
    MAX_URL_LIST_BYTES,
    PREVIEW_EXPIRED,
    ImportRefused,
    Summary,
    append_links,
    confirm_import,
    export_document,
    export_filename,
    plan_url_list,
    preview_import,
    read_document,
)
from app.web.dashboard import dashboard_url, page_context
from app.web.deps import CreatorDep, SettingsDep

MAX_PROBLEMS_SHOWN = 30

# --- the card and its controller ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferView:
    """What the "Your data" card shows besides its forms."""

    problems: tuple[str, ...] = ()
    problems_of: str = ""  # "import" or "urls": beside which form
    summary: Summary | None = None
    token: str = ""
    done: str = ""
    urls_text: str = ""

    @property
    def shown_problems(self) -> tuple[str, ...]:
        if len(self.problems) <= MAX_PROBLEMS_SHOWN:
            return self.problems
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        return (*self.problems[:MAX_PROBLEMS_SHOWN], f"… and {more} more.")


async def _upload(request: Request[Any, Any, Any], name: str, limit: int) -> tuple[bytes, str]:
    """(the first `limit` + 1 bytes of the uploaded file, its name); empty when none."""
    form = await request.form()
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        return b"", ""
    data = await upload.read(limit + 1)
    return data, upload.filename or ""


async def _card(
    request: HTMXRequest,
    creator: CreatorRecord,
    view: TransferView,
    *,
    status: int = 200,
    changed: bool = False,
) -> Template:
    """The whole dashboard with the card in this state: htmx picks the card (and, after an
    import, the profile and the links) out of it with hx-select and hx-select-oob."""
    fresh = await creator_by_id(creator.id) or creator
    context = await page_context(fresh, transfer=view)
    headers = {"HX-Trigger": "page-changed"} if changed else {}
    return Template(
        template_name="studio/dashboard.html",
        context=context,
        status_code=status,
        headers=headers,
    )


class TransferController(Controller):
    path = "/dashboard"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)
    response_headers = [ResponseHeader(name="Vary", value="HX-Request, Cookie")]

    @get("/export.json", name="transfer:export")
    async def export(self, creator: CreatorDep) -> Response[bytes]:
        now = datetime.now(UTC)
        document = await export_document(creator, now=now)
        filename = export_filename(creator, now.date()) + ".json"
        return Response(
            json.dumps(document, ensure_ascii=False, indent=2).encode(),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @post("/import/preview", name="transfer:preview", status_code=200)
    async def preview(
        self, request: HTMXRequest, creator: CreatorDep, settings: SettingsDep
    ) -> Template:
        data, filename = await _upload(request, "file", MAX_IMPORT_BYTES)
        pasted = (await request.form()).get("document")
        if not data and not filename and isinstance(pasted, str):  # the file's text, posted
            data = pasted.encode()
        try:
            if not data and not filename:
                raise ImportRefused("Choose the .json file to import.")
            document = read_document(data, filename)
            summary, token = await preview_import(settings, creator, document)
        except ImportRefused as exc:
            view = TransferView(problems=exc.problems, problems_of="import")
            return await _card(request, creator, view, status=422)
        return await _card(request, creator, TransferView(summary=summary, token=token))

    @post("/import/confirm", name="transfer:confirm", status_code=200)
    async def confirm(
        self, request: HTMXRequest, creator: CreatorDep, settings: SettingsDep
    ) -> Response[Any]:
        sealed = (await request.form()).get("preview", "")
        if not sealed:  # nothing was previewed: the card, as it was
            if not request.htmx:
                return Redirect(dashboard_url(request, "#transfer"), status_code=303)
            return await _card(request, creator, TransferView())
        try:
            summary = await confirm_import(
                settings, creator.id, sealed if isinstance(sealed, str) else ""
            )
        except ImportRefused as exc:
            view = TransferView(problems=exc.problems, problems_of="import")
            return await _card(request, creator, view, status=422)
        except (ValueError, KeyError, TypeError, zlib.error):  # a token this app never sealed
            view = TransferView(problems=(PREVIEW_EXPIRED,), problems_of="import")
            return await _card(request, creator, view, status=422)
        if not request.htmx:
            return Redirect(dashboard_url(request, "#transfer"), status_code=303)
        done = f"Imported. {summary.profile_line} {summary.links_line}"
        return await _card(request, creator, TransferView(done=done), changed=True)

    @post("/import/urls", name="transfer:import_urls", status_code=200)
    async def import_urls(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        form = await request.form()
        typed = form.get("urls", "")
        text = typed if isinstance(typed, str) else ""
        data, filename = await _upload(request, "file", MAX_URL_LIST_BYTES)
        try:
            if data or filename:
                text = _text_file(data, filename)
            links = plan_url_list(text, creator)
            await append_links(creator.id, links)
        except ImportRefused as exc:
            view = TransferView(problems=exc.problems, problems_of="urls", urls_text=text)
            return await _card(request, creator, view, status=422)
        if not request.htmx:
            return Redirect(dashboard_url(request, "#links"), status_code=303)
        count = len(links)
        done = f"{count} link{'s' if count != 1 else ''} added at the end of your page."
        return await _card(request, creator, TransferView(done=done), changed=True)

    @get("/earnings.csv", name="transfer:sales_csv")
    async def sales(self, creator: CreatorDep) -> Stream:
        filename = export_filename(creator, datetime.now(UTC).date(), "sales") + ".csv"
        return Stream(
            sales_csv(creator.id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def _text_file(data: bytes, filename: str) -> str:
    if filename and not filename.lower().endswith(".txt"):
        raise ImportRefused("Choose a .txt file with one URL a line: this file is not one.")
    if len(data) > MAX_URL_LIST_BYTES:
        raise ImportRefused(f"The file is larger than {MAX_URL_LIST_BYTES // 1024} KB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The file is not UTF-8 text.") from None
