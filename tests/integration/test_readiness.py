"""/readyz says whether this process can serve (PostgreSQL answers); /healthz only that it is
up. A load balancer takes a process out of rotation on the first and restarts it on the
second, so a database outage must show on /readyz and never on /healthz."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack

import httpx

from tests.support.servers import Server, start_server


def closed_port() -> int:
    """A port on loopback that nothing listens on: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(server: Server, within: float = 30) -> None:
    """Until /healthz answers (`Server.wait_ready` waits for /readyz, which never will)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{server.name} did not start:\n{server.log_path.read_text()}")
        time.sleep(0.1)


async def test_ready_and_alive_while_the_database_answers(client):
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"
    assert (await client.get("/healthz")).status_code == 200


def test_not_ready_but_alive_while_the_database_cannot_be_reached():
    env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/linkmint",
        # Real Whop mode, pointed nowhere: the emulator would need the database to start.
        "WHOP_API_BASE": "http://127.0.0.1:9/_whop/api/v1",
        "WHOP_OAUTH_BASE": "http://127.0.0.1:9/_whop/oauth",
    }
    with ExitStack() as stack:
        server = start_server(stack, "no-database", env=env)
        wait_until_up(server)
        with httpx.Client(base_url=server.url, timeout=5) as http:
            for _ in range(2):  # the first asks the database; the next knows it is down
                ready = http.get("/readyz")
                assert ready.status_code == 503, ready.text
                assert ready.text == "database unreachable\n"
                alive = http.get("/healthz")
                assert alive.status_code == 200 and alive.text == "ok\n"
