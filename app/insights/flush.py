"""From a process's tally to the daily rollup, in one statement per flush.

A flush takes the tally (the process goes on counting into a fresh one), turns its raw
sightings into counts per creator, UTC day, metric and dimension, and adds them to
`insight_day` with one `INSERT … ON CONFLICT DO UPDATE SET hits = hits + excluded.hits`.
Processes flush independently and their counts add up; a failed flush hands its counts back
to the tally for the next one, so nothing is lost or doubled while the database refuses.
The statement also records a token the flush made up (`insight_flush`): when its answer is
lost (the connection broke while it ran), the counts are held with the token, and the next
flush claims the token itself. If that claim wins, the first statement never committed (and
now cannot: it would conflict on the token), so the counts go out again; if the token is
there, they were stored, and are dropped. So a count is never added twice. A crash loses
what was counted since the last flush: at most one interval.

Left out here: bots (app/insights/visitors.py), a signed-in creator's views of their own
page (the session cookie a sighting carried is looked up, by its SHA-256 as sessions are
stored, and thrown away), clicks on links that are not the page's, and creators deleted
meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter
from datetime import date

import asyncpg

from app.db.outage import DatabaseUnavailable
from app.db.tables import InsightDay
from app.insights.tally import Sighting, Tally
from app.insights.visitors import Classifier, country, referrer_domain

Rollup = Counter[tuple[int, date, str, str]]  # (creator, day, metric, dimension) → count

# Hand-written: the whole batch in one round trip, in key order (two processes flushing the
# same keys lock them in the same order), skipping what no longer exists.
# The token goes in first, in the same statement: a second statement with the same token
# fails on its primary key before adding anything.
_ADD_SQL = """
WITH flushed AS (
    INSERT INTO insight_flush (token) VALUES ({}::uuid) RETURNING token
), pruned AS (
    DELETE FROM insight_flush WHERE flushed_at < now() - interval '1 day'
)
INSERT INTO insight_day (creator, day, metric, dimension, hits)
SELECT t.creator, t.day, t.metric, t.dimension, t.hits
FROM unnest({}::int[], {}::date[], {}::text[], {}::text[], {}::bigint[])
     WITH ORDINALITY AS t(creator, day, metric, dimension, hits, n), flushed
WHERE EXISTS (SELECT 1 FROM creator c WHERE c.id = t.creator)
  AND (t.metric <> 'click'
       OR EXISTS (SELECT 1 FROM link l WHERE l.creator = t.creator AND l.id::text = t.dimension))
ORDER BY t.n
ON CONFLICT (creator, day, metric, dimension)
DO UPDATE SET hits = insight_day.hits + excluded.hits
"""

# Settles a flush whose answer was lost: a row back means the token was free, so that flush
# never committed (and now never will).
_CLAIM_SQL = (
    "INSERT INTO insight_flush (token) VALUES ({}::uuid) ON CONFLICT DO NOTHING RETURNING token"
)

_OWN_SESSIONS_SQL = (
    "SELECT token_hash, creator FROM auth_session "
    "WHERE token_hash = ANY({}::text[]) AND expires_at > now()"
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _session_owners(sightings: Counter[Sighting]) -> dict[str, int]:
    """Session cookie value → the creator it signs in, for the cookies the tally saw."""
    tokens = {s.session for s in sightings if s.session}
    if not tokens:
        return {}
    by_digest = {_digest(token): token for token in tokens}
    rows = await InsightDay.raw(_OWN_SESSIONS_SQL, list(by_digest))
    return {by_digest[row["token_hash"]]: row["creator"] for row in rows}


def roll_up(
    sightings: Counter[Sighting],
    *,
    own_host: str,
    owners: dict[str, int],
    classifier: Classifier | None = None,
) -> Rollup:
    """Counts per (creator, day, metric, dimension) for the people among `sightings`."""
    classifier = classifier or Classifier()
    rollup: Rollup = Counter()
    domains: dict[str, str] = {}  # referrer → its domain: a few distinct ones, seen many times
    for s, n in sightings.items():
        if s.session and owners.get(s.session) == s.creator_id:
            continue  # the creator looking at their own page
        visitor = classifier.visitor(s.user_agent)
        if visitor.bot:
            continue
        if s.link_id:
            rollup[(s.creator_id, s.day, "click", str(s.link_id))] += n
            continue
        rollup[(s.creator_id, s.day, "view", "")] += n
        domain = domains.get(s.referrer)
        if domain is None:
            domain = domains[s.referrer] = referrer_domain(s.referrer, own_host)
        rollup[(s.creator_id, s.day, "referrer", domain)] += n
        rollup[(s.creator_id, s.day, "browser", visitor.browser)] += n
        rollup[(s.creator_id, s.day, "device", visitor.device)] += n
        where = country(s.country)
        if where:
            rollup[(s.creator_id, s.day, "country", where)] += n
    return rollup


log = logging.getLogger("app.insights")


async def store(rollup: Rollup, token: uuid.UUID) -> None:
    if not rollup:
        return
    keys = sorted(rollup)
    await InsightDay.raw(
        _ADD_SQL,
        token,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [rollup[k] for k in keys],
    )


def refused(exc: BaseException) -> bool:
    """Whether a failed statement certainly changed nothing: PostgreSQL answered with an
    error, or the call was refused before anything was sent (the database known down)."""
    if isinstance(exc, asyncpg.PostgresError):
        return True
    return isinstance(exc, DatabaseUnavailable) and exc.__cause__ is None


async def settle(tally: Tally) -> None:
    """Decide the flushes whose answer was lost: their counts go back to the tally if they
    never committed, and are dropped if they did."""
    while tally.unsettled:
        token, sightings = tally.unsettled[0]
        claimed = await InsightDay.raw(_CLAIM_SQL, token)
        tally.unsettled.pop(0)
        if claimed:
            tally.give_back(sightings)
        else:
            log.info("an insights flush whose answer was lost had committed; not adding again")


async def flush(tally: Tally, *, own_host: str) -> int:
    """Store what `tally` counted; returns how many sightings were taken. On failure the
    counts go back to the tally (or, when it is unknown whether the statement committed,
    wait with its token for the next flush to settle) and the error is raised."""
    await settle(tally)
    sightings = tally.take()
    if not sightings:
        return 0
    token = uuid.uuid4()
    sent = False
    try:
        owners = await _session_owners(sightings)
        # Off the event loop: reading thousands of sightings takes tens of milliseconds, which
        # the requests answered meanwhile would otherwise wait out.
        rollup = await asyncio.to_thread(roll_up, sightings, own_host=own_host, owners=owners)
        sent = True
        await store(rollup, token)
    except BaseException as exc:
        if sent and not refused(exc):
            tally.unsettled.append((token, sightings))
        else:
            tally.give_back(sightings)
        raise
    return sum(sightings.values())
