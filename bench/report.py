"""What a benchmark report says about where it ran, and how it lands in docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import subprocess
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
        "service": _service_source(),
    }


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
