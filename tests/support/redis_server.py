"""A real Redis (devstack's: Debian's `redis-server`, installed by ./scripts/bootstrap) on a
loopback port, for the tests of what the service's processes share; it can be stopped and
started again on the same port."""

from __future__ import annotations

import time
from pathlib import Path

from devstack.procs import free_port
from devstack.redis_server import ping, redis_process


class RedisServer:
    """One `redis-server`, no persistence, on a fixed port across restarts."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.process = redis_process(
            port=self.port, data_dir=state_dir, log_path=state_dir / "redis.log"
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers."""
        self.process.start()
        deadline = time.monotonic() + 10
        while not ping(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.process.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (its data goes with it)."""
        self.process.stop()
