"""Scale-out proof (issue 6): several app processes on loopback behind Debian's nginx,
sharing only PostgreSQL. `python -m bench.scaleout [--apps 3] [--trials 30]`.

It starts the Whop emulator (a server of its own), N app processes (one worker each, all
serving the same site: one APP_URL, the nginx address) and nginx in front of them, all on
127.0.0.1, as deploy/ ships them: each app process is the systemd unit's ExecStart, and nginx
runs the shipped site with only its ports, TLS and cache directory made local
(bench/deployment.py). Between the processes and PostgreSQL run what operators put there
(bench/database.py): PgBouncer in transaction pooling mode (DATABASE_URL, with
DATABASE_POOLER=pgbouncer; DATABASE_DIRECT_URL is PostgreSQL itself) and a streaming standby
made with pg_basebackup, which public pages are read from (DATABASE_REPLICA_URL);
`--pooler none` and `--no-replica` leave either out. Then it checks:

1. a session made through one process works through every other;
2. signing out through one process ends the session in every process;
3. an edit made through one process shows on the public page through every other within 1 s
   (the page cache must keep this true), and again while the standby's replay is paused
   (a page rendered from a standby behind the edit must never be cached);
4. stopping one process (SIGSTOP) during a load run through nginx gives no failed request
   (nginx retries an idempotent request on the next upstream after `proxy_read_timeout`);
5. T1 spread across processes: for each of --trials unlocks, 10 buyer returns
   (`/checkout/confirm`) and 10 deliveries of one signed webhook, all at once and spread
   over the processes, end in exactly one transition (COMPLETED by that payment, one inbox
   row, every event processed, no refund); each unlock's status poll is answered 204 from
   every process's memory before, and reveals the link through every process after;
6. a rolling restart under load through nginx (wrk's GETs and webhook deliveries) gives no
   failed request: each process in turn is stopped as systemd stops the unit and started
   again on its port, and every event delivered meanwhile is processed (what a stopping
   process's inbox workers left is taken by the next one to start).

Everything it starts runs in its own process group and is stopped at the end (by its pid),
also on Ctrl-C and on errors. Needs nginx (`sudo apt-get install -y nginx-light`), wrk and,
unless left out, pgbouncer and PostgreSQL's pg_basebackup (Debian's postgresql-15).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import PgBouncer, Standby  # noqa: E402
from bench.deployment import SITE, Unit, render_site  # noqa: E402
from bench.run import CREDENTIALS, RESULTS, _free_port, _terminate  # noqa: E402
from bench.scenarios import buyer_cookies  # noqa: E402
from bench.server import HOST, WHOP_FACTORY, BenchServer, available_server  # noqa: E402
from bench.wrk import INSTALL_HINT, Request, run_wrk, write_requests, wrk_path  # noqa: E402

DATABASE = "linkmint_bench_scaleout"
NGINX_HINT = "nginx is not installed; on Debian/Ubuntu: sudo apt-get install -y nginx-light"
PGBOUNCER_HINT = (
    "pgbouncer is not installed; on Debian/Ubuntu: sudo apt-get install -y pgbouncer "
    "(or --pooler none)"
)

# What Debian's /etc/nginx/nginx.conf is to the site, on loopback and in a directory of its own.
NGINX_CONF = """\
{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""
# nginx tries a process that failed again after the site's fail_timeout (5 s): a rolling
# restart waits this long after a process is ready before it stops the next.
REJOIN_SECONDS = 6


def nginx_conf(prefix: Path, port: int, redirect_port: int, upstream_ports: list[int]) -> str:
    """The main configuration; writes the shipped site, rendered for loopback, beside it."""
    site = prefix / "linkmint.conf"
    site.write_text(
        render_site(
            SITE.read_text(),
            host=HOST,
            port=port,
            redirect_port=redirect_port,
            upstream_ports=upstream_ports,
            cache=prefix / "cache",
        )
    )
    # Started by root, nginx's workers would run as nobody, who may not use these directories.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return NGINX_CONF.format(user=user, prefix=prefix, site=site)


class Nginx:
    def __init__(self, prefix: Path, port: int, upstream_ports: list[int]) -> None:
        self.prefix = prefix
        self.port = port
        self.redirect_port = _free_port()
        self.upstream_ports = upstream_ports
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        import httpx

        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(nginx_conf(self.prefix, self.port, self.redirect_port, self.upstream_ports))
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(  # noqa: S603
            [exe, "-p", str(self.prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        log = (self.prefix / "nginx-error.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{log[-2000:]}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _group_signal(server: BenchServer, sig: signal.Signals) -> None:
    if server.proc is not None:
        os.killpg(server.proc.pid, sig)


class ScaleOut:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(66)  # noqa: S311 - a reproducible data set, not a secret
        self.checks: list[dict[str, Any]] = []

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append({"check": name, "pass": bool(ok), "detail": detail})
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    # --- set-up ---------------------------------------------------------------------------

    def run(self) -> dict:
        from dotenv import dotenv_values

        from bench import database

        name = self.args.database
        url = database.with_database(
            database.choose_url(os.environ, dotenv_values(ROOT / ".env")), name
        )
        nginx_port, whop_port = _free_port(), _free_port()
        app_ports = [_free_port() for _ in range(self.args.apps)]
        site = f"http://{HOST}:{nginx_port}"
        print(f"scaleout: database {name} (recreated) …", flush=True)
        asyncio.run(database.recreate(url))
        # What an operator does behind PgBouncer: the server bounds statements by itself
        # (no startup parameter passes PgBouncer), at DB_STATEMENT_TIMEOUT's default.
        asyncio.run(database.set_statement_timeout(url, "5s"))
        self.database_url = url  # PostgreSQL itself: the harness's own checks read there
        self.pgbouncer = self.standby = None
        self.database_env = {"DATABASE_URL": url}
        try:
            if self.args.pooler == "pgbouncer":
                self.pgbouncer = PgBouncer(url, _free_port())
                self.pgbouncer.start()
                self.database_env = {
                    "DATABASE_URL": self.pgbouncer.url(name),
                    "DATABASE_DIRECT_URL": url,
                    "DATABASE_POOLER": "pgbouncer",
                }
            if self.args.replica:
                print("scaleout: making a streaming standby (pg_basebackup) …", flush=True)
                self.standby = Standby(url, _free_port())
                self.standby.start()
                self.database_env["DATABASE_REPLICA_URL"] = self.standby.url(name)
            return self._run(url, nginx_port, whop_port, app_ports, site)
        finally:
            for piece in (self.pgbouncer, self.standby):
                if piece is not None:
                    piece.stop()

    def _run(
        self, url: str, nginx_port: int, whop_port: int, app_ports: list[int], site: str
    ) -> dict:
        common = {
            **CREDENTIALS,
            **self.database_env,
            "DB_POOL_SIZE": "8",
            "VAR_DIR": str(self.workdir / "var"),
            "LOG_LEVEL": "WARNING",
            # The checks write paid payments at Whop and then deliver or confirm them; a
            # background sweep of Whop's records (its first pass 12-60 s after a process
            # starts) would complete some unlocks first, and T1 would see them done.
            "MAINTENANCE_SECONDS": "3600",
        }
        whop_url = f"http://{HOST}:{whop_port}"
        os.environ.update(
            {
                **common,
                "APP_URL": site,  # every process serves the one site behind nginx
                "WHOP_API_BASE": f"{whop_url}/_whop/api/v1",
                "WHOP_OAUTH_BASE": f"{whop_url}/_whop/oauth",
            }
        )
        from app.config import load_settings
        from app.db.engine import app_engine
        from bench import database

        self.settings = load_settings()
        print("scaleout: migrating and seeding …", flush=True)
        app_engine().without_statement_timeout()  # as `linkmint migrate`: to PostgreSQL itself
        asyncio.run(database.migrate())
        self.data, self.fee_for = asyncio.run(self._seed(url))

        kind = available_server(self.args.server)
        whop = BenchServer(
            kind, whop_port, 1,
            {**os.environ, **common, "APP_URL": whop_url, "WHOP_API_BASE": "",
             "WHOP_OAUTH_BASE": ""},
            self.workdir / "whop.log", factory=WHOP_FACTORY, ready_paths=("/readyz",),
        )  # fmt: skip
        self.unit = Unit.read()
        self.apps = [
            BenchServer(
                kind, p, 1, dict(os.environ), self.workdir / f"app{i + 1}.log",
                command=self.unit.command(p), ready_paths=("/readyz",),
            )
            for i, p in enumerate(app_ports)
        ]  # fmt: skip
        self.nginx = Nginx(self.workdir / "nginx", nginx_port, app_ports)
        started = [whop, *self.apps]
        try:
            for server in started:
                server.start()
            self.nginx.start()
            print(
                f"scaleout: {len(self.apps)} × `{' '.join(self.unit.exec_start[1:])}` "
                f"behind nginx at {self.nginx.url}; {self._databases()} …",
                flush=True,
            )
            self._session_everywhere()
            self._edit_visible_everywhere()
            if self.standby is not None:
                self._edit_visible_while_the_standby_lags()
            standby_reads = self._standby_transactions()
            self._failover()
            if self.standby is not None:
                self._standby_served(standby_reads)
            self._t1_across_processes()
            self._rolling_restart()  # last: the processes T1 and the others knew are gone
        finally:
            self.nginx.stop()
            for server in reversed(started):
                server.stop()
        return {
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "apps": len(self.apps),
            "server": "linkmint serve (deploy/systemd/linkmint@.service)",
            "whop_server": kind,
            "database": self._databases(),
            "checks": self.checks,
        }

    def _databases(self) -> str:
        pooler = (
            f"{self.pgbouncer.version()} (transaction pooling) in front of PostgreSQL"
            if self.pgbouncer is not None
            else "PostgreSQL directly"
        )
        replica = "; public pages from a streaming standby" if self.standby else ""
        return pooler + replica

    async def _seed(self, url: str):
        import functools

        import asyncpg

        from app.shared.fees import MoneyRules
        from bench.dataset import build_dataset, write_dataset

        conn = await asyncpg.connect(url)
        try:
            rules = MoneyRules.from_rows(
                await conn.fetchrow("SELECT * FROM platform_config WHERE id = 1"),
                await conn.fetch("SELECT * FROM currency_rule"),
            )
            fee_for = functools.partial(rules.fee_for, currency="usd")  # the dataset's currency
            data = build_dataset(
                self.rng,
                creators=60,
                links_per_creator=12,
                completed_unlocks=0,
                pending_unlocks=0,
                fee_for=fee_for,
            )
            await write_dataset(
                conn,
                data,
                parent_company_id=CREDENTIALS["WHOP_PARENT_COMPANY_ID"],
                fee_for=fee_for,
            )
        finally:
            await conn.close()
        return data, fee_for

    def _direct(self, index: int) -> str:
        return self.apps[index].url

    # --- checks -----------------------------------------------------------------------------

    def _session_everywhere(self) -> None:
        import httpx

        from app.auth.sessions import cookie_name, start_session

        creator = self.data.creators[0]
        token = asyncio.run(start_session(creator.id))
        name = cookie_name(self.settings.secure_cookies)
        statuses = []
        for i in range(len(self.apps)):
            r = httpx.get(self._direct(i) + "/dashboard/", cookies={name: token}, timeout=10)
            statuses.append(r.status_code)
        self.check(
            "a session works through every process",
            all(s == 200 for s in statuses),
            f"GET /dashboard/ answered {statuses}",
        )
        # Sign out through the last process (a real form post: CSRF cookie and token).
        with httpx.Client(base_url=self._direct(len(self.apps) - 1), timeout=10) as client:
            client.cookies.set(name, token)
            client.get("/healthz")  # a CSRF-protected GET hands out the lm_csrf cookie
            csrf = client.cookies.get("lm_csrf", "")
            out = client.post("/auth/logout", headers={"x-csrftoken": csrf})
        after = []
        for i in range(len(self.apps)):
            r = httpx.get(self._direct(i) + "/dashboard/", cookies={name: token}, timeout=10)
            after.append(r.status_code)
        self.check(
            "signing out through one process ends the session in all",
            out.status_code == 303 and all(s in (302, 303, 307) for s in after),
            f"logout answered {out.status_code}; /dashboard/ then answered {after}",
        )

    def _edit_visible_everywhere(
        self,
        creator_index: int = 1,
        check: str = "an edit through one process shows through every other within 1 s",
    ) -> None:
        import httpx

        from app.auth.sessions import cookie_name, start_session

        creator = self.data.creators[creator_index]
        token = asyncio.run(start_session(creator.id))
        name = cookie_name(self.settings.secure_cookies)
        bio = f"Edited through process 1 at {time.time():.3f}"
        with httpx.Client(timeout=5) as client:  # each process has the page cached first
            for i in range(len(self.apps)):
                client.get(f"{self._direct(i)}/{creator.handle}")
        with httpx.Client(base_url=self._direct(0), timeout=10) as client:
            client.cookies.set(name, token)
            client.get("/dashboard/")
            csrf = client.cookies.get("lm_csrf", "")
            saved = client.post(
                "/dashboard/profile",
                headers={"x-csrftoken": csrf, "HX-Request": "true"},
                data={
                    "display_name": creator.display_name,
                    "bio": bio,
                    "avatar_url": creator.avatar_url,
                    "theme": creator.theme,
                    "accent_color": creator.accent_color,
                },
            )
        saved_at = time.monotonic()
        seen: dict[int, float | None] = {}
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - saved_at < 3 and len(seen) < len(self.apps) - 1:
                for i in range(1, len(self.apps)):
                    if (
                        i not in seen
                        and bio in client.get(f"{self._direct(i)}/{creator.handle}").text
                    ):
                        seen[i] = time.monotonic() - saved_at
                time.sleep(0.05)
        slowest = max(seen.values(), default=None)
        self.check(
            check,
            saved.status_code == 200 and len(seen) == len(self.apps) - 1 and slowest < 1,
            f"save answered {saved.status_code}; seen through {len(seen)} of "
            f"{len(self.apps) - 1} other processes"
            + (f", the last after {slowest * 1000:.0f} ms" if slowest is not None else ""),
        )

    def _edit_visible_while_the_standby_lags(self) -> None:
        """The same with the standby's replay paused: every process must render the edited
        page from the primary (app/db/replica.py), never cache the standby's older one."""
        assert self.standby is not None
        standby = self.standby.url(self.args.database)
        asyncio.run(_standby_replay(standby, pause=True))
        try:
            self._edit_visible_everywhere(
                2, "... and so while the standby's replay is paused (it lags behind the edit)"
            )
            handle = self.data.creators[2].handle
            behind = asyncio.run(_standby_bio(standby, handle))
            if behind is not None and "Edited through process 1" in behind:
                self.check("the standby really lagged", False, "it had replayed the edit")
        finally:
            asyncio.run(_standby_replay(standby, pause=False))

    def _standby_transactions(self) -> int | None:
        if self.standby is None:
            return None
        return asyncio.run(_standby_commits(self.standby.url(self.args.database)))

    def _standby_served(self, before: int | None) -> None:
        assert self.standby is not None
        after = asyncio.run(_standby_commits(self.standby.url(self.args.database)))
        served = after - (before or 0)
        self.check(
            "public pages are read from the standby",
            served > 0,
            f"{served:,} transactions on the standby during the load run (pg_stat_database)",
        )

    def _failover(self) -> None:
        if len(self.apps) < 2:
            return
        requests = [Request("GET", f"/{c.handle}") for c in self.data.creators]
        path = self.workdir / "failover.requests"
        write_requests(path, requests)
        seconds = self.args.failover_seconds
        stopped = self.apps[1]

        def stop_one_then_resume() -> None:
            time.sleep(seconds / 3)
            _group_signal(stopped, signal.SIGSTOP)
            time.sleep(seconds / 3)
            _group_signal(stopped, signal.SIGCONT)

        pauser = threading.Thread(target=stop_one_then_resume, daemon=True)
        pauser.start()
        try:
            figures = run_wrk(
                self.nginx.url,
                path,
                self.workdir / "failover.out.json",
                threads=2,
                connections=16,
                seconds=seconds,
            )
        finally:
            pauser.join()
            _group_signal(stopped, signal.SIGCONT)  # never leave it stopped
        self.check(
            "a process stopped during a load run through nginx fails no request",
            figures.failed == 0 and figures.requests > 0,
            f"{figures.requests:,} GETs in {figures.seconds:.0f} s, {figures.failed} failed "
            f"({figures.errors}); p99 {figures.p99_ms:.0f} ms, max {figures.max_ms:.0f} ms "
            f"(process 2 stopped for {seconds / 3:.0f} s)",
        )

    def _rolling_restart(self) -> None:
        if len(self.apps) < 2:
            return
        from bench import webhooks

        path = self.workdir / "rolling.requests"
        write_requests(path, [Request("GET", f"/{c.handle}") for c in self.data.creators])
        pool = webhooks.build_pool(
            self.rng,
            self.data,
            events=self.args.restart_deliveries,
            duplicate_share=0,
            secret=self.settings.whop_webhook_secret,
            now=int(time.time()),
            fee_for=self.fee_for,
        )
        asyncio.run(webhooks.write_pool(self.database_url, pool))
        restarts: list[tuple[float, float, int | None]] = []
        restarted = threading.Event()
        deliveries = Deliveries(self.nginx.url, pool.deliveries, until=restarted)

        def restart_each() -> None:
            try:
                time.sleep(2)
                for server in self.apps:
                    restarts.append(self._restart(server))
                    time.sleep(REJOIN_SECONDS)
            finally:
                restarted.set()

        restarter = threading.Thread(target=restart_each, daemon=True)
        deliveries.start()
        restarter.start()
        try:
            figures = run_wrk(
                self.nginx.url,
                path,
                self.workdir / "rolling.out.json",
                threads=2,
                connections=16,
                seconds=self.args.restart_seconds,
            )
            under_load = restarted.is_set()  # (every restart ended within the load run)
            restarted.set()  # (the deliveries stop with the load)
        finally:
            restarter.join()
            deliveries.join()
        verdict = asyncio.run(self._settle_deliveries(pool, deliveries.answered))
        exits = [code for _, _, code in restarts]
        # How systemd judges a stop: exit 0, or its own signal (uvicorn, having shut down,
        # raises the signal it caught again).
        clean = {0, -self.unit.kill_signal}
        detail = [
            f"{figures.requests:,} GETs in {figures.seconds:.0f} s, {figures.failed} failed "
            f"({figures.errors})",
            f"{len(deliveries.answered) + len(deliveries.failed)} webhook deliveries, "
            f"{len(deliveries.failed)} failed",
            *deliveries.failed[:3],
            f"each of {len(self.apps)} processes stopped (exit {exits}) within "
            f"{max((t for t, _, _ in restarts), default=0):.1f} s and answering again "
            f"{max((t for _, t, _ in restarts), default=0):.1f} s later",
            *verdict.problems,
        ]
        if not under_load:
            detail.append("the restarts outlasted the load run (--restart-seconds)")
        if verdict.exactly_once:
            detail.append("every event delivered was processed once, its unlock completed")
        self.check(
            "a rolling restart of every process under load through nginx fails no request",
            figures.failed == 0
            and not deliveries.failed
            and verdict.exactly_once
            and under_load
            and len(exits) == len(self.apps)
            and set(exits) <= clean,
            "; ".join(detail),
        )

    def _restart(self, server: BenchServer) -> tuple[float, float, int | None]:
        """What `systemctl restart` does with the unit: its KillSignal to the main process,
        SIGKILL after TimeoutStopSec, then ExecStart again. Returns the seconds to stop, the
        seconds until it answers again, and how it exited."""
        proc = server.proc
        assert proc is not None
        told = time.monotonic()
        os.kill(proc.pid, self.unit.kill_signal)
        try:
            proc.wait(self.unit.timeout_stop)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stopped = time.monotonic()
        server.proc = None
        server.start()
        return stopped - told, time.monotonic() - stopped, proc.returncode

    async def _settle_deliveries(self, pool, answered: list):
        import asyncpg

        from bench import webhooks

        ids = [d.webhook_id for d in answered]
        conn = await asyncpg.connect(self.database_url)
        try:
            deadline = time.monotonic() + 60
            while True:
                rows = await conn.fetch(
                    "SELECT id, processed_at IS NOT NULL AS done FROM webhook_event"
                    " WHERE id = ANY($1::text[])",
                    [d.webhook_id for d in pool.deliveries],
                )
                inbox = {r["id"]: r["done"] for r in rows}
                if all(inbox.get(i) for i in ids) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            unlocks = await conn.fetch(
                "SELECT id, status, provider_payment_id FROM unlock WHERE id = ANY($1::text[])",
                [u.id for u in pool.unlocks],
            )
            refunds = await conn.fetchval(
                "SELECT count(*) FROM whop_emulator.refund WHERE payment_id = ANY($1::text[])",
                [d.payment_id for d in pool.deliveries],
            )
        finally:
            await conn.close()
        # (The pool's other payments are paid at Whop too: the background sweep of Whop's
        # records may complete their unlocks without any delivery.)
        delivered = {d.unlock_id for d in answered}
        return webhooks.judge(
            [u for u in pool.unlocks if u.id in delivered],
            answered,
            inbox=inbox,
            unlocks={r["id"]: (r["status"], r["provider_payment_id"]) for r in unlocks},
            refunds=refunds,
        )

    def _t1_across_processes(self) -> None:
        from bench import webhooks

        trials = self.args.trials
        pool = webhooks.build_pool(
            self.rng,
            self.data,
            events=trials,
            duplicate_share=0,
            secret=self.settings.whop_webhook_secret,
            now=int(time.time()),
            fee_for=self.fee_for,
        )
        asyncio.run(webhooks.write_pool(self.database_url, pool))
        problems = asyncio.run(self._confirm_concurrently(pool))
        self.check(
            "T1: concurrent confirmations spread across processes, one transition each",
            not problems,
            f"{trials} unlocks × (10 returns + 10 webhook deliveries) over {len(self.apps)} "
            "processes; each unlock's status poll, 204 from every process's memory before, "
            "revealed through every process after"
            + (f"; {'; '.join(problems[:5])}" if problems else ""),
        )

    async def _confirm_concurrently(self, pool) -> list[str]:
        import asyncpg
        import httpx

        from app.whop.webhooks import webhook_headers
        from bench.webhooks import WEBHOOK_PATH

        problems: list[str] = []
        n = len(self.apps)
        secret = self.settings.whop_webhook_secret
        cookies = buyer_cookies(self.settings.secret_key, self.settings.secure_cookies)
        buyers = {u.id: u.buyer_token for u in pool.unlocks}

        async def poll(client: httpx.AsyncClient, index: int, unlock_id: str) -> httpx.Response:
            return await client.get(
                f"{self._direct(index)}/unlocks/{unlock_id}/status",
                headers={"HX-Request": "true"},
                cookies={cookies.name: cookies.seal(buyers[unlock_id])},
            )

        async with httpx.AsyncClient(timeout=30) as client:
            # Every process learns each unlock is pending (its memory then answers 204) ...
            for d in pool.deliveries:
                for k in range(n):
                    first, again = await poll(client, k, d.unlock_id), None
                    if first.status_code == 200:
                        again = await poll(client, k, d.unlock_id)
                    if first.status_code != 200 or again is None or again.status_code != 204:
                        problems.append(
                            f"{d.unlock_id}: polls through process {k + 1} answered "
                            f"{first.status_code}, {again.status_code if again else '-'}"
                            " (expected 200, then 204 from memory)"
                        )
            for d in pool.deliveries:
                calls = []
                for k in range(10):
                    base = self._direct(k % n)
                    calls.append(
                        client.get(
                            f"{base}/checkout/confirm",
                            params={"unlock": d.unlock_id, "payment_id": d.payment_id},
                        )
                    )
                    headers = webhook_headers(secret, d.webhook_id, d.body.encode())
                    calls.append(
                        client.post(
                            f"{self._direct((k + 1) % n)}{WEBHOOK_PATH}",
                            content=d.body,
                            headers=headers,
                        )
                    )
                answers = await asyncio.gather(*calls, return_exceptions=True)
                failed = [a for a in answers if isinstance(a, Exception) or a.status_code >= 500]
                if failed:
                    problems.append(f"{d.unlock_id}: {len(failed)} requests failed")
        conn = await asyncpg.connect(self.database_url)
        try:
            # Deliveries are answered once stored; each process's inbox workers finish them.
            ids = [d.webhook_id for d in pool.deliveries]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                unprocessed = await conn.fetchval(
                    "SELECT count(*) FROM webhook_event"
                    " WHERE id = ANY($1::text[]) AND processed_at IS NULL",
                    ids,
                )
                if not unprocessed:
                    break
                await asyncio.sleep(0.2)
            else:
                problems.append(f"{unprocessed} inbox events still unprocessed after 30 s")
            rows = await conn.fetch(
                "SELECT id, status, provider_payment_id FROM unlock WHERE id = ANY($1::text[])",
                [u.id for u in pool.unlocks],
            )
            inbox = await conn.fetchval(
                "SELECT count(*) FROM webhook_event WHERE id = ANY($1::text[])",
                [d.webhook_id for d in pool.deliveries],
            )
            refunds = await conn.fetchval(
                "SELECT count(*) FROM whop_emulator.refund WHERE payment_id = ANY($1::text[])",
                [d.payment_id for d in pool.deliveries],
            )
        finally:
            await conn.close()
        paid = {d.unlock_id: d.payment_id for d in pool.deliveries}
        wrong = [
            r["id"]
            for r in rows
            if r["status"] != "COMPLETED" or r["provider_payment_id"] != paid[r["id"]]
        ]
        if wrong or len(rows) != len(paid):
            problems.append(f"{len(wrong)} unlocks not COMPLETED by their payment")
        if inbox != len(pool.deliveries):
            problems.append(f"{inbox} inbox rows for {len(pool.deliveries)} events")
        if refunds:
            problems.append(f"{refunds} refunds")
        # ... and every process forgets it as soon as it completes: the next poll through
        # any of them reveals the link and stops polling (286).
        async with httpx.AsyncClient(timeout=30) as client:
            stale = 0
            for d in pool.deliveries:
                for k in range(n):
                    r = await poll(client, k, d.unlock_id)
                    if r.status_code != 286 or "unlock-revealed" not in r.text:
                        stale += 1
            if stale:
                problems.append(f"{stale} polls after completion did not reveal the link")
        return problems


async def _standby_replay(url: str, *, pause: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        if not pause:
            await conn.execute("SELECT pg_wal_replay_resume()")
            return
        await conn.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 10
        while await conn.fetchval("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise RuntimeError("the standby's replay did not pause")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _standby_bio(url: str, handle: str) -> str | None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT bio FROM creator WHERE handle = $1", handle)
    finally:
        await conn.close()


async def _standby_commits(url: str) -> int:
    """Transactions the standby's backends committed in its database (their statistics
    reach the view within a second of going idle)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await asyncio.sleep(1.1)
        return await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()


class Deliveries:
    """Whop delivering webhook events through nginx at a steady pace, a few at a time, until
    `until` is set (or the pool runs out); every delivery must be answered 200."""

    SENDERS = 4
    PACE = 0.25  # seconds between one sender's deliveries

    def __init__(self, base_url: str, pool: list, *, until: threading.Event) -> None:
        self.base_url = base_url
        self.pool = pool
        self.until = until
        self.answered: list = []
        self.failed: list[str] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._send, args=(pool[n :: self.SENDERS],), daemon=True)
            for n in range(self.SENDERS)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def _send(self, mine: list) -> None:
        import httpx

        from bench.webhooks import WEBHOOK_PATH

        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for delivery in mine:
                if self.until.is_set():
                    return
                try:
                    r = client.post(WEBHOOK_PATH, content=delivery.body, headers=delivery.headers())
                    problem = None if r.status_code == 200 else f"answered {r.status_code}"
                except httpx.HTTPError as exc:
                    problem = repr(exc)
                with self.lock:
                    if problem is None:
                        self.answered.append(delivery)
                    else:
                        self.failed.append(f"{delivery.webhook_id}: {problem}")
                time.sleep(self.PACE)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.scaleout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--apps", type=int, default=3, choices=(2, 3, 4))
    p.add_argument("--trials", type=int, default=30, help="T1 unlocks (20 calls each)")
    p.add_argument("--failover-seconds", type=float, default=12)
    p.add_argument(
        "--restart-seconds",
        type=float,
        default=70,
        help="the load run during the rolling restart (every restart must end within it)",
    )
    p.add_argument(
        "--restart-deliveries",
        type=int,
        default=800,
        help="webhook events available to deliver during the rolling restart",
    )
    p.add_argument(
        "--server",
        default="auto",
        choices=("auto", "granian", "uvicorn"),
        help="the Whop emulator's server (the app processes run the systemd unit's command)",
    )
    p.add_argument(
        "--database",
        default=DATABASE,
        help="its own database, recreated each run (the name must contain 'bench')",
    )
    p.add_argument(
        "--pooler",
        default="pgbouncer",
        choices=("pgbouncer", "none"),
        help="PgBouncer in transaction mode between the processes and PostgreSQL, or none",
    )
    p.add_argument(
        "--no-replica",
        dest="replica",
        action="store_false",
        help="no streaming standby: public pages read from the primary",
    )
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    if wrk_path() is None:
        raise SystemExit(f"scaleout: {INSTALL_HINT}")
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise SystemExit(f"scaleout: {NGINX_HINT}")
    if args.pooler == "pgbouncer" and not (
        shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists()
    ):
        raise SystemExit(f"scaleout: {PGBOUNCER_HINT}")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="linkmint-scaleout-"))
    try:
        results = ScaleOut(args, workdir).run()
    except KeyboardInterrupt:
        print("scaleout: interrupted; everything it started is stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if args.keep:
            print(f"scaleout: logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    passed = sum(c["pass"] for c in results["checks"])
    print(f"scaleout: {passed} of {len(results['checks'])} checks passed")
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"scaleout-{results['when'].replace(':', '-')}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"scaleout: wrote {out.relative_to(ROOT)}")
    if passed != len(results["checks"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
