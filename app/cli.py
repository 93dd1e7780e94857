"""The `linkmint` command: serve, migrate, dev, emulator, inbox, doctor, reconcile,
replay-webhooks, currencies."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from app.config import Settings, SettingsError, load_settings

if TYPE_CHECKING:  # the commands import what they run when they run it
    from app.payments.audit import AuditReport
    from app.payments.inbox import DrainReport
    from app.payments.reconcile import ReconcileReport
    from app.whop import WhopClient

T = TypeVar("T")


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from app.db.engine import app_engine

    app_engine().without_statement_timeout()  # building an index may take minutes
    result = await run_forwards(app_name="all")
    if not result.success:
        raise SystemExit(f"migrations failed: {result.message}")


def migrate() -> None:
    asyncio.run(_migrate())
    print("migrations applied")


async def _with_whop(work: Callable[[WhopClient], Awaitable[T]]) -> T:
    """Run `work(whop)` with a Whop client for this process's settings; Whop errors are
    reported in a sentence, not a traceback."""
    from app.whop import WhopClient, WhopError

    settings = load_settings()
    async with WhopClient.connect(settings) as whop:
        try:
            return await work(whop)
        except WhopError as exc:
            raise SystemExit(f"linkmint: {exc}") from None


def reconcile(calls: int, expire_after: float) -> None:
    """Read every selling company's payments at Whop now and converge what differs (the
    periodic pass, without waiting for companies to be due)."""
    from datetime import timedelta

    from app.payments.reconcile import SweepOptions
    from app.payments.reconcile import reconcile as run

    settings = load_settings()
    options = SweepOptions(
        calls=calls,
        every=timedelta(0),  # the operator asks: every company, however recently read
        refund_window=timedelta(days=settings.whop_refund_window_days),
    )

    async def work(whop: WhopClient) -> ReconcileReport:
        return await run(whop, options, expire_after=timedelta(seconds=expire_after))

    report = asyncio.run(_with_whop(work))
    print(report.summary())


def _moment(text: str) -> datetime:
    """`2026-12-01` (midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-12-01) or an ISO 8601 time (2026-12-01T08:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit(start: datetime, end: datetime) -> None:
    """Our books beside Whop's for the payments made in [start, end); exit 1 if they differ."""
    from app.payments.audit import audit as run
    from app.payments.audit import store

    settings = load_settings()

    async def work(whop: WhopClient) -> AuditReport:
        report = await run(whop, start, end, calls_per_minute=settings.whop_list_calls_per_minute)
        await store(report)
        return report

    report = asyncio.run(_with_whop(work))
    print("\n".join(report.lines()))
    if not report.clean:
        raise SystemExit(1)


def replay_webhooks() -> None:
    """Process every stored webhook event not processed yet, whatever its attempts."""
    from datetime import timedelta

    from app.main import register_webhook_handlers
    from app.payments.inbox import drain_inbox

    register_webhook_handlers()

    async def work(whop: WhopClient) -> DrainReport:
        return await drain_inbox(whop, min_age=timedelta(0), max_attempts=None, limit=10_000)

    report = asyncio.run(_with_whop(work))
    print(
        f"{len(report.tried)} unprocessed event(s): {report.processed} processed, "
        f"{report.failed} failed again, {report.skipped} taken by another process"
    )
    if report.failed:
        raise SystemExit(1)


def _between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def whole(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return number

    return whole


def doctor() -> None:
    """The preflight before going live (app/doctor.py); exit 1 unless every check passes."""
    import warnings

    from app.db.engine import app_engine
    from app.doctor import diagnose, report

    with warnings.catch_warnings():  # Piccolo's on an unreachable database: doctor says it
        warnings.simplefilter("ignore")
        engine = app_engine()
    findings = asyncio.run(diagnose(load_settings(), engine))
    print(report(findings))
    if not all(finding.ok for finding in findings):
        raise SystemExit(1)


def currencies(args: argparse.Namespace) -> None:
    """The operator's currencies (app/shared/currencies.py): list them, allow or disallow
    one, set its bounds; every change prints the list as it now is."""
    from app.shared import currencies as operator
    from app.shared.fees import money_rules

    async def run() -> list[str]:
        action = args.currencies_action
        if action in ("allow", "disallow", "set"):
            bounds = operator.Bounds(args.min, args.max, args.fee_min)
            allow = {"allow": True, "disallow": False}.get(action)  # "set": neither
            await operator.set_bounds(args.code, bounds, allow=allow)
        elif action == "default":
            await operator.set_default(args.code)
        elif action == "three-decimal":
            await operator.set_three_decimal(args.state == "on")
        return operator.describe(await money_rules())

    try:
        print("\n".join(asyncio.run(run())))
    except operator.CurrencyRefused as exc:
        print(f"linkmint currencies: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _currencies_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_cur = sub.add_parser(
        "currencies", help="the currencies creators may sell in, and each one's price bounds"
    )
    actions = p_cur.add_subparsers(dest="currencies_action", required=True)
    actions.add_parser("list", help="every currency with a rule, allowed or not")
    for name, helptext in (
        ("allow", "let creators sell in CODE (bounds needed unless it has them)"),
        ("disallow", "stop accepting prices in CODE (past sales stay as they are)"),
        ("set", "change CODE's bounds without allowing or disallowing it"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("code", help="ISO 4217 code, like jpy")
        for flag, what in (
            ("--min", "lowest price"),
            ("--max", "highest price"),
            ("--fee-min", "least platform fee"),
        ):
            action.add_argument(flag, type=int, metavar="MINOR", help=f"{what}, in minor units")
    default = actions.add_parser("default", help="the currency new creators start in")
    default.add_argument("code")
    three = actions.add_parser(
        "three-decimal", help="whether KWD, BHD, … may be allowed (Whop: unconfirmed; off)"
    )
    three.add_argument("state", choices=("on", "off"))


def serve(host: str, port: int, workers: int, reload: bool = False) -> None:
    from app.web.serving import serve as run

    run(host, port, workers, load_settings(), reload)


def dev(settings: Settings, port: int, reload: bool) -> None:
    """Migrate, then serve on loopback (`make run`). The embedded PostgreSQL it used (no
    DATABASE_URL) stops with it, on Ctrl-C or SIGTERM too, unless another process uses it."""
    from app.db.engine import stop_embedded_server

    # SIGTERM would end the process on the spot, skipping the `finally` below (uvicorn, once
    # it has shut down gracefully, raises the signal again for this handler).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        migrate()
        where = "DATABASE_URL" if settings.database_url else f"embedded, {settings.var_dir / 'pg'}"
        whop = "the Whop emulator at /_whop" if settings.emulator_enabled else settings.api_base
        print(f"Linkmint on {settings.app_url}  (database: {where}; Whop: {whop})", flush=True)
        serve("127.0.0.1", port, 1, reload=reload)
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        raise SystemExit(128 + signal.SIGINT) from None
    finally:
        if not settings.database_url and stop_embedded_server(settings.var_dir):
            print("stopped the embedded PostgreSQL", flush=True)


def emulator(settings: Settings, host: str, port: int, redirect_uris: list[str] | None) -> None:
    """The Whop emulator alone (app/emulator/standalone.py), on loopback only."""
    from app.emulator.standalone import NotLoopback, run

    try:
        run(settings, host, port, redirect_uris or [settings.redirect_uri])
    except NotLoopback as exc:
        print(f"linkmint emulator: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


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
    p_emulator = sub.add_parser(
        "emulator",
        help="run the Whop emulator alone (API at http://HOST:PORT/_whop/api/v1), for any client",
    )
    p_emulator.add_argument("--host", default="127.0.0.1", help="a loopback address only")
    p_emulator.add_argument("--port", type=int, default=8100)
    p_emulator.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help="an OAuth redirect URI the client may use (repeatable; default: "
        "APP_URL/auth/callback)",
    )
    p_reconcile = sub.add_parser(
        "reconcile",
        help="match Whop's payment records with ours now (also runs every minute), or audit",
    )
    p_reconcile.add_argument(
        "--calls",
        type=int,
        default=10_000,
        metavar="N",
        help="at most this many list calls to Whop (default 10000)",
    )
    p_reconcile.add_argument(
        "--expire-after",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="expire unpaid unlocks older than this (default 3600)",
    )
    p_reconcile.add_argument(
        "--audit",
        nargs=2,
        type=_moment,
        metavar=("FROM", "TO"),
        help="instead: per creator and currency, our totals beside Whop's for the payments "
        "made from FROM to TO (dates or ISO times, UTC); exit 1 if anything differs",
    )
    p_inbox = sub.add_parser(
        "inbox",
        help="process webhook events only: the app processes, started with INBOX_WORKERS=0, "
        "announce each one they store to it",
    )
    p_inbox.add_argument(
        "--workers",
        type=_between(1, 64),
        default=2,
        metavar="N",
        help="batches of events under way at once (default 2; INBOX_BATCH bounds a batch)",
    )
    p_inbox.add_argument(
        "--whop-reads",
        type=_between(1, 1000),
        metavar="N",
        help="questions to Whop in flight at once (default: INBOX_WHOP_READS)",
    )
    sub.add_parser(
        "replay-webhooks", help="process the stored webhook events that are not processed yet"
    )
    sub.add_parser(
        "doctor",
        help="check the settings, the database and Whop before going live, one line each "
        "(exit 1 if any check fails)",
    )
    _currencies_parser(sub)
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"linkmint: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    if args.command == "migrate":
        migrate()
    elif args.command == "reconcile" and args.audit:
        start, end = args.audit
        if start >= end:
            parser.error("--audit: FROM must be before TO")
        audit(start, end)
    elif args.command == "reconcile":
        reconcile(args.calls, args.expire_after)
    elif args.command == "replay-webhooks":
        replay_webhooks()
    elif args.command == "inbox":
        from app.main import register_webhook_handlers
        from app.payments.inbox_process import main as inbox

        register_webhook_handlers()
        if args.whop_reads is not None:
            settings = dataclasses.replace(settings, inbox_whop_reads=args.whop_reads)
        inbox(settings, args.workers)
    elif args.command == "doctor":
        doctor()
    elif args.command == "currencies":
        currencies(args)
    elif args.command == "serve":
        serve(args.host, args.port, args.workers)
    elif args.command == "dev":
        dev(settings, args.port, args.reload)
    elif args.command == "emulator":
        emulator(settings, args.host, args.port, args.redirect_uris)


if __name__ == "__main__":
    main()
