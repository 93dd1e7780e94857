"""Reachability: an outage costs one wait at a time, not one per query."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.db.outage import DatabaseUnavailable, Reachability, database_outage, unreachable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fail_to_reach(reach: Reachability, exc: BaseException | None = None) -> None:
    with pytest.raises(DatabaseUnavailable), reach.attempt():
        raise exc or ConnectionRefusedError("connection refused")


def test_after_a_failure_to_reach_the_database_queries_fail_at_once_but_one_probe():
    clock = Clock()
    reach = Reachability(retry_every=1.0, clock=clock)
    fail_to_reach(reach, TimeoutError())
    assert reach.down
    ran = []
    with pytest.raises(DatabaseUnavailable), reach.attempt():
        ran.append("refused before it ran")
    assert ran == []

    clock.now += 1.0
    with reach.attempt():  # the probe
        with pytest.raises(DatabaseUnavailable), reach.attempt():
            ran.append("a second probe")
        assert ran == []
    assert not reach.down  # the probe's query was answered


def test_a_failed_probe_waits_another_second_before_the_next():
    clock = Clock()
    reach = Reachability(retry_every=1.0, clock=clock)
    fail_to_reach(reach)
    clock.now += 1.0
    fail_to_reach(reach, asyncpg.CannotConnectNowError("the database system is starting up"))
    clock.now += 0.5
    with pytest.raises(DatabaseUnavailable), reach.attempt():
        pass
    clock.now += 0.5
    with reach.attempt():
        pass
    assert not reach.down


def test_an_sql_error_is_an_answer_and_passes_through_unchanged():
    reach = Reachability(clock=Clock())
    fail_to_reach(reach)
    reach._retry_at = 0  # the probe is due
    with pytest.raises(asyncpg.UniqueViolationError), reach.attempt():
        raise asyncpg.UniqueViolationError("duplicate key")
    assert not reach.down


def test_a_probe_given_up_on_counts_as_no_answer_but_other_cancellations_say_nothing():
    clock = Clock()
    reach = Reachability(clock=clock)
    with pytest.raises(asyncio.CancelledError), reach.attempt():
        raise asyncio.CancelledError  # a visitor went away: the database may be fine
    assert not reach.down
    fail_to_reach(reach)
    clock.now += 1.0
    with pytest.raises(asyncio.CancelledError), reach.attempt():
        raise asyncio.CancelledError  # the probe, abandoned (a /readyz timing out)
    with pytest.raises(DatabaseUnavailable), reach.attempt():
        pass
    clock.now += 1.0
    with reach.attempt():
        pass
    assert not reach.down


def test_what_counts_as_the_database_being_unreachable():
    for exc in (
        TimeoutError(),
        ConnectionRefusedError(),
        FileNotFoundError("no socket"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
    ):
        assert unreachable(exc), exc
    for exc in (
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.InterfaceError("another operation is in progress"),
        ValueError(),
    ):
        assert not unreachable(exc), exc
    # Anywhere else a plain OSError or TimeoutError says nothing about the database.
    assert database_outage(DatabaseUnavailable("down"))
    assert database_outage(asyncpg.ConnectionDoesNotExistError("gone"))
    assert not database_outage(TimeoutError()) and not database_outage(OSError())
