"""`linkmint serve`: uvicorn, with deadlines for slow clients, stopping without dropping a
request it has read.

uvicorn bounds an idle keep-alive connection, but not the time a client takes to send a
request: a client trickling its head or body a byte at a time (slowloris) holds a connection,
and once the head is in, a task waiting for the body, for as long as it likes. So each
connection has one read deadline: the head must be in within HTTP_HEADER_TIMEOUT of the
connection opening (or of the request's first byte on a kept connection), then the body
within HTTP_BODY_TIMEOUT; past it the connection is closed. HTTP_CONCURRENCY_LIMIT (uvicorn's
`limit_concurrency`: open connections and running requests) answers 503 beyond it.

On SIGTERM uvicorn closes every idle keep-alive connection at once. On a busy connection
"idle" is mostly the moment between a response and the client's next request, which is
already on its way or sitting unread in the socket: closing then resets the connection under
a request that was sent and is never answered, and the client cannot tell whether it may
send it again. So a stopping worker instead:

- answers what arrives on the connections it has, with `Connection: close`, closing each
  after that response;
- closes a connection only once it has been idle for `IDLE_GRACE` with nothing unread, so
  its client finds it closed before sending and retries elsewhere;
- and, with several workers, the supervisor shuts the listening socket itself before it
  tells them to stop. Closing its own descriptor would not do: each worker holds another,
  and the kernel would go on accepting connections into a queue that no process reads,
  whose requests are sent and then reset when the last worker exits. Shut, the port
  refuses new connections at once, and a client knows to go elsewhere.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import functools
import socket
import termios
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

from app.config import Settings
from app.logs import uvicorn_log_config

# How long a stopping worker keeps an idle keep-alive connection open for the next request:
# a client or proxy reusing its connections sends within milliseconds.
IDLE_GRACE = 0.5
# The longest a stopping worker waits for requests in progress (a call to Whop included)
# before cancelling them: with the inbox's own grace after it, inside the 30 s a process
# manager usually allows before it kills (deploy/systemd: TimeoutStopSec).
GRACEFUL_SHUTDOWN_SECONDS = 20


def _unread_bytes(transport: asyncio.Transport) -> int:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    fd = sock.fileno()
    if fd < 0:  # the connection closed before the timer fired (a stopping server, a reset)
        return 0
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


class LinkmintHTTPProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), with the read deadline and the stopping this
    module's docstring describes."""

    draining = False
    read_deadline: asyncio.TimerHandle | None = None

    def __init__(
        self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout

    def _read_within(self, seconds: float | None) -> None:
        """Close the connection unless what is being read arrives within `seconds` (None:
        nothing is awaited from the client)."""
        if self.read_deadline is not None:
            self.read_deadline.cancel()
        self.read_deadline = (
            None if seconds is None else self.loop.call_later(seconds, self.transport.close)
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_within(self.header_timeout)
        # Accepted just before the listener closed, but set up only now: uvicorn did not
        # see it when it told the others to stop.
        if getattr(self.server_state, "draining", False):
            self.shutdown()

    def shutdown(self) -> None:
        """Called by uvicorn on each connection when the worker begins to stop."""
        self.server_state.draining = True  # type: ignore[attr-defined]
        self.draining = True
        for cycle, _ in self.pipeline:  # (requests a client sent ahead, not yet started)
            cycle.keep_alive = False
        if self.cycle is None or self.cycle.response_complete:
            # The keep-alive timer, shortened: a request arriving first cancels it and is
            # answered (with Connection: close, below).
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                IDLE_GRACE, self.timeout_keep_alive_handler
            )
        else:
            self.cycle.keep_alive = False

    def connection_lost(self, exc: Exception | None) -> None:
        self._read_within(None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.read_deadline is None:  # (the first request's runs from the connection)
            self._read_within(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._read_within(self.body_timeout)  # until on_message_complete, at once for a GET
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._read_within(None)

    def timeout_keep_alive_handler(self) -> None:
        if _unread_bytes(self.transport):
            return  # a request arrived with the timer: it is read next, then answered
        super().timeout_keep_alive_handler()


class ClosingSupervisor(Multiprocess):
    """uvicorn's supervisor of several workers, letting go of the listening socket first."""

    def _release_sockets(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):  # (not every system shuts a listening socket)
                sock.shutdown(socket.SHUT_RD)
            sock.close()

    def handle_term(self) -> None:
        self._release_sockets()
        super().handle_term()

    def handle_int(self) -> None:
        self._release_sockets()
        super().handle_int()


def serve(host: str, port: int, workers: int, settings: Settings, reload: bool = False) -> None:
    """What `uvicorn.run` does, with the protocol and supervisor above."""
    options: dict[str, Any] = {
        "app": "app.main:create_app",
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers if not reload else None,
        "reload": reload,
        # (a partial, not a subclass made here: workers are spawned, and unpickle it)
        "http": functools.partial(
            LinkmintHTTPProtocol,
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
        ),
        "timeout_keep_alive": settings.http_keep_alive_timeout,
        "limit_concurrency": settings.http_concurrency_limit,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        # X-Forwarded-For (uvicorn reads no RFC 7239 `Forwarded`), from these peers only:
        # the client's address is the last one in it that is not one of them.
        "proxy_headers": True,
        "forwarded_allow_ips": list(settings.trusted_proxies),
        "ws": "none",  # (no WebSocket routes: an upgrade is an ordinary request)
        "server_header": False,
        "log_config": uvicorn_log_config(settings.log_format, settings.log_level),
        "log_level": "info",
    }
    if workers > 1 and not reload:
        config = uvicorn.Config(**options)
        ClosingSupervisor(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run(**options)
