"""`wrk` as a second load generator: the latency distribution a user sees.

wrk (Debian's package, installed by `scripts/bootstrap`) is written in C and keeps its
connections busy from two threads; a Lua script given here cycles through pre-built requests,
so the load is spread over every organization as `bench.load`'s is (a webhook's events are
signed when the script is written, within the signature's tolerance). The script's `done`
prints the percentiles as one JSON line, which `run` reads.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import Request

PERCENTILES = (50, 75, 90, 99, 99.9)
_MARK = "WRK-JSON "


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run measured; latencies in milliseconds."""

    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float
    percentiles_ms: dict[float, float]
    max_ms: float
    mean_ms: float
    stdev_ms: float
    client_cpu_s: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


def available() -> str | None:
    """The wrk on PATH, if any."""
    return shutil.which("wrk")


def _lua_string(value: str | bytes) -> str:
    text = value.decode() if isinstance(value, bytes) else value
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def script(requests: Sequence[Request]) -> str:
    """A wrk script sending `requests` in turn (each thread from its own offset)."""
    lines = ["local reqs = {}", "local n = 0", "local threads = 0"]
    lines.append("function setup(thread) thread:set('id', threads); threads = threads + 1 end")
    lines.append("function init(args)")
    for r in requests:
        headers = "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in
                                  r.headers.items()) + "}"  # fmt: skip
        body = _lua_string(r.body) if r.body else "nil"
        lines.append(
            f"  reqs[#reqs + 1] = wrk.format({_lua_string(r.method)}, {_lua_string(r.path)}, "
            f"{headers}, {body})"
        )
    lines += [
        "  n = (id or 0) * 7919",
        "end",
        "function request() n = n + 1; return reqs[(n % #reqs) + 1] end",
        "function done(summary, latency, requests)",
        "  local p = {}",
        *(
            f"  p[#p + 1] = string.format('\"%s\": %.3f', {_lua_string(str(q))}, "
            f"latency:percentile({q}) / 1000)"
            for q in PERCENTILES
        ),
        "  local e = summary.errors",
        f'  io.write(string.format(\'{_MARK}{{"requests": %d, "non_2xx": %d, '
        '"socket_errors": %d, "seconds": %.3f, "max_ms": %.3f, "mean_ms": %.3f, '
        '"stdev_ms": %.3f, "percentiles": {%s}}\\n\', summary.requests, e.status, '
        "e.connect + e.read + e.write + e.timeout, summary.duration / 1e6, latency.max / 1000, "
        "latency.mean / 1000, latency.stdev / 1000, table.concat(p, ', ')))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run(
    base_url: str,
    requests: Sequence[Request],
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    timeout_s: int = 30,
) -> WrkResult:
    """Drive `base_url` with wrk for `seconds` over `connections` keep-alive connections."""
    binary = available()
    if binary is None:
        raise RuntimeError("wrk is not installed (./scripts/bootstrap installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        path = Path(folder) / "requests.lua"
        path.write_text(script(requests))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(  # noqa: S603 - a fixed command line
            [binary, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--timeout", f"{timeout_s}s", "-s", str(path), base_url],
            capture_output=True, text=True, check=False, timeout=seconds + timeout_s + 30,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith(_MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix(_MARK))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return WrkResult(
        requests=data["requests"],
        non_2xx=data["non_2xx"],
        socket_errors=data["socket_errors"],
        seconds=data["seconds"],
        percentiles_ms={float(k): v for k, v in data["percentiles"].items()},
        max_ms=data["max_ms"],
        mean_ms=data["mean_ms"],
        stdev_ms=data["stdev_ms"],
        client_cpu_s=cpu,
    )
