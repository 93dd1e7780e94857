"""Real `linkmint serve` processes on 127.0.0.1, sharing the test database.

Used by the `live_server` fixture and by the tests that need a second (or third) process
to prove that nothing lives in one process: sessions, the page cache, logs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
LOGS = Path(tempfile.mkdtemp(prefix="linkmint-servers-"))


@dataclass
class Server:
    name: str
    url: str
    log_path: Path
    process: subprocess.Popen

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text()
                raise RuntimeError(f"server {self.name} did not start:\n{log}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


INBOX_READY = "processing the webhook events announced"  # `linkmint inbox` is up


def start_inbox(
    stack: ExitStack, app_url: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, Path]:
    """`linkmint inbox` (with `args`), reading Whop (the emulator) through the app at
    `app_url`, the test environment otherwise, then `env`; waits until it says it is
    processing. `stack` kills it if it still runs."""
    log_path = LOGS / f"inbox-{time.monotonic_ns()}.log"
    log = stack.enter_context(open(log_path, "wb"))
    env = {
        **os.environ,
        "APP_URL": app_url,
        "DB_POOL_SIZE": "4",
        "LOG_LEVEL": "INFO",
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "inbox", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        if process.poll() is None:
            process.kill()
            process.wait(10)

    stack.callback(stop)
    deadline = time.monotonic() + 30
    while INBOX_READY not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"linkmint inbox did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return process, log_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    stack: ExitStack,
    name: str,
    *,
    pool: int = 2,
    env: dict[str, str] | None = None,
    workers: int = 1,
    port: int | None = None,
) -> Server:
    """Start `linkmint serve` (its own APP_URL, the test environment otherwise, then `env`)
    without waiting for it, on `port` or a free one; `stack` stops it."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "APP_URL": url,
        "DB_POOL_SIZE": str(pool),
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log_path = LOGS / f"{name}-{port}.log"
    log = stack.enter_context(open(log_path, "wb"))
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(name, url, log_path, process)
    stack.callback(server.stop)
    return server


@contextmanager
def linkmint_serve(
    name: str = "second", *, pool: int = 2, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """One more app process, ready to answer."""
    with ExitStack() as stack:
        server = start_server(stack, name, pool=pool, env=env)
        server.wait_ready()
        yield server


def linkmint(live_server: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APP_URL": live_server, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
