"""Which room handles which Whop webhook event: a registry, filled by the rooms themselves.

The inbox (`app.payments.inbox`) stores every event, then processes it through the handler
registered for its type; payments registers its payment and refund handlers, payouts its
verification and payout-account ones, and neither needs to know about the other. A type
nobody registered is stored, marked processed and counted as "ignored".

A handler runs in two steps, because a transaction must never wait on Whop: called with
no transaction open, it asks Whop what the event is about and returns the `Change` to make;
the inbox calls that inside the transaction that claims the event's row. The change may
add to `after_commit` what must wait until that transaction is committed (a call to Whop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from app.whop.client import WhopClient

# The change an event makes once its row is claimed; returns a word for the metrics.
Change = Callable[[], Awaitable[str]]
AfterCommit = list[Callable[[], Awaitable[object]]]


class EventHandler(Protocol):
    async def __call__(
        self,
        whop: WhopClient,
        event_type: str,
        payload: Mapping[str, Any],
        after_commit: AfterCommit | None,
    ) -> Change: ...


_HANDLERS: dict[str, EventHandler] = {}


def handles(*event_types: str) -> Callable[[EventHandler], EventHandler]:
    """Register the decorated function as the handler of `event_types`. One handler per
    type: a second one for the same type is a mistake, refused at import."""

    def register(handler: EventHandler) -> EventHandler:
        for event_type in event_types:
            known = _HANDLERS.get(event_type)
            if known is not None and _name(known) != _name(handler):
                raise ValueError(f"{event_type} is handled by {_name(known)} already")
            _HANDLERS[event_type] = handler
        return handler

    return register


def _name(handler: EventHandler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"


def handler_for(event_type: str) -> EventHandler | None:
    return _HANDLERS.get(event_type)


def done(result: str) -> Change:
    """A change that changes nothing: the event needed no more than a word in the metrics."""

    async def nothing_to_change() -> str:
        return result

    return nothing_to_change


def event_data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The envelope's `data` object (empty when it has none)."""
    data = payload.get("data")
    return data if isinstance(data, Mapping) else {}


def whop_id(value: object) -> str | None:
    """`value` if it can be a Whop id, else None (a webhook body is not trusted for more)."""
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
