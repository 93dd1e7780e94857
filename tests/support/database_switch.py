"""A TCP relay between an app process and the test PostgreSQL, which a test can cut (open
connections reset, new ones refused: a stopped server), freeze (connections open, nothing
passes: a stalled host) and restore. It runs on its own thread and event loop, so a test
that blocks (starting a server, a browser) does not stop the database traffic.

`switched_server` is a real `linkmint serve` whose database goes through the switch; each
test module that imports the fixtures gets its own pair. Tests take `database` (the switch,
restored after each test).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.support.servers import Server, linkmint_serve


class DatabaseSwitch:
    """Relays to the database of `database_url`: over TCP, or over the Unix socket its
    `host=/dir` query names (the embedded server of `make test` with nothing configured)."""

    def __init__(self, database_url: str) -> None:
        target = urlsplit(database_url)
        query = dict(parse_qsl(target.query))
        self._database_url = database_url
        self._target = (target.hostname or "127.0.0.1", target.port or 5432)
        socket_dir = query.get("host", "")
        self._socket = (
            f"{socket_dir}/.s.PGSQL.{query.get('port') or target.port or 5432}"
            if socket_dir.startswith("/")
            else None
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """DATABASE_URL for the app process: the same database, through this switch."""
        parts = urlsplit(self._database_url)
        user = f"{parts.username}@" if parts.username else ""
        # A host or port in the query would take the app past the switch.
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")])
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}", query=query))

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> None:
        self._thread.start()
        self._run(self._listen())
        self._run(self._set_flowing(True))

    def cut(self) -> None:
        """PostgreSQL stops: open connections are reset and new ones refused."""
        self._run(self._cut())

    def freeze(self) -> None:
        """PostgreSQL stalls: connections open and stay open, and nothing comes back."""
        self._run(self._set_flowing(False))

    def restore(self) -> None:
        if self._run(self._is_listening()):
            self._run(self._set_flowing(True))
            return
        self._run(self._listen())
        self._run(self._set_flowing(True))

    def stop(self) -> None:
        self._run(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _is_listening(self) -> bool:
        return self._server is not None

    async def _set_flowing(self, on: bool) -> None:
        if on:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        self._flowing.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._socket is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self._socket)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:  # one side hung up: so does the other
            pipe.cancel()
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()


@pytest.fixture(scope="module")
def db_switch() -> Iterator[DatabaseSwitch]:
    switch = DatabaseSwitch(os.environ["DATABASE_URL"])
    switch.start()
    try:
        yield switch
    finally:
        switch.stop()


@pytest.fixture(scope="module")
def switched_server(db_switch: DatabaseSwitch) -> Iterator[Server]:
    with linkmint_serve("switched", env={"DATABASE_URL": db_switch.url}) as server:
        yield server


@pytest.fixture
def database(db_switch: DatabaseSwitch) -> Iterator[DatabaseSwitch]:
    """The switched server's database, answering again after the test whatever happened."""
    yield db_switch
    db_switch.restore()
