"""devstack's `Process`: the peak memory it reports is the process's own high-water mark."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devstack.procs import Process

HOLD_MIB = 64


def test_peak_rss_is_the_high_water_mark_of_the_running_process(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    # Holds HOLD_MIB of touched memory, frees it, says so, then waits to be stopped.
    script = (
        f"import pathlib, time; block = bytearray({HOLD_MIB} * 2**20); del block; "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    process = Process("holder", [sys.executable, "-c", script], log_path=tmp_path / "log")
    assert process.peak_rss_kib() is None  # not started
    process.start()
    try:
        process.wait_until(ready.exists, what="the block freed", timeout=30)
        peak = process.peak_rss_kib()
        assert peak is not None
        assert peak >= HOLD_MIB * 1024  # kept after the memory was given back
    finally:
        process.kill()
    deadline = time.monotonic() + 10
    while process.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.peak_rss_kib() is None  # no longer running
