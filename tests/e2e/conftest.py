"""The whole system as real processes on loopback: Worker, Stripe simulator, service."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.procs import free_port
from devstack.stack import BetterAuth, Member, Stack, StackConfig
from tests.support.stack import Team, better_auth_api

_serial = itertools.count(1)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("stack"),
        # Redeliver refused webhooks quickly, as Stripe does (with backoff), but in seconds.
        sim_args=["--webhook-retry-base", "0.2", "--webhook-max-attempts", "12"],
        # One platform admin serves every test of the session; its money calls add up across
        # files. The limits themselves are tested in tests/service and tests/unit.
        # Every refresh reads Stripe (a test that changes an account at the simulator refreshes
        # right after); the platform's Stripe budget is the test mode's own (20 a second).
        service_env={
            "RATE_LIMIT_READS_PER_MINUTE": "600",
            "RATE_LIMIT_MONEY_PER_MINUTE": "600",
            "RATE_LIMIT_ONBOARDING_PER_MINUTE": "600",
        },
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="session")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


@pytest.fixture
async def service(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.service_url, timeout=30.0) as http:
        yield http


@pytest.fixture
async def sim(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.sim_url, timeout=30.0) as http:
        yield http


@pytest.fixture
async def stripe_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's Stripe API itself, with the platform's key (as Stripe's dashboard or
    another service of the platform would make accounts)."""
    headers = {"Authorization": f"Bearer {stack.config.stripe_secret_key}"}
    async with httpx.AsyncClient(base_url=stack.config.sim_url, headers=headers) as http:
        yield http


@pytest.fixture
async def internal(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The Worker's internal API, to read what D1 holds."""
    headers = {"X-Internal-Api-Key": stack.config.internal_api_key}
    async with httpx.AsyncClient(
        base_url=f"{stack.config.worker_url}/api/internal", headers=headers, timeout=30.0
    ) as http:
        yield http


@pytest.fixture(scope="session")
def platform_admin(stack: Stack, better_auth: BetterAuth) -> Member:
    admin = better_auth.sign_up("root@platform.test", "admin-password-123", "Root")
    stack.d1("UPDATE user SET role = 'admin' WHERE email = 'root@platform.test'")
    return admin


@pytest.fixture
def team(better_auth: BetterAuth, platform_admin: Member) -> Team:
    """A fresh organization per test (D1 is shared by the whole session)."""
    n = next(_serial)
    owner = better_auth.sign_up(f"owner{n}@org.test", "owner-password-123", f"Owner {n}")
    member = better_auth.sign_up(f"member{n}@org.test", "member-password-123", f"Member {n}")
    org_id = better_auth.create_organization(owner, f"Org {n}", f"org-{n}")
    better_auth.add_member(owner, member, org_id, "member")
    return Team(org_id=org_id, owner=owner, member=member, admin=platform_admin)


@pytest.fixture(scope="session")
def browser_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own with the demo frontend (Vite's dev server) on a free port."""
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("browser-stack"),
        frontend_url=f"http://localhost:{free_port()}",
        run_frontend=True,
    )
    with Stack(config) as running:
        yield running
