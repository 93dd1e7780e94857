"""`make bench`: seed, serve, load, compare with the baseline, report. See BENCHMARKS.md.

Every knob has a flag and an environment variable (flags win):
  --duration/BENCH_DURATION (8 s)   --warmup/BENCH_WARMUP (3 s)   --connections (32)
  --threads (2)   --workers (CPU count)   --pool/BENCH_DB_POOL_SIZE (8 per worker)
  --whop-workers (1)   --server auto|granian|uvicorn   --only public,poll,...
  --pin (wrk on CPU 0, the servers on the others)   --no-write   --keep   --report FILE
  --long-tail: a million creators and a Zipf mix over all of them instead (bench/longtail.py),
    with --mix-duration/BENCH_MIX_DURATION (300 s)   --zipf-exponent (1.0)   --keep-data
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # piccolo_conf.py lives at the repository root
    sys.path.insert(0, str(ROOT))

from bench import report, scenarios  # noqa: E402
from bench.wrk import (  # noqa: E402
    INSTALL_HINT,
    Figures,
    run_wrk,
    write_requests,
    wrk_path,
    wrk_version,
)

RESULTS = ROOT / "bench" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
# One more creator for the Insights page: 50 links and 90 days of counts (a view row, a
# click row per link, 15 referrers, 6 browsers, 3 devices and 20 countries a day: about
# 8,500 rows), as a busy creator's page would have after a quarter.
_INSIGHTS_SEED_SQL = """
WITH creator_row AS (
    INSERT INTO creator (whop_user_id, handle, display_name)
    VALUES ('user_BenchInsights0', 'insightsbench', 'Insights bench') RETURNING id
), links AS (
    INSERT INTO link (creator, kind, title, url, position)
    SELECT creator_row.id, 'link', 'Link ' || n, 'https://example.com/' || n, n
      FROM creator_row, generate_series(1, 50) AS n
    RETURNING id, creator
), dimensions AS (
    SELECT 'view' AS metric, '' AS dimension
    UNION ALL SELECT 'click', id::text FROM links
    UNION ALL SELECT 'referrer', 'site' || n || '.example' FROM generate_series(1, 15) AS n
    UNION ALL SELECT 'browser', b
      FROM unnest(ARRAY['Chrome', 'Safari', 'Firefox', 'Edge', 'Samsung Internet', 'Opera']) b
    UNION ALL SELECT 'device', d FROM unnest(ARRAY['phone', 'tablet', 'desktop']) d
    UNION ALL SELECT 'country', c
      FROM unnest(ARRAY['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA', 'AU', 'ES', 'IT', 'NL',
                        'SE', 'PL', 'MX', 'KR', 'TR', 'AR', 'ZA', 'NG']) c
), filled AS (
    INSERT INTO insight_day (creator, day, metric, dimension, hits)
    SELECT creator_row.id, day::date, metric, dimension, 1 + (random() * 200)::int
      FROM creator_row, dimensions,
           generate_series(current_date - 89, current_date, interval '1 day') AS day
    RETURNING 1
)
SELECT id FROM creator_row WHERE (SELECT count(*) FROM filled) > 0
"""

SCENARIO_ORDER = ("public", "click", "public_buyer", "poll", "studio", "insights", "webhooks")
SEED = 6  # issue 6: the data set is the same in every run
SIGNED_IN_CREATORS = 100
MAX_SIGNING_WINDOW = 240  # s from signing the deliveries to the end of their run (Whop: ±300)

# Known credentials, so the harness can act as Whop (sign webhooks) and sign creators in.
CREDENTIALS = {
    "SECRET_KEY": "bench-secret-key-" + "b" * 40,
    "WHOP_API_KEY": "apik_bench_platform_key",
    "WHOP_CLIENT_ID": "app_BenchClient0001",
    "WHOP_CLIENT_SECRET": "bench-client-secret",
    "WHOP_PARENT_COMPANY_ID": "biz_BenchPlatform01",
    "WHOP_WEBHOOK_SECRET": "ws_bench_webhook_secret_6f1c0d7e2b9a4c3d",
    "WHOP_ELEMENTS_ENV": "sandbox",
}


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=_env_number("BENCH_DURATION", 8))
    p.add_argument("--warmup", type=float, default=_env_number("BENCH_WARMUP", 3))
    p.add_argument("--connections", type=int, default=int(_env_number("BENCH_CONNECTIONS", 32)))
    p.add_argument("--threads", type=int, default=int(_env_number("BENCH_THREADS", 2)))
    p.add_argument(
        "--workers",
        type=int,
        default=int(_env_number("BENCH_WORKERS", 0)) or None,
        help="app workers (default: one per CPU, or per CPU left with --pin)",
    )
    p.add_argument(
        "--whop-workers",
        type=int,
        default=int(_env_number("BENCH_WHOP_WORKERS", 1)),
        help="workers of the Whop emulator's own server",
    )
    p.add_argument(
        "--pool",
        type=int,
        default=int(_env_number("BENCH_DB_POOL_SIZE", 8)),
        help="DB_POOL_SIZE: connections per worker",
    )
    p.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER", "auto"),
        choices=("auto", "granian", "uvicorn"),
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="wrk on CPU 0 and the servers on the other CPUs (PostgreSQL stays unpinned), "
        "as if the load came from another machine; --workers defaults to the CPUs left",
    )
    p.add_argument(
        "--creators",
        type=int,
        default=None,
        help="creators to seed (default 1,000; 1,000,000 with --long-tail)",
    )
    p.add_argument("--links", type=int, default=12, help="links per creator")
    p.add_argument(
        "--webhook-rate-cap",
        type=int,
        default=2500,
        help="deliveries/s the signed pool is sized for (it wraps beyond that)",
    )
    p.add_argument("--only", default="", help=f"comma-separated subset of {SCENARIO_ORDER}")
    p.add_argument(
        "--no-write",
        action="store_true",
        help="print only; leave bench/results and BENCHMARKS.md alone",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--report", type=Path, help="re-render a stored results file and exit")
    tail = p.add_argument_group('the long tail (BENCHMARKS.md, "The long tail")')
    tail.add_argument(
        "--long-tail",
        action="store_true",
        help="seed a million creators and send a Zipf mix of public pages over all of them",
    )
    tail.add_argument(
        "--mix-duration",
        type=float,
        default=_env_number("BENCH_MIX_DURATION", 300),
        help="seconds of the long-tail mix (memory is read at its end)",
    )
    tail.add_argument(
        "--zipf-exponent",
        type=float,
        default=1.0,
        help="s of the long-tail mix: rank k is asked for ∝ 1/k^s",
    )
    tail.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the long-tail database after the run, and reuse it when it holds the same "
        "data set (otherwise it is dropped: it is a few GB)",
    )
    tail.add_argument(
        "--indexes-during-load",
        action="store_true",
        help="keep the secondary indexes while the long-tail set is loaded, not built after",
    )
    args = p.parse_args(argv)
    args.seed = SEED
    if args.creators is None:
        args.creators = 1_000_000 if args.long_tail else 1000
    args.only = tuple(s for s in args.only.split(",") if s) or SCENARIO_ORDER
    unknown = set(args.only) - set(SCENARIO_ORDER)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.long_tail and (args.mix_duration < 1 or args.zipf_exponent <= 0):
        p.error("--mix-duration must be at least 1 s and --zipf-exponent above 0")
    if args.warmup + args.duration > MAX_SIGNING_WINDOW:
        p.error(
            f"warm-up + duration must stay under {MAX_SIGNING_WINDOW} s: the webhook "
            "deliveries are signed before the run and Whop's tolerance is ±300 s"
        )
    cpus = os.cpu_count() or 2
    if args.pin:
        if cpus < 2:
            p.error("--pin needs at least two CPUs")
        args.server_cpus, args.load_cpus = f"1-{cpus - 1}", "0"
        args.workers = args.workers or cpus - 1
    else:
        args.server_cpus = args.load_cpus = None
        args.workers = args.workers or cpus
    if min(args.duration, args.connections, args.threads, args.workers, args.pool) < 1:
        p.error("duration, connections, threads, workers and pool must be at least 1")
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: servers stop


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report:
        print_results(json.loads(args.report.read_text()))
        return
    if wrk_path() is None:
        print(f"bench: {INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(2)
    # Ctrl-C raises KeyboardInterrupt even where the shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="linkmint-bench-"))
    if args.long_tail:
        _long_tail(args, workdir)
        return
    try:
        results = Bench(args, workdir).run()
    except KeyboardInterrupt:
        print("bench: interrupted; the servers are stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if args.keep:
            print(f"bench: logs and request files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_results(results)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"{results['when'].replace(':', '-')}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        report.update_benchmarks_md(BENCHMARKS_MD, results)
        print(f"\nbench: wrote {out.relative_to(ROOT)} and BENCHMARKS.md")


def _long_tail(args: argparse.Namespace, workdir: Path) -> None:
    from bench import longtail

    try:
        results = longtail.main(args, workdir)
    except KeyboardInterrupt:
        print("bench: interrupted; the servers are stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if args.keep:
            print(f"bench: logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"longtail-{results['when'].replace(':', '-')}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nbench: wrote {out.relative_to(ROOT)} (BENCHMARKS.md is written by hand)")


def print_results(results: dict) -> None:
    print()
    print("\n".join(report.environment_lines(results)))
    print()
    print(report.console_table(results))
    print()
    print("\n".join(report.weight_lines(results.get("weight"))).replace("**", ""))
    lines = report.webhook_lines(results.get("webhooks"))
    if lines:
        print("\n".join(lines).replace("**", ""))
    for s in results["scenarios"]:
        if s.get("note") and s["status"] == "measured":
            print(f"note — {s['title']}: {s['note']}")


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(SEED)  # noqa: S311 - a reproducible data set, not a secret

    # --- set-up ---------------------------------------------------------------------------

    def _environments(
        self, database_url: str, port: int, whop_port: int
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The app's environment and the Whop emulator's. The app talks to "Whop" over
        loopback HTTP, as production talks to Whop; the emulator runs as its own server
        (empty WHOP_API_BASE/WHOP_OAUTH_BASE override any .env: it mounts itself)."""
        common = {
            **CREDENTIALS,
            "DATABASE_URL": database_url,
            "DB_POOL_SIZE": str(self.args.pool),
            "VAR_DIR": str(self.workdir / "var"),
            "LOG_LEVEL": "WARNING",
        }
        whop_url = f"http://127.0.0.1:{whop_port}"
        app_env = {
            **common,
            "APP_URL": f"http://127.0.0.1:{port}",
            # The webhook scenario's pool holds paid payments whose deliveries are never
            # sent; the background sweep of Whop's records (its first pass 12-60 s after
            # start) would complete those unlocks, and the exactly-once check would see
            # unlocks change without their event.
            "MAINTENANCE_SECONDS": "3600",
            "WHOP_API_BASE": f"{whop_url}/_whop/api/v1",
            "WHOP_OAUTH_BASE": f"{whop_url}/_whop/oauth",
        }
        whop_env = {**common, "APP_URL": whop_url, "WHOP_API_BASE": "", "WHOP_OAUTH_BASE": ""}
        return app_env, whop_env

    def run(self) -> dict:
        from dotenv import dotenv_values

        from bench import database

        args = self.args
        database_url = database.choose_url(os.environ, dotenv_values(ROOT / ".env"))
        port, whop_port = _free_port(), _free_port()
        app_env, whop_env = self._environments(database_url, port, whop_port)
        os.environ.update(app_env)

        from app.config import load_settings

        self.settings = load_settings()
        print(f"bench: database {database.database_name(database_url)} (recreated), seeding …")
        started = time.monotonic()
        postgres = asyncio.run(database.recreate(database_url))
        asyncio.run(database.migrate())
        self.data, self.signed_in, self.fee_for = asyncio.run(self._seed(database_url))
        print(f"bench: seeded in {time.monotonic() - started:.1f} s; starting the servers …")

        from bench.app import create_bench_app
        from bench.machine import machine, versions
        from bench.server import servers_for

        self.routes = scenarios.app_routes(create_bench_app())
        kind, server, whop = servers_for(args, (port, whop_port), whop_env, self.workdir)
        results: dict[str, Any] = {
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(),
            "versions": versions(postgres=postgres, wrk=wrk_version(), server=kind),
            "settings": {
                "server": kind,
                "workers": args.workers,
                "whop_workers": args.whop_workers,
                "db_pool_size": args.pool,
                "connections": args.connections,
                "threads": args.threads,
                "warmup_s": args.warmup,
                "duration_s": args.duration,
                "pinned": (
                    f"wrk on CPU {args.load_cpus}, both servers on CPUs {args.server_cpus}"
                    if args.pin
                    else None
                ),
            },
            "dataset": self._dataset_summary(),
        }
        self.database_url = database_url
        try:
            whop.start()
            server.start()
            self.server = server
            results.update(self._measure_all())
        except Exception:
            print(f"bench: app server log:\n{server.log_tail()}", file=sys.stderr)
            print(f"bench: Whop emulator log:\n{whop.log_tail()}", file=sys.stderr)
            raise
        finally:
            server.stop()
            whop.stop()
        return results

    async def _seed(self, database_url: str):
        import functools

        import asyncpg

        from app.auth.sessions import start_session
        from app.shared.fees import MoneyRules
        from bench.dataset import build_dataset, write_dataset

        conn = await asyncpg.connect(database_url)
        try:
            rules = MoneyRules.from_rows(
                await conn.fetchrow("SELECT * FROM platform_config WHERE id = 1"),
                await conn.fetch("SELECT * FROM currency_rule"),
            )
            fee_for = functools.partial(rules.fee_for, currency="usd")  # the dataset's currency
            data = build_dataset(
                self.rng,
                creators=self.args.creators,
                links_per_creator=self.args.links,
                completed_unlocks=3 * self.args.creators,
                pending_unlocks=self.args.creators,
                fee_for=fee_for,
            )
            await write_dataset(
                conn,
                data,
                parent_company_id=CREDENTIALS["WHOP_PARENT_COMPANY_ID"],
                fee_for=fee_for,
            )
            insights_creator = await conn.fetchval(_INSIGHTS_SEED_SQL)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        # Signed-in creators, through the app's own session code (as /auth/callback does).
        signed_in: list[tuple[str, int]] = []
        for creator in data.creators[:SIGNED_IN_CREATORS]:
            token = await start_session(creator.id)
            signed_in += [(token, k.id) for k in data.links if k.creator_id == creator.id]
        self.insights_token = await start_session(insights_creator)
        return data, signed_in, fee_for

    def _dataset_summary(self) -> dict:
        d = self.data
        return {
            "creators": len(d.creators),
            "links": len(d.links),
            "premium_links": len(d.premium_links()),
            "payout_enabled": sum(c.payout_enabled for c in d.creators),
            "unlocks_completed": len(d.unlocks_with("COMPLETED")),
            "unlocks_pending": len(d.unlocks_with("PENDING")),
            "signed_in_creators": SIGNED_IN_CREATORS,
        }

    # --- measuring --------------------------------------------------------------------------

    def _run(self, scenario: scenarios.Scenario, requests_file: Path, seconds: float) -> Figures:
        return run_wrk(
            self.server.url,
            requests_file,
            self.workdir / f"{scenario.key}.out.json",
            threads=min(self.args.threads, scenario.connections or self.args.threads),
            connections=scenario.connections or self.args.connections,
            seconds=seconds,
            pick=scenario.pick,
            cpus=self.args.load_cpus,
        )

    def _probe(self, scenario: scenarios.Scenario) -> str | None:
        """One request as the scenario sends it; None when the answer is as expected."""
        import httpx

        req = scenario.requests[0]
        if scenario.key == "webhooks":  # an unsigned delivery: must be refused, changes nothing
            response = httpx.post(
                self.server.url + req.path,
                content=req.body,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            if 400 <= response.status_code < 500:
                return None
            return f"an unsigned delivery got {response.status_code}, expected a 4xx"
        response = httpx.request(
            req.method,
            self.server.url + req.path,
            headers=dict(req.headers),
            content=req.body or None,
            timeout=10,
        )
        if response.status_code in scenario.expect:
            if scenario.probe_text and scenario.probe_text not in response.text:
                return f"{req.method} {req.path}: the answer lacks {scenario.probe_text!r}"
            return None
        return f"{req.method} {req.path} answered {response.status_code}: {response.text[:120]!r}"

    def _measure(self, scenario: scenarios.Scenario) -> dict:
        entry: dict[str, Any] = {
            "key": scenario.key,
            "title": scenario.title,
            "status": "measured",
            "note": scenario.note,
        }
        missing = scenarios.missing_routes(scenario, self.routes)
        if missing:
            entry.update(status="n/a", note=f"n/a (route missing: {', '.join(missing)})")
            return entry
        requests_file = self.workdir / f"{scenario.key}.requests"
        write_requests(requests_file, scenario.requests)
        problem = self._probe(scenario)
        if problem:
            entry.update(status="error", note=f"not measured: {problem}")
            return entry
        print(f"bench: {scenario.title} …", flush=True)
        self._run(scenario, requests_file, max(self.args.warmup, scenario.warmup_at_least))
        figures = self._run(scenario, requests_file, self.args.duration)
        entry["figures"] = figures.as_dict()
        if scenario.extra:
            entry["extra"] = scenario.extra
        entry["_figures"] = figures
        return entry

    def _measure_all(self) -> dict:
        from app.auth.sessions import cookie_name

        only = self.args.only
        cookies = scenarios.buyer_cookies(self.settings.secret_key, self.settings.secure_cookies)
        base = scenarios.baseline()
        before = self._measure(base)
        entries = []
        if "public" in only:
            entries.append(self._measure(scenarios.public(self.data)))
            entries.append(self._measure(scenarios.public_uncached(self.data)))
        if "click" in only:
            entries.append(self._measure(scenarios.click(self.data)))
        if "public_buyer" in only:
            entries.append(self._measure(scenarios.public_buyer(self.data, cookies)))
        if "poll" in only:
            entries.append(self._measure(scenarios.poll(self.data, cookies)))
        if "studio" in only:
            session_cookie = cookie_name(self.settings.secure_cookies)
            entries.append(self._measure(scenarios.studio(self.signed_in, session_cookie)))
        if "insights" in only:
            session_cookie = cookie_name(self.settings.secure_cookies)
            entries.append(self._measure(scenarios.insights(self.insights_token, session_cookie)))
        webhooks_check = None
        if "webhooks" in only:
            entry, webhooks_check = self._webhooks()
            entries.append(entry)
        weight = self._weight()
        after = self._measure(base)
        if before["status"] != "measured" or after["status"] != "measured":
            raise RuntimeError(f"the baseline failed: {before.get('note') or after.get('note')}")
        baseline_rps = (before["_figures"].rps + after["_figures"].rps) / 2

        for entry in entries:
            figures = entry.get("_figures")
            if figures is not None:
                entry["ratio"] = report.ratio(figures.rps, baseline_rps)
        for entry in entries:
            metrics = {**(entry.get("figures") or {}), "ratio": entry.get("ratio")}
            if entry["key"] == "webhooks" and webhooks_check and "exactly_once" in webhooks_check:
                metrics["exactly_once"] = webhooks_check["exactly_once"]
            if entry["status"] == "measured":
                entry["checks"] = report.evaluate(metrics, report.TARGETS[entry["key"]])
            else:
                entry["checks"] = report.evaluate({}, report.TARGETS[entry["key"]])
        for entry in (before, after, *entries):
            entry.pop("_figures", None)
        return {
            "baseline": {
                "rps": round(baseline_rps, 1),
                "before": before["figures"],
                "after": after["figures"],
            },
            "scenarios": entries,
            "weight": weight,
            "webhooks": webhooks_check,
        }

    # --- page weight ----------------------------------------------------------------------

    def _weight(self) -> dict:
        from bench import weight

        plain = self.data.plain_page()
        try:
            measured = weight.measure(self.server.url, f"/{plain.handle}")
        except Exception as exc:  # noqa: BLE001 - reported, not fatal to the other figures
            return {"error": str(exc)}
        out = measured.as_dict()
        out["page"] = f"/{plain.handle}"
        out["links"] = sum(1 for k in self.data.links if k.creator_id == plain.id)
        out["checks"] = report.evaluate(
            {"total_gzip_bytes": out["total_gzip_bytes"], "third_party": len(out["third_party"])},
            report.TARGETS["weight"],
        )
        return out

    # --- webhooks ---------------------------------------------------------------------------

    def _webhooks(self) -> tuple[dict, dict | None]:
        """Signed deliveries, warm-up then measured run, then the exactly-once check.

        The warm-up's pool is sized for --webhook-rate-cap; the measured pool for half again
        the rate the warm-up reached, so the run does not run out of deliveries and whatever
        prefix of the pool it sends carries its 10 % of redeliveries. Each pool is signed just
        before its run (Whop's tolerance is ±300 s)."""
        from bench import webhooks

        empty = scenarios.webhooks([])
        if scenarios.missing_routes(empty, self.routes):
            entry = self._measure(empty)
            return entry, {"note": entry["note"]}

        def pool_for(name: str, seconds: float, rate: float):
            events = math.ceil(min(rate, self.args.webhook_rate_cap) * seconds * 0.9)
            pool = webhooks.build_pool(
                self.rng,
                self.data,
                events=max(events, 100),
                duplicate_share=0.1,
                secret=self.settings.whop_webhook_secret,
                now=int(time.time()),
                fee_for=self.fee_for,
            )
            asyncio.run(webhooks.write_pool(self.database_url, pool))
            scenario = scenarios.webhooks([d.request() for d in pool.deliveries])
            path = self.workdir / f"webhooks-{name}.requests"
            write_requests(path, scenario.requests)
            return pool, scenario, path

        entry: dict[str, Any] = {
            "key": empty.key, "title": empty.title, "status": "measured", "note": ""
        }  # fmt: skip
        warm, scenario, path = pool_for("warm", self.args.warmup, self.args.webhook_rate_cap)
        problem = self._probe(scenario)
        if problem:
            entry.update(status="error", note=f"not measured: {problem}")
            return entry, {"note": entry["note"]}
        print(f"bench: {scenario.title} …", flush=True)
        warm_figures = self._run(scenario, path, self.args.warmup)
        measure, scenario, path = pool_for("measure", self.args.duration, 1.5 * warm_figures.rps)
        figures = self._run(scenario, path, self.args.duration)
        entry["figures"] = figures.as_dict()
        entry["_figures"] = figures
        if figures.wrapped:
            entry["note"] = (
                f"the signed pool ran out ({figures.wrapped} wraps), so more than 10 % of "
                "the deliveries were redeliveries"
            )
        sent = webhooks.sent_deliveries(
            warm.deliveries, warm_figures.sent_per_thread
        ) + webhooks.sent_deliveries(measure.deliveries, figures.sent_per_thread)
        verdict = asyncio.run(self._check_webhooks([warm, measure], sent))
        return entry, verdict.as_dict()

    async def _check_webhooks(self, pools: list, sent: list):
        """Let processing settle, re-send what wrk cut off (as Whop would retry), judge."""
        import asyncpg
        import httpx

        from app.whop.webhooks import webhook_headers
        from bench import webhooks

        all_ids = [d.webhook_id for p in pools for d in p.deliveries]
        conn = await asyncpg.connect(self.database_url)
        try:

            async def inbox() -> dict[str, bool]:
                rows = await conn.fetch(
                    "SELECT id, processed_at IS NOT NULL AS done FROM webhook_event"
                    " WHERE id = ANY($1::text[])",
                    all_ids,
                )
                return {r["id"]: r["done"] for r in rows}

            async def settle(limit: float = 300) -> dict[str, bool]:
                deadline = time.monotonic() + limit
                while True:
                    state = await inbox()
                    if all(state.values()) or time.monotonic() > deadline:
                        return state
                    await asyncio.sleep(0.5)

            # Deliveries are answered once stored; the app's inbox workers process them
            # after, so the backlog the runs left is worked off here.
            run_ended = time.monotonic()
            state = await settle()
            settled_after = time.monotonic() - run_ended
            cut_off = {d.webhook_id: d for d in sent if d.webhook_id not in state}
            async with httpx.AsyncClient(base_url=self.server.url, timeout=15) as client:
                for d in cut_off.values():
                    headers = webhook_headers(
                        self.settings.whop_webhook_secret, d.webhook_id, d.body.encode()
                    )
                    await client.post(webhooks.WEBHOOK_PATH, content=d.body, headers=headers)
            state = await settle()
            unlock_rows = await conn.fetch(
                "SELECT id, status, provider_payment_id FROM unlock WHERE id = ANY($1::text[])",
                [u.id for p in pools for u in p.unlocks],
            )
            refunds = await conn.fetchval(
                "SELECT count(*) FROM whop_emulator.refund WHERE payment_id = ANY($1::text[])",
                [row[0] for p in pools for row in p.payments],
            )
            window = await conn.fetchval(
                "SELECT extract(epoch FROM max(processed_at) - min(received_at))::float8"
                " FROM webhook_event WHERE id = ANY($1::text[])",
                [d.webhook_id for d in sent],
            )
        finally:
            await conn.close()
        return webhooks.judge(
            [u for p in pools for u in p.unlocks],
            sent,
            inbox=state,
            unlocks={r["id"]: (r["status"], r["provider_payment_id"]) for r in unlock_rows},
            refunds=refunds,
            retried_after_run=len(cut_off),
            settled_after_s=round(settled_after, 1),
            processing_window_s=window,
        )
