"""The real Worker for tests: `wrangler dev --local` on workerd with its own local D1.

Start it with `running_worker(state_dir)` (a context manager; the tests' session fixture is
`tests/worker/conftest.py::worker_stack`), then create users, organizations and members
through Better Auth's own HTTP API with `BetterAuthApi`, and call the internal API with
`InternalApi` (raw httpx, answers checked against the contract).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.procs import Process, free_port
from tests.support.contract import assert_response_matches

ROOT = Path(__file__).resolve().parents[2]
WORKER_DIR = ROOT / "worker"
WRANGLER = WORKER_DIR / "node_modules" / ".bin" / "wrangler"
TEST_API_KEYS = ("test-key-current", "test-key-next")
PASSWORD = "correct-horse-battery-staple"


def _wrangler_env() -> dict[str, str]:
    return {**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "1"}


def run_wrangler(args: Sequence[str], *, timeout: float = 120.0) -> str:
    """Run `wrangler <args>` in worker/; its output, or RuntimeError with it."""
    if not WRANGLER.exists():
        raise RuntimeError(f"{WRANGLER} is missing: run ./scripts/bootstrap (npm ci in worker/)")
    done = subprocess.run(  # noqa: S603 - our own, fixed command lines
        [str(WRANGLER), *args],
        cwd=WORKER_DIR,
        env=_wrangler_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrangler {' '.join(args[:3])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def sql_text(value: str) -> str:
    """A SQL string literal (for the few statements tests run through `wrangler d1 execute`)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class WorkerStack:
    """A running Worker: where it listens, its API keys and its D1 state folder."""

    base_url: str
    api_keys: tuple[str, ...]
    persist_dir: Path
    log_path: Path

    @property
    def api_key(self) -> str:
        """The first (current) key."""
        return self.api_keys[0]

    def d1_execute(self, sql: str) -> str:
        """Run SQL on the Worker's local D1 (safe while the Worker runs); about 1-2 s."""
        return run_wrangler(
            [
                "d1",
                "execute",
                "DB",
                "--local",
                "--persist-to",
                str(self.persist_dir),
                "--command",
                sql,
            ]
        )

    async def d1_execute_async(self, sql: str) -> str:
        """`d1_execute` off the event loop."""
        return await asyncio.to_thread(self.d1_execute, sql)

    async def make_platform_admin(self, user_id: str) -> None:
        """Make the user a platform admin (Better Auth admin plugin: user.role = 'admin')."""
        sql = f"UPDATE user SET role = 'admin' WHERE id = {sql_text(user_id)}"  # noqa: S608
        await self.d1_execute_async(sql)

    async def expire_session(self, token: str) -> None:
        """Move the session's expiry into the past, as time passing would."""
        raw = token.split(".")[0]
        past = "'2020-01-01T00:00:00.000Z'"
        sql = f"UPDATE session SET expiresAt = {past} WHERE token = {sql_text(raw)}"  # noqa: S608
        await self.d1_execute_async(sql)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of wrangler's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running_worker(
    state_dir: Path,
    *,
    api_keys: Sequence[str] = TEST_API_KEYS,
    port: int | None = None,
    extra_vars: dict[str, str] | None = None,
    startup_timeout: float = 60.0,
    wrangler_env: str | None = None,
    ready_status: tuple[int, ...] = (200,),
) -> Iterator[WorkerStack]:
    """Migrate a fresh local D1 in `state_dir`, run `wrangler dev` on it, stop it on exit.

    wrangler runs in its own session (process group), so stopping kills its workerd
    children too; its output goes to `state_dir/wrangler.log`. `wrangler_env` runs one of
    wrangler.jsonc's named environments (`--env`); the Worker counts as up once its health
    check answers one of `ready_status`. With no `api_keys`, none is set (`--var`).
    """
    persist = state_dir / "d1"
    persist.mkdir(parents=True, exist_ok=True)
    run_wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", str(persist)])
    port = port or free_port()
    variables = {"INTERNAL_API_KEYS": ",".join(api_keys)} if api_keys else {}
    variables.update(extra_vars or {})
    stack = WorkerStack(
        base_url=f"http://127.0.0.1:{port}",
        api_keys=tuple(api_keys),
        persist_dir=persist,
        log_path=state_dir / "wrangler.log",
    )
    argv = [
        str(WRANGLER),
        "dev",
        "--local",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--persist-to",
        str(persist),
        "--show-interactive-dev-session=false",
    ]
    if wrangler_env is not None:
        argv += ["--env", wrangler_env]
    for name, value in variables.items():
        argv += ["--var", f"{name}:{value}"]
    worker = Process("worker", argv, cwd=WORKER_DIR, env=_wrangler_env(), log_path=stack.log_path)
    worker.start()
    try:
        worker.wait_http(
            f"{stack.base_url}/api/internal/health",
            timeout=startup_timeout,
            ok=ready_status,
            headers={"X-Internal-Api-Key": api_keys[0]} if api_keys else None,
        )
        yield stack
    finally:
        worker.stop()


def unique_email(prefix: str = "user") -> str:
    """An address no other test used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.test"


@dataclass(frozen=True)
class AuthUser:
    """A user signed up through Better Auth, with one of their sessions."""

    id: str
    email: str
    name: str
    token: str
    """The raw session token (the answer body's `token`)."""
    signed_token: str
    """The signed form `token.signature` (the `set-auth-token` header)."""


class BetterAuthApi:
    """Better Auth's own HTTP API on the Worker (/api/auth/*), as the frontend calls it."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/api/auth"
        self._origin = base_url.rstrip("/")

    async def _post(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> httpx.Response:
        headers = {"Origin": self._origin}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await self._http.post(self._base + path, json=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"Better Auth {path}: {response.status_code} {response.text}")
        return response

    def _user(self, response: httpx.Response, name: str) -> AuthUser:
        data = response.json()
        return AuthUser(
            id=data["user"]["id"],
            email=data["user"]["email"],
            name=name,
            token=data["token"],
            signed_token=response.headers.get("set-auth-token", ""),
        )

    async def sign_up(
        self, *, email: str | None = None, name: str = "Ada", password: str = PASSWORD
    ) -> AuthUser:
        """POST /sign-up/email: a new user and a session."""
        email = email or unique_email()
        response = await self._post(
            "/sign-up/email", {"email": email, "password": password, "name": name}
        )
        return self._user(response, name)

    async def sign_in(self, *, email: str, password: str = PASSWORD) -> AuthUser:
        """POST /sign-in/email: another session for an existing user."""
        response = await self._post("/sign-in/email", {"email": email, "password": password})
        return self._user(response, response.json()["user"]["name"])

    async def sign_out(self, token: str) -> None:
        """POST /sign-out: revokes the session (needs a JSON body, even an empty one)."""
        await self._post("/sign-out", {}, token)

    async def create_organization(
        self, owner: AuthUser, *, name: str = "Acme", slug: str | None = None
    ) -> str:
        """POST /organization/create: the owner becomes its `owner` member; its id."""
        slug = slug or f"org-{uuid.uuid4().hex[:12]}"
        response = await self._post(
            "/organization/create", {"name": name, "slug": slug}, owner.token
        )
        organization_id: str = response.json()["id"]
        return organization_id

    async def add_member(
        self, *, organization_id: str, inviter: AuthUser, user: AuthUser, role: str
    ) -> None:
        """Invite `user` with `role` (admin or member) and have them accept."""
        invitation = await self._post(
            "/organization/invite-member",
            {"email": user.email, "role": role, "organizationId": organization_id},
            inviter.token,
        )
        await self._post(
            "/organization/accept-invitation", {"invitationId": invitation.json()["id"]}, user.token
        )


@dataclass(frozen=True)
class Answer:
    """An answer of the internal API."""

    status: int
    body: Any
    headers: httpx.Headers


class InternalApi:
    """Raw calls to /api/internal/* with the API key; answers are checked against the contract."""

    def __init__(self, http: httpx.AsyncClient, stack: WorkerStack) -> None:
        self._http = http
        self._stack = stack

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        key: str | None = "",
        headers: dict[str, str] | None = None,
        template: str | None = None,
    ) -> Answer:
        """`method /api/internal<path>`; `key=""` sends the current key, `None` sends none."""
        sent = dict(headers or {})
        if key is not None:
            sent["X-Internal-Api-Key"] = key or self._stack.api_key
        response = await self._http.request(
            method,
            f"{self._stack.base_url}/api/internal{path}",
            json=json,
            content=content,
            headers=sent,
        )
        body = response.json()
        assert_response_matches(
            f"/api/internal{template or path}", method, response.status_code, body
        )
        return Answer(response.status_code, body, response.headers)

    async def verify_user_context(
        self, session_token: str, organization_id: str | None = None
    ) -> Answer:
        return await self.call(
            "POST",
            "/verify-user-context",
            json={"session_token": session_token, "organization_id": organization_id},
        )

    async def organization(self, organization_id: str) -> Answer:
        return await self.call(
            "GET", f"/organization/{organization_id}", template="/organization/{id}"
        )

    async def organization_by_account(self, account_id: str) -> Answer:
        return await self.call(
            "GET",
            f"/organization-by-account/{account_id}",
            template="/organization-by-account/{account_id}",
        )

    async def update_organization(
        self,
        organization_id: str,
        updates: dict[str, Any],
        synced_at: str | None = None,
        *,
        expected_account_id: str | None = None,
    ) -> Answer:
        body: dict[str, Any] = {"organization_id": organization_id, "updates": updates}
        if synced_at is not None:
            body["synced_at"] = synced_at
        if expected_account_id is not None:
            body["expected_account_id"] = expected_account_id
        return await self.call("POST", "/update-organization", json=body)

    async def create_connect_account(
        self, organization_id: str, account_id: str, *, replace_account_id: str | None = None
    ) -> Answer:
        body = {"organization_id": organization_id, "stripe_connect_account_id": account_id}
        if replace_account_id is not None:
            body["replace_account_id"] = replace_account_id
        return await self.call("POST", "/create-connect-account", json=body)

    async def idempotency_key(self, action: str, body: dict[str, Any]) -> Answer:
        """`POST idempotency-keys/<action>` (claim, complete, release)."""
        return await self.call("POST", f"/idempotency-keys/{action}", json=body)

    async def health(self, key: str | None = "") -> Answer:
        return await self.call("GET", "/health", key=key)
