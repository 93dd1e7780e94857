"""A Whop delivery is answered as soon as its event is stored, before it is processed.

Whop retries a delivery that is not answered within its timeout, and processing asks Whop's
API first: answering after processing would turn a slow Whop into a storm of redeliveries.
Here processing is held back until the test lets it go, and the answer must come meanwhile.
"""

from __future__ import annotations

import asyncio
import threading

from app.db.tables import WebhookEvent
from app.payments import inbox
from tests.support.unlock_support import signed_event
from tests.support.whop_testkit import eventually

# How long held processing waits for the test before going on by itself: only reached when
# the delivery waits for processing (the app serves requests on a thread of its own under
# the test client, so a request that waits for it blocks the test until this runs out).
HOLD_LIMIT = 5.0


async def processed_at(webhook_id: str):
    [row] = await WebhookEvent.select(WebhookEvent.processed_at).where(
        WebhookEvent.id == webhook_id
    )
    return row["processed_at"]


async def test_a_delivery_is_answered_while_its_processing_is_still_held(
    client, settings, monkeypatch
):
    holding, release, finished = threading.Event(), threading.Event(), threading.Event()
    prepare = inbox.prepare_event

    async def held(*args, **kwargs):
        holding.set()
        try:
            await asyncio.to_thread(release.wait, HOLD_LIMIT)
            return await prepare(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(inbox, "prepare_event", held)
    body, headers = signed_event(settings, "membership.activated", {"id": "mem_Held"})

    r = await client.post("/webhooks/whop", content=body, headers=headers)

    assert r.status_code == 200 and r.text == "stored\n"
    assert not finished.is_set(), "the delivery was answered only after its processing"
    assert await processed_at(headers["webhook-id"]) is None
    # The answer did not leave the event behind: a worker holds it, and finishes it once let go.
    assert await asyncio.to_thread(holding.wait, HOLD_LIMIT)
    release.set()
    await eventually(lambda: processed_at(headers["webhook-id"]), within=5)
    assert finished.is_set()
