"""One log line per failure, not one per request: repeats are counted, then summed up.

In an outage every request, webhook, worker and retry fails the same way, and each used to
say so, most with a traceback: a 15-second PostgreSQL outage under load wrote hundreds of
tracebacks. `RepeatedFailures` sits on the log handlers and lets the first warning or error
of a kind through — a kind is its logger, its message template (`"could not reach %s"`,
before the arguments are put in) and its exception type — then only counts that kind for
`window` seconds, after which one line says how often it repeated. A failure to reach the
database never needs its traceback (which line of ours was waiting says nothing), so it is
logged as one line with the exception's name and message.

Records below WARNING (the access log among them) pass untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.db.outage import database_outage, describe

_SUMMARY = "repeat_summary"  # set on the summary records, which pass the filter untouched


@dataclass(slots=True)
class _Kind:
    """The first record of a kind (where it was logged, and its message), and its count."""

    logger: str
    level: int
    where: tuple[str, int, str]  # pathname, lineno, funcName
    message: str
    since: float
    repeats: int = 0

    @classmethod
    def of(cls, record: logging.LogRecord, now: float) -> _Kind:
        where = (record.pathname, record.lineno, record.funcName)
        return cls(record.name, record.levelno, where, _message(record), now)


class RepeatedFailures(logging.Filter):
    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window = window
        self._clock = clock
        self._kinds: dict[tuple[str, int, str, str], _Kind] = {}
        self._lock = threading.Lock()  # records arrive from any thread

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, _SUMMARY, False):
            return True
        key = (record.name, record.levelno, str(record.msg), _exception_type(record))
        _without_traceback_when_unreachable(record)
        now = self._clock()
        with self._lock:
            due = self._take_due(now)
            kind = self._kinds.get(key)
            if kind is None:
                self._kinds[key] = _Kind.of(record, now)
            else:
                kind.repeats += 1
        self._summarize(due, now)
        return kind is None

    def flush(self, *, everything: bool = False) -> None:
        """Write the counts of the windows that have ended (also done as records pass), or
        of all of them (at shutdown)."""
        now = self._clock()
        with self._lock:
            due = self._take_due(now, everything)
        self._summarize(due, now)

    def lifespan(self, every: float = 1.0):
        """Flush about every `every` seconds while the app runs, so a count is written soon
        after its window ends even when nothing else is logged."""

        @asynccontextmanager
        async def flushing(app: object) -> AsyncIterator[None]:
            async def loop() -> None:
                while True:
                    await asyncio.sleep(every)
                    self.flush()

            task = asyncio.create_task(loop(), name="log-repeats")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self.flush(everything=True)

        return flushing

    def install(self, loggers: tuple[str, ...] = ("", "litestar", "uvicorn")) -> None:
        """On the handlers of these loggers (Litestar's, and uvicorn's own, which do not
        propagate), unless one is there already."""
        for name in loggers:
            for handler in logging.getLogger(name).handlers:
                if not any(isinstance(f, RepeatedFailures) for f in handler.filters):
                    handler.addFilter(self)

    def _take_due(self, now: float, everything: bool = False) -> list[_Kind]:
        ended = [
            key
            for key, kind in self._kinds.items()
            if everything or now - kind.since >= self.window
        ]
        return [self._kinds.pop(key) for key in ended]

    def _summarize(self, kinds: list[_Kind], now: float) -> None:
        for kind in kinds:
            if not kind.repeats:
                continue
            pathname, lineno, func = kind.where
            logger = logging.getLogger(kind.logger)
            logger.handle(
                logger.makeRecord(
                    kind.logger,
                    kind.level,
                    pathname,
                    lineno,
                    "%s … repeated %d times in the last %.0fs",
                    (kind.message, kind.repeats, min(now - kind.since, self.window)),
                    None,
                    func,
                    extra={_SUMMARY: True},
                )
            )


def _exception_type(record: logging.LogRecord) -> str:
    if record.exc_info and record.exc_info[0] is not None:
        return record.exc_info[0].__name__
    args = record.args if isinstance(record.args, tuple) else ()
    return ",".join(type(a).__name__ for a in args if isinstance(a, BaseException))


def _message(record: logging.LogRecord, limit: int = 300) -> str:
    message = record.getMessage()
    return message if len(message) <= limit else message[:limit] + "…"


def _without_traceback_when_unreachable(record: logging.LogRecord) -> None:
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None or not database_outage(exc):
        return
    record.msg = f"{record.getMessage()}: {describe(exc)}"
    record.args = None
    record.exc_info = None
    record.exc_text = None
