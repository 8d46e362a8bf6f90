"""`python -m connect_backend`: serve the app with uvicorn, `WEB_CONCURRENCY` processes.
`python -m connect_backend reconcile [--dry-run] [--concurrency N] [--stale-after D] [--all]
[--max-reads N]`: bring D1 up to date with Stripe for the organizations it chooses (the
unsettled, then the stale; `connect_backend.reconcile`), once, and exit.
`python -m connect_backend reconcile --money [--since DATE] [--dry-run]`: check what came back
from organizations against the refund policy and settle open claims by reversal
(`connect_backend.money_reconcile`); exit 1 when any transfer does not match.

uvicorn's own supervisor runs the worker processes (no second server to configure): they
share the listening socket, a worker that dies is replaced, and on SIGTERM (Railway's, on
every deploy) or SIGINT each worker stops accepting, finishes the requests in flight (up to
`GRACEFUL_SECONDS`) and exits. Each worker builds the app itself from the environment
(`connect_backend.app:from_environment`); the settings are checked here first, once.

`reconcile` prints its summary on stdout and logs on stderr; it exits 0 when every
organization was checked, 1 when any failed, 2 for an invalid configuration (or command
line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from connect_backend import log, metrics, money_reconcile, reconcile, runtime
from connect_backend.settings import Settings

GRACEFUL_SECONDS = 10
"""How long a stopping worker waits for its requests in flight (Railway waits longer)."""
KEEP_ALIVE_SECONDS = 65
"""How long an idle connection stays open: longer than a proxy in front keeps its idle
connections to us (60 s is common), so the proxy, not the service, closes them and never
sends a request on a connection the service is closing (uvicorn's own default is 5 s)."""
EVENT_LOOP = "asyncio"
"""The standard library's event loop, not uvloop (uvicorn's `auto` choice): under a load that
keeps the process busy, uvloop left new connections waiting in the listen queue for seconds
(p99 10-15x p50 under wrk), where asyncio's loop accepts them between requests, at no more
CPU per request (docs/benchmarks.md, issue 24)."""
MAX_CONCURRENCY = 32
MONEY_WINDOW_DAYS = 120
"""`reconcile --money`'s window without `--since`: the 120 days in which a card payment may
usually still be disputed."""
"""The most accounts `reconcile --concurrency` reads at once (the Stripe budget paces them)."""


def _settings_or_exit() -> Settings:
    try:
        return Settings()  # read from the environment
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: "
            + ("is required" if e["type"] == "missing" else e["msg"])
            for e in exc.errors()
        )
        print(f"connect_backend: invalid configuration: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Serve (no command), or run the command `argv` names (`reconcile`) and exit with its
    status."""
    args = _parser().parse_args(argv)
    if args.command == "reconcile" and args.money:
        raise SystemExit(money_command(since=args.since, dry_run=args.dry_run))
    if args.command == "reconcile":
        raise SystemExit(
            reconcile_command(
                dry_run=args.dry_run,
                concurrency=args.concurrency,
                selection=reconcile.Selection(
                    stale_after=args.stale_after, every=args.all, max_reads=args.max_reads
                ),
            )
        )
    serve()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connect_backend",
        description="Serve the Connect backend (without a command), or run one of its commands.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = commands.add_parser(
        "reconcile",
        help="bring D1 up to date with Stripe for the unsettled and the stale accounts, once",
        description="Read from Stripe again the accounts not yet settled, then those not "
        "synced for --stale-after (every one with --all), oldest sync first, at most "
        "--max-reads; store what each says, ordered like webhooks; print a summary (with what "
        "was left for the next run). Exit status: 0 when every organization read was checked, "
        "1 when any failed, 2 for an invalid configuration.",
    )
    command.add_argument(
        "--dry-run", action="store_true", help="report what would be written; write nothing"
    )
    command.add_argument(
        "--concurrency",
        type=_concurrency,
        default=reconcile.DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"accounts read from Stripe at once, 1..{MAX_CONCURRENCY} "
        f"(default {reconcile.DEFAULT_CONCURRENCY})",
    )
    command.add_argument(
        "--stale-after",
        type=_duration,
        default=reconcile.DEFAULT_STALE_AFTER,
        metavar="D",
        help="read a settled account not synced for this long: a whole number of days, "
        "hours or minutes, e.g. 7d, 12h, 30m (default 7d)",
    )
    command.add_argument(
        "--all",
        action="store_true",
        help="read every settled account, however recently synced",
    )
    command.add_argument(
        "--max-reads",
        type=_max_reads,
        default=None,
        metavar="N",
        help="read at most N accounts this run (default: no bound); the rest wait for the next",
    )
    command.add_argument(
        "--money",
        action="store_true",
        help="check what came back from organizations (refunds, disputes, reversals, claims) "
        "against the refund policy, and settle open claims by reversal",
    )
    command.add_argument(
        "--since",
        type=_date,
        default=None,
        metavar="DATE",
        help=f"with --money: charges made on or after DATE (YYYY-MM-DD, UTC; default "
        f"{MONEY_WINDOW_DAYS} days ago)",
    )
    return parser


_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _duration(text: str) -> timedelta:
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isascii() or not number.isdigit() or len(number) > 6:
        raise argparse.ArgumentTypeError("must be a whole number and d, h or m, e.g. 7d")
    return timedelta(**{_UNITS[unit]: int(number)})


def _max_reads(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 10_000_000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 10000000")
    return int(text)


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def money_command(*, since: datetime | None, dry_run: bool) -> int:
    """`reconcile --money` from the environment's settings: its summary on stdout, its logs
    on stderr; the exit status."""
    settings = _settings_or_exit()
    log.configure(settings.log_level, stream=sys.stderr)
    window = since or datetime.now(UTC) - timedelta(days=MONEY_WINDOW_DAYS)
    return asyncio.run(run_money(settings, since=window, dry_run=dry_run))


async def run_money(settings: Settings, *, since: datetime, dry_run: bool) -> int:
    """One `reconcile --money` with a replica's clients; prints the summary, returns 0 when
    every transfer matched the policy, else 1."""
    async with runtime.clients(settings) as made:
        report = await money_reconcile.reconcile_money(
            worker=made.worker,
            gateway=made.stripe,
            since=since,
            policy=settings.refund_fee_policy,
            dry_run=dry_run,
        )
    print("\n".join(report.lines()), flush=True)
    return report.exit_status


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be a whole number in 1..{MAX_CONCURRENCY}")
    return value


def reconcile_command(
    *, dry_run: bool, concurrency: int, selection: reconcile.Selection | None = None
) -> int:
    """`reconcile` from the environment's settings: its summary on stdout, its logs on
    stderr; the exit status (2 when the settings are invalid)."""
    settings = _settings_or_exit()
    log.configure(settings.log_level, stream=sys.stderr)
    return asyncio.run(
        run_reconcile(settings, dry_run=dry_run, concurrency=concurrency, selection=selection)
    )


async def run_reconcile(
    settings: Settings,
    *,
    dry_run: bool,
    concurrency: int,
    selection: reconcile.Selection | None = None,
) -> int:
    """One reconciliation with the clients a replica builds (`runtime.clients`: with
    `REDIS_URL`, the replicas' own Stripe budget); prints the summary, returns 0 when nothing
    failed, else 1."""
    log.info(
        "reconcile.starting",
        shared_state=settings.redis_url is not None,
        stripe_budget_per_second=settings.stripe_budget_per_process,
    )
    async with runtime.clients(settings) as made:
        report = await reconcile.reconcile(
            worker=made.worker,
            gateway=made.stripe,
            dry_run=dry_run,
            concurrency=concurrency,
            selection=selection,
        )
    print("\n".join(report.lines()), flush=True)
    return report.exit_status


def serve() -> None:
    """Validate the settings, then serve the app on HOST:PORT with WEB_CONCURRENCY workers."""
    settings = _settings_or_exit()
    log.configure(settings.log_level)
    workers = settings.web_concurrency
    if workers > 1 and settings.redis_url is None:
        log.warning(
            "service.state_per_process",
            processes=workers,
            per_process=settings.per_process_state(),
            hint="set REDIS_URL to share them across processes and replicas",
        )
    log.info("service.starting", processes=workers, shared_state=settings.redis_url is not None)
    made = _metrics_folder() if workers > 1 else None
    try:
        uvicorn.run(
            "connect_backend.app:from_environment",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=log.uvicorn_config(),  # uvicorn's own lines as JSON lines too
            access_log=False,  # our own JSON line per request replaces it
            proxy_headers=True,
            forwarded_allow_ips="*",
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            loop=EVENT_LOOP,
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _metrics_folder() -> Path | None:
    """Before several workers start: the folder where each writes its metrics for a scrape to
    sum (prometheus-client's multiprocess mode; the workers inherit the variable). One given
    in `PROMETHEUS_MULTIPROC_DIR` is emptied of an earlier run's files; else a fresh one is
    made, and returned (removed when the service stops)."""
    given = os.environ.get(metrics.MULTIPROCESS_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="connect-metrics-"))
    os.environ[metrics.MULTIPROCESS_DIR] = str(made)
    return made


if __name__ == "__main__":
    main()
