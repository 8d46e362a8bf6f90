"""`python -m bench.profile DIR`: where the service's CPU went, from `bench.run --profile DIR`.

py-spy's raw output is one line per distinct stack (`frame;frame;… count`, outermost first;
idle threads are not sampled, so the samples are CPU). For each file this prints the share of
the samples spent inside each layer (a sample counts for every layer on its stack, so the
shares overlap), the packages the samples ended in, and the functions (self time).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

LAYERS: tuple[tuple[str, str], ...] = (
    ("uvicorn (HTTP parsing, protocol)", r"\(uvicorn/"),
    ("starlette + fastapi middleware", r"\((starlette/middleware|fastapi/middleware)/"),
    ("service middleware (request_context, its own lines)", r"RequestContext\.__call__ \("),
    ("fastapi routing, dependencies, validation", r"\(fastapi/(routing|dependencies)"),
    ("the route's handler and dependency", r"\(connect_backend/(routes|auth)"),
    ("Worker client (connect_backend/worker.py)", r"\(connect_backend/worker\.py"),
    ("Stripe gateway (connect_backend/stripe_*)", r"\(connect_backend/stripe_"),
    ("httpx", r"\(httpx/"),
    ("httpx-aiohttp transport", r"\(httpx_aiohttp/"),
    ("aiohttp (client)", r"\(aiohttp/"),
    ("stripe-python", r"\(stripe/"),
    ("tenacity", r"\(tenacity/"),
    ("pydantic", r"\(pydantic"),
    ("access log (connect_backend/log.py, logging)", r"\(connect_backend/log\.py|\(logging/"),
    ("metrics (prometheus-client)", r"\(connect_backend/metrics\.py|\(prometheus_client/"),
    ("event loop itself (nothing above it)", r"^Runner\.run \([^;]*$"),
)
_START = "Runner.run (asyncio/runners.py"
"""Every stack begins with the process's start-up frames down to the event loop: cut there."""
_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _short(frame: str) -> str:
    """`func (site-packages/pkg/mod.py:12)` → `pkg/mod.py:func`."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for cut in ("site-packages/", "/src/", "lib/python3"):
        if cut in path:
            path = path.split(cut, 1)[1]
    return f"{path}:{match['func']}"


def _package(frame: str) -> str:
    """The package a frame's code belongs to (`httpx`, `asyncio`); the service's module."""
    match = _FRAME.match(frame)
    path = match["file"] if match else frame
    parts = path.split("/")
    if parts[0] == "connect_backend" and len(parts) > 1:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else path


def summarize(path: Path, *, top: int = 12) -> str:
    """The layers' inclusive shares and the top self-time functions of one profile."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match:
            stacks.append((match[1].split(";"), int(match[2])))
    total = sum(count for _, count in stacks) or 1
    layers = {name: re.compile(pattern) for name, pattern in LAYERS}
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        cut = next((i for i, f in enumerate(frames) if f.startswith(_START)), 0)
        frames = frames[cut:]
        joined = ";".join(frames)
        for name, pattern in layers.items():
            if pattern.search(joined):
                inclusive[name] += count
        leaves[_short(frames[-1])] += count
        packages[_package(frames[-1])] += count
    lines = [f"## {path.stem}: {total} samples", "", "inside (inclusive, overlapping):"]
    lines += [f"  {inclusive[name] * 100 / total:5.1f} %  {name}" for name, _ in LAYERS]
    lines += ["", "self time by package (each sample once, where it ended):"]
    lines += [f"  {n * 100 / total:5.1f} %  {name}" for name, n in packages.most_common(top)]
    lines += ["", "ended in (self):"]
    lines += [f"  {n * 100 / total:5.1f} %  {name}" for name, n in leaves.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    files = sorted(Path(args.folder).glob("*.txt"))
    if not files:
        print(f"no profiles in {args.folder}", file=sys.stderr)
        return 1
    for file in files:
        print(summarize(file, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
