"""Child processes in their own process groups, stopped as a whole; the free ports and the
system programs they need."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each is held while the next is chosen."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def system_program(name: str) -> str:
    """The path of a program installed on the system (Debian's redis-server, haproxy).

    /usr/sbin is searched too: Debian installs haproxy there, and it is not on every user's
    PATH.
    """
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    path = shutil.which(name, path=search)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run ./scripts/bootstrap")
    return path


class Process:
    """One service: started in a new session (so its children stop with it), logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGINT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.stop_signal = stop_signal
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(  # noqa: S603 - our own, fixed command lines
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        """The id of the process last started (also its process group's id), until `stop`."""
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        """Whether it has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def peak_rss_kib(self) -> int | None:
        """The most memory the running process has held so far, in KiB: the kernel's high-water
        mark of its resident set (`VmHWM` in /proc/<pid>/status; Linux). None when it is not
        running. Only the process itself, not its children (the service runs as one process
        with its default `WEB_CONCURRENCY=1`)."""
        if not self.running or self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def wait_until(self, ready: Callable[[], bool], *, what: str, timeout: float = 60.0) -> None:
        """Poll `ready` until it holds; RuntimeError with the log's tail if it exits first or
        `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                break
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready ({what}):\n{self.tail()}")

    def wait_http(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Wait until `url` answers with one of `ok`; RuntimeError with the log's tail if not."""

        def answers() -> bool:
            try:
                return httpx.get(url, timeout=1.0, headers=headers).status_code in ok
            except httpx.HTTPError:
                return False

        self.wait_until(answers, what=f"at {url}", timeout=timeout)

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL to its whole process group at once: an abrupt death, as in a crash."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Its stop signal (SIGINT unless told), then SIGKILL, to its whole process group."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        for sig, wait in ((self.stop_signal, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(popen.pid, sig)
            except ProcessLookupError:
                break
            try:
                popen.wait(wait)
                # The leader is gone; make sure no child (workerd) outlives it.
                os.killpg(popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        popen.wait()
