"""RepeatedFailures: one line per kind of failure, then how often it repeated."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.db.outage import DatabaseUnavailable
from app.logs import RepeatedFailures


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, Lines, RepeatedFailures, Clock]]:
    clock = Clock()
    repeats = RepeatedFailures(window=10.0, clock=clock)
    lines = Lines()
    lines.addFilter(repeats)
    log = logging.getLogger("test.repeats")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(lines)
    yield log, lines, repeats, clock
    log.removeHandler(lines)


def test_a_repeated_failure_is_logged_once_then_counted(logged):
    log, lines, repeats, clock = logged
    for n in range(50):
        log.warning("could not process webhook event %s", f"msg_{n}")
        clock.now += 0.1
    assert lines.lines == ["could not process webhook event msg_0"]
    clock.now = 10.0
    repeats.flush()
    assert lines.lines[1] == (
        "could not process webhook event msg_0 … repeated 49 times in the last 10s"
    )
    log.warning("could not process webhook event %s", "msg_50")  # a new window
    assert lines.lines[2] == "could not process webhook event msg_50"


def test_kinds_differ_by_logger_template_level_and_exception_type(logged):
    log, lines, _, _ = logged
    for _ in range(3):
        log.warning("Whop %s: %s", "retrieve payment", "500")
        log.error("Whop %s: %s", "retrieve payment", "500")
        log.warning("cache listener: %s", "gone")
        for exc in (KeyError("k"), ValueError("v")):
            try:
                raise exc
            except Exception:
                log.exception("maintenance pass failed")
    assert len(lines.records) == 5


def test_a_count_is_written_only_when_something_repeated(logged):
    log, lines, repeats, clock = logged
    log.warning("once")
    clock.now = 60.0
    repeats.flush()
    assert lines.lines == ["once"]


def test_information_passes_untouched(logged):
    log, lines, _, _ = logged
    for _ in range(3):
        log.info('127.0.0.1:5000 - "GET /alice HTTP/1.1" 200')
    assert len(lines.records) == 3


def test_an_unreachable_database_is_one_line_without_a_traceback(logged):
    log, lines, _, _ = logged
    try:
        raise DatabaseUnavailable("database unreachable (ConnectionRefusedError)")
    except DatabaseUnavailable:
        log.exception("could not process webhook event %s; the drainer will", "msg_1")
    [line] = lines.lines
    assert line == (
        "could not process webhook event msg_1; the drainer will: "
        "DatabaseUnavailable: database unreachable (ConnectionRefusedError)"
    )
    assert "Traceback" not in line


def test_other_errors_keep_their_traceback(logged):
    log, lines, _, _ = logged
    try:
        {}["missing"]
    except KeyError:
        log.exception("maintenance pass failed")
    [line] = lines.lines
    assert line.startswith("maintenance pass failed\nTraceback") and "KeyError" in line
