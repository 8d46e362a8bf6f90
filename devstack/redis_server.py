"""Redis (Debian's redis-server) as a Process of the local stack: the state the service's
replicas share. It keeps nothing on disk, so a restarted Redis comes back empty."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from devstack.procs import Process, system_program


def redis_process(*, port: int, data_dir: Path, log_path: Path) -> Process:
    """redis-server on 127.0.0.1:`port` in the foreground, without persistence, logging to
    its output (the Process's log file)."""
    return Process(
        "redis",
        [
            system_program("redis-server"),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(data_dir),
        ],
        log_path=log_path,
    )  # fmt: skip


def ping(url: str, *, timeout: float = 1.0) -> bool:
    """Whether the Redis at `url` answers PING with PONG (the protocol spoken by hand: a
    single command needs no client library)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as connection:
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False
