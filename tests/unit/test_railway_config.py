"""The Railway files: the web service checks /health; the reconcile cron job starts the
command the service's own parser accepts, on a five-field schedule, and is never restarted
(a failed run waits for the next one)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

from connect_backend.__main__ import _parser

ROOT = Path(__file__).resolve().parents[2]


def _config(name: str) -> dict[str, Any]:
    with (ROOT / name).open("rb") as file:
        return tomllib.load(file)


def test_the_web_service_builds_the_dockerfile_and_checks_health() -> None:
    config = _config("railway.toml")

    assert config["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    assert config["deploy"]["healthcheckPath"] == "/health"
    assert "cronSchedule" not in config["deploy"]


def test_the_cron_job_runs_reconcile_from_the_same_image() -> None:
    config = _config("railway.reconcile.toml")
    deploy = config["deploy"]

    assert config["build"] == _config("railway.toml")["build"]
    program, *argv = shlex.split(deploy["startCommand"])
    assert (program, argv[:2]) == ("python", ["-m", "connect_backend"])
    assert _parser().parse_args(argv[2:]).command == "reconcile"
    assert re.fullmatch(r"(\S+ ){4}\S+", deploy["cronSchedule"])
    assert deploy["restartPolicyType"] == "NEVER"
    assert "healthcheckPath" not in deploy  # it serves nothing


MINIMUM_READS_A_MONTH = 10_000
"""Stripe's smallest monthly allocation of reads on behalf of connected accounts (issue 23)."""


def test_the_cron_schedule_stays_inside_the_minimum_read_allocation() -> None:
    """At most one run a day, each bounded by --max-reads: 31 runs a month fit the minimum."""
    deploy = _config("railway.reconcile.toml")["deploy"]
    minute, hour, *every_day = deploy["cronSchedule"].split()
    assert minute.isdigit()
    assert hour.isdigit()
    assert every_day == ["*", "*", "*"]
    options = _parser().parse_args(shlex.split(deploy["startCommand"])[3:])
    assert options.max_reads is not None
    assert not options.all
    assert 31 * options.max_reads <= MINIMUM_READS_A_MONTH
