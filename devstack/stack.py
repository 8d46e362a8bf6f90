"""Start, seed and stop the local stack."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack.balancer import haproxy_config, haproxy_process, server_states
from devstack.frontend import origin, vite_process
from devstack.procs import Process, free_port, free_ports
from devstack.redis_server import ping, redis_process

ROOT = Path(__file__).resolve().parent.parent
WRANGLER = ROOT / "worker" / "node_modules" / ".bin" / "wrangler"


@dataclass
class StackConfig:
    """Where each part listens and the secrets they share (local values only)."""

    state_dir: Path
    worker_port: int = field(default_factory=free_port)
    sim_port: int = field(default_factory=free_port)
    service_port: int = field(default_factory=free_port)
    internal_api_key: str = "local-internal-key"
    webhook_secret: str = "whsec_local_stack_secret"  # noqa: S105 - local only
    stripe_secret_key: str = "sk_test_local_stack"  # noqa: S105 - the simulator's key
    use_simulator: bool = True
    sim_latency_ms: int = 0
    worker_latency_ms: int = 0
    frontend_url: str = "http://localhost:5173"
    # Also run the demo frontend (frontend/, Vite's dev server) at frontend_url.
    run_frontend: bool = False
    sim_args: list[str] = field(default_factory=list)
    service_env: dict[str, str] = field(default_factory=dict)
    # Put devstack.faultproxy between the service and the Worker (faults set through its
    # control port: `devstack.faultproxy.FaultControl(config.worker_faults_url)`).
    worker_faults: bool = False
    worker_proxy_port: int = field(default_factory=free_port)
    worker_faults_port: int = field(default_factory=free_port)
    # Run the service as this many replicas sharing one Redis, behind HAProxy on service_port
    # (so service_url stays the address everything uses). 0: one service process, no Redis,
    # no balancer.
    replicas: int = 0
    replica_ports: list[int] = field(default_factory=list)  # chosen when left empty
    # uvicorn worker processes per service process (WEB_CONCURRENCY). One by default, whatever
    # the machine: the local stack's figures and tests do not depend on its CPU count.
    workers: int = 1
    redis_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        if self.replicas < 0:
            raise ValueError("replicas must be 0 or more")
        if self.workers < 1:
            raise ValueError("workers must be 1 or more")
        if not self.replica_ports:
            self.replica_ports = free_ports(self.replicas)
        if len(self.replica_ports) != self.replicas:
            raise ValueError(f"{self.replicas} replicas need as many replica_ports")

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    @property
    def redis_url(self) -> str:
        """The Redis the replicas share (with `replicas`): database 0, on loopback."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def worker_faults_url(self) -> str:
        """The fault proxy's control API (with `worker_faults`)."""
        return f"http://127.0.0.1:{self.worker_faults_port}"

    @property
    def service_worker_url(self) -> str:
        """Where the service reaches the Worker: the fault proxy, or the Worker itself."""
        if self.worker_faults:
            return f"http://127.0.0.1:{self.worker_proxy_port}"
        return self.worker_url


class Stack:
    """The Worker, the simulator (unless real Stripe test keys are used) and the service: one
    process, or `config.replicas` of them behind HAProxy, sharing Redis.

    Every part is a `Process`: `worker`, `worker_proxy`, `sim`, `frontend`; `service` (the
    one service process; never started when there are replicas); `replicas` (empty without);
    `redis` and `balancer` (None without replicas).
    """

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        logs = config.state_dir / "logs"
        c = config
        worker_vars = [
            f"INTERNAL_API_KEYS:{c.internal_api_key}",
            f"TRUSTED_ORIGINS:{origin(c.frontend_url)}",  # the browser calls Better Auth
        ]
        if c.worker_latency_ms:
            worker_vars.append(f"INJECTED_LATENCY_MS:{c.worker_latency_ms}")
        self.worker = Process(
            "worker",
            [
                str(WRANGLER),
                "dev",
                "--local",
                "--ip",
                "127.0.0.1",
                "--port",
                str(c.worker_port),
                "--persist-to",
                str(c.state_dir / "d1"),
                "--show-interactive-dev-session=false",
                *[arg for var in worker_vars for arg in ("--var", var)],
            ],
            cwd=ROOT / "worker",
            log_path=logs / "worker.log",
            env={"WRANGLER_SEND_METRICS": "false", "CI": "1"},
        )
        self.worker_proxy = Process(
            "worker-faultproxy",
            [
                sys.executable,
                "-m",
                "devstack.faultproxy",
                "--port",
                str(c.worker_proxy_port),
                "--control-port",
                str(c.worker_faults_port),
                "--upstream",
                c.worker_url,
            ],
            cwd=ROOT,
            log_path=logs / "worker-faultproxy.log",
        )
        webhook_url = f"{c.service_url}/api/connect/webhook"
        self.sim = Process(
            "stripe-sim",
            [
                sys.executable,
                "-m",
                "stripe_sim",
                "--host",
                "127.0.0.1",
                "--port",
                str(c.sim_port),
                "--public-url",
                c.sim_url,
                "--webhook-url",
                webhook_url,
                "--webhook-secret",
                c.webhook_secret,
                "--latency-ms",
                str(c.sim_latency_ms),
                *c.sim_args,
            ],
            log_path=logs / "stripe-sim.log",
        )
        self.service = self._service_process("connect-backend", c.service_port)
        self.replicas = [
            self._service_process(f"replica-{index}", port)
            for index, port in enumerate(c.replica_ports)
        ]
        self.redis: Process | None = None
        self.balancer: Process | None = None
        if c.replicas:
            self.redis = redis_process(
                port=c.redis_port, data_dir=c.state_dir / "redis", log_path=logs / "redis.log"
            )
            self.balancer = haproxy_process(
                config_path=self._balancer_config, log_path=logs / "balancer.log"
            )

        self.frontend = vite_process(
            frontend_url=c.frontend_url,
            worker_url=c.worker_url,
            service_url=c.service_url,
            log_path=logs / "frontend.log",
        )

    def service_env(self) -> dict[str, str]:
        """The service's settings for this stack (its processes' and its commands', such as
        `python -m connect_backend reconcile`): with replicas, the Redis they share."""
        c = self.config
        env = {
            "STRIPE_SECRET_KEY": c.stripe_secret_key,
            "STRIPE_WEBHOOK_SECRET": c.webhook_secret,
            "WORKER_BASE_URL": c.service_worker_url,
            "WORKER_API_KEY": c.internal_api_key,
            # The local stack's keys are development values: a production service refuses
            # a Worker key that does not stand for 32 random bytes.
            "ENVIRONMENT": "development",
            "FRONTEND_URL": c.frontend_url,
            "ALLOWED_ORIGINS": f"{c.frontend_url},{c.sim_url}",
            "LOG_LEVEL": "info",
            "WEB_CONCURRENCY": str(c.workers),
        }
        if c.use_simulator:
            env["STRIPE_API_BASE"] = c.sim_url
        if c.replicas:
            env["REDIS_URL"] = c.redis_url
        env.update(c.service_env)
        return env

    def _service_process(self, name: str, port: int) -> Process:
        """The service (`python -m connect_backend`) on 127.0.0.1:`port`, set up for this
        stack."""
        return Process(
            name,
            [sys.executable, "-m", "connect_backend"],
            log_path=self.config.state_dir / "logs" / f"{name}.log",
            env={**self.service_env(), "HOST": "127.0.0.1", "PORT": str(port)},
        )

    def reconcile(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """`python -m connect_backend reconcile *args` against this stack, run to its end: its
        exit status, its summary (stdout) and its logs (stderr)."""
        return subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "connect_backend", "reconcile", *args],
            cwd=ROOT,
            env={**os.environ, **self.service_env()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @property
    def service_processes(self) -> list[Process]:
        """The processes that serve the API: the replicas, or the one service process."""
        return self.replicas or [self.service]

    @property
    def parts(self) -> list[Process]:
        """Every process this configuration runs, in the order `start` starts them."""
        c = self.config
        parts = [self.worker]
        if c.worker_faults:
            parts.append(self.worker_proxy)
        if c.use_simulator:
            parts.append(self.sim)
        if self.redis is not None:
            parts.append(self.redis)
        parts += self.service_processes
        if self.balancer is not None:
            parts.append(self.balancer)
        if c.run_frontend:
            parts.append(self.frontend)
        return parts

    def migrate(self) -> None:
        """Apply the D1 migrations to this stack's own state folder."""
        subprocess.run(  # noqa: S603 - fixed command line
            [
                str(WRANGLER),
                "d1",
                "migrations",
                "apply",
                "DB",
                "--local",
                "--persist-to",
                str(self.config.state_dir / "d1"),
            ],
            cwd=ROOT / "worker",
            check=True,
            capture_output=True,
            env={**self.worker.env},
        )

    def d1(self, sql: str) -> None:
        """Run one SQL statement on the local D1 (works while the Worker runs)."""
        self._d1_execute("--command", sql)

    def d1_file(self, path: Path) -> None:
        """Run a file of SQL statements on the local D1 (works while the Worker runs)."""
        self._d1_execute("--file", str(path))

    def _d1_execute(self, *what: str) -> None:
        subprocess.run(  # noqa: S603 - fixed command line
            [
                str(WRANGLER),
                "d1",
                "execute",
                "DB",
                "--local",
                "--persist-to",
                str(self.config.state_dir / "d1"),
                *what,
            ],
            cwd=ROOT / "worker",
            check=True,
            capture_output=True,
            env={**self.worker.env},
        )

    def start_worker(self) -> None:
        self.worker.start()
        self.worker.wait_http(f"{self.config.worker_url}/api/internal/health", ok=(200, 401))

    def start(self) -> None:
        """Migrate, then start every part and wait until each answers."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        self.start_worker()
        if self.config.worker_faults:
            self.worker_proxy.start()
            self.worker_proxy.wait_http(f"{self.config.worker_faults_url}/_faults")
        if self.config.use_simulator:
            self.sim.start()
            self.sim.wait_http(f"{self.config.sim_url}/_sim/health")
        if self.config.replicas:
            self.start_redis()
            for replica in self.replicas:  # all at once: their start-ups overlap
                replica.start()
            for index in range(len(self.replicas)):
                self._wait_replica_ready(index)
            self.start_balancer()
        else:
            self.service.start()
            self.service.wait_http(f"{self.config.service_url}/ready")
        if self.config.run_frontend:
            self.frontend.start()
            self.frontend.wait_http(self.config.frontend_url)

    def restart_worker(self) -> None:
        """Stop and start the Worker on the same port and state."""
        self.worker.stop()
        self.start_worker()

    # ------------------------------------------------------------------ replicas

    def replica_url(self, index: int) -> str:
        """Where replica `index` listens itself (not through the balancer)."""
        return f"http://127.0.0.1:{self.config.replica_ports[index]}"

    def kill_replica(self, index: int) -> None:
        """SIGKILL to replica `index`'s process group: an abrupt death, as in a crash. The
        balancer's health check takes it out of the rotation within about half a second."""
        self.replicas[index].kill()

    def start_replica(self, index: int) -> None:
        """Start replica `index` again on its port; return once it answers `/ready` and the
        balancer counts it up again."""
        replica = self.replicas[index]
        if replica.running:
            raise RuntimeError(f"{replica.name} is already running")
        replica.start()
        self._wait_replica_ready(index)
        self._running(self.balancer).wait_until(
            lambda: self.balancer_states().get(replica.name) == "UP",
            what=f"{replica.name} back in the rotation",
        )

    def _wait_replica_ready(self, index: int) -> None:
        self.replicas[index].wait_http(f"{self.replica_url(index)}/ready")

    def start_balancer(self) -> None:
        """Write HAProxy's configuration for the replicas, start it on `service_port` and
        wait until it forwards to a ready replica."""
        c = self.config
        balancer = self._replicated(self.balancer)
        servers = {r.name: port for r, port in zip(self.replicas, c.replica_ports, strict=True)}
        c.state_dir.mkdir(parents=True, exist_ok=True)
        self._balancer_config.write_text(
            haproxy_config(port=c.service_port, servers=servers, stats_socket=self._stats_socket)
        )
        balancer.start()
        balancer.wait_http(f"{c.service_url}/ready")

    def balancer_states(self) -> dict[str, str]:
        """Each replica's state as the balancer sees it: `UP` (in the rotation), `DOWN`, …"""
        self._running(self.balancer)
        return server_states(self._stats_socket)

    @property
    def _balancer_config(self) -> Path:
        return self.config.state_dir / "haproxy.cfg"

    @property
    def _stats_socket(self) -> Path:
        return self.config.state_dir / "haproxy.sock"

    def stop_redis(self) -> None:
        """Kill Redis (SIGKILL: an outage, not a shutdown); it keeps nothing on disk."""
        self._replicated(self.redis).kill()

    def start_redis(self) -> None:
        """Start Redis on its port, empty; return once it answers PING."""
        redis = self._replicated(self.redis)
        (self.config.state_dir / "redis").mkdir(parents=True, exist_ok=True)
        redis.start()
        redis.wait_until(
            lambda: ping(self.config.redis_url), what=f"PING at {self.config.redis_url}"
        )

    def _replicated(self, process: Process | None) -> Process:
        """`redis` or `balancer`, which only a stack with replicas has."""
        if process is None:
            raise RuntimeError("this stack runs no replicas (StackConfig.replicas is 0)")
        return process

    def _running(self, process: Process | None) -> Process:
        running = self._replicated(process)
        if not running.running:
            raise RuntimeError(f"{running.name} is not running")
        return running

    def stop(self) -> None:
        """Stop everything that was started: the frontend, the balancer and the service first."""
        self.frontend.stop()
        for process in (
            self.balancer,
            *self.replicas,
            self.service,
            self.redis,
            self.sim,
            self.worker_proxy,
            self.worker,
        ):
            if process is not None:
                process.stop()

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass
class Member:
    """A user signed up through Better Auth, with their session token."""

    email: str
    password: str
    token: str
    user_id: str


class BetterAuth:
    """Better Auth's own HTTP API on the Worker, as the frontend would call it."""

    def __init__(self, worker_url: str) -> None:
        # Better Auth refuses requests without an Origin; a browser on the Worker's origin sends it.
        self.http = httpx.Client(
            base_url=f"{worker_url}/api/auth", timeout=30.0, headers={"Origin": worker_url}
        )

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(path, json=body, headers=headers)
        if not response.is_success:
            raise RuntimeError(f"Better Auth {path}: {response.status_code} {response.text}")
        return response.json()

    def sign_up(self, email: str, password: str, name: str) -> Member:
        data = self._post("/sign-up/email", {"email": email, "password": password, "name": name})
        return Member(email, password, data["token"], data["user"]["id"])

    def sign_in(self, email: str, password: str) -> Member:
        data = self._post("/sign-in/email", {"email": email, "password": password})
        return Member(email, password, data["token"], data["user"]["id"])

    def create_organization(self, owner: Member, name: str, slug: str) -> str:
        data = self._post("/organization/create", {"name": name, "slug": slug}, owner.token)
        organization_id: str = data["id"]
        return organization_id

    def add_member(self, owner: Member, member: Member, organization_id: str, role: str) -> None:
        invitation = self._post(
            "/organization/invite-member",
            {"email": member.email, "role": role, "organizationId": organization_id},
            owner.token,
        )
        self._post(
            "/organization/accept-invitation", {"invitationId": invitation["id"]}, member.token
        )
