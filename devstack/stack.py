"""Start, seed and stop the local stack."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack.frontend import origin, vite_process
from devstack.procs import Process, free_port

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
    """The Worker, the simulator (unless real Stripe test keys are used) and the service."""

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
        service_env = {
            "HOST": "127.0.0.1",
            "PORT": str(c.service_port),
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
        }
        if c.use_simulator:
            service_env["STRIPE_API_BASE"] = c.sim_url
        service_env.update(c.service_env)
        self.service = Process(
            "connect-backend",
            [sys.executable, "-m", "connect_backend"],
            log_path=logs / "connect-backend.log",
            env=service_env,
        )

        self.frontend = vite_process(
            frontend_url=c.frontend_url,
            worker_url=c.worker_url,
            service_url=c.service_url,
            log_path=logs / "frontend.log",
        )

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
        subprocess.run(  # noqa: S603 - fixed command line
            [
                str(WRANGLER),
                "d1",
                "execute",
                "DB",
                "--local",
                "--persist-to",
                str(self.config.state_dir / "d1"),
                "--command",
                sql,
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
        self.service.start()
        self.service.wait_http(f"{self.config.service_url}/ready")
        if self.config.run_frontend:
            self.frontend.start()
            self.frontend.wait_http(self.config.frontend_url)

    def restart_worker(self) -> None:
        """Stop and start the Worker on the same port and state."""
        self.worker.stop()
        self.start_worker()

    def stop(self) -> None:
        """Stop everything that was started, the frontend and the service first."""
        self.frontend.stop()
        for process in (self.service, self.sim, self.worker_proxy, self.worker):
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
