"""The `linkmint` command: serve, migrate, dev, reconcile, replay-webhooks."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import ROOT, SettingsError, load_settings

# Piccolo finds its configuration by importing `piccolo_conf` from the repository root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards(app_name="all")
    if not result.success:
        raise SystemExit(f"migrations failed: {result.message}")


def migrate() -> None:
    asyncio.run(_migrate())
    print("migrations applied")


async def _with_whop(work):
    """Run `work(whop)` with a Whop client for this process's settings; Whop errors are
    reported in a sentence, not a traceback."""
    from app.whop import WhopClient, WhopError

    settings = load_settings()
    async with WhopClient.connect(settings) as whop:
        try:
            return await work(whop)
        except WhopError as exc:
            raise SystemExit(f"linkmint: {exc}") from None


def reconcile(older_than: float, expire_after: float) -> None:
    """Ask Whop about every unlock still pending and converge it (the periodic task, now)."""
    from datetime import timedelta

    from app.payments.reconcile import reconcile as run

    async def work(whop):
        return await run(
            whop,
            older_than=timedelta(seconds=older_than),
            expire_after=timedelta(seconds=expire_after),
            recheck_after=timedelta(0),  # the operator asks: everything due, however recent
        )

    report = asyncio.run(_with_whop(work))
    print(report.summary())


def replay_webhooks() -> None:
    """Process every stored webhook event not processed yet, whatever its attempts."""
    from datetime import timedelta

    from app.payments.inbox import drain_inbox

    async def work(whop):
        return await drain_inbox(whop, min_age=timedelta(0), max_attempts=None, limit=10_000)

    report = asyncio.run(_with_whop(work))
    print(
        f"{len(report.tried)} unprocessed event(s): {report.processed} processed, "
        f"{report.failed} failed again, {report.skipped} taken by another process"
    )
    if report.failed:
        raise SystemExit(1)


def serve(host: str, port: int, workers: int, reload: bool = False) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers if not reload else None,
        reload=reload,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        log_level="info",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="linkmint", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the app (migrations must already be applied)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("migrate", help="apply the database migrations")
    p_dev = sub.add_parser("dev", help="migrate, then serve on http://127.0.0.1:8000 (make run)")
    p_dev.add_argument("--port", type=int, default=8000)
    p_dev.add_argument("--reload", action="store_true", help="restart when the code changes")
    p_reconcile = sub.add_parser(
        "reconcile", help="converge pending unlocks with Whop now (also runs every minute)"
    )
    p_reconcile.add_argument(
        "--older-than", type=float, default=180, metavar="SECONDS",
        help="only unlocks pending for at least this long (default 180)",
    )
    p_reconcile.add_argument(
        "--expire-after", type=float, default=3600, metavar="SECONDS",
        help="expire unpaid unlocks older than this (default 3600)",
    )
    sub.add_parser(
        "replay-webhooks", help="process the stored webhook events that are not processed yet"
    )
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"linkmint: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    if args.command == "migrate":
        migrate()
    elif args.command == "reconcile":
        reconcile(args.older_than, args.expire_after)
    elif args.command == "replay-webhooks":
        replay_webhooks()
    elif args.command == "serve":
        serve(args.host, args.port, args.workers)
    elif args.command == "dev":
        migrate()
        where = "the embedded PostgreSQL in var/pg" if not settings.database_url else "DATABASE_URL"
        whop = "the Whop emulator at /_whop" if settings.emulator_enabled else settings.api_base
        print(f"Linkmint on {settings.app_url}  (database: {where}; Whop: {whop})", flush=True)
        serve("127.0.0.1", args.port, 1, reload=args.reload)


if __name__ == "__main__":
    main()
