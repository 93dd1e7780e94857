"""The emulated Whop's rate limit: calls of one operation per credential in a sliding
minute, a refused call not counted, and the wait Whop's message gives."""

from __future__ import annotations

import pytest

from app.emulator.ratelimit import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_calls_beyond_the_limit_in_a_minute_wait_for_the_oldest_to_leave_it():
    clock = Clock()
    limit = RateLimit(3, clock=clock)
    for _ in range(3):
        assert limit.wait("key", "GET retrieve_payment") is None
        clock.now += 10
    assert limit.wait("key", "GET retrieve_payment") == 30  # the first was 30 s ago
    clock.now += 29.5
    assert limit.wait("key", "GET retrieve_payment") == 1  # (whole seconds, at least one)
    clock.now += 0.5
    assert limit.wait("key", "GET retrieve_payment") is None  # the first left the minute


def test_each_operation_and_credential_has_its_own_count_and_refusals_are_not_counted():
    clock = Clock()
    limit = RateLimit(1, clock=clock)
    assert limit.wait("key", "GET retrieve_payment") is None
    assert limit.wait("key", "POST create_checkout_configuration") is None
    assert limit.wait("other key", "GET retrieve_payment") is None
    for _ in range(5):
        assert limit.wait("key", "GET retrieve_payment") == 60
    clock.now += 60
    assert limit.wait("key", "GET retrieve_payment") is None


def test_a_limit_allows_at_least_one_call():
    with pytest.raises(ValueError, match="at least one call"):
        RateLimit(0)
