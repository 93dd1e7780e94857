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

Every line is one line, whatever a request put into it: `LineFormatter` (for a person,
`LOG_FORMAT=text`) escapes control characters, line and paragraph separators and bidi
controls in the message (a CSP report's field could otherwise end a line and forge the
next), and `JsonLineFormatter` (`LOG_FORMAT=json`, python-json-logger) writes one JSON
object per line, where JSON's own escaping does the same. Both carry the request id that
`app.web.request_id` puts in `REQUEST_ID` for the request being served ("-" outside one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from app.db.outage import database_outage, describe

REQUEST_ID: ContextVar[str] = ContextVar("linkmint_request_id", default="-")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

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

    def lifespan(
        self, every: float = 1.0
    ) -> Callable[[object], contextlib.AbstractAsyncContextManager[None]]:
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


# --- one line per record, with its request id -----------------------------------------------


def one_line(text: str) -> str:
    """`text` with every character that could break or disguise a log line escaped."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class RequestIds(logging.Filter):
    """Stamps each record with the id of the request it was logged in. On the handlers, so
    it runs in the thread that logged (a queued record keeps the stamp it got there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True

    def install(
        self, loggers: tuple[str, ...] = ("", "litestar", "uvicorn", "uvicorn.access")
    ) -> None:
        for name in loggers:
            for handler in logging.getLogger(name).handlers:
                if not any(isinstance(f, RequestIds) for f in handler.filters):
                    handler.addFilter(self)


class LineFormatter(logging.Formatter):
    """For a person reading a terminal: the message on one line, escaped; a traceback (ours,
    from our own code) follows it as Python prints it."""

    def __init__(self, fmt: str = TEXT_FORMAT, **kwargs: Any) -> None:
        super().__init__(fmt, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.request_id = getattr(record, "request_id", "-")
        saved = record.message
        record.message = one_line(saved)
        try:
            return super().formatMessage(record)
        finally:
            record.message = saved


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, request_id, message, and a traceback
    as one string when there is one (python-json-logger: its escaping is JSON's)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{request_id}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            defaults={"request_id": "-"},
            # (uvicorn's copy of the message with terminal colours is for terminals)
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            **kwargs,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """ISO 8601 in UTC with milliseconds, which every log store parses."""
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatter_config(log_format: str) -> dict[str, Any]:
    """The `logging.config` entry of the formatter `LOG_FORMAT` names."""
    factory = JsonLineFormatter if log_format == "json" else LineFormatter
    return {"()": f"{factory.__module__}.{factory.__qualname__}"}


def log_to_stderr(log_format: str, level: str, repeat_window: float) -> RepeatedFailures:
    """A process without uvicorn (`linkmint inbox`): every record to stderr, one line each in
    `LOG_FORMAT`, repeats counted as the app's are; the filter, for its `lifespan`."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"line": formatter_config(log_format)},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "line",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
        }
    )
    RequestIds().install(("",))
    repeats = RepeatedFailures(window=repeat_window)
    repeats.install(("",))
    return repeats


def uvicorn_log_config(log_format: str, level: str) -> dict[str, Any]:
    """uvicorn's own loggers (start-up, errors, the access log) in the app's format."""
    handler = {"formatter": "line", "filters": ["request_id"], "class": "logging.StreamHandler"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter_config(log_format)},
        "filters": {"request_id": {"()": f"{RequestIds.__module__}.RequestIds"}},
        "handlers": {
            "default": {**handler, "stream": "ext://sys.stderr"},
            "access": {**handler, "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }
