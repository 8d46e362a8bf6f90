"""A fault-injecting HTTP/1.1 reverse proxy, for putting in front of the Worker in tests.

`python -m devstack.faultproxy --port P --control-port C --upstream http://127.0.0.1:W [--seed N]`

Requests on `P` go to the upstream unchanged (one shared `httpx.AsyncClient`), unless a rule
fires. Rules, seeded faults and counters are read and set as JSON on the control port `C`
(its own port, so that it still answers while `P` refuses connections):

    GET  /_faults          → {"rules": [...], "down": bool, "seed": n, "stats": {...}}
    POST /_faults          {"rules"?: [rule, ...], "down"?: bool, "seed"?: n} → the same
    POST /_faults/reset    no rules, listening, counters at zero, the start-up seed

A rule: `{"path_prefix": "/", "method": null, "fault": "status", "status": 500, "rate": 1.0,
"count": null, "when": "before", "latency_ms": 0, "jitter_ms": 0, "hold_s": 30}`; `fault` is

- `status`: answer `status` with a JSON error body (429 adds `Retry-After: 1`);
- `latency`: wait `latency_ms` (+ up to `jitter_ms`), then go on to the next rules;
- `timeout`: hold the request unanswered for `hold_s`, or until the client gives up;
- `reset`: drop the connection with a TCP reset, no answer;
- `close`: close the connection without an answer.

`when="after"`: the request reaches the upstream first (its effect happens), then the fault
replaces the answer — a response lost on its way back. `rate` is a probability drawn from one
seeded `random.Random`; `count` bounds how often the rule fires. The first rule that fires,
other than `latency`, decides. `down: true` stops listening (connections are refused) and
drops the open ones, as a stopped Worker would.

Not part of the service: a test instrument of the local stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import httpx

from stripe_sim.fault_triggers import FaultTrigger, check_rate, check_when

Fault = Literal["status", "latency", "timeout", "reset", "close"]
_FAULTS = ("status", "latency", "timeout", "reset", "close")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_MAX_HEAD = 64 * 1024


@dataclass(kw_only=True)
class Rule(FaultTrigger):
    """One fault rule (see the module docstring).

    Which requests it matches, how often it fires (``rate``, ``count``) and ``when`` are the
    simulator's own rule model (``stripe_sim.fault_triggers``); the actions are the proxy's.
    """

    fault: Fault = "status"
    status: int = 500
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hold_s: float = 30.0
    fired: int = 0

    @classmethod
    def from_json(cls, raw: Any) -> Rule:
        """A rule from its JSON form; ValueError names what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("a rule must be an object")
        unknown = set(raw) - {f for f in cls.__dataclass_fields__ if f != "fired"}
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        try:
            rule = cls(**raw)
            rule.method = str(rule.method).upper() if rule.method else None
            rule.status = int(rule.status)
            rule.count = None if rule.count is None else int(rule.count)
            for name in ("rate", "latency_ms", "jitter_ms", "hold_s"):
                setattr(rule, name, float(getattr(rule, name)))
        except (TypeError, ValueError):
            raise ValueError(f"bad rule: {raw}") from None
        if rule.fault not in _FAULTS:
            raise ValueError(f"fault must be one of {_FAULTS}")
        check_when(rule.when)
        check_rate(rule.rate)
        if not 100 <= rule.status <= 599:
            raise ValueError("status must be an HTTP status")
        if min(rule.latency_ms, rule.jitter_ms, rule.hold_s) < 0:
            raise ValueError("latency_ms, jitter_ms and hold_s must not be negative")
        if rule.count is not None and rule.count < 0:
            raise ValueError("count must not be negative")
        return rule

    @property
    def label(self) -> str:
        """How the counters name this kind of fault: `status_500`, `timeout`, …"""
        return f"status_{self.status}" if self.fault == "status" else self.fault


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Stats:
    """What the proxy did since the last reset."""

    requests: int = 0
    forwarded: int = 0
    upstream_errors: int = 0
    down_periods: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["faults"] = dict(self.faults)
        data["faults_injected"] = sum(self.faults.values())
        return data


class _Malformed(Exception):
    """The client sent something that is not HTTP/1.1."""


class FaultProxy:
    """The proxy: `await start()`, change `rules` / `set_down()`, `await stop()`."""

    def __init__(
        self,
        *,
        upstream: str,
        host: str = "127.0.0.1",
        port: int,
        control_port: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = port
        self.control_port = control_port
        self.initial_seed = seed
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self.rules: list[Rule] = []
        self.stats = Stats()
        self._server: asyncio.Server | None = None
        self._control: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._client: httpx.AsyncClient | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on the proxy (and control) port."""
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(120.0, connect=5.0),
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256),
        )
        await self._listen()
        if self.control_port is not None:
            self._control = await asyncio.start_server(
                self._serve_control, self.host, self.control_port, reuse_address=True
            )

    async def stop(self) -> None:
        """Stop listening, drop open connections, close the upstream client."""
        await self.set_down(True)
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True, limit=_MAX_HEAD
        )

    async def set_down(self, down: bool) -> None:
        """Refuse connections (and drop the open ones) like a stopped upstream, or listen again."""
        if down and self._server is not None:
            self._server.close()
            self._server = None
            for writer in list(self._open):
                _abort(writer, reset=True)
            self._open.clear()
            self.stats.down_periods += 1
        elif not down and self._server is None:
            await self._listen()

    @property
    def down(self) -> bool:
        return self._server is None

    # ----------------------------------------------------------------- configuration

    async def configure(self, raw: Any) -> None:
        """Apply a control body; ValueError on a bad one (then nothing changes)."""
        if not isinstance(raw, dict):
            raise ValueError("the body must be an object")
        unknown = set(raw) - {"rules", "down", "seed"}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        rules = self.rules
        if "rules" in raw:
            if not isinstance(raw["rules"], list):
                raise ValueError("rules must be a list")
            rules = [Rule.from_json(rule) for rule in raw["rules"]]
        if "down" in raw and not isinstance(raw["down"], bool):
            raise ValueError("down must be true or false")
        if "seed" in raw and raw["seed"] is not None and not isinstance(raw["seed"], int):
            raise ValueError("seed must be an integer or null")
        self.rules = rules
        if "seed" in raw:
            self.seed = raw["seed"]
            self.rng = random.Random(self.seed)  # noqa: S311
        if "down" in raw:
            await self.set_down(raw["down"])

    async def reset(self) -> None:
        """No rules, listening, counters at zero, the start-up seed."""
        self.rules = []
        self.stats = Stats()
        self.seed = self.initial_seed
        self.rng = random.Random(self.seed)  # noqa: S311
        await self.set_down(False)

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [asdict(rule) for rule in self.rules],
            "down": self.down,
            "seed": self.seed,
            "stats": self.stats.to_json(),
        }

    def _firing(self, request: _Request) -> tuple[float, Rule | None]:
        """The latency to add and the fault rule that fires for this request, if any."""
        delay = 0.0
        for rule in self.rules:
            if not rule.fires(request.method, request.path, self.rng):
                continue
            rule.fired += 1
            self.stats.faults[rule.label] += 1
            if rule.fault == "latency":
                jitter = self.rng.uniform(0, rule.jitter_ms) if rule.jitter_ms else 0.0
                delay += (rule.latency_ms + jitter) / 1000
                continue
            return delay, rule
        return delay, None

    # ----------------------------------------------------------------- proxying

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                if not await self._handle(request, reader, writer):
                    return
                if not request.keep_alive:
                    return
        except (_Malformed, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            return
        finally:
            self._open.discard(writer)
            _abort(writer, reset=False)

    async def _handle(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must end."""
        self.stats.requests += 1
        delay, rule = self._firing(request)
        if delay:
            await asyncio.sleep(delay)
        answer: _Answer | None = None
        if rule is None or rule.when == "after":
            answer = await self._forward(request)
        if rule is not None:
            if rule.fault == "status":
                answer = _error_answer(rule.status, "injected_fault")
            elif rule.fault == "timeout":
                await _hold(reader, rule.hold_s)
                _abort(writer, reset=False)
                return False
            else:
                _abort(writer, reset=rule.fault == "reset")
                return False
        assert answer is not None
        await _write_answer(writer, answer, keep_alive=request.keep_alive)
        return True

    async def _forward(self, request: _Request) -> _Answer:
        assert self._client is not None
        headers = [(n, v) for n, v in request.headers if n.lower() not in _HOP_BY_HOP]
        outbound = self._client.build_request(
            request.method, self.upstream + request.target, headers=headers, content=request.body
        )
        try:
            response = await self._client.send(outbound, stream=True)
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.HTTPError:
            self.stats.upstream_errors += 1
            return _error_answer(502, "upstream_unreachable")
        self.stats.forwarded += 1
        kept = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers.raw
            if name.decode("latin-1").lower() not in _HOP_BY_HOP
        ]
        return _Answer(response.status_code, kept, body)

    # ----------------------------------------------------------------- control

    async def _serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while (request := await _read_request(reader)) is not None:
                answer = await self._control_answer(request)
                await _write_answer(writer, answer, keep_alive=request.keep_alive)
                if not request.keep_alive:
                    return
        except (_Malformed, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            _abort(writer, reset=False)

    async def _control_answer(self, request: _Request) -> _Answer:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("POST", "/_faults"):
                await self.configure(json.loads(request.body or b"{}"))
            elif route == ("POST", "/_faults/reset"):
                await self.reset()
            elif route != ("GET", "/_faults"):
                return _error_answer(404, "not_found")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return _json_answer(400, {"error": {"code": "invalid_config", "message": str(exc)}})
        return _json_answer(200, self.to_json())


# --------------------------------------------------------------------- HTTP/1.1 on streams


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """The next request on the connection, or None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _Malformed("truncated head") from None
        return None
    except asyncio.LimitOverrunError:
        raise _Malformed("head too large") from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        raise _Malformed("bad request line") from None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    named = {name.lower(): value for name, value in headers}
    if "chunked" in named.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = named.get("content-length", "0") or "0"
        if not length.isdigit():
            raise _Malformed("bad content-length")
        body = await reader.readexactly(int(length)) if int(length) else b""
    keep_alive = version == "HTTP/1.1" and named.get("connection", "").lower() != "close"
    return _Request(method.upper(), target, headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _Malformed("bad chunk size") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _write_answer(writer: asyncio.StreamWriter, answer: _Answer, *, keep_alive: bool) -> None:
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {answer.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    lines.append(f"content-length: {len(answer.body)}")
    if not keep_alive:
        lines.append("connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body)
    await writer.drain()


def _json_answer(status: int, data: Any) -> _Answer:
    return _Answer(status, [("content-type", "application/json")], json.dumps(data).encode())


def _error_answer(status: int, code: str) -> _Answer:
    answer = _json_answer(status, {"error": {"code": code, "message": "Injected by faultproxy."}})
    if status == 429:
        answer.headers.append(("retry-after", "1"))
    return answer


async def _hold(reader: asyncio.StreamReader, seconds: float) -> None:
    """Wait `seconds`, or until the client closes the connection (it timed out)."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass


def _abort(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close the connection; with `reset`, by a TCP RST (SO_LINGER 0) instead of a FIN."""
    if writer.transport.is_closing():
        return
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()


# --------------------------------------------------------------------- client and CLI


class FaultControl:
    """The control API from Python (async): `await control.set(rules=[...])`, `.reset()`."""

    def __init__(self, control_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=control_url, timeout=10.0)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def set(self, **body: Any) -> dict[str, Any]:
        """POST /_faults with `rules`, `down` and/or `seed`; the state after it."""
        response = await self.http.post("/_faults", json=body)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def state(self) -> dict[str, Any]:
        """Rules, `down`, seed and the counters."""
        response = await self.http.get("/_faults")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def reset(self) -> dict[str, Any]:
        """No faults, listening, counters at zero."""
        response = await self.http.post("/_faults/reset")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


async def _run(args: argparse.Namespace) -> None:
    proxy = FaultProxy(
        upstream=args.upstream,
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        seed=args.seed,
    )
    await proxy.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    print(
        f"faultproxy on {args.host}:{args.port} → {proxy.upstream}, "
        f"control on {args.host}:{args.control_port}",
        flush=True,
    )
    try:
        await stopped.wait()
    finally:
        await proxy.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.faultproxy", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8787")
    parser.add_argument("--seed", type=int, default=None)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
