"""Webhook events and their delivery, the way Whop does it (docs/whop-contract.md §8).

`emit` records an event and one delivery per receiving endpoint in the caller's transaction
(an outbox), so an event exists exactly when the change it describes was committed. The
endpoints are:
- the app's own endpoint, `APP_URL/webhooks/whop` signed with `WHOP_WEBHOOK_SECRET`, for
  events of the parent company and its connected companies — the dashboard webhook of the
  platform (`child_resource_events`). It is configuration, not a row, so processes with
  different APP_URLs sharing one database each deliver to themselves;
- every enabled webhook registered through the API whose resource is the event's company
  (or its parent, with `child_resource_events`) and whose `events` list names the type.

`DeliveryWorker` (one per process, started by `platform.running`) claims due deliveries
with `FOR UPDATE SKIP LOCKED` and a lease, posts each from its own task so one slow or
failing receiver delays nobody else, and retries a non-2xx or an error 10, 20 and 40 s later
(times the control `time_scale`), after which the delivery is `failed`. Every attempt is
logged in `delivery_attempt`. Headers: `webhook-id` (the event id, stable across retries
and duplicates), `webhook-timestamp` (this attempt), `webhook-signature`, signed by the
reference Standard Webhooks library keyed Whop's way (`signed_headers`) — the emulator
stands for Whop, so it never borrows the app's own signing or verifying code.

The app's own endpoint is delivered only by processes serving that APP_URL, through the
app in-process (APP_URL may be a public name, or under the test client no server at all);
registered endpoints are delivered over the network by any process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from standardwebhooks import Webhook as StandardWebhook

from app.config import Settings, whop_id
from app.emulator import faults, store
from app.whop.client import InProcessTransport

log = logging.getLogger("app.emulator.delivery")

RETRY_SCHEDULE = (10, 20, 40)  # seconds after the 1st, 2nd and 3rd failed attempt
REORDER_GAP = 0.3  # seconds between released held events, so they arrive in order
IDLE_POLL = 2.0  # seconds; other processes' deliveries are noticed at least this often
BATCH = 20


# False in `linkmint emulator` (standalone.py): no app stands behind APP_URL there, so events
# go only to the webhooks registered through the API.
deliver_to_app = True


def app_endpoint(settings: Settings) -> str:
    return f"{settings.app_url}/webhooks/whop"


def signed_headers(secret: str, msg_id: str, body: bytes, stamp: int) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, keyed by the UTF-8 bytes of the whole
    secret, prefix included, whether it reads `ws_…` or `whsec_…`. Given a str, the library
    would drop a `whsec_` prefix and base64-decode the rest; given bytes, it keys with them
    as they are, which is what Whop does."""
    signer = StandardWebhook(secret.encode("utf-8"))
    signature = signer.sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode("utf-8"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    secret: str
    webhook_id: str | None


async def _endpoints(
    conn: asyncpg.Connection, settings: Settings, event_type: str, company_id: str | None
) -> list[Endpoint]:
    endpoints: list[Endpoint] = []
    parent = None
    if company_id:
        parent = await conn.fetchval(
            "SELECT parent_id FROM whop_emulator.company WHERE id = $1", company_id
        )
        if deliver_to_app and settings.whop_parent_company_id in (company_id, parent):
            endpoints.append(Endpoint(app_endpoint(settings), settings.whop_webhook_secret, None))
        rows = await conn.fetch(
            """
            SELECT id, url, secret, events FROM whop_emulator.webhook
             WHERE enabled AND (resource_id = $1 OR (child_resource_events AND resource_id = $2))
             ORDER BY created_at
            """,
            company_id,
            parent,
        )
        for row in rows:
            names = store.loads(row["events"])
            if names and event_type not in names:
                continue
            endpoints.append(Endpoint(row["url"], row["secret"], row["id"]))
    unique: dict[tuple[str, str], Endpoint] = {}
    for endpoint in endpoints:
        unique.setdefault((endpoint.url, endpoint.secret), endpoint)
    return list(unique.values())


COMPANY_IN_DATA_ONLY = frozenset({"payout_method.created"})


async def emit(
    conn: asyncpg.Connection,
    settings: Settings,
    event_type: str,
    company_id: str | None,
    data: dict[str, Any],
) -> str:
    """Record an event and its deliveries in the caller's transaction; returns its id.

    Call `wake()` after the transaction commits so this process delivers at once.
    """
    event_id = whop_id("evt_")
    now = datetime.now(UTC)
    body = store.dumps(
        {
            "id": event_id,
            "api_version": "v1",
            "type": event_type,
            "timestamp": store.iso(now),
            # Whop names the company of some events only inside `data` (`data.company.id`).
            "company_id": None if event_type in COMPANY_IN_DATA_ONLY else company_id,
            "data": data,
        }
    )
    await conn.execute(
        "INSERT INTO whop_emulator.event (id, type, company_id, body) VALUES ($1, $2, $3, $4)",
        event_id,
        event_type,
        company_id,
        body,
    )
    endpoints = await _endpoints(conn, settings, event_type, company_id)
    if not endpoints:
        return event_id
    armed = await faults.take_event_faults(conn, event_type)
    copies = armed.get("duplicate", {}).get("copies", 1)
    delay = armed.get("delay", {}).get("seconds", 0)
    drop = armed.get("drop", {}).get("attempts", 0)
    hold = armed.get("reorder")
    for endpoint in endpoints:
        for _ in range(copies):
            await conn.execute(
                """
                INSERT INTO whop_emulator.delivery
                    (event_id, webhook_id, url, secret, status, drop_attempts, hold_fault_id,
                     next_attempt_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp() + $8::interval)
                """,
                event_id,
                endpoint.webhook_id,
                endpoint.url,
                endpoint.secret,
                "held" if hold else "pending",
                drop,
                hold["id"] if hold else None,
                timedelta(seconds=delay),
            )
    if hold and hold["remaining"] == 0:
        await _release_held(conn, hold["id"])
    return event_id


async def _release_held(conn: asyncpg.Connection, fault_id: int) -> None:
    """Deliver the events a reorder fault held, newest first, a little apart."""
    rows = await conn.fetch(
        """
        SELECT d.id, d.event_id FROM whop_emulator.delivery d
          JOIN whop_emulator.event e ON e.id = d.event_id
         WHERE d.hold_fault_id = $1 AND d.status = 'held'
         ORDER BY e.created_at DESC, d.id
        """,
        fault_id,
    )
    order: dict[str, int] = {}
    for row in rows:
        slot = order.setdefault(row["event_id"], len(order))
        await conn.execute(
            "UPDATE whop_emulator.delivery SET status = 'pending', hold_fault_id = NULL,"
            " next_attempt_at = clock_timestamp() + $2::interval WHERE id = $1",
            row["id"],
            timedelta(seconds=slot * REORDER_GAP),
        )


async def redeliver(event_id: str, times: int = 1) -> int:
    """Send an event again, `times` more times, to every endpoint it went to (same id)."""
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 100:
        raise faults.FaultError("times must be a whole number between 1 and 100")
    async with store.transaction() as conn:
        targets = await conn.fetch(
            "SELECT DISTINCT ON (url, secret) url, secret, webhook_id"
            " FROM whop_emulator.delivery WHERE event_id = $1 ORDER BY url, secret, id",
            event_id,
        )
        for target in targets:
            for _ in range(times):
                await conn.execute(
                    "INSERT INTO whop_emulator.delivery (event_id, webhook_id, url, secret, status)"
                    " VALUES ($1, $2, $3, $4, 'pending')",
                    event_id,
                    target["webhook_id"],
                    target["url"],
                    target["secret"],
                )
    wake()
    return len(targets) * times


async def delivery_log(
    *, event_id: str | None = None, event_type: str | None = None, url: str | None = None
) -> list[dict[str, Any]]:
    """Deliveries (oldest first) with their attempts, for tests and the control API."""
    async with store.connection() as conn:
        rows = await conn.fetch(
            """
            SELECT d.*, e.type, e.company_id, e.body FROM whop_emulator.delivery d
              JOIN whop_emulator.event e ON e.id = d.event_id
             WHERE ($1::text IS NULL OR d.event_id = $1)
               AND ($2::text IS NULL OR e.type = $2)
               AND ($3::text IS NULL OR d.url = $3)
             ORDER BY d.id
            """,
            event_id,
            event_type,
            url,
        )
        attempts = await conn.fetch(
            "SELECT * FROM whop_emulator.delivery_attempt WHERE delivery_id = ANY($1::bigint[])"
            " ORDER BY delivery_id, attempt",
            [r["id"] for r in rows],
        )
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for a in attempts:
        by_delivery.setdefault(a["delivery_id"], []).append(
            {
                "attempt": a["attempt"],
                "outcome": a["outcome"],
                "status_code": a["status_code"],
                "error": a["error"],
                "webhook_timestamp": a["webhook_timestamp"],
                "duration_ms": a["duration_ms"],
                "at": store.iso(a["at"]),
            }
        )
    return [
        {
            "id": r["id"],
            "event_id": r["event_id"],
            "event_type": r["type"],
            "company_id": r["company_id"],
            "webhook_id": r["webhook_id"],
            "url": r["url"],
            "status": r["status"],
            "attempts": by_delivery.get(r["id"], []),
            "next_attempt_at": store.iso(r["next_attempt_at"]),
            "body": store.loads(r["body"]),
        }
        for r in rows
    ]


async def list_events(
    *, event_type: str | None = None, company_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    async with store.connection() as conn:
        rows = await conn.fetch(
            "SELECT body FROM whop_emulator.event"
            " WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR company_id = $2)"
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            event_type,
            company_id,
            limit,
        )
    return [store.loads(r["body"]) for r in rows]


# --- the worker -----------------------------------------------------------------------------

_workers: set[DeliveryWorker] = set()


def wake() -> None:
    """Tell this process's workers that deliveries are due now (safe from any thread)."""
    for worker in list(_workers):
        worker.nudge()


class DeliveryWorker:
    """Delivers due webhooks: registered endpoints from any process, and this app's own
    endpoint (`APP_URL/webhooks/whop`) only from a process serving that APP_URL — through
    the app in-process when it is given, since APP_URL may not be reachable from inside."""

    def __init__(self, settings: Settings, app: Any = None) -> None:
        self._app_endpoint = app_endpoint(settings)
        # Made when a delivery first leaves the process: a client over the network loads the
        # system's certificates (tens of milliseconds), and most processes only ever deliver
        # to themselves (the test client starts an app for every test).
        self._http: httpx.AsyncClient | None = None
        self._local = (
            httpx.AsyncClient(follow_redirects=False, transport=InProcessTransport(app))
            if app is not None
            else None
        )
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = asyncio.Event()

    def nudge(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._due.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="whop-emulator-deliveries")
        _workers.add(self)

    async def stop(self) -> None:
        _workers.discard(self)
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._inflight:
            # Hand unfinished attempts back at once rather than waiting out their lease.
            try:
                async with store.connection() as conn:
                    await conn.execute(
                        "UPDATE whop_emulator.delivery SET status = 'pending',"
                        " attempts = attempts - 1, locked_until = NULL"
                        " WHERE id = ANY($1::bigint[]) AND status = 'delivering'",
                        list(self._inflight),
                    )
            except Exception:  # noqa: BLE001 (shutting down: the lease will expire instead)
                log.warning("could not hand back in-flight webhook deliveries", exc_info=True)
            self._inflight.clear()
        if self._http is not None:
            await self._http.aclose()
        if self._local is not None:
            await self._local.aclose()

    async def _run(self) -> None:
        while True:
            wait = IDLE_POLL
            try:
                wait = await self._dispatch_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery loop failed; retrying shortly")
            try:
                # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that lands
                # as the event is set, and stop() would then wait for this loop forever.
                async with asyncio.timeout(max(wait, 0.01)):
                    await self._due.wait()
            except TimeoutError:
                pass
            self._due.clear()

    async def _dispatch_due(self) -> float:
        """Start every due delivery; return seconds until the next one is due."""
        async with store.connection() as conn:
            control = await faults.control_settings(conn)
            lease = timedelta(seconds=control.receiver_timeout + 10)
            claimed = await conn.fetch(
                """
                UPDATE whop_emulator.delivery d
                   SET status = 'delivering', attempts = d.attempts + 1,
                       locked_until = clock_timestamp() + $1::interval,
                       updated_at = clock_timestamp()
                  FROM (SELECT id FROM whop_emulator.delivery
                         WHERE ((status = 'pending' AND next_attempt_at <= clock_timestamp())
                                OR (status = 'delivering' AND locked_until < clock_timestamp()))
                           AND (webhook_id IS NOT NULL OR url = $3)
                         ORDER BY next_attempt_at, id
                         LIMIT $2
                           FOR UPDATE SKIP LOCKED) due
                 WHERE d.id = due.id
             RETURNING d.id, d.event_id, d.url, d.secret, d.attempts, d.drop_attempts,
                       (SELECT body FROM whop_emulator.event e WHERE e.id = d.event_id) AS body
                """,
                lease,
                BATCH,
                self._app_endpoint,
            )
            next_due = await conn.fetchval(
                """
                SELECT extract(epoch FROM min(CASE status WHEN 'pending' THEN next_attempt_at
                                                          ELSE locked_until END)
                                          - clock_timestamp())
                  FROM whop_emulator.delivery
                 WHERE status IN ('pending', 'delivering')
                   AND (webhook_id IS NOT NULL OR url = $1)
                """,
                self._app_endpoint,
            )
        for row in claimed:
            task = asyncio.create_task(self._attempt(row, control))
            self._inflight[row["id"]] = task
            task.add_done_callback(functools.partial(self._landed, row["id"]))
        if len(claimed) == BATCH:
            return 0.0
        if next_due is None:
            return IDLE_POLL
        return min(IDLE_POLL, max(0.0, float(next_due)))

    def _landed(self, delivery_id: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(delivery_id, None)

    async def _attempt(self, row: asyncpg.Record, control: faults.ControlSettings) -> None:
        attempt = row["attempts"]
        body = row["body"].encode()
        stamp = int(time.time())
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        if attempt <= row["drop_attempts"]:
            outcome = "dropped"
            error = "dropped by a fault: never sent"
        else:
            headers = signed_headers(row["secret"], row["event_id"], body, stamp)
            headers["user-agent"] = "Whop-Webhooks (linkmint emulator)"
            if self._local is not None and row["url"] == self._app_endpoint:
                client = self._local
            else:
                if self._http is None:
                    self._http = httpx.AsyncClient(follow_redirects=False)
                client = self._http
            try:
                response = await client.post(
                    row["url"], content=body, headers=headers, timeout=control.receiver_timeout
                )
                status_code = response.status_code
                outcome = "delivered" if response.is_success else "rejected"
            except httpx.HTTPError as exc:
                outcome = "error"
                error = f"{type(exc).__name__}: {exc}"[:500]
        elapsed = int((time.monotonic() - started) * 1000)
        await self._record(row, attempt, outcome, status_code, error, stamp, elapsed, control)

    async def _record(
        self,
        row: asyncpg.Record,
        attempt: int,
        outcome: str,
        status_code: int | None,
        error: str | None,
        stamp: int,
        elapsed_ms: int,
        control: faults.ControlSettings,
    ) -> None:
        if outcome == "delivered":
            status, retry_in = "succeeded", None
        elif attempt <= len(RETRY_SCHEDULE):
            status, retry_in = "pending", RETRY_SCHEDULE[attempt - 1] * control.time_scale
        else:
            status, retry_in = "failed", None
        async with store.transaction() as conn:
            await conn.execute(
                """
                INSERT INTO whop_emulator.delivery_attempt
                    (delivery_id, attempt, outcome, status_code, error, webhook_timestamp,
                     duration_ms)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (delivery_id, attempt) DO NOTHING
                """,
                row["id"],
                attempt,
                outcome,
                status_code,
                error,
                stamp,
                elapsed_ms,
            )
            await conn.execute(
                """
                UPDATE whop_emulator.delivery
                   SET status = $3, last_status = $4, last_error = $5, locked_until = NULL,
                       next_attempt_at = CASE WHEN $6::float8 IS NULL THEN next_attempt_at
                            ELSE clock_timestamp() + make_interval(secs => $6::float8) END,
                       updated_at = clock_timestamp()
                 WHERE id = $1 AND attempts = $2 AND status = 'delivering'
                """,
                row["id"],
                attempt,
                status,
                status_code,
                error,
                retry_in,
            )
        if retry_in is not None:
            self.nudge()  # re-plan the sleep around the new due time
