"""Each room registers its own webhook handlers; whatever processes stored events (the app,
`linkmint replay-webhooks`) registers them all first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.whop import events

EVERY_TYPE_WE_ACT_ON = {
    "payment.succeeded": "app.payments.events",
    "refund.created": "app.payments.events",
    "payout_method.created": "app.payouts.service",
    "verification.succeeded": "app.payouts.service",
    "payout_account.status_updated": "app.payouts.service",
}


def test_the_wiring_registers_every_room_that_handles_events():
    from app.main import register_webhook_handlers

    register_webhook_handlers()
    for event_type, module in EVERY_TYPE_WE_ACT_ON.items():
        handler = events.handler_for(event_type)
        assert handler is not None and handler.__module__ == module, event_type
    assert events.handler_for("membership.went_valid") is None  # stored, then ignored


def test_replaying_webhooks_from_the_command_line_registers_them_too():
    """The command builds no app, so nothing else would import the payouts room. Run in a
    fresh interpreter (this one has imported everything), with Whop and the inbox faked."""
    check = """
import app.cli, app.payments.inbox
from app.whop.events import handler_for
assert handler_for("verification.succeeded") is None  # importing the inbox is not enough

class Report:
    tried, processed, failed, skipped = [], 0, 0, 0

async def with_whop(work):
    return await work(None)

async def drain(whop, **options):
    assert handler_for("verification.succeeded") is not None, "drained before registering"
    return Report()

app.cli._with_whop = with_whop
app.payments.inbox.drain_inbox = drain
app.cli.replay_webhooks()
"""
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "0 unprocessed event(s)" in done.stdout


def test_a_second_handler_for_a_type_is_refused_at_import():
    async def another(whop, event_type, payload, after_commit):  # pragma: no cover
        raise AssertionError

    with pytest.raises(ValueError, match="payment.succeeded is handled by"):
        events.handles("payment.succeeded")(another)
