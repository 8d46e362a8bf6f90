"""A clock for the session cache that moves only when a test says so."""

from __future__ import annotations


class Clock:
    """A stand-in for `time.monotonic` that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
