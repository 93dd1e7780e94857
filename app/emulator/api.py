"""The emulated REST API under /_whop/api/v1 (legacy `company_id` shapes,
docs/whop-contract.md §3–§9).

Handlers parse, call a service function in the module that owns the resource, and answer
JSON. The `Gateway` middleware stands at the door the way Whop's does: bearer auth first
(401 with Whop's error body), then any armed `api` fault (`faults.py`).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

import asyncpg
from litestar import Request, Response, Router, delete, get, post, route
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from app.emulator import (
    companies,
    delivery,
    developer,
    faults,
    ledger,
    payments,
    shapes,
    store,
)
from app.emulator.protocol import (
    PRINCIPAL_KEY,
    ApiError,
    authenticate,
    idempotent,
    json_body,
    page,
    principal_of,
    unauthorized,
)
from app.emulator.ratelimit import RateLimit
from app.web.deps import SettingsDep

P = ParamSpec("P")
API_PREFIX = "/api/v1"


# --- the door -------------------------------------------------------------------------------


async def send_error(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": error.status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def fault_error(fault: dict[str, Any]) -> ApiError:
    status = fault["status"]
    if status == 429:
        wait = fault["retry_after"]
        if wait is None:
            return ApiError(429, "Rate limit exceeded.")
        headers = {"Retry-After": _seconds(wait)} if fault["retry_after_header"] else {}
        return ApiError(429, f"Try again in {_seconds(wait)} seconds.", headers=headers)
    return ApiError(
        status, f"Injected fault: the Whop emulator answers {status}", code="injected_fault"
    )


class Gateway:
    """Bearer auth for every request of a router, then (for the API) armed faults.

    With `only_key`, the router answers that one API key (the platform's) and refuses every
    other valid credential with a 403: another company's key, or any access token.

    `latency` (seconds, WHOP_EMULATOR_LATENCY_MS): every request waits this long before it
    is let in, as a request to Whop's servers takes tens of milliseconds to come back.
    `rate_limit` (WHOP_EMULATOR_RATE_LIMIT): a credential's calls of one operation beyond it
    in a minute are answered 429, as Whop answers them (`ratelimit.py`).
    """

    def __init__(
        self,
        app: ASGIApp,
        check_faults: bool = True,
        only_key: str | None = None,
        latency: float = 0.0,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.app = app
        self.rate_limit = rate_limit
        self.check_faults = check_faults
        self.only_key_hash = store.secret_hash(only_key) if only_key else None
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        if self.latency:
            await asyncio.sleep(self.latency)
        headers = Headers.from_scope(scope)
        path = scope["path"].partition(API_PREFIX)[2] or "/"
        fault = None
        async with store.connection() as conn:
            principal = await authenticate(conn, headers.get("authorization"))
            if principal is not None and self.check_faults:
                fault = await faults.take_api_fault(conn, scope["method"], path)
        if principal is None:
            await send_error(send, unauthorized())
            return
        if self.only_key_hash and principal.owner != self.only_key_hash:
            await send_error(send, not_the_platform_key())
            return
        scope[PRINCIPAL_KEY] = principal  # type: ignore[literal-required]
        if self.rate_limit is not None:
            operation = f"{scope['method']} {scope['route_handler'].handler_name}"
            wait = self.rate_limit.wait(principal.owner, operation)
            if wait is not None:
                await send_error(send, ApiError(429, f"Try again in {wait} seconds."))
                return
        if fault and fault["hang"]:
            await asyncio.sleep(fault["hang"])
        if fault and fault["status"]:
            if fault["when"] == "after":  # do the work, then lose the answer

                async def swallow(message: Message) -> None:
                    return None

                await self.app(scope, receive, swallow)
            await send_error(send, fault_error(fault))
            return
        await self.app(scope, receive, send)


def not_the_platform_key() -> ApiError:
    return ApiError(
        403,
        "Only the platform's API key may use this endpoint, not a connected company's "
        "access token or another company's key",
        code="forbidden",
    )


def answers_whop_errors(handler: Callable[P, Awaitable[Any]]) -> Callable[P, Awaitable[Any]]:
    """A refusal (`ApiError`, a bad fault) is an answer, not an exception to log with a trace."""

    @functools.wraps(handler)
    async def answer(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await handler(*args, **kwargs)
        except ApiError as refusal:
            return refusal.response()
        except faults.FaultError as nonsense:
            return ApiError(422, str(nonsense), code="parameter_invalid").response()

    return answer


def whop_error(request: Request, exc: Exception) -> Response:
    """Whatever else goes wrong, still Whop's JSON error body, never an HTML page."""
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        code = "parameter_invalid" if exc.status_code == 400 else None
        return ApiError(exc.status_code, str(exc.detail), code=code).response()
    return ApiError(500, "Internal error in the Whop emulator", code="internal_error").response()


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: whop_error,
    HTTPException: whop_error,
    500: whop_error,
}


# --- handlers -------------------------------------------------------------------------------


async def _list(request: Request, query: str, args: list[Any], shape: Any) -> Response:
    async with store.connection() as conn:
        return Response(await page(conn, request, query, args, shape))


@post("/companies")
@answers_whop_errors
async def create_company(request: Request) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        return 200, await companies.create_company(conn, principal, body)

    return await idempotent(request, work)


@get("/companies")
@answers_whop_errors
async def list_companies(request: Request) -> Response:
    principal = principal_of(request)
    query = "SELECT * FROM whop_emulator.company WHERE parent_id = $1"
    return await _list(request, query, [principal.company_id], shapes.company)


@get("/companies/{company_id:str}")
@answers_whop_errors
async def retrieve_company(request: Request, company_id: FromPath[str]) -> Response:
    async with store.connection() as conn:
        return Response(await companies.retrieve_company(conn, principal_of(request), company_id))


@post("/account_links")
@answers_whop_errors
async def create_account_link(request: Request, settings: SettingsDep) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        link = await companies.create_account_link(conn, principal, body, settings.app_url)
        return 200, link

    return await idempotent(request, work)


@get("/payout_methods")
@answers_whop_errors
async def list_payout_methods(request: Request) -> Response:
    async with store.connection() as conn:
        query, args = await companies.payout_methods_query(
            conn, principal_of(request), request.query_params
        )
        return Response(await page(conn, request, query, args, shapes.payout_method))


@get("/ledger_accounts/{company_id:str}")
@answers_whop_errors
async def retrieve_ledger_account(request: Request, company_id: FromPath[str]) -> Response:
    async with store.connection() as conn:
        return Response(await ledger.ledger_account(conn, principal_of(request), company_id))


@post("/withdrawals")
@answers_whop_errors
async def create_withdrawal(request: Request, settings: SettingsDep) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        return 200, await ledger.withdraw(conn, settings, principal, body)

    response = await idempotent(request, work)
    delivery.wake()
    return response


@get("/withdrawals")
@answers_whop_errors
async def list_withdrawals(request: Request) -> Response:
    async with store.connection() as conn:
        query, args = await ledger.withdrawals_query(
            conn, principal_of(request), request.query_params
        )
        return Response(await page(conn, request, query, args, shapes.withdrawal))


@post("/checkout_configurations")
@answers_whop_errors
async def create_checkout_configuration(request: Request, settings: SettingsDep) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        checkout = await payments.create_checkout_configuration(
            conn, principal, body, settings.app_url
        )
        return 200, checkout

    return await idempotent(request, work)


@get("/checkout_configurations/{checkout_id:str}")
@answers_whop_errors
async def retrieve_checkout_configuration(
    request: Request, checkout_id: FromPath[str], settings: SettingsDep
) -> Response:
    async with store.connection() as conn:
        return Response(
            await payments.retrieve_checkout_configuration(
                conn, principal_of(request), checkout_id, settings.app_url
            )
        )


@get("/payments")
@answers_whop_errors
async def list_payments(request: Request) -> Response:
    async with store.connection() as conn:
        query, args = await payments.payments_query(conn, principal_of(request), request)
        return Response(await page(conn, request, query, args, shapes.payment))


@get("/payments/{payment_id:str}")
@answers_whop_errors
async def retrieve_payment(request: Request, payment_id: FromPath[str]) -> Response:
    async with store.connection() as conn:
        return Response(await payments.retrieve_payment(conn, principal_of(request), payment_id))


@post("/payments/{payment_id:str}/refund")
@answers_whop_errors
async def refund_payment(
    request: Request, payment_id: FromPath[str], settings: SettingsDep
) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        return 200, await payments.refund_payment(conn, settings, principal, payment_id, body)

    response = await idempotent(request, work)
    delivery.wake()
    return response


@get("/refunds")
@answers_whop_errors
async def list_refunds(request: Request) -> Response:
    async with store.connection() as conn:
        query, args, payment = await payments.refunds_query(conn, principal_of(request), request)
        return Response(
            await page(conn, request, query, args, lambda row: shapes.refund(row, payment))
        )


@get("/refunds/{refund_id:str}")
@answers_whop_errors
async def retrieve_refund(request: Request, refund_id: FromPath[str]) -> Response:
    async with store.connection() as conn:
        return Response(await payments.retrieve_refund(conn, principal_of(request), refund_id))


@post("/access_tokens")
@answers_whop_errors
async def create_access_token(request: Request) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        return 200, await developer.create_access_token(conn, principal, body)

    return await idempotent(request, work)


@post("/webhooks")
@answers_whop_errors
async def create_webhook(request: Request) -> Response:
    body, principal = await json_body(request), principal_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        return 200, await developer.create_webhook(conn, principal, body)

    return await idempotent(request, work)


@get("/webhooks")
@answers_whop_errors
async def list_webhooks(request: Request) -> Response:
    async with store.connection() as conn:
        query, args = await developer.webhooks_query(
            conn, principal_of(request), request.query_params
        )
        return Response(
            await page(conn, request, query, args, lambda r: shapes.webhook(r, with_secret=False))
        )


@delete("/webhooks/{webhook_id:str}", status_code=200)
@answers_whop_errors
async def delete_webhook(request: Request, webhook_id: FromPath[str]) -> Response:
    async with store.transaction() as conn:
        return Response(await developer.delete_webhook(conn, principal_of(request), webhook_id))


@route("/{rest:path}", http_method=["GET", "POST", "PUT", "PATCH", "DELETE"])
@answers_whop_errors
async def unknown_endpoint(request: Request, rest: FromPath[str]) -> Response:
    raise ApiError(404, f"No such endpoint: {request.method} {API_PREFIX}{rest}")


def api_router(latency: float = 0.0, *, rate_limit: int = 0) -> Router:
    """The API; each request answered `latency` seconds late (WHOP_EMULATOR_LATENCY_MS), and
    `rate_limit` calls a minute of each operation per credential (WHOP_EMULATOR_RATE_LIMIT;
    0: no limit)."""
    limit = RateLimit(rate_limit) if rate_limit else None
    return Router(
        path=API_PREFIX,
        route_handlers=[
            create_company,
            list_companies,
            retrieve_company,
            create_account_link,
            list_payout_methods,
            retrieve_ledger_account,
            create_withdrawal,
            list_withdrawals,
            create_checkout_configuration,
            retrieve_checkout_configuration,
            list_payments,
            retrieve_payment,
            refund_payment,
            list_refunds,
            retrieve_refund,
            create_access_token,
            create_webhook,
            list_webhooks,
            delete_webhook,
            unknown_endpoint,
        ],
        middleware=[
            DefineMiddleware(Gateway, check_faults=True, latency=latency, rate_limit=limit)
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
