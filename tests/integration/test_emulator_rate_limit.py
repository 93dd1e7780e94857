"""WHOP_EMULATOR_RATE_LIMIT: the emulated Whop answers a credential's calls of one operation
beyond the limit in a minute with Whop's 429, and the app's Whop client reads the wait."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import ExitStack

import httpx
import pytest

from app.whop import WhopClient, WhopRateLimited
from app.whop.client import REQUEST_MAX_WAIT
from tests.support.servers import start_server
from tests.support.unlock_support import whop_auth


async def test_calls_beyond_the_limit_are_answered_as_whop_answers_them(settings):
    with ExitStack() as stack:
        server = start_server(stack, "rate-limited", env={"WHOP_EMULATOR_RATE_LIMIT": "2"})
        await asyncio.to_thread(server.wait_ready)
        company = f"/_whop/api/v1/companies/{settings.whop_parent_company_id}"
        async with httpx.AsyncClient(base_url=server.url, headers=whop_auth(settings)) as http:
            answers = [await http.get(company) for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 429]
            error = answers[2].json()["error"]
            assert error["type"] == "rate_limit_exceeded"
            assert error["message"].startswith("Try again in ")
            assert error["message"].endswith(" seconds.")
            # Another operation has a count of its own.
            listed = await http.get("/_whop/api/v1/payments", params={"company_id": "biz_x"})
            assert listed.status_code != 429

        # The app's client in a request: Whop's wait is most of a minute, longer than a
        # person is kept waiting, so the call fails at once with the wait it was given.
        at_server = dataclasses.replace(settings, app_url=server.url)
        async with WhopClient.connect(at_server) as whop:
            with pytest.raises(WhopRateLimited) as raised:
                await whop.with_max_wait(REQUEST_MAX_WAIT).retrieve_company(
                    settings.whop_parent_company_id
                )
        assert raised.value.retry_after is not None and 30 < raised.value.retry_after <= 60
