"""Payouts onboarding from the studio: Enable earnings, and the way back from Whop's hosted KYC.

- `POST /dashboard/payouts/enable` (the Enable earnings / Finish verification button):
  the creator's connected company (made once), then a fresh `account_onboarding` link;
  the browser goes there (`HX-Redirect` for htmx, 303 otherwise).
- `GET /dashboard/payouts/return`: Whop sends the creator back here whatever happened on its
  page, so the redirect proves nothing; we ask Whop (`refresh_payout_status`) and then show
  the studio with what to do next.
- `GET /dashboard/payouts/refresh`: the link expired or was used; make a new one and go.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from app.auth.service import CreatorRecord, creator_by_id
from app.config import Settings
from app.payouts.onboarding import CannotOnboard, ensure_company, onboarding_url
from app.payouts.service import refresh_payout_status
from app.web.dashboard import dashboard_url, page_context
from app.web.deps import CreatorDep, SettingsDep
from app.whop import WhopDep, WhopError, WhopUnavailable

log = logging.getLogger("app.payouts")

WHOP_DOWN = "Whop did not answer, so nothing was set up. Please try again in a minute."


def _go(request: HTMXRequest, url: str) -> Response[Any]:
    """Send the browser to `url`: htmx follows `HX-Redirect`, a plain request a 303."""
    if request.htmx:
        return Response("", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def _whop_problem(exc: WhopError) -> str:
    if isinstance(exc, WhopUnavailable):
        return WHOP_DOWN
    return f"Whop refused to set up payouts: {exc.reason}. Nothing was changed on your page."


def _whop_returns(request: HTMXRequest, settings: Settings) -> dict[str, str]:
    """Where Whop's hosted KYC sends the creator back to: absolute addresses of our routes."""
    route = request.app.route_reverse
    return {
        "return_url": settings.app_url + route("payouts:return"),
        "refresh_url": settings.app_url + route("payouts:refresh"),
    }


async def _fresh(creator: CreatorRecord) -> CreatorRecord:
    """The creator's row as it is now (a failed attempt may have stored the company)."""
    return await creator_by_id(creator.id) or creator


async def _refused(
    request: HTMXRequest, creator: CreatorRecord, problem: str, status: int
) -> Template:
    """The Earnings card with the problem: the card alone for htmx (as a 200, so htmx swaps
    it in), the whole studio otherwise."""
    creator = await _fresh(creator)
    if request.htmx:
        return Template(
            template_name="studio/_response.html",
            context={
                "fragment": "payouts/_onboarding.html",
                "creator": creator,
                "payouts_notice": None,
                "payouts_problem": problem,
                "message": None,
                "oob_counts": None,
            },
        )
    context = await page_context(creator, payouts_problem=problem)
    return Template(template_name="studio/dashboard.html", context=context, status_code=status)


class PayoutsController(Controller):
    path = "/dashboard/payouts"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)
    response_headers = [ResponseHeader(name="Vary", value="HX-Request, Cookie")]

    @post("/enable", name="payouts:enable", status_code=200)
    async def enable(
        self, request: HTMXRequest, creator: CreatorDep, whop: WhopDep, settings: SettingsDep
    ) -> Response[Any]:
        if creator.payout_enabled:
            return _go(request, dashboard_url(request, "#earnings"))
        try:
            company_id = await ensure_company(whop, creator)
            url = await onboarding_url(whop, company_id, **_whop_returns(request, settings))
        except CannotOnboard as exc:
            return await _refused(request, creator, str(exc), 422)
        except WhopError as exc:
            log.warning("enabling earnings for creator %s failed: %s", creator.id, exc)
            status = 503 if isinstance(exc, WhopUnavailable) else 502
            return await _refused(request, creator, _whop_problem(exc), status)
        return _go(request, url)

    @get("/return", name="payouts:return")
    async def back_from_whop(
        self, request: HTMXRequest, creator: CreatorDep, whop: WhopDep
    ) -> Response[Any]:
        company_id = creator.whop_company_id
        if not company_id:
            return _go(request, dashboard_url(request, "#earnings"))
        try:
            enabled = await refresh_payout_status(whop, company_id)
        except WhopError as exc:
            log.warning("checking payouts of %s failed: %s", company_id, exc)
            notice = "unchecked"
        else:
            notice = "enabled" if enabled else "unfinished"
        return _go(request, dashboard_url(request, "#earnings", notice=notice))

    @get("/refresh", name="payouts:refresh")
    async def new_link(
        self, request: HTMXRequest, creator: CreatorDep, whop: WhopDep, settings: SettingsDep
    ) -> Response[Any]:
        company_id = creator.whop_company_id
        if not company_id or creator.payout_enabled:
            return _go(request, dashboard_url(request, "#earnings"))
        try:
            url = await onboarding_url(whop, company_id, **_whop_returns(request, settings))
        except WhopError as exc:
            log.warning("a new onboarding link for %s failed: %s", company_id, exc)
            return _go(request, dashboard_url(request, "#earnings", notice="unreachable"))
        return _go(request, url)
