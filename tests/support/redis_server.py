"""A real `redis-server` (Debian's, installed by ./scripts/bootstrap) on a loopback port, for
the tests of what the service's processes share; it can be stopped and started again."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from devstack.procs import Process, free_port


class RedisServer:
    """One `redis-server`, no persistence, on a fixed port across restarts."""

    def __init__(self, state_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: run ./scripts/bootstrap")
        self.port = free_port()
        self.process = Process(
            "redis",
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(state_dir),
            ],
            log_path=state_dir / "redis.log",
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start:\n{self.process.tail()}")

    def stop(self) -> None:
        """Stop it (its data goes with it)."""
        self.process.stop()
