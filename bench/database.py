"""The benchmark's own database: where it lives, and a fresh one for every run; and the
pieces operators run beside PostgreSQL, on loopback: a streaming standby and PgBouncer."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "linkmint_bench"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def choose_url(environ: Mapping[str, str], dotenv: Mapping[str, str | None]) -> str:
    """BENCH_DATABASE_URL as given; else `linkmint_bench` on DATABASE_URL's server; else on
    the PostgreSQL at 127.0.0.1:5432; else on the embedded server under ./var/pg."""
    if url := environ.get("BENCH_DATABASE_URL"):
        return url
    if url := environ.get("DATABASE_URL") or dotenv.get("DATABASE_URL"):
        return with_database(url, BENCH_DATABASE)
    if asyncio.run(_reachable(LOCAL_SERVER)):
        return with_database(LOCAL_SERVER, BENCH_DATABASE)
    from app.db.engine import embedded_database_url

    return embedded_database_url(ROOT / "var", database=BENCH_DATABASE)


async def recreate(url: str) -> str:
    """Drop and create the bench database (only ever one whose name says "bench");
    returns the server's version."""
    name = database_name(url)
    if "bench" not in name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate database {name!r}: its name must contain 'bench'")
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        return await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()


async def set_statement_timeout(url: str, bound: str) -> None:
    """The database's own statement_timeout (what bounds statements that come through a
    transaction pooler, which passes no startup parameter)."""
    name = database_name(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '{bound}'")
    finally:
        await conn.close()


async def migrate() -> None:
    """The app's migrations (what `linkmint migrate` runs), quietly."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{chatter.getvalue()}")


# --- the pieces operators run beside PostgreSQL: a streaming standby and PgBouncer --------


def service_user() -> dict[str, Any]:
    """Popen's arguments that run PostgreSQL's and PgBouncer's programs as `postgres` when
    we are root (both refuse root); as ourselves otherwise."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres"}


def own_dir(prefix: str) -> Path:
    """A temporary directory the service user owns (a root-made one it cannot enter)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def _stop_pid(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    """Stop the process we started, by its own pid: `sig`, then SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


async def _server_facts(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        names = (
            "server_version_num",
            "hba_file",
            "max_connections",
            "max_worker_processes",
            "max_wal_senders",
            "max_locks_per_transaction",
            "max_prepared_transactions",
        )
        return {name: await conn.fetchval(f"SHOW {name}") for name in names}
    finally:
        await conn.close()


async def allow_replication(url: str) -> str:
    """Add a `host replication` line for loopback to the primary's pg_hba.conf, with the same
    authentication as its first loopback line for every database, and reload it. Only as
    root (the file is the system's), and only when asked: after a refusal."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        method = await conn.fetchval(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%' "
            "AND 'all' = ANY(database) AND address = '127.0.0.1' ORDER BY line_number LIMIT 1"
        )
        hba = Path(await conn.fetchval("SHOW hba_file"))
        user = urlsplit(url).username or "postgres"
        line = f"host replication {user} 127.0.0.1/32 {method or 'scram-sha-256'}"
        note = "# streaming standbys on loopback (Linkmint's bench and tests)"
        text = await asyncio.to_thread(hba.read_text)
        await asyncio.to_thread(hba.write_text, f"{text}\n{note}\n{line}\n")
        await conn.execute("SELECT pg_reload_conf()")
        return f"{hba}: added `{line}`"
    finally:
        await conn.close()


class LoopbackServer(ABC):
    """A server this process runs beside PostgreSQL on 127.0.0.1:`port`, from a temporary
    directory of its own, reached with the credentials of `upstream_url`. Subclasses start
    it; `stop()` ends it by its pid (SIGINT: a clean shutdown for both kinds) and removes
    the directory."""

    LOG_NAME = "server.log"

    def __init__(self, upstream_url: str, port: int) -> None:
        self.upstream_url = upstream_url
        self.port = port
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        parts = urlsplit(self.upstream_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))

    def _log(self) -> str:
        path = (self.dir or Path("/nonexistent")) / self.LOG_NAME
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    @abstractmethod
    def start(self, timeout: float = 60) -> None:
        """Start it and wait until it takes connections (each kind starts its own way)."""

    async def first_connection(
        self, database: str, *, within: float, what: str, **options: Any
    ) -> asyncpg.Connection:
        """A connection to `database` as soon as the server takes one, trying every 0.1 s
        for `within` seconds; a RuntimeError with its log if it stops or never answers
        (`what` names it there)."""
        deadline = time.monotonic() + within
        while True:
            try:
                return await asyncpg.connect(self.url(database), timeout=2, **options)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{what} stopped:\n{self._log()[-3000:]}") from exc
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start:\n{self._log()[-3000:]}") from exc
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _stop_pid(proc, signal.SIGINT)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Standby(LoopbackServer):
    """A streaming standby of the PostgreSQL at `primary_url`, made with `pg_basebackup -R
    -X stream` into a temporary directory and run on 127.0.0.1:`port`, as `postgres` when
    we are root. `stop()` ends it by its pid and removes the directory. `settings`: more
    of its postgresql.conf (`log_statement = all`, say)."""

    LOG_NAME = "standby.log"

    def __init__(
        self, primary_url: str, port: int, settings: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(with_database(primary_url, "postgres"), port)
        self.primary_url = self.upstream_url
        self.settings = dict(settings or {})

    @property
    def log(self) -> str:
        """What it has logged so far."""
        return self._log()

    def start(self, timeout: float = 120) -> None:
        facts = asyncio.run(_server_facts(self.primary_url))
        bindir = Path(f"/usr/lib/postgresql/{int(facts['server_version_num']) // 10000}/bin")
        self.dir = own_dir("linkmint-standby-")
        data = self.dir / "data"
        parts = urlsplit(self.primary_url)
        backup = [
            str(bindir / "pg_basebackup"),
            "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
            "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres", "-w",
        ]  # fmt: skip
        env = {**os.environ, "PGPASSWORD": parts.password or ""}
        try:
            for attempt in range(3):
                made = subprocess.run(  # noqa: S603
                    backup, env=env, capture_output=True, text=True, timeout=timeout,
                    cwd=self.dir, **service_user(),
                )  # fmt: skip
                if made.returncode == 0:
                    break
                shutil.rmtree(data, ignore_errors=True)
                refused = "pg_hba.conf" in made.stderr and "replication" in made.stderr
                if not refused or os.geteuid() != 0:
                    raise RuntimeError(
                        f"pg_basebackup failed: {made.stderr.strip()}"
                        + (
                            "\nallow replication from 127.0.0.1 in the primary's pg_hba.conf"
                            f" ({facts['hba_file']}) and reload it"
                            if refused
                            else ""
                        )
                    )
                if attempt == 0:
                    print(f"standby: {asyncio.run(allow_replication(self.primary_url))}")
                time.sleep(0.5)  # the reload is the postmaster's, a moment later
            else:
                raise RuntimeError(f"pg_basebackup failed: {made.stderr.strip()}")
            # Debian keeps postgresql.conf and pg_hba.conf outside the data directory.
            same = ("max_connections", "max_worker_processes", "max_wal_senders",
                    "max_locks_per_transaction", "max_prepared_transactions")  # fmt: skip
            (data / "postgresql.conf").write_text(
                "".join(f"{name} = {facts[name]}\n" for name in same)
                + f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nhot_standby = on\n"
                "hot_standby_feedback = on\nshared_buffers = 32MB\nfsync = off\n"
                + "".join(f"{name} = '{value}'\n" for name, value in self.settings.items())
            )
            (data / "pg_hba.conf").write_text(
                "local all all trust\nhost all all 127.0.0.1/32 trust\n"
            )
            with (self.dir / "standby.log").open("ab") as log:
                self.proc = subprocess.Popen(  # noqa: S603
                    [str(bindir / "postgres"), "-D", str(data)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                    start_new_session=True, **service_user(),
                )  # fmt: skip
            asyncio.run(self._wait_ready(timeout))
        except BaseException:
            self.stop()
            raise

    async def _wait_ready(self, within: float) -> None:
        conn = await self.first_connection("postgres", within=within, what="the standby")
        try:
            if not await conn.fetchval("SELECT pg_is_in_recovery()"):
                raise RuntimeError("the standby is not in recovery")
        finally:
            await conn.close()


class PgBouncer(LoopbackServer):
    """PgBouncer (Debian's `pgbouncer`) running deploy/pgbouncer/pgbouncer.ini on
    127.0.0.1:`port`, in front of the PostgreSQL at `server_url` (bench/deployment.py:
    `render_pgbouncer`), from a temporary directory; as `postgres` when we are root (it
    refuses root). `stop()` ends it by its pid. `pool_size`: instead of the shipped
    default_pool_size."""

    LOG_NAME = "pgbouncer.log"

    def __init__(self, server_url: str, port: int, *, pool_size: int | None = None) -> None:
        super().__init__(server_url, port)
        self.server_url = server_url
        self.pool_size = pool_size

    @property
    def log(self) -> str:
        return self._log()[-3000:]

    def start(self, timeout: float = 15) -> None:
        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(exe).exists():
            raise RuntimeError("pgbouncer is not installed: sudo apt-get install -y pgbouncer")
        parts = urlsplit(self.server_url)
        self.dir = own_dir("linkmint-pgbouncer-")
        user, password = parts.username or "postgres", parts.password or ""
        (self.dir / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        from bench.deployment import PGBOUNCER, render_pgbouncer

        text = render_pgbouncer(
            PGBOUNCER.read_text(),
            server=(parts.hostname or "127.0.0.1", parts.port or 5432),
            listen_port=self.port,
            directory=self.dir,
            trust=not password,
        )
        if self.pool_size is not None:
            text = re.sub(
                r"(?m)^default_pool_size = .*$", f"default_pool_size = {self.pool_size}", text
            )
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(text)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (ini, self.dir / "userlist.txt"):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.proc = subprocess.Popen(  # noqa: S603
            [exe, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            cwd=self.dir, start_new_session=True, **service_user(),
        )  # fmt: skip
        try:
            asyncio.run(self._wait_ready(timeout))
        except BaseException:
            self.stop()
            raise

    async def _wait_ready(self, within: float) -> None:
        conn = await self.first_connection(
            "postgres", within=within, what="pgbouncer", statement_cache_size=0
        )
        await conn.close()

    def version(self) -> str:
        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
        return out.stdout.splitlines()[0] if out.stdout else "unknown"
