"""`linkmint serve --workers 2` told to stop (SIGTERM to its supervisor) while clients keep
requests coming on kept-alive connections: every request sent is answered in full, or its
connection was closed before it was sent (a new one refused, a kept one seen closed), so a
client may always retry. None is read and then dropped."""

from __future__ import annotations

import select
import signal
import socket
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from tests.support.servers import start_server

CLIENTS = 8
PATHS = ("/healthz", "/readyz")  # /readyz asks the database: some requests are in flight


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    told_to_close: int = 0  # answers with `Connection: close`
    refused: int = 0  # a new connection refused: nothing was sent
    seen_closed: int = 0  # a kept connection found closed before sending on it
    dropped: list[str] = field(default_factory=list)  # sent, and no complete answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def read_answer(conn: socket.socket) -> dict[str, str] | None:
    """One complete HTTP response's headers, or None if the connection ended first."""
    data = b""
    while b"\r\n\r\n" not in data:
        if not (chunk := conn.recv(65536)):
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        if not (chunk := conn.recv(65536)):
            return None
        body += chunk
    return headers


def closed_by_peer(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def keep_asking(port: int, tally: Tally, stop: threading.Event, number: int) -> None:
    """A client reusing one connection for request after request, as a proxy would."""
    conn: socket.socket | None = None
    n = number
    while not stop.is_set():
        if conn is None:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            except ConnectionRefusedError:
                tally.add(refused=1)
                return  # the server is gone
        elif closed_by_peer(conn):
            tally.add(seen_closed=1)
            conn.close()
            conn = None
            continue
        n += 1
        request = f"GET {PATHS[n % len(PATHS)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        try:
            conn.sendall(request.encode())
        except OSError:  # closed before the request went out
            tally.add(seen_closed=1)
            conn.close()
            conn = None
            continue
        tally.add(sent=1)
        try:
            headers = read_answer(conn)
        except OSError as exc:
            headers = None
            reason = repr(exc)
        else:
            reason = "closed without an answer"
        if headers is None:
            with tally.lock:
                tally.dropped.append(f"client {number}, request {n}: {reason}")
            conn.close()
            conn = None
            continue
        tally.add(answered=1)
        if headers.get("connection", "").lower() == "close":
            tally.add(told_to_close=1)
            conn.close()
            conn = None


def test_stopping_workers_answer_or_cleanly_close_every_request_on_kept_alive_connections():
    tally, stop = Tally(), threading.Event()
    with ExitStack() as stack:
        server = start_server(stack, "stopping", workers=2)
        server.wait_ready()
        port = int(server.url.rsplit(":", 1)[1])
        clients = [
            threading.Thread(target=keep_asking, args=(port, tally, stop, i), daemon=True)
            for i in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        time.sleep(0.5)  # every client in full flow
        asked_before = tally.sent

        told = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
        stopped_in = time.monotonic() - told
        stop.set()
        for client in clients:
            client.join(15)

    print(
        f"sent {tally.sent}, answered {tally.answered} ({tally.told_to_close} with "
        f"Connection: close), cleanly refused {tally.refused + tally.seen_closed}; "
        f"stopped in {stopped_in:.2f}s"
    )
    assert asked_before > CLIENTS  # the clients were busy when the signal came
    assert tally.dropped == []
    assert tally.answered == tally.sent
    assert tally.refused == CLIENTS  # in the end each client finds the port closed
    assert stopped_in < 10
