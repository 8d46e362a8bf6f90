"""The local stack with replicas (devstack, `StackConfig.replicas`): two service processes
behind HAProxy, sharing one Redis. What is proven here is the infrastructure — the
balancer's rotation, its health checks, Redis at the replicas' URL — not the service's use
of Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from devstack.redis_server import ping
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.e2e

REPLICAS = 2
# How long a wait below may last before the test fails: a bound, not a measurement.
PATIENCE_SECONDS = 15.0
POLL_SECONDS = 0.05


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(state_dir=tmp_path_factory.mktemp("replicas"), replicas=REPLICAS)
    with Stack(config) as running:
        yield running


@pytest.fixture(autouse=True)
def every_replica_running(stack: Stack) -> Iterator[None]:
    """A test that kills a replica leaves the next one the whole stack."""
    yield
    for index, replica in enumerate(stack.replicas):
        if not replica.running:
            stack.start_replica(index)


@pytest.fixture
def balancer(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.config.service_url, timeout=10.0) as http:
        yield http


def answered_by(balancer: httpx.Client) -> str:
    """One GET through the balancer, which must succeed; the replica that answered it."""
    answer = balancer.get("/health")
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Replica"]


def poll_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not done():
        assert time.monotonic() < deadline, f"still not {what} after {PATIENCE_SECONDS} s"
        time.sleep(POLL_SECONDS)


def test_every_replica_answers_through_the_balancer(stack: Stack, balancer: httpx.Client) -> None:
    # Round robin: every replica answers once in each run of REPLICAS requests.
    answered = {answered_by(balancer) for _ in range(2 * REPLICAS)}

    assert answered == {replica.name for replica in stack.replicas}


def test_redis_answers_ping_at_the_url_the_replicas_were_given(stack: Stack) -> None:
    urls = {replica.env["REDIS_URL"] for replica in stack.replicas}

    assert urls == {stack.config.redis_url}
    assert ping(stack.config.redis_url)


def test_a_killed_replica_leaves_the_rotation_while_gets_keep_succeeding(
    stack: Stack, balancer: httpx.Client
) -> None:
    survivor, victim = (replica.name for replica in stack.replicas)
    answered: list[str] = []

    def victim_taken_out() -> bool:
        # Every GET succeeds even before the health check notices: HAProxy retries a refused
        # connection on the other replica.
        answered.append(answered_by(balancer))
        return stack.balancer_states()[victim] == "DOWN"

    stack.kill_replica(1)
    poll_until(victim_taken_out, f"{victim} out of the rotation")
    answered += [answered_by(balancer) for _ in range(2 * REPLICAS)]

    assert set(answered) == {survivor}


def test_start_replica_brings_a_killed_replica_back_into_the_rotation(
    stack: Stack, balancer: httpx.Client
) -> None:
    victim = stack.replicas[1].name
    stack.kill_replica(1)
    poll_until(lambda: stack.balancer_states()[victim] == "DOWN", f"{victim} out of the rotation")

    stack.start_replica(1)

    poll_until(lambda: answered_by(balancer) == victim, f"{victim} answering again")
    assert stack.balancer_states() == {replica.name: "UP" for replica in stack.replicas}
