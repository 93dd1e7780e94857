"""A PostgreSQL of the tests' own and a streaming standby of it, for the read-replica tests.

The primary is initdb'd into a temporary directory and served on a free loopback port, with
its own pg_hba.conf allowing replication from 127.0.0.1 and the app's migrations; the
standby is `pg_basebackup -R -X stream` of it (bench/database.py: `Standby`). Both are small,
so the pair is ready in seconds, and neither the machine's server nor its configuration is
touched: a standby of the machine's whole cluster took tens of seconds, and a `replication`
line in its pg_hba.conf that only root may add.

PostgreSQL's programs refuse to run as root: then they run as the `postgres` system user
from directories it owns, as the scale-out's standby and PgBouncer do, and as the embedded
server of `make run` does with a user of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.database import LoopbackServer, Standby, own_dir, service_user
from tests.support.servers import ROOT, free_port

DATABASE = "linkmint"


def postgres_bindir() -> Path | None:
    """Debian's newest PostgreSQL programs (/usr/lib/postgresql/<major>/bin), if any."""
    found = sorted(
        (path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


class PrivatePrimary(LoopbackServer):
    """A fresh PostgreSQL cluster on 127.0.0.1:`port` with the database `linkmint`, migrated.
    `stop()` ends it by its pid (SIGINT: a fast shutdown) and removes its directory."""

    LOG_NAME = "primary.log"

    def __init__(self, bindir: Path, port: int) -> None:
        super().__init__(f"postgresql://postgres@127.0.0.1:{port}/postgres", port)
        self.bindir = bindir
        self.migrating: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60) -> None:
        """Initdb, serve and create the database; its migrations are then under way in a
        process of their own (a standby made meanwhile streams them): `wait_migrated()`."""
        self.dir = own_dir("linkmint-primary-")
        data = self.dir / "data"
        try:
            made = subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
                 "--no-instructions"],
                capture_output=True, text=True, cwd=self.dir, check=False, **service_user(),
            )  # fmt: skip
            if made.returncode != 0:
                raise RuntimeError(f"initdb failed: {made.stderr.strip()}")
            with (data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nmax_connections = 40\n"
                    "shared_buffers = 16MB\nfsync = off\n"
                )
            (data / "pg_hba.conf").write_text(
                "local all all trust\nhost all all 127.0.0.1/32 trust\n"
                "host replication all 127.0.0.1/32 trust\n"
            )
            with (self.dir / self.LOG_NAME).open("ab") as log:
                self.proc = subprocess.Popen(
                    [str(self.bindir / "postgres"), "-D", str(data)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                    start_new_session=True, **service_user(),
                )  # fmt: skip
            asyncio.run(self._create_database(timeout))
            # `linkmint migrate`: the schema exactly as a deployment gets it.
            self.migrating = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "migrate"],
                cwd=ROOT, env={**os.environ, "DATABASE_URL": self.url(DATABASE)},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        except BaseException:
            self.stop()
            raise

    def wait_migrated(self, timeout: float = 60) -> None:
        assert self.migrating is not None
        output, _ = self.migrating.communicate(timeout=timeout)
        if self.migrating.returncode != 0:
            raise RuntimeError(f"migrations failed:\n{output}")

    def stop(self) -> None:
        if self.migrating is not None and self.migrating.poll() is None:
            self.migrating.kill()
            self.migrating.wait()
        super().stop()

    async def _create_database(self, within: float) -> None:
        conn = await self.first_connection("postgres", within=within, what="the primary")
        try:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()


@dataclass
class PrivateCluster:
    primary: PrivatePrimary
    standby: Standby

    @property
    def primary_url(self) -> str:
        return self.primary.url(DATABASE)

    @property
    def standby_url(self) -> str:
        return self.standby.url(DATABASE)


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[PrivateCluster]:
    """A migrated primary of the module's own and a streaming standby of it that logs every
    statement (how a test sees which reads went there)."""
    bindir = postgres_bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("no PostgreSQL programs under /usr/lib/postgresql/*/bin")
        pytest.skip("no PostgreSQL programs here (sudo apt-get install -y postgresql)")
    with (
        PrivatePrimary(bindir, free_port()) as primary,
        Standby(primary.url("postgres"), free_port(), {"log_statement": "all"}) as standby,
    ):
        primary.wait_migrated()
        yield PrivateCluster(primary, standby)
