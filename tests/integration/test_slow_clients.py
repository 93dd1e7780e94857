"""`linkmint serve` against slow clients: a request head or body that does not arrive in time
closes its connection (slowloris, slow body), an idle kept connection is closed after the
keep-alive timeout, and beyond the concurrency limit requests are answered 503."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing

import httpx
import pytest

from tests.support.servers import Server, linkmint_serve

HEAD_SECONDS = 1
BODY_SECONDS = 1
KEEP_ALIVE_SECONDS = 2
LIMIT = 4


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    env = {
        "HTTP_HEADER_TIMEOUT": str(HEAD_SECONDS),
        "HTTP_BODY_TIMEOUT": str(BODY_SECONDS),
        "HTTP_KEEP_ALIVE_TIMEOUT": str(KEEP_ALIVE_SECONDS),
        "HTTP_CONCURRENCY_LIMIT": str(LIMIT),
    }
    with linkmint_serve("slow-clients", env=env) as server:
        yield server


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_after(conn: socket.socket, *, trickle: bytes = b"", every: float = 0.2) -> float:
    """Seconds until the server closes `conn`, sending `trickle` a byte at a time meanwhile;
    fails if anything else than the end of the connection comes back."""
    started = time.monotonic()
    conn.settimeout(every)
    sent = 0
    while time.monotonic() - started < 10:
        try:
            data = conn.recv(65536)
        except TimeoutError:
            if sent < len(trickle):
                try:
                    conn.sendall(trickle[sent : sent + 1])
                except OSError:
                    return time.monotonic() - started  # (closed while sending)
                sent += 1
            continue
        except ConnectionResetError:
            return time.monotonic() - started
        assert data == b"", f"the server answered: {data[:200]!r}"
        return time.monotonic() - started
    raise AssertionError("the connection was still open after 10 s")


def answer_on(conn: socket.socket) -> bytes:
    """The status line of the answer to a GET /healthz sent on `conn` (read in full)."""
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "closed without an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )  # fmt: skip
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b"\r\n", 1)[0]


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server):
    with closing(connect(server)) as conn:
        assert HEAD_SECONDS - 0.2 < closed_after(conn) < HEAD_SECONDS + 1.5


def test_a_request_head_trickled_a_byte_at_a_time_is_closed_after_the_header_timeout(server):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
    with closing(connect(server)) as conn:
        conn.sendall(head[:10])
        assert HEAD_SECONDS - 0.2 < closed_after(conn, trickle=head[10:]) < HEAD_SECONDS + 1.5


def test_a_body_that_does_not_arrive_in_time_closes_the_connection_unanswered(server):
    head = (
        "POST /webhooks/whop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with closing(connect(server)) as conn:
        conn.sendall(head.encode() + b'{"type": ')
        assert BODY_SECONDS - 0.2 < closed_after(conn, trickle=b" " * 200) < BODY_SECONDS + 1.5
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # and the server goes on


def test_a_kept_connection_waits_for_its_next_request_until_the_keep_alive_timeout(server):
    with closing(connect(server)) as conn:
        assert answer_on(conn) == b"HTTP/1.1 200 OK"
        time.sleep(HEAD_SECONDS + 0.5)  # idle: the head's deadline does not run
        assert answer_on(conn) == b"HTTP/1.1 200 OK"
        assert KEEP_ALIVE_SECONDS - 0.3 < closed_after(conn) < KEEP_ALIVE_SECONDS + 1.5


def test_beyond_the_concurrency_limit_requests_are_answered_503(server):
    with ExitStack() as stack:
        for _ in range(LIMIT):  # connections held open by clients that send nothing (yet)
            stack.enter_context(closing(connect(server)))
        time.sleep(0.2)  # (accepted by the server)
        refused = httpx.get(f"{server.url}/healthz")
    assert refused.status_code == 503
    time.sleep(0.2)
    assert httpx.get(f"{server.url}/healthz").status_code == 200
