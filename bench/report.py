"""What a benchmark report says about where it ran, and how it lands in docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fmt(value: float, digits: int = 1) -> str:
    """A number for a Markdown table; NaN as a dash."""
    return "-" if value != value else f"{value:.{digits}f}"


def machine_info() -> dict[str, str]:
    """The machine, its load now and the service's code, for a report."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False)  # noqa: S607
    return {
        "nproc": nproc.stdout.strip() or str(os.cpu_count()),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "speed": f"{machine_speed_ms():.0f} ms",
        "service": _service_source(),
    }


_TEMPLATE = re.compile(r"^/api/connect/(\w+)/(org_\d+)$")


def _calibration(rounds: int) -> int:
    """A fixed piece of pure-Python work of the service's kind: small dicts and lists, string
    formatting, JSON both ways, a regex; nothing of the service's own code or libraries."""
    kept = 0
    for n in range(rounds):
        org = {"id": f"org_{n:04d}", "status": "active", "fee": n % 100, "tags": [n, n + 1]}
        answer = json.loads(json.dumps({"organization": org, "n": n}))["organization"]
        match = _TEMPLATE.match(f"/api/connect/status/{answer['id']}")
        kept += len(answer) + (len(match.group(2)) if match else 0) + sum(answer["tags"]) % 7
    return kept


def machine_speed_ms(*, repeats: int = 5) -> float:
    """The CPU milliseconds `_calibration` takes here now (the median of `repeats`): the
    machine's speed at the time of a run, lower is faster. This VM's speed drifts by a tenth
    or more from one hour to the next (docs/benchmarks.md); two runs' figures compare only as
    far as their speeds agree."""
    taken = []
    for _ in range(repeats):
        started = time.process_time()
        _calibration(20_000)
        taken.append((time.process_time() - started) * 1000)
    return statistics.median(taken)


def _service_source() -> str:
    """Which code the service runs: where `connect_backend` imports from, at which commit."""
    spec = importlib.util.find_spec("connect_backend")
    if spec is None or spec.origin is None:
        return "?"
    package = Path(spec.origin).parent

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed command line
            ["git", "-C", str(package), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "no git"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", ".") else ""
    return f"`{package}` at {commit}{dirty}"


def write_section(path: Path, section: str, *, start: str, end: str) -> None:
    """Replace the section between the markers `start` and `end` in `path` (or append it)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def publish(
    section: str,
    *,
    markers: tuple[str, str],
    output: Path | None,
    json_path: Path | None,
    raw: Callable[[], dict[str, Any]],
    took_s: float,
) -> None:
    """Print a run's section; write it into `output` between `markers`, and `raw()` as JSON."""
    print(section)
    print(f"Total: {took_s:.1f} s", flush=True)
    if output is not None:
        write_section(output, section, start=markers[0], end=markers[1])
        print(f"Wrote {output}")
    if json_path is not None:
        json_path.write_text(json.dumps(raw(), indent=2))
