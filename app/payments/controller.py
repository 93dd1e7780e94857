"""Buying premium links, and Whop's webhooks.

The public page is cached and carries no token, so it cannot hold the Unlock form itself.
Each premium card loads `/u/<link id>` (htmx, right after the page): a private, no-store
fragment with this visitor's state and, where they may buy, a form carrying the CSRF token
(the response also sets the CSRF cookie). Without JavaScript the card is a link to the same
address, which answers a small page with the same form. Every answer that depends on the
buyer is `Cache-Control: private, no-store`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler

from app.payments.buyer import buyer_cookie, new_buyer, read_buyer
from app.payments.inbox import MAX_BODY_BYTES, receive_webhook
from app.payments.polls import PendingPolls
from app.payments.unlocks import (
    CheckoutUnavailable,
    Panel,
    ReturnDelayed,
    UnlockRefused,
    owned_unlock,
    panel_for,
    premium_link,
    purchases_of,
    return_from_checkout,
    start_unlock,
)
from app.web.deps import CreatorDep, SettingsDep, ViewerDep
from app.web.limits import CONFIRM, UNLOCK, UNLOCK_PER_LINK, limited
from app.whop import WhopDep

PRIVATE = {"cache-control": "private, no-store"}
STOP_POLLING = 286  # htmx stops an `every` trigger on this status
CONFIRM_RETRY_SECONDS = 3  # how soon a return the database could not answer tries again


def _panel(
    request: HTMXRequest,
    panel: Panel,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    fragment = bool(request.htmx)
    return Template(
        template_name="payments/_unlock.html" if fragment else "payments/unlock_page.html",
        context={"panel": panel},
        status_code=status,
        headers={**PRIVATE, **(headers or {})},
        cookies=cookies or [],
        media_type=MediaType.HTML,
    )


_BACK = re.compile(r"/[A-Za-z0-9._-]{1,40}")


def _back_to(raw: Any) -> str:
    """Where "Restore purchases" returns: a creator's page on this site, or the home page."""
    return raw if isinstance(raw, str) and _BACK.fullmatch(raw) else "/"


class UnlockController(Controller):
    path = "/"
    include_in_schema = False

    @get("/u/{link_id:int}", name="payments:premium", cache=False)
    async def premium(
        self, request: HTMXRequest, link_id: FromPath[int], settings: SettingsDep
    ) -> Template:
        link = await premium_link(link_id)
        if link is None:
            raise NotFoundException("There is no such premium link.")
        return _panel(request, await panel_for(link, read_buyer(request, settings)))

    @post(
        "/u/{link_id:int}/unlock",
        name="payments:unlock",
        status_code=200,
        before_request=limited(UNLOCK_PER_LINK, UNLOCK),
    )
    async def unlock(
        self, request: HTMXRequest, link_id: FromPath[int], settings: SettingsDep, whop: WhopDep
    ) -> Response[Any]:
        link = await premium_link(link_id)
        if link is None:
            raise NotFoundException("There is no such premium link.")
        buyer = read_buyer(request, settings) or new_buyer()
        cookies = [buyer_cookie(settings, buyer)]
        try:
            started = await start_unlock(whop, settings.app_url, link, buyer)
        except UnlockRefused as exc:
            panel = await panel_for(link, buyer, message=str(exc))
            return _panel(request, panel, status=409, cookies=cookies)
        except CheckoutUnavailable as exc:
            panel = await panel_for(link, buyer, message=str(exc))
            busy = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
            return _panel(request, panel, status=503, cookies=cookies, headers=busy)
        if started.owned is not None:  # they bought it already: no second checkout
            if request.htmx:
                return _panel(request, started.owned, cookies=cookies)
            back = request.app.route_reverse("payments:premium", link_id=link_id)
            return Redirect(back, status_code=303, cookies=cookies, headers=PRIVATE)
        if request.htmx:
            response = ClientRedirect(started.checkout_url or "/")
            response.cookies.extend(cookies)
            response.headers.update(PRIVATE)
            return response
        return Redirect(
            request.app.route_reverse("payments:to-checkout", unlock_id=started.unlock_id),
            status_code=303,
            cookies=cookies,
            headers=PRIVATE,
        )

    @get("/unlocks/{unlock_id:str}/checkout", name="payments:to-checkout", cache=False)
    async def to_checkout(
        self, request: Request[Any, Any, Any], unlock_id: FromPath[str], settings: SettingsDep
    ) -> Response[Any]:
        unlock = await owned_unlock(unlock_id, read_buyer(request, settings))
        if unlock is None:
            raise NotFoundException("There is no such purchase.")
        if unlock.status != "PENDING" or not unlock.purchase_url:
            back = request.app.route_reverse("payments:premium", link_id=unlock.link)
            return Redirect(back, status_code=303, headers=PRIVATE)
        return Template(
            template_name="payments/to_checkout.html",
            context={"purchase_url": unlock.purchase_url},
            headers=PRIVATE,
            media_type=MediaType.HTML,
        )

    @get("/unlocks/{unlock_id:str}/status", name="payments:status", cache=False)
    async def status(
        self, request: HTMXRequest, unlock_id: FromPath[str], settings: SettingsDep
    ) -> Response[Any]:
        """htmx polls this every second while the buyer waits. "Still pending, nothing new"
        is `204 No Content` (htmx keeps the panel and goes on polling) and, once this
        process has seen the unlock pending, needs no query (app/payments/polls.py); any
        change sends the new panel, with 286 once there is nothing left to wait for."""
        buyer = read_buyer(request, settings)
        polls: PendingPolls = request.app.state.pending_polls
        if request.htmx and buyer is not None and polls.still_pending(unlock_id, buyer):
            return Response(b"", status_code=204, headers=PRIVATE)
        generation = polls.generation  # read before loading: see PendingPolls.remember
        unlock = await owned_unlock(unlock_id, buyer)
        link = await premium_link(unlock.link) if unlock and unlock.link else None
        if link is None or buyer is None:
            raise NotFoundException("There is no such purchase.")
        panel = await panel_for(link, buyer)
        if request.htmx and panel.polling and panel.unlock_id == unlock_id and panel.polls_until:
            polls.remember(
                unlock_id,
                link_id=link.id,
                creator_id=link.creator_id,
                buyer=buyer,
                polls_until=panel.polls_until.timestamp(),
                generation=generation,
            )
        settled = request.htmx and panel.settled
        return _panel(request, panel, status=STOP_POLLING if settled else 200)

    @get(
        "/checkout/confirm",
        name="payments:confirm",
        cache=False,
        before_request=limited(CONFIRM),
    )
    async def confirm(
        self,
        whop: WhopDep,
        unlock: FromQuery[str] = "",
        payment_id: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The buyer's way back from Whop's checkout. While the database cannot be reached,
        a page that loads this same address again by itself (a meta refresh: no script)."""
        try:
            page = await return_from_checkout(whop, unlock, payment_id)
        except LookupError:
            raise NotFoundException("We could not find this purchase.") from None
        except ReturnDelayed:
            return Template(
                template_name="payments/confirming.html",
                context={"retry_after": CONFIRM_RETRY_SECONDS},
                status_code=503,
                headers={**PRIVATE, "retry-after": str(CONFIRM_RETRY_SECONDS)},
                media_type=MediaType.HTML,
            )
        return Redirect(page, status_code=303, headers=PRIVATE)

    @get("/unlocks/restore", name="payments:restore", cache=False)
    async def restore_page(
        self, request: Request[Any, Any, Any], viewer: ViewerDep, next: FromQuery[str] = "/"
    ) -> Response[Any]:
        back = _back_to(next)
        if viewer is None:
            app = request.app
            here = app.route_reverse("payments:restore") + "?" + urlencode({"next": back})
            sign_in = app.route_reverse("auth:login") + "?" + urlencode({"next": here})
            return Redirect(sign_in, status_code=303)
        return Template(
            template_name="payments/restore.html",
            context={"purchases": await purchases_of(viewer.whop_user_id), "back": back},
            headers=PRIVATE,
            media_type=MediaType.HTML,
        )

    @post("/unlocks/restore", name="payments:restore-now", status_code=303)
    async def restore(
        self, request: Request[Any, Any, Any], creator: CreatorDep, settings: SettingsDep
    ) -> Redirect:
        """Bind what this Whop account bought to this browser (the cookie says so, signed)."""
        form = await request.form()
        buyer = (read_buyer(request, settings) or new_buyer()).bound_to(creator.whop_user_id)
        return Redirect(
            _back_to(form.get("next")),
            status_code=303,
            cookies=[buyer_cookie(settings, buyer)],
            headers=PRIVATE,
        )


@post(
    "/webhooks/whop",
    name="payments:webhook",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_BODY_BYTES,
)
async def whop_webhook(request: Request[Any, Any, Any], settings: SettingsDep) -> Response[Any]:
    """Whop's events: verified, stored in the inbox, answered, then processed by this
    process's inbox workers, or announced to the `linkmint inbox` process when this one has
    none (see app.payments.inbox)."""
    body = await request.body()
    inbox = request.app.state.inbox
    receipt = await receive_webhook(
        settings.whop_webhook_secret, request.headers, body, announce=inbox.announces
    )
    if receipt.event_id is not None:
        inbox.submit(receipt.event_id)  # (takes nothing in a process without workers)
    return Response(receipt.text, status_code=receipt.status, media_type=MediaType.TEXT)


ROUTES: list[ControllerRouterHandler] = [UnlockController, whop_webhook]
