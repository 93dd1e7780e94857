"""What "the database cannot be reached" means, and remembering it for a moment.

A stopped PostgreSQL refuses at once, but a frozen one (a stalled host, a full disk, a
network partition) answers nothing: every query waits for its timeout. `Reachability`
keeps that wait to one query at a time: after a failure to reach the server, queries fail
at once with `DatabaseUnavailable` while a single probe at a time (one a second at most)
finds out whether it is back; any answer from the server, even an SQL error, ends the
outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg

# The server answered, but with "I cannot serve you now": it is starting, stopping or full.
_REFUSALS = (
    asyncpg.PostgresConnectionError,  # class 08, including "connection does not exist"
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


class DatabaseUnavailable(ConnectionError):
    """PostgreSQL cannot be reached now (stopped, frozen or refusing); try again later."""


def unreachable(exc: BaseException) -> bool:
    """Whether `exc`, raised by a database call, means the server could not be reached."""
    if isinstance(exc, (TimeoutError, OSError, *_REFUSALS)):  # DatabaseUnavailable is an OSError
        return True
    # What asyncpg says of a connection that went away under a query, or whose server shut
    # down while it sat in the pool ("cannot switch to state …": it never heard back).
    if isinstance(exc, asyncpg.InternalClientError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


def database_outage(exc: BaseException) -> bool:
    """Whether `exc`, raised anywhere, is the database being unreachable (a plain OSError or
    TimeoutError could come from anything; asyncpg's and ours come from the database)."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    return type(exc).__module__.startswith("asyncpg") and unreachable(exc)


def in_doubt(exc: BaseException) -> bool:
    """Whether a connection that raised `exc` may be unusable: terminate it, ask nothing more
    of it (a rollback or reset on a frozen server would wait out another timeout)."""
    return isinstance(exc, asyncio.CancelledError) or unreachable(exc)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Reachability:
    def __init__(self, *, retry_every: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.retry_every = retry_every
        self._clock = clock
        self.down_since: float | None = None
        self._retry_at = 0.0
        self._probing = False

    @property
    def down(self) -> bool:
        return self.down_since is not None

    @contextmanager
    def attempt(self, *, refuse_when_down: bool = True) -> Iterator[None]:
        """Around one call to the database: refuses at once while it is known to be down
        (unless this call is the probe); notes what the call found out; turns a failure to
        reach the server into `DatabaseUnavailable`. `refuse_when_down=False`: for what must
        be tried whatever the state (finishing a transaction already open)."""
        probe = self._admit() if refuse_when_down else False
        try:
            yield
        except DatabaseUnavailable:
            if probe:
                self._probing = False
            raise
        except Exception as exc:
            if not unreachable(exc):
                self.answered()
                raise
            self.failed()
            raise DatabaseUnavailable(f"database unreachable ({describe(exc)})") from exc
        except BaseException:
            # Cancelled: no verdict, unless this was the probe, which was given up on (a
            # /readyz timing out, say) for want of an answer.
            if probe:
                self.failed()
            raise
        else:
            self.answered()

    def answered(self) -> None:
        self.down_since = None
        self._probing = False

    def failed(self) -> None:
        now = self._clock()
        if self.down_since is None:
            self.down_since = now
        self._retry_at = now + self.retry_every
        self._probing = False

    def _admit(self) -> bool:
        """True: this call is the probe. Raises while the database is known to be down."""
        if self.down_since is None:
            return False
        now = self._clock()
        if self._probing or now < self._retry_at:
            raise DatabaseUnavailable(
                f"database unreachable for {now - self.down_since:.1f}s (checking again shortly)"
            )
        self._probing = True
        return True
