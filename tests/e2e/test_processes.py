"""`python -m connect_backend` as it runs in its container: `WEB_CONCURRENCY` worker processes
under uvicorn's supervisor; a worker that dies is replaced; SIGTERM drains the requests in
flight before the service exits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from devstack.procs import Process, free_port

pytestmark = pytest.mark.e2e

WORKER_DELAY = 1.0
"""How long the stand-in Worker takes to answer `/api/internal/health` (a slow `/ready`)."""


class _SlowWorker(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(WORKER_DELAY)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def worker_url() -> Iterator[str]:
    """A stand-in for the Worker whose health check answers, slowly."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowWorker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Service:
    """The service as a process tree: uvicorn's supervisor and its worker processes."""

    def __init__(self, tmp_path: Path, worker_url: str, processes: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            "connect-backend",
            [sys.executable, "-m", "connect_backend"],
            log_path=tmp_path / "service.log",
            env={
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": str(processes),
                "STRIPE_SECRET_KEY": "sk_test_processes",
                "STRIPE_WEBHOOK_SECRET": "whsec_processes",
                "WORKER_BASE_URL": worker_url,
                "WORKER_API_KEY": "local-key",
                "ENVIRONMENT": "development",
                "FRONTEND_URL": "http://localhost:5173",
                **env,
            },
        )

    def __enter__(self) -> Service:
        self.process.start()
        self.process.wait_http(f"{self.url}/health")
        return self

    def __exit__(self, *_: object) -> None:
        self.process.stop()

    @property
    def supervisor(self) -> int:
        pid = self.process.pid
        assert pid is not None
        return pid

    def workers(self) -> set[int]:
        """The supervisor's worker processes (multiprocessing's spawned children)."""
        found = set()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.supervisor and b"spawn_main" in cmdline:
                found.add(int(entry.name))
        return found

    def wait_for_workers(self, count: int, *, other_than: frozenset[int] = frozenset()) -> set[int]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = self.workers()
            if len(workers) == count and not workers & other_than:
                return workers
            time.sleep(0.1)
        raise AssertionError(f"not {count} new workers:\n{self.process.tail()}")


def test_web_concurrency_starts_that_many_worker_processes(tmp_path: Path, worker_url: str) -> None:
    with Service(tmp_path, worker_url, processes=2) as service:
        workers = service.wait_for_workers(2)

        answers = [httpx.get(f"{service.url}/health") for _ in range(10)]

    assert len(workers) == 2
    assert {a.status_code for a in answers} == {200}
    assert '"processes":2' in service.process.tail(50)


def test_a_worker_that_dies_is_replaced(tmp_path: Path, worker_url: str) -> None:
    with Service(tmp_path, worker_url, processes=2) as service:
        first = service.wait_for_workers(2)
        killed = min(first)

        os.kill(killed, signal.SIGKILL)
        now = service.wait_for_workers(2, other_than=frozenset({killed}))
        answers = [httpx.get(f"{service.url}/health") for _ in range(10)]

    assert killed not in now
    assert len(now & first) == 1  # the other one served on
    assert {a.status_code for a in answers} == {200}


def test_sigterm_lets_requests_in_flight_finish_then_exits(tmp_path: Path, worker_url: str) -> None:
    with Service(tmp_path, worker_url, processes=2) as service:
        service.wait_for_workers(2)
        answer: list[httpx.Response] = []
        in_flight = threading.Thread(
            target=lambda: answer.append(httpx.get(f"{service.url}/ready", timeout=10))
        )
        in_flight.start()
        time.sleep(WORKER_DELAY / 3)  # the request has reached a worker, which waits on the Worker

        os.kill(service.supervisor, signal.SIGTERM)  # what Railway sends on a deploy
        in_flight.join(10)
        popen_exit = _wait_exit(service.supervisor)

    assert len(answer) == 1, service.process.tail()
    assert answer[0].status_code == 200
    assert answer[0].json()["checks"] == {"worker": "ok"}
    assert popen_exit == 0


METRICS_TOKEN = "metrics-token-for-the-processes-test-0123"


def _scrape(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape (answered by either worker), by series."""
    answer = httpx.get(
        f"{service.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert answer.status_code == 200, answer.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def _health_count(service: Service) -> float:
    """`/health` requests answered, summed over both workers, as one scrape says."""
    samples = _scrape(service)
    assert samples[("connect_workers", ())] == 2
    key = (("method", "GET"), ("route", "/health"), ("status", "200"))
    return samples.get(("connect_http_requests_total", key), 0.0)


def _both_live(service: Service) -> None:
    """Until both workers have started serving (each counts itself in `connect_workers`)."""
    deadline = time.monotonic() + 30
    while _scrape(service).get(("connect_workers", ())) != 2:
        assert time.monotonic() < deadline, service.process.tail()
        time.sleep(0.1)


def _health_served_by(folder: Path) -> set[int]:
    """The workers (pids) whose own counters hold `/health` requests: each writes its values
    to files of its own in the shared folder (`counter_<pid>.db`)."""
    return {
        int(path.stem.rsplit("_", 1)[1])
        for path in folder.glob("counter_*.db")
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path))
        if '"/health"' in key and value > 0
    }


def test_one_scrape_sums_the_metrics_of_every_worker(tmp_path: Path, worker_url: str) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()  # as prometheus-client requires of a folder it is given
    with Service(
        tmp_path,
        worker_url,
        processes=2,
        METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    ) as service:
        workers = service.wait_for_workers(2)
        _both_live(service)
        already = _health_count(service)  # the start-up's own readiness checks
        # New connections until both workers have answered some (the kernel picks which).
        sent = 0
        while _health_served_by(folder) != workers and sent < 2000:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: httpx.get(f"{service.url}/health"), range(40)))
            assert {a.status_code for a in answers} == {200}
            sent += len(answers)

        counts = [_health_count(service) for _ in range(6)]

    assert _health_served_by(folder) == workers  # both counted requests of their own
    assert counts == [already + sent] * 6  # whichever worker answered the scrape: the sum of both


def _wait_exit(pid: int) -> int | None:
    """The exit status of our child `pid` once it exits (None if it outlives 15 s)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def test_one_process_needs_no_supervisor(tmp_path: Path, worker_url: str) -> None:
    with Service(tmp_path, worker_url, processes=1) as service:
        assert httpx.get(f"{service.url}/health").status_code == 200
        assert service.workers() == set()  # served by the process itself
        assert "service.state_per_process" not in service.process.tail(50)


def test_several_processes_without_redis_say_what_each_keeps_to_itself(
    tmp_path: Path, worker_url: str
) -> None:
    with Service(tmp_path, worker_url, processes=2) as service:
        log = service.process.tail(50)

    assert "service.state_per_process" in log
    assert "per-user rate limits" in log
    assert "REDIS_URL" in log


def test_start_up_refuses_a_malformed_redis_url(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "connect_backend"],
        env={
            **os.environ,
            "STRIPE_SECRET_KEY": "sk_test_processes",
            "STRIPE_WEBHOOK_SECRET": "whsec_processes",
            "WORKER_BASE_URL": "http://127.0.0.1:9",
            "WORKER_API_KEY": "local-key",
            "ENVIRONMENT": "development",
            "FRONTEND_URL": "http://localhost:5173",
            "REDIS_URL": "http://user:hunter2@redis.internal:6379",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 2
    assert "REDIS_URL" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def _raw_post(port: int, content_length: str) -> tuple[int, str, bytes]:
    """POST over a bare socket with `content_length` as sent (no client checks it): the
    status, the content type and the body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/connect/transfer HTTP/1.1\r\nHost: service\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + content_length.encode() + b"\r\n\r\n{}"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return int(status_line.split()[1]), headers.get("content-type", ""), body


def test_a_content_length_that_is_no_size_is_a_400_never_a_500(
    tmp_path: Path, worker_url: str
) -> None:
    """Over a real socket: uvicorn's own parser refuses a 4,301-digit Content-Length (its
    plain-text 400); 19 digits pass it (they fit 64 bits) and reach the service, whose
    400 `invalid_content_length` answers, in its own body."""
    with Service(tmp_path, worker_url, processes=1) as service:
        huge = _raw_post(service.port, "9" * 4301)
        nineteen = _raw_post(service.port, "1" + "0" * 18)
        log = service.process.tail(50)

    assert huge[0] == 400
    assert nineteen[:2] == (400, "application/json")
    assert json.loads(nineteen[2])["error"]["code"] == "invalid_content_length"
    assert "request.crashed" not in log


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "supervisor-and-workers"])
def test_every_line_the_service_prints_is_one_json_object(
    tmp_path: Path, worker_url: str, processes: int
) -> None:
    """uvicorn's own lines too (start-up, its supervisor's, a refused request, shutdown): the
    log file holds the process tree's stdout and stderr, from start to exit."""
    with Service(tmp_path, worker_url, processes=processes) as service:
        if processes > 1:
            service.wait_for_workers(processes)
        assert httpx.get(f"{service.url}/health").status_code == 200
        _raw_post(service.port, "9" * 4301)  # uvicorn's "Invalid HTTP request received."
    lines = (tmp_path / "service.log").read_text().splitlines()

    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    assert all({"ts", "level", "event"} <= set(r) for r in records)
    messages = [r.get("message", "") for r in records if r["event"] == "uvicorn.log"]
    assert any(m.startswith("Started server process") for m in messages)
    assert "Invalid HTTP request received." in messages
    assert any(m.startswith("Finished server process") for m in messages)
    if processes > 1:
        assert any(m.startswith("Started parent process") for m in messages)
