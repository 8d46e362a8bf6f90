"""`python -m bench.fleet [--orgs N]`: the fleet at 10,000 organizations (issue 23), on the local
stack (the Stripe simulator, the real Worker on workerd with a local D1, the service).

Seeds N organizations in mixed states (`devstack.fleet`: accounts the simulator holds, D1 rows
with a last sync spread over 60 days), then measures:

- **reconcile**: the Stripe account reads one run makes (counted by the simulator,
  `/_sim/requests`) for the default selection (`--stale-after 7d`), for `--all`, and for a
  default run right after one that synced what it read (the steady state); the documented
  schedule's run (`--stale-after 30d --max-reads 250`) at the test-mode budget (the service's
  default for a test key: 20 requests a second, half of them for reads), its duration, and a
  sample of `--sample-reads` reads at that budget whose rate gives how long the unbounded runs
  take at it;
- **the console**: `GET /api/connect/organizations` as the platform admin, 100 loads of each of
  its first pages (default, a name search, a status filter, each sort), p50/p95/max at the
  service.

Writes its section into docs/benchmarks.md (between the fleet markers) and prints it. Long:
about 15 minutes on this 2-core machine at 10,000.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import fmt, machine_info, write_section
from devstack import fleet
from devstack.stack import ROOT, BetterAuth, Stack, StackConfig

MARK_START = "<!-- fleet:results:start -->"
MARK_END = "<!-- fleet:results:end -->"
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway local account
SCHEDULE = ("--stale-after", "30d", "--max-reads", "250")
"""The documented cron run (railway.reconcile.toml)."""
RUNS_A_MONTH = 31
LOADS = 100


@dataclass
class Run:
    """One reconcile run: its command line, reads, seconds and summary."""

    label: str
    argv: tuple[str, ...]
    budget: str
    reads: int
    seconds: float
    summary: str


def _account_reads(sim: httpx.Client) -> int:
    """Stripe account reads the simulator counted since the last call (then zeroed)."""
    answer = sim.delete("/_sim/requests", params={"method": "GET"})
    answer.raise_for_status()
    return sum(
        row["count"]
        for row in answer.json()["data"]
        if row["path"].startswith("/v1/accounts/") and row["path"].count("/") == 3
    )


def _reconcile(
    stack: Stack, sim: httpx.Client, label: str, argv: tuple[str, ...], *, budget: int | None
) -> Run:
    """`python -m connect_backend reconcile *argv` against the stack, timed, its reads counted;
    `budget`: STRIPE_REQUESTS_PER_SECOND (None: the service's default, 0: none)."""
    env = {**os.environ, **stack.service_env()}
    if budget is not None:
        env["STRIPE_REQUESTS_PER_SECOND"] = str(budget)
    _account_reads(sim)
    began = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "connect_backend", "reconcile", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise RuntimeError(f"reconcile {argv} exited {done.returncode}: {done.stderr[-2000:]}")
    shown = "none (no limit)" if budget == 0 else "20/s (10 reads/s): test mode's default"
    summary = " / ".join(done.stdout.splitlines()[:3])
    return Run(label, argv, shown, _account_reads(sim), seconds, summary)


def _platform_admin(stack: Stack) -> str:
    """A platform admin's session token."""
    auth = BetterAuth(stack.config.worker_url)
    try:
        admin = auth.sign_up("fleet-admin@bench.test", PASSWORD, "Fleet Admin")
    finally:
        auth.close()
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'fleet-admin@bench.test'")
    return admin.token


def _console(stack: Stack, token: str) -> list[tuple[str, list[float], int]]:
    """Each console view loaded LOADS times in a row: its query, the latencies (ms) and the
    total its counts gave."""
    views = [
        "limit=25",
        "limit=25&name=cedar",
        "limit=25&status=pending",
        "limit=25&sort=last_sync",
        "limit=25&sort=-last_sync&status=active",
    ]
    measured = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.config.service_url, headers=headers, timeout=30) as client:
        for query in views:
            client.get(f"/api/connect/organizations?{query}").raise_for_status()  # warm
            times = []
            total = 0
            for _ in range(LOADS):
                began = time.perf_counter()
                answer = client.get(f"/api/connect/organizations?{query}")
                times.append((time.perf_counter() - began) * 1000)
                answer.raise_for_status()
                total = answer.json()["counts"]["total"]
            measured.append((query, times, total))
    return measured


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--sample-reads", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench.fleet", *(argv or sys.argv[1:])])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as state:
        # One admin loads the console 500 times in a row: past the per-user limit of reads
        # (120 a minute), which this does not measure.
        config = StackConfig(
            state_dir=Path(state),
            run_frontend=False,
            service_env={"RATE_LIMIT_READS_PER_MINUTE": "0"},
        )
        with Stack(config) as stack, httpx.Client(base_url=config.sim_url, timeout=60) as sim:
            token = _platform_admin(stack)
            began = time.perf_counter()
            made = fleet.seed_fleet(stack, args.orgs)
            seeded_s = time.perf_counter() - began
            print(f"seeded {args.orgs} in {seeded_s:.0f} s: {dict(made)}", flush=True)
            console = _console(stack, token)
            runs = [
                _reconcile(stack, sim, "default (dry run)", ("--dry-run",), budget=0),
                _reconcile(stack, sim, "`--all` (dry run)", ("--dry-run", "--all"), budget=0),
                _reconcile(stack, sim, "the schedule's run", SCHEDULE, budget=None),
                _reconcile(
                    stack,
                    sim,
                    "a sample at the test budget",
                    ("--all", "--max-reads", str(args.sample_reads)),
                    budget=None,
                ),
                _reconcile(stack, sim, "default, writing", (), budget=0),
                _reconcile(stack, sim, "default, right after", (), budget=0),
            ]
    took = time.perf_counter() - started
    section = _section(args.orgs, made, seeded_s, runs, console, command)
    print(section)
    print(f"Total: {took:.0f} s", flush=True)
    if not args.no_write:
        write_section(args.output, section, start=MARK_START, end=MARK_END)
        print(f"Wrote {args.output}")


def _section(
    orgs: int,
    made: dict[str, int],
    seeded_s: float,
    runs: list[Run],
    console: list[tuple[str, list[float], int]],
    command: str,
) -> str:
    machine = machine_info()
    by = {run.label: run for run in runs}
    sample = by["a sample at the test budget"]
    rate = sample.reads / sample.seconds if sample.seconds else 0.0
    sched = by["the schedule's run"]
    lines = [
        MARK_START,
        "### Latest fleet run (written by `bench/fleet.py`)",
        "",
        f"`{command}` on {machine['nproc']} x {machine['cpu']}, {machine['memory']}, "
        f"load {machine['load']} at the end; Python {machine['python']}; machine speed "
        f"{machine['speed']} (`bench.report.machine_speed_ms`, lower is faster).",
        "",
        f"{orgs:,} organizations seeded in {seeded_s:.0f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(made.items()))
        + " (D1 last syncs spread over 60 days).",
        "",
        "| reconcile run | Stripe budget | account reads | seconds | summary |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for run in runs:
        shown = shlex.join(["reconcile", *run.argv])
        lines.append(
            f"| {run.label}: `{shown}` | {run.budget} | {run.reads:,} | {fmt(run.seconds)} "
            f"| {run.summary} |"
        )
    lines += [
        "",
        f"At the test-mode budget the sample read {rate:.1f} accounts a second: "
        f"`--all` ({by['`--all` (dry run)'].reads:,} reads) takes about "
        f"{by['`--all` (dry run)'].reads / rate / 60:.0f} min, the default first run "
        f"({by['default (dry run)'].reads:,} reads) about "
        f"{by['default (dry run)'].reads / rate / 60:.0f} min; the schedule's run read "
        f"{sched.reads} in {sched.seconds:.0f} s, so the schedule spends at most "
        f"{RUNS_A_MONTH} x {sched.reads} = {RUNS_A_MONTH * sched.reads:,} reads a month."
        if rate
        else "(no sample rate)",
        "",
        f"| console view (`GET /api/connect/organizations?…`, {LOADS} loads each) "
        "| counts total | p50 ms | p95 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for query, times, total in console:
        lines.append(
            f"| `{query}` | {total:,} | {fmt(statistics.median(times))} | "
            f"{fmt(_p(times, 95))} | {fmt(max(times))} |"
        )
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"  # the marker's own line: the prose after it stays apart


if __name__ == "__main__":
    main()
