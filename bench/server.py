"""The servers: the bench app under granian (or uvicorn), as production runs it, and the
Whop emulator in a server of its own (Whop is another company's system).

Several worker processes, each with its own DB pool of DB_POOL_SIZE, no debug, no access
log, LOG_LEVEL=WARNING, bound to 127.0.0.1 only. Each server gets its own session (process
group) so that `stop()` ends it and every worker it forked, and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.app import PLAINTEXT_PATH
from bench.machine import package_version

ROOT = Path(__file__).resolve().parent.parent
FACTORY = "bench.app:create_bench_app"
WHOP_FACTORY = "app.main:create_app"  # with no WHOP_API_BASE: the emulator at /_whop
HOST = "127.0.0.1"


def available_server(wanted: str) -> str:
    """granian when asked for (or "auto") and installed; otherwise uvicorn."""
    if wanted not in ("auto", "granian", "uvicorn"):
        raise ValueError(f"server must be auto, granian or uvicorn, not {wanted!r}")
    has_granian = package_version("granian") != "not installed"
    if wanted == "granian" and not has_granian:
        raise RuntimeError("granian is not installed: pip install -e '.[bench]'")
    if wanted == "uvicorn" or not has_granian:
        return "uvicorn"
    return "granian"


def pinned(cpus: str | None) -> list[str]:
    """The prefix that keeps a command on `cpus` (taskset's list syntax); none for None."""
    return ["taskset", "-c", cpus] if cpus else []


def server_command(kind: str, port: int, workers: int, factory: str = FACTORY) -> list[str]:
    if kind == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
            "--host", HOST, "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "1", "--no-ws",
            "--no-access-log", "--log-level", "warning",
            factory,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--lifespan", "on",
        "--no-access-log", "--log-level", "warning", "--no-server-header",
    ]  # fmt: skip


class BenchServer:
    def __init__(
        self,
        kind: str,
        port: int,
        workers: int,
        env: Mapping[str, str],
        log_path: Path,
        *,
        factory: str = FACTORY,
        ready_paths: tuple[str, ...] = ("/readyz", PLAINTEXT_PATH),
        cpus: str | None = None,
        command: Sequence[str] | None = None,
        ready_line: str | None = None,
    ) -> None:
        self.kind = kind
        self.cpus = cpus  # taskset's CPU list for the server and its workers (None: any)
        self.port = port
        self.workers = workers
        self.factory = factory
        # Instead of `kind` serving `factory` (the scale-out runs the systemd unit's command).
        self.command = list(command or server_command(kind, port, workers, factory))
        self.ready_paths = ready_paths
        # A process that serves no HTTP (`linkmint inbox`) is ready once its log says this.
        self.ready_line = ready_line
        self.env = {**env, "PYTHONPATH": str(ROOT)}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> None:
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:  # (a restarted server logs after its last run)
            self.proc = subprocess.Popen(  # noqa: S603
                pinned(self.cpus) + self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        if self.ready_line is not None:
            self._wait_for_line(self.ready_line.encode(), logged, deadline)
            return
        ready_in_a_row = 0
        with httpx.Client(timeout=2) as client:
            # Every worker must be up: wait for a run of successes, not the first one.
            while ready_in_a_row < 20 * self.workers:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.factory} did not start:\n{self.log_tail()}")
                try:
                    ok = all(client.get(self.url + p).status_code == 200 for p in self.ready_paths)
                except httpx.HTTPError:
                    ok = False
                ready_in_a_row = ready_in_a_row + 1 if ok else 0
                time.sleep(0.02 if ok else 0.2)

    def _wait_for_line(self, line: bytes, logged: int, deadline: float) -> None:
        while True:
            with self.log_path.open("rb") as log:
                log.seek(logged)
                if line in log.read():
                    return
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.command[:4]} did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # The server's own process group: the server and the workers it forked, nothing else.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever is left of the group (a stuck worker) goes now
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def app_and_whop(
    kind: str,
    ports: tuple[int, int],
    workers: tuple[int, int],
    whop_env: Mapping[str, str],
    workdir: Path,
    cpus: str | None,
) -> tuple[BenchServer, BenchServer]:
    """The bench app (with this process's environment) and the Whop emulator as a server of
    its own (with `whop_env` over it), logging into `workdir`."""
    log = workdir / "server.log"
    app = BenchServer(kind, ports[0], workers[0], dict(os.environ), log, cpus=cpus)
    whop = BenchServer(
        kind,
        ports[1],
        workers[1],
        {**os.environ, **whop_env},
        workdir / "whop.log",
        factory=WHOP_FACTORY,
        ready_paths=("/readyz",),
        cpus=cpus,
    )
    return app, whop


def servers_for(
    args: Any, ports: tuple[int, int], whop_env: Mapping[str, str], workdir: Path
) -> tuple[str, BenchServer, BenchServer]:
    """`app_and_whop` as `make bench`'s options ask (--server, --workers, --whop-workers,
    --server-cpus), with the kind of server chosen."""
    kind = available_server(args.server)
    app, whop = app_and_whop(
        kind, ports, (args.workers, args.whop_workers), whop_env, workdir, args.server_cpus
    )
    return kind, app, whop
