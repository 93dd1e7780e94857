"""A stand-in for Whop's embedded payout components: the loader script and the API it calls.

Whop's loader (`https://apollo.elements.whop.com/release/elements.js`, docs/whop-contract.md §9.2)
defines `window.WhopElements`, which the official vanilla and React packages drive:
`createPayoutsSession({token, companyId, redirectUrl, currency})` → `createElement(type)` →
`mount`. The emulator serves a small replacement at `/_whop/elements.js` (`static/`) that
renders the status banner, verification, balance, withdraw button and withdrawals list from
the emulator's ledger with plain DOM nodes and classes from `/_whop/elements.css`, which it
links from its own origin — no eval, no inline script or style, so it runs under the payout
page's strict Content-Security-Policy.

The script calls the JSON API below with the session's access token (minted by the platform
with `POST /api/v1/access_tokens`) as its bearer credential, like Whop's components; a token
acts for its own company only and is refused once expired:

    GET  /elements/api/payouts/{biz}                balance, verification, payout method,
                                                    withdrawals, and the token's time left
    POST /elements/api/payouts/{biz}/withdrawals    {"amount", "currency"}: withdraw
    POST /elements/api/payouts/{biz}/verification   {"return_url"}: a hosted KYC link
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from litestar import Request, Response, Router, get, post
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath

from app.emulator import companies, delivery, ledger, shapes, store
from app.emulator.api import EXCEPTION_HANDLERS, Gateway, answers_whop_errors
from app.emulator.protocol import (
    ApiError,
    Principal,
    idempotent,
    json_body,
    principal_of,
    url_param,
    visible_company,
)
from app.web.deps import SettingsDep

STATIC = Path(__file__).resolve().parent / "static"
LOADER = (STATIC / "elements.js").read_bytes()
STYLES = (STATIC / "elements.css").read_bytes()
# Not fingerprinted (the page names the loader's fixed URL, as it would Whop's): revalidate.
ASSET_HEADERS = {"Cache-Control": "no-cache"}
RECENT_WITHDRAWALS = 50


@get("/elements.js", name="emulator:elements-js", cache=False)
async def loader_script() -> Response:
    return Response(LOADER, media_type="text/javascript", headers=ASSET_HEADERS)


@get("/elements.css", name="emulator:elements-css", cache=False)
async def loader_styles() -> Response:
    return Response(STYLES, media_type="text/css", headers=ASSET_HEADERS)


# --- the API the script calls ----------------------------------------------------------------


def _require_access_token(principal: Principal) -> None:
    if principal.kind != "access_token":
        raise ApiError(
            403,
            "The payout elements act with an access token (POST /api/v1/access_tokens), "
            "not an API key",
        )


async def _company(conn: asyncpg.Connection, request: Request, company_id: str) -> Any:
    principal = principal_of(request)
    _require_access_token(principal)
    return await visible_company(conn, principal, company_id)


@get("/payouts/{company_id:str}")
@answers_whop_errors
async def payouts_overview(request: Request, company_id: FromPath[str]) -> Response:
    async with store.connection() as conn:
        company = await _company(conn, request, company_id)
        amounts = await ledger.balances(conn, company["id"])
        method = await conn.fetchrow(
            "SELECT * FROM whop_emulator.payout_method WHERE company_id = $1 AND is_default",
            company["id"],
        )
        withdrawals = await conn.fetch(
            "SELECT * FROM whop_emulator.withdrawal WHERE company_id = $1"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            company["id"],
            RECENT_WITHDRAWALS,
        )
        expires_in = await conn.fetchval(
            "SELECT extract(epoch FROM expires_at - now()) FROM whop_emulator.access_token"
            " WHERE token_hash = $1",
            principal_of(request).owner,
        )
    return Response(
        {
            "company": {"id": company["id"], "title": company["title"]},
            "verification": {"status": company["kyc_status"]},
            "balances": {currency: shapes.money(amount) for currency, amount in amounts.items()},
            "payout_method": shapes.payout_method(method) if method else None,
            "withdrawals": [shapes.withdrawal(row) for row in withdrawals],
            # Whop's tokens are JWTs whose `exp` the loader reads; ours are opaque, so say it.
            "token_expires_in": round(float(expires_in), 3),
        },
        headers={"Cache-Control": "no-store"},
    )


@post("/payouts/{company_id:str}/withdrawals")
@answers_whop_errors
async def request_withdrawal(
    request: Request, company_id: FromPath[str], settings: SettingsDep
) -> Response:
    body = await json_body(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        company = await _company(conn, request, company_id)
        withdrawal = {"company_id": company["id"], **body}
        return 200, await ledger.withdraw(conn, settings, principal_of(request), withdrawal)

    response = await idempotent(request, work)
    delivery.wake()
    return response


@post("/payouts/{company_id:str}/verification")
@answers_whop_errors
async def start_verification(
    request: Request, company_id: FromPath[str], settings: SettingsDep
) -> Response:
    body = await json_body(request)
    return_url = url_param(body, "return_url")
    async with store.transaction() as conn:
        company = await _company(conn, request, company_id)
        link = await companies.new_account_link(
            conn,
            company["id"],
            "account_onboarding",
            return_url,
            return_url,
            app_url=settings.app_url,
        )
    return Response(link, status_code=200)


def routes() -> list:
    api = Router(
        path="/elements/api",
        route_handlers=[payouts_overview, request_withdrawal, start_verification],
        middleware=[DefineMiddleware(Gateway, check_faults=False)],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    return [loader_script, loader_styles, api]
