"""What Linux's /proc says about the stack's processes: CPU time, memory, open files.

devstack starts each part as the leader of its own process group, so a part's CPU and memory
are those of its group (the Worker: wrangler's node and its workerd children).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from devstack.procs import Process

CLK_TCK = os.sysconf("SC_CLK_TCK")


def pid_of(process: Process) -> int:
    """The pid of a running part (also its process group's id)."""
    pid = process.pid
    if pid is None:
        raise RuntimeError(f"{process.name} is not running")
    return pid


def _group(pgid: int) -> Iterator[tuple[int, list[bytes]]]:
    """(pid, /proc/pid/stat fields after the command name) of each live process of a group."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            yield int(entry.name), fields


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds used so far by the live processes of one process group."""
    return sum(int(f[11]) + int(f[12]) for _, f in _group(pgid)) / CLK_TCK


def _status_mib(pid: int, field: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def rss_mib(pid: int) -> float:
    """A process's resident memory now (VmRSS), MiB."""
    return _status_mib(pid, "VmRSS")


def peak_rss_mib(pid: int) -> float:
    """A process's highest resident memory so far (VmHWM), MiB."""
    return _status_mib(pid, "VmHWM")


def group_peak_rss_mib(pgid: int) -> float:
    """The highest resident memory (VmHWM) of the largest live process of one group, MiB:
    with uvicorn workers, the biggest worker rather than the small supervisor."""
    return max((peak_rss_mib(pid) for pid, _ in _group(pgid)), default=0.0)


def group_rss_mib(pgid: int) -> float:
    """The resident memory of every live process of one process group, MiB."""
    return sum(rss_mib(pid) for pid, _ in _group(pgid))


def open_fds(pid: int) -> int:
    """How many file descriptors a process holds open."""
    return len(os.listdir(f"/proc/{pid}/fd"))
