"""`linkmint serve`: uvicorn, stopping without dropping a request it has read.

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
import contextlib
import fcntl
import socket
import termios

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

# How long a stopping worker keeps an idle keep-alive connection open for the next request:
# a client or proxy reusing its connections sends within milliseconds.
IDLE_GRACE = 0.5
# The longest a stopping worker waits for requests in progress (a call to Whop included)
# before cancelling them: with the inbox's own grace after it, inside the 30 s a process
# manager usually allows before it kills.
GRACEFUL_SHUTDOWN_SECONDS = 20
# Idle connections are closed after this in normal operation; a proxy in front should drop
# its idle upstream connections sooner, so that it is never the server that closes one.
KEEP_ALIVE_SECONDS = 5


def _unread_bytes(transport) -> int:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


class DrainingHTTPProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), stopping as this module's docstring says."""

    draining = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
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

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

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


def serve(host: str, port: int, workers: int, reload: bool = False) -> None:
    """What `uvicorn.run` does, with the protocol and supervisor above."""
    options = {
        "app": "app.main:create_app",
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers if not reload else None,
        "reload": reload,
        "http": DrainingHTTPProtocol,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1",
        "server_header": False,
        "log_level": "info",
    }
    if workers > 1 and not reload:
        config = uvicorn.Config(**options)
        ClosingSupervisor(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run(**options)
