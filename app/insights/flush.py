"""From a process's tally to the daily rollup, in one statement per flush.

A flush takes the tally (the process goes on counting into a fresh one), turns its raw
sightings into counts per creator, UTC day, metric and dimension, and adds them to
`insight_day` with one `INSERT … ON CONFLICT DO UPDATE SET hits = hits + excluded.hits`.
Processes flush independently and their counts add up; a failed flush hands its counts back
to the tally for the next one, so nothing is lost or doubled while the database refuses. (A
flush whose commit succeeded but whose answer was lost would be retried and counted twice;
a crash loses what was counted since the last flush: at most one interval.)

Left out here: bots (app/insights/visitors.py), a signed-in creator's views of their own
page (the session cookie a sighting carried is looked up, by its SHA-256 as sessions are
stored, and thrown away), clicks on links that are not the page's, and creators deleted
meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from datetime import date

from app.db.tables import InsightDay
from app.insights.tally import Sighting, Tally
from app.insights.visitors import Classifier, country, referrer_domain

Rollup = Counter[tuple[int, date, str, str]]  # (creator, day, metric, dimension) → count

# Hand-written: the whole batch in one round trip, in key order (two processes flushing the
# same keys lock them in the same order), skipping what no longer exists.
_ADD_SQL = """
INSERT INTO insight_day (creator, day, metric, dimension, hits)
SELECT t.creator, t.day, t.metric, t.dimension, t.hits
FROM unnest({}::int[], {}::date[], {}::text[], {}::text[], {}::bigint[])
     WITH ORDINALITY AS t(creator, day, metric, dimension, hits, n)
WHERE EXISTS (SELECT 1 FROM creator c WHERE c.id = t.creator)
  AND (t.metric <> 'click'
       OR EXISTS (SELECT 1 FROM link l WHERE l.creator = t.creator AND l.id::text = t.dimension))
ORDER BY t.n
ON CONFLICT (creator, day, metric, dimension)
DO UPDATE SET hits = insight_day.hits + excluded.hits
"""

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
        rollup[(s.creator_id, s.day, "referrer", referrer_domain(s.referrer, own_host))] += n
        rollup[(s.creator_id, s.day, "browser", visitor.browser)] += n
        rollup[(s.creator_id, s.day, "device", visitor.device)] += n
        where = country(s.country)
        if where:
            rollup[(s.creator_id, s.day, "country", where)] += n
    return rollup


async def store(rollup: Rollup) -> None:
    if not rollup:
        return
    keys = sorted(rollup)
    await InsightDay.raw(
        _ADD_SQL,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [rollup[k] for k in keys],
    )


async def flush(tally: Tally, *, own_host: str) -> int:
    """Store what `tally` counted; returns how many sightings were taken. On failure the
    counts go back to the tally and the error is raised."""
    sightings = tally.take()
    if not sightings:
        return 0
    try:
        owners = await _session_owners(sightings)
        # Off the event loop: reading thousands of sightings takes tens of milliseconds, which
        # the requests answered meanwhile would otherwise wait out.
        rollup = await asyncio.to_thread(roll_up, sightings, own_host=own_host, owners=owners)
        await store(rollup)
    except BaseException:
        tally.give_back(sightings)
        raise
    return sum(sightings.values())
