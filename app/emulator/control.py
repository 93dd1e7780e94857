"""The emulator's own control API under /_whop/_control (not Whop's; for tests and demos).

It answers only the platform's API key (WHOP_API_KEY, the key `platform.bootstrap` gives the
parent company): no credential is a 401, and any other valid one — a connected company's
access token, another company's key — a 403, both in Whop's error body. Everything here is
also a plain Python function (`faults.add_fault`, `delivery.redeliver`, …) for tests in the
same process or database.

    POST   /_control/faults                  {"kind": …, "times": n, …}  arm a fault
    GET    /_control/faults                  the armed faults
    DELETE /_control/faults                  disarm all (and release held events)
    GET    /_control/settings                {"time_scale", "receiver_timeout",
                                              "access_token_lifetime", "tax_rates"}
    PUT    /_control/settings                change them
    DELETE /_control/settings                back to Whop's real timing
    GET    /_control/events?type=&company_id=            recent events, newest first
    POST   /_control/events/{id}/redeliver   {"times": n} send it again, same webhook-id
    GET    /_control/deliveries?event_id=&event_type=&url=   the delivery log
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Request, Response, Router, delete, get, post, put
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath

from app.config import Settings
from app.emulator import delivery, faults, store
from app.emulator.api import EXCEPTION_HANDLERS, Gateway, answers_whop_errors
from app.emulator.protocol import ApiError, json_body


@post("/faults")
@answers_whop_errors
async def arm_fault(request: Request) -> Response:
    body = await json_body(request)
    kind = body.pop("kind", None)
    times = body.pop("times", 1)
    if not isinstance(kind, str):
        raise faults.FaultError(f"kind is required: one of {', '.join(faults.KINDS)}")
    return Response(await faults.add_fault(kind, times=times, **body), status_code=200)


@get("/faults")
@answers_whop_errors
async def armed_faults() -> list[dict[str, Any]]:
    return await faults.list_faults()


@delete("/faults", status_code=200)
@answers_whop_errors
async def disarm_faults() -> dict[str, int]:
    return {"cleared": await faults.clear_faults()}


@get("/settings")
@answers_whop_errors
async def read_settings() -> dict[str, Any]:
    async with store.connection() as conn:
        return asdict(await faults.control_settings(conn))


@put("/settings")
@answers_whop_errors
async def change_settings(request: Request) -> dict[str, Any]:
    return asdict(await faults.set_control_settings(**await json_body(request)))


@delete("/settings", status_code=200)
@answers_whop_errors
async def reset_settings() -> dict[str, Any]:
    return asdict(await faults.reset_control_settings())


@get("/events")
@answers_whop_errors
async def recent_events(request: Request) -> list[dict[str, Any]]:
    params = request.query_params
    return await delivery.list_events(
        event_type=params.get("type"), company_id=params.get("company_id")
    )


@post("/events/{event_id:str}/redeliver")
@answers_whop_errors
async def redeliver_event(event_id: FromPath[str], request: Request) -> Response:
    body = await json_body(request)
    sent = await delivery.redeliver(event_id, body.get("times", 1))
    if not sent:
        raise ApiError(404, f"Event {event_id} was never delivered anywhere", code="not_found")
    return Response({"event_id": event_id, "deliveries": sent}, status_code=200)


@get("/deliveries")
@answers_whop_errors
async def delivery_log(request: Request) -> list[dict[str, Any]]:
    params = request.query_params
    return await delivery.delivery_log(
        event_id=params.get("event_id"),
        event_type=params.get("event_type"),
        url=params.get("url"),
    )


def control_router(settings: Settings) -> Router:
    return Router(
        path="/_control",
        route_handlers=[
            arm_fault,
            armed_faults,
            disarm_faults,
            read_settings,
            change_settings,
            reset_settings,
            recent_events,
            redeliver_event,
            delivery_log,
        ],
        middleware=[DefineMiddleware(Gateway, check_faults=False, only_key=settings.whop_api_key)],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
