"""Misbehaviour on request, so tests can prove Linkmint survives what Whop may do.

Faults live in PostgreSQL, so a test can arm one in its own process and the server process
obeys it. Each fault applies `times` times (default once), oldest first, and is then spent.

- `api` (`path` glob under /api/v1 such as `/payments/*`, optional `method`, `status`,
  `when`, `hang`, `retry_after`, `retry_after_header`): the matching API request answers
  `status` (500, 429, …) *before* it is processed, or *after* it (the work is done, the
  answer lost); `hang` stalls it that many seconds first. A 429 says "Try again in N
  seconds." when `retry_after` is set, and sends `Retry-After` too with the header flag.
- `duplicate` (`copies` ≥ 2): the next such event is delivered that many times, same id.
- `delay` (`seconds`): its first delivery attempt waits that long.
- `drop` (`attempts` ≥ 1): its first N attempts are lost (never sent, retried on Whop's
  schedule; four drops lose the event for good).
- `reorder` (`count` ≥ 2): the next `count` such events are held, then delivered newest
  first.
- `drop_redirect`: the next paid checkout does not redirect back (the tab was closed).

`event_type` is optional (any event). The control settings hold `time_scale`, which
multiplies Whop's 10/20/40 s retry schedule (0.01 in tests), `receiver_timeout`,
`access_token_lifetime`: when set, access tokens last at most that many seconds whatever
`expires_at` asked for, so a test can watch the payout elements refresh theirs, and
`tax_rates`: the tax Whop, the merchant of record, adds for buyers from each country, in
percent of the price (`{"DE": 19, "GB": 20}`; none by default).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from app.emulator import store

EVENT_FAULTS = ("duplicate", "delay", "drop", "reorder")
KINDS = ("api", *EVENT_FAULTS, "drop_redirect")


class FaultError(ValueError):
    """A fault or control setting that does not make sense; the message says why."""


@dataclass(frozen=True, slots=True)
class ControlSettings:
    time_scale: float = 1.0  # multiplies the webhook retry schedule
    receiver_timeout: float = 5.0  # seconds a webhook receiver has to answer
    access_token_lifetime: float | None = None  # seconds; caps access tokens when set
    tax_rates: dict[str, float] = field(default_factory=dict)  # percent, by buyer country

    def tax_rate(self, country: str | None) -> float:
        return self.tax_rates.get(country or "", 0.0)


def _as_number(key: str, value: Any) -> int | float:
    """An int or float (JSON numbers from the control API arrive as Decimal)."""
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise FaultError(f"{key} must be a number")
    return value


def _number(params: Mapping[str, Any], key: str, *, minimum: float, integer: bool = False):
    value = _as_number(key, params.get(key))
    if integer and not isinstance(value, int):
        raise FaultError(f"{key} must be a whole number")
    if value < minimum:
        raise FaultError(f"{key} must be at least {minimum}")
    return value


def _clean(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; known kinds: {', '.join(KINDS)}")
    out: dict[str, Any] = {}
    if kind in EVENT_FAULTS:
        event_type = params.get("event_type")
        if event_type is not None and not isinstance(event_type, str):
            raise FaultError("event_type must be an event name such as payment.succeeded")
        out["event_type"] = event_type
    if kind == "api":
        path = params.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise FaultError("path must be an API path (glob) such as /payments/*")
        out["path"] = path
        method = params.get("method")
        if method is not None and not isinstance(method, str):
            raise FaultError("method must be an HTTP method such as POST")
        out["method"] = method.upper() if method else None
        when = params.get("when", "before")
        if when not in ("before", "after"):
            raise FaultError("when must be 'before' or 'after'")
        out["when"] = when
        status = params.get("status")
        if status is not None:
            status = _number(params, "status", minimum=400, integer=True)
            if status > 599:
                raise FaultError("status must be an HTTP error status (400-599)")
        hang = _number(params, "hang", minimum=0) if params.get("hang") is not None else None
        if status is None and not hang:
            raise FaultError("an api fault needs a status, a hang, or both")
        if when == "after" and status is None:
            raise FaultError("when='after' needs a status to answer instead")
        out["status"], out["hang"] = status, hang
        retry_after = params.get("retry_after")
        out["retry_after"] = (
            _number(params, "retry_after", minimum=0) if retry_after is not None else None
        )
        out["retry_after_header"] = bool(params.get("retry_after_header", False))
    elif kind == "duplicate":
        out["copies"] = _number(params, "copies", minimum=2, integer=True)
    elif kind == "delay":
        out["seconds"] = _number(params, "seconds", minimum=0)
    elif kind == "drop":
        out["attempts"] = _number(params, "attempts", minimum=1, integer=True)
    elif kind == "reorder":
        out["count"] = _number(params, "count", minimum=2, integer=True)
    return out


def _fault(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "remaining": row["remaining"],
        **store.loads(row["params"]),
    }


async def add_fault(kind: str, *, times: int = 1, **params: Any) -> dict[str, Any]:
    """Arm a fault (see the table above); returns it with its id."""
    clean = _clean(kind, params)
    if kind == "reorder":
        times = clean["count"]  # one per event held
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise FaultError("times must be a whole number of at least 1")
    async with store.connection() as conn:
        row = await conn.fetchrow(
            "INSERT INTO whop_emulator.fault (kind, params, remaining)"
            " VALUES ($1, $2::jsonb, $3) RETURNING *",
            kind,
            store.dumps(clean),
            times,
        )
    return _fault(row)


async def list_faults() -> list[dict[str, Any]]:
    async with store.connection() as conn:
        rows = await conn.fetch("SELECT * FROM whop_emulator.fault WHERE remaining > 0 ORDER BY id")
    return [_fault(r) for r in rows]


async def clear_faults() -> int:
    """Disarm every fault and release any events a `reorder` fault still holds."""
    async with store.transaction() as conn:
        await conn.execute(
            "UPDATE whop_emulator.delivery SET status = 'pending', next_attempt_at = now(),"
            " hold_fault_id = NULL WHERE status = 'held'"
        )
        result = await conn.execute("DELETE FROM whop_emulator.fault")
    return int(result.split()[-1])


async def _take(conn: asyncpg.Connection, fault_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE whop_emulator.fault SET remaining = remaining - 1"
        " WHERE id = $1 AND remaining > 0 RETURNING *",
        fault_id,
    )


async def take_api_fault(conn: asyncpg.Connection, method: str, path: str) -> dict[str, Any] | None:
    """Spend the oldest api fault matching this request, if any."""
    rows = await conn.fetch(
        "SELECT id, params FROM whop_emulator.fault"
        " WHERE kind = 'api' AND remaining > 0 ORDER BY id"
    )
    for row in rows:
        params = store.loads(row["params"])
        if params["method"] not in (None, method):
            continue
        if not fnmatch.fnmatchcase(path, params["path"]):
            continue
        if await _take(conn, row["id"]):
            return params
    return None


async def take_event_faults(conn: asyncpg.Connection, event_type: str) -> dict[str, dict[str, Any]]:
    """Spend at most one fault of each event kind that matches this event type."""
    rows = await conn.fetch(
        "SELECT id, kind, params FROM whop_emulator.fault"
        " WHERE kind = ANY($1::text[]) AND remaining > 0 ORDER BY id",
        list(EVENT_FAULTS),
    )
    taken: dict[str, dict[str, Any]] = {}
    for row in rows:
        params = store.loads(row["params"])
        if row["kind"] in taken or params["event_type"] not in (None, event_type):
            continue
        if spent := await _take(conn, row["id"]):
            taken[row["kind"]] = {**params, "id": row["id"], "remaining": spent["remaining"]}
    return taken


async def take_redirect_fault(conn: asyncpg.Connection) -> bool:
    row = await conn.fetchrow(
        "SELECT id FROM whop_emulator.fault"
        " WHERE kind = 'drop_redirect' AND remaining > 0 ORDER BY id LIMIT 1"
    )
    return bool(row and await _take(conn, row["id"]))


# --- control settings ----------------------------------------------------------------------


async def control_settings(conn: asyncpg.Connection) -> ControlSettings:
    rows = await conn.fetch("SELECT name, value FROM whop_emulator.control_setting")
    values = {r["name"]: store.loads(r["value"]) for r in rows}
    defaults = ControlSettings()
    lifetime = values.get("access_token_lifetime")
    return ControlSettings(
        time_scale=float(values.get("time_scale", defaults.time_scale)),
        receiver_timeout=float(values.get("receiver_timeout", defaults.receiver_timeout)),
        access_token_lifetime=None if lifetime is None else float(lifetime),
        tax_rates={k: float(v) for k, v in (values.get("tax_rates") or {}).items()},
    )


def _tax_rates(value: Any) -> dict[str, float]:
    """`{"DE": 19, "gb": 20}` as {country code: percent}, or FaultError saying what is wrong."""
    if not isinstance(value, Mapping):
        raise FaultError('tax_rates must map countries to percentages, such as {"DE": 19}')
    rates: dict[str, float] = {}
    for country, rate in value.items():
        code = country.strip().upper() if isinstance(country, str) else ""
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            raise FaultError(f"tax_rates: {country!r} is not a two-letter country code")
        percent = _as_number(f"tax_rates[{code}]", rate)
        if not 0 <= percent <= 100:
            raise FaultError(f"tax_rates[{code}] must be between 0 and 100 (percent)")
        rates[code] = float(percent)
    return rates


async def set_control_settings(**values: Any) -> ControlSettings:
    """Change `time_scale` (0 < x ≤ 100), `receiver_timeout` (0 < s ≤ 60),
    `access_token_lifetime` (1 ≤ s ≤ 10800) and/or `tax_rates` (percent by country)."""
    limits = {
        "time_scale": (0.0001, 100.0),
        "receiver_timeout": (0.05, 60.0),
        "access_token_lifetime": (1.0, 10800.0),
    }
    known = [*limits, "tax_rates"]
    stored: dict[str, Any] = {}
    for name, value in values.items():
        if name == "tax_rates":
            stored[name] = _tax_rates(value)
            continue
        if name not in limits:
            raise FaultError(f"unknown control setting {name!r}; known: {', '.join(known)}")
        low, high = limits[name]
        number = _as_number(name, value)
        if not low <= number <= high:
            raise FaultError(f"{name} must be between {low} and {high}")
        stored[name] = float(number)
    async with store.transaction() as conn:
        for name, value in stored.items():
            await conn.execute(
                "INSERT INTO whop_emulator.control_setting (name, value) VALUES ($1, $2::jsonb)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                name,
                store.dumps(value),
            )
        return await control_settings(conn)


async def reset_control_settings() -> ControlSettings:
    async with store.connection() as conn:
        await conn.execute("DELETE FROM whop_emulator.control_setting")
    return ControlSettings()
