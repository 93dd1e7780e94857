"""The payout page (/dashboard/payouts) and the token its island asks for.

The page is a server-rendered shell with one island that mounts Whop's embedded payout
components (`static/payouts/src/island.jsx`); creators without a connected company are told
to turn on earnings first. Its Content-Security-Policy is the strict default plus exactly
what the components need, reported to `/csp-report`:

- against Whop, the hosts of docs/whop-contract.md §9.4 that payouts use (not chat's `wss:` nor
  checkout's `js.whop.com`/`t.whop.tw`), each wildcard covering the named hosts it spans;
- offline, the emulator's origin, where the stand-in loader and its API live.

Whop's components show the balance in one currency, the creator's selling currency now. A
creator who sold in another before (they changed currency; past sales keep theirs) also gets,
above them, what their sales earned in each currency, from Linkmint's own records.

`POST /dashboard/payouts/token` (same origin, CSRF header) mints a short-lived access token
for the signed-in creator's own company through the Whop client. The island hands Whop's
loader a function that calls it, which the loader calls again before each token expires.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.auth.service import CreatorRecord
from app.config import Settings
from app.ops.csp_report import CSP_REPORT_PATH, REPORT_GROUP
from app.payments.earnings import CurrencyTotal, earnings_for
from app.web.deps import CreatorDep, SettingsDep, ViewerDep
from app.web.headers import CSP_EXTRA_KEY, PERMISSIONS_POLICY_KEY
from app.whop import WhopClient, WhopDep, WhopError, WhopUnavailable

log = logging.getLogger("app.payouts")

PAYOUT_TOKEN_LIFETIME = timedelta(minutes=10)  # Whop allows up to 3 h; the island refreshes
# The directives Whop's payout components need against Whop itself (docs/whop-contract.md §9.4).
WHOP_ELEMENTS_SOURCES = {
    "script-src": "https://*.elements.whop.com",  # the loader (apollo.) and its releases
    "frame-src": "https://*.whop.com",  # the components' frames, sandbox.whop.com included
    "connect-src": "https://*.whop.com",  # api., sandbox-api., *.elements.
    "img-src": "https://*.whop.com",  # cdn., media.
}
# No `camera=()`: Whop's identity check films a selfie. The camera keeps the browser's
# default (this page, and frames it delegates to with `allow="camera"`).
PAYOUT_PAGE_PERMISSIONS = "microphone=(), geolocation=(), payment=()"
NO_STORE = {"Cache-Control": "no-store"}


def elements_sources(settings: Settings) -> dict[str, str]:
    """The hosts the payout components load from: Whop's, or the emulator's origin."""
    if settings.emulator_enabled:
        parts = urlsplit(settings.app_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        return dict.fromkeys(WHOP_ELEMENTS_SOURCES, origin)
    return dict(WHOP_ELEMENTS_SOURCES)


def payout_page_csp(settings: Settings) -> dict[str, str]:
    """What the payout page adds to the strict policy: the elements' hosts, and reporting."""
    return {
        **elements_sources(settings),
        "report-uri": CSP_REPORT_PATH,
        "report-to": REPORT_GROUP,
    }


@dataclass(frozen=True, slots=True)
class IslandConfig:
    """What the island reads from its mount element's data attributes."""

    company_id: str
    token_url: str
    environment: str
    currency: str
    redirect_url: str
    loader_url: str | None  # the emulator's stand-in for Whop's loader, offline only


def island_config(
    request: Request[Any, Any, Any], settings: Settings, creator: CreatorRecord
) -> IslandConfig:
    route = request.app.route_reverse
    return IslandConfig(
        company_id=creator.whop_company_id or "",
        token_url=route("payouts:token"),
        environment=settings.whop_elements_env,
        currency=(creator.currency or "usd").upper(),
        redirect_url=settings.app_url + route("payouts:dashboard"),  # after identity verification
        loader_url="/_whop/elements.js" if settings.emulator_enabled else None,
    )


async def earned_per_currency(creator: CreatorRecord) -> tuple[CurrencyTotal, ...]:
    """Net earnings per currency of the creator's completed sales, when they are in more
    than the one Whop's components show (the selling currency now); else none."""
    totals = (await earnings_for(creator.id, page_size=1)).totals
    if all(total.currency == creator.currency for total in totals):
        return ()
    return totals


class PayoutTokenRefused(Exception):
    """Why no token is minted, with the status and a sentence for the creator."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def mint_payout_token(
    whop: WhopClient, creator: CreatorRecord | None, company_id: Any
) -> str:
    """A short-lived access token for `company_id`, if it is the signed-in creator's."""
    if creator is None:
        raise PayoutTokenRefused(401, "Your session has ended. Sign in again to see your payouts.")
    own = creator.whop_company_id
    if not own:
        raise PayoutTokenRefused(
            403, "Turn on earnings in your studio first: you have no payout account yet."
        )
    if company_id != own:
        raise PayoutTokenRefused(404, "There is no such payout account.")
    try:
        token = await whop.create_access_token(
            own, expires_at=datetime.now(UTC) + PAYOUT_TOKEN_LIFETIME
        )
    except WhopUnavailable as exc:
        log.warning("no payouts token for %s: %s", own, exc)
        raise PayoutTokenRefused(
            502, "Whop is not answering right now, so your payouts cannot load. Try again soon."
        ) from None
    except WhopError as exc:
        log.error("no payouts token for %s: %s", own, exc)
        raise PayoutTokenRefused(
            502, "Whop refused to open your payouts just now. Try again later."
        ) from None
    return token.token


class PayoutDashboardController(Controller):
    path = "/dashboard/payouts"

    @get("/", name="payouts:dashboard", cache=False)
    async def dashboard(
        self, request: Request[Any, Any, Any], creator: CreatorDep, settings: SettingsDep
    ) -> Template:
        if not creator.whop_company_id:
            context = {"creator": creator, "island": None}
            return Template("payouts/dashboard.html", context=context, headers=NO_STORE)
        request.scope[CSP_EXTRA_KEY] = payout_page_csp(settings)  # type: ignore[literal-required]
        request.scope[PERMISSIONS_POLICY_KEY] = PAYOUT_PAGE_PERMISSIONS  # type: ignore[literal-required]
        return Template(
            "payouts/dashboard.html",
            context={
                "creator": creator,
                "island": island_config(request, settings, creator),
                "totals": await earned_per_currency(creator),
            },
            headers={
                **NO_STORE,
                "Reporting-Endpoints": f'{REPORT_GROUP}="{settings.app_url}{CSP_REPORT_PATH}"',
            },
        )

    @post("/token", name="payouts:token", status_code=200, cache=False)
    async def token(
        self, request: Request[Any, Any, Any], viewer: ViewerDep, whop: WhopDep
    ) -> Response[Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Response({"error": "Send a JSON object."}, status_code=400, headers=NO_STORE)
        try:
            token = await mint_payout_token(whop, viewer, body.get("company_id"))
        except PayoutTokenRefused as refused:
            return Response(
                {"error": refused.message}, status_code=refused.status, headers=NO_STORE
            )
        return Response({"token": token}, headers=NO_STORE)
