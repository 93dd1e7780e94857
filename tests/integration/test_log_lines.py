"""Log lines: one per record whatever a request sends, a request id on each, no stack trace
for a client's mistake, and no secret anywhere in a whole run's log (app/logs.py)."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from app.logs import REQUEST_ID, JsonLineFormatter, LineFormatter, RequestIds, one_line
from tests.support.servers import linkmint_serve
from tests.support.unlock_support import PAYS, add_premium, pay, press_unlock, unlock_row
from tests.support.whop_browser import new_test_user, sign_in_through_whop
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    eventually,
    live_settings,
    sleeps,
    whop,
)

FORGED = '{"time":"x","level":"CRITICAL","logger":"app","message":"forged line"}'
HOSTILE = f"https://evil.example/\n{FORGED}\r\u2028\u202etxt.exe"


def record(message: str, *args: object) -> logging.LogRecord:
    rec = logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, args, None)
    RequestIds().filter(rec)
    return rec


def test_control_characters_and_bidi_controls_are_escaped_never_written():
    assert one_line("a\nb\r\tc\x00\x1b[31m\u2028\u2029\u202e\u2066") == (
        "a\\u000ab\\u000d\\u0009c\\u0000\\u001b[31m\\u2028\\u2029\\u202e\\u2066"
    )
    line = LineFormatter().format(record("blocked %s", HOSTILE))
    assert "\n" not in line and "\r" not in line and "\u202e" not in line
    assert "forged line" in line and line.endswith("txt.exe")


def test_json_lines_are_one_object_each_with_the_request_id():
    token = REQUEST_ID.set("abc123")
    try:
        line = JsonLineFormatter().format(record("blocked %s", HOSTILE))
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line and "\u2028" not in line
    parsed = json.loads(line)
    assert parsed["request_id"] == "abc123"
    assert parsed["level"] == "WARNING" and parsed["logger"] == "app.test"
    assert parsed["message"] == f"blocked {HOSTILE}"


@pytest.fixture
async def seller_link(whop, make_creator) -> dict:
    company = await whop.create_connected_company(title="Logs", email="logs@example.com")
    creator = await make_creator(
        handle="logsseller", whop_company_id=company.id, payout_enabled=True
    )
    return await add_premium(creator, url="https://secret.example/logs")


@pytest.mark.usefixtures("emulator_control")
async def test_a_whole_run_logs_json_lines_with_request_ids_and_no_secret(seller_link, settings):
    """Sign in through Whop, buy an unlock with a card, send a hostile CSP report and some
    bad requests to a real `linkmint serve` with LOG_FORMAT=json, then read its log."""
    seen: set[str] = set()  # every credential the run handed out
    env = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    with linkmint_serve("json-logs", env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as creator:
            r = await sign_in_through_whop(creator, **new_test_user())
            assert r.status_code == 303
            callback = str(r.request.url)
            seen.update(re.findall(r"(?:code|state)=([^&]+)", callback))
            assert (await creator.get("/dashboard")).status_code == 200
            seen.update(creator.cookies.values())
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as buyer:
            unlock_id, purchase_url = await press_unlock(buyer, seller_link["id"])
            back = await pay(buyer, purchase_url)
            assert back.status_code in (302, 303)
            await buyer.get(back.headers["location"].removeprefix(server.url))
            await eventually(lambda: _completed(unlock_id), within=15)
            seen.update(buyer.cookies.values())
            r = await buyer.get("/")
            request_id = r.headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{16}", request_id)
            report = {
                "csp-report": {
                    "document-uri": HOSTILE,
                    "blocked-uri": HOSTILE,
                    "violated-directive": "script-src\n" + FORGED,
                }
            }
            await buyer.post(
                "/csp-report",
                content=json.dumps(report),
                headers={"content-type": "application/csp-report"},
            )
            assert (await buyer.post("/csp-report", content=b"{")).status_code == 400
            assert (await buyer.post("/webhooks/whop", content=b"{")).status_code in (400, 401)
        server.stop()
        lines = server.log_path.read_text().splitlines()

    records = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert records, "the server logged nothing"
    assert all({"time", "level", "logger", "message", "request_id"} <= r.keys() for r in records)
    assert not any(r["message"] == "forged line" for r in records)
    assert any(r["request_id"] == request_id for r in records)  # its access log line
    assert not any("exc_info" in r for r in records)  # 4xx answers carry no stack trace
    secrets = {
        settings.secret_key,
        settings.whop_api_key,
        settings.whop_client_secret,
        settings.whop_webhook_secret,
        PAYS.replace(" ", ""),
        PAYS,
        *seen,
    }
    text = "\n".join(lines)
    leaked = sorted(s for s in secrets if s and len(s) >= 8 and s in text)
    assert not leaked, f"secrets in the log: {leaked}"


async def _completed(unlock_id: str) -> bool:
    return (await unlock_row(unlock_id))["status"] == "COMPLETED"
