"""Rate limits on `limits`' sliding windows: per user and route group, and the platform's
Stripe budget, where reads give way first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis.asyncio import ConnectionPool

from connect_backend.errors import RateLimited, UpstreamUnavailable
from connect_backend.rate_limits import RateLimiter, RouteGroup
from connect_backend.settings import Settings
from connect_backend.stripe_budget import StripeBudget, StripeClass
from tests.support.service import make_settings


def _limiter(onboarding: int, *, money: int = 0, reads: int = 0) -> RateLimiter:
    return RateLimiter(
        {RouteGroup.ONBOARDING: onboarding, RouteGroup.MONEY: money, RouteGroup.READS: reads},
        storage=MemoryStorage(),
    )


async def _spend(limiter: RateLimiter, n: int, user: str = "usr_a") -> None:
    for _ in range(n):
        await limiter.take(RouteGroup.ONBOARDING, user)


async def test_a_user_may_make_per_minute_calls_then_is_refused_with_retry_after() -> None:
    limiter = _limiter(5)
    await _spend(limiter, 5)

    with pytest.raises(RateLimited) as refused:
        await limiter.take(RouteGroup.ONBOARDING, "usr_a")

    assert refused.value.code == "rate_limited"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60


async def test_users_and_route_groups_count_on_their_own() -> None:
    limiter = _limiter(2, money=1)
    await _spend(limiter, 2)

    await _spend(limiter, 2, user="usr_b")
    await limiter.take(RouteGroup.MONEY, "usr_a")
    with pytest.raises(RateLimited):
        await limiter.take(RouteGroup.ONBOARDING, "usr_a")
    with pytest.raises(RateLimited):
        await limiter.take(RouteGroup.MONEY, "usr_a")


async def test_zero_per_minute_turns_a_group_off() -> None:
    limiter = _limiter(0)

    await _spend(limiter, 500)


def test_settings_default_to_120_reads_10_onboarding_and_30_money_calls_a_minute() -> None:
    settings = make_settings()

    assert settings.rate_limit_reads_per_minute == 120
    assert settings.rate_limit_onboarding_per_minute == 10
    assert settings.rate_limit_money_per_minute == 30


def test_settings_read_the_rate_limits_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RATE_LIMIT_READS_PER_MINUTE", "600")
    monkeypatch.setenv("RATE_LIMIT_ONBOARDING_PER_MINUTE", "0")
    monkeypatch.setenv("RATE_LIMIT_MONEY_PER_MINUTE", "120")

    settings = Settings(  # type: ignore[call-arg]
        stripe_secret_key="sk_test_x",
        stripe_webhook_secret="whsec_x",
        worker_base_url="https://worker.test",
        worker_api_key="k",
        frontend_url="https://app.test",
        environment="development",
        _env_file=None,
    )

    assert (
        settings.rate_limit_reads_per_minute,
        settings.rate_limit_onboarding_per_minute,
        settings.rate_limit_money_per_minute,
    ) == (600, 0, 120)


def test_negative_rate_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_limit_money_per_minute"):
        make_settings(rate_limit_money_per_minute=-1)


# --- the platform's Stripe budget -----------------------------------------------------------


def _budget(per_second: int, *, wait: float = 0.3) -> StripeBudget:
    return StripeBudget(
        per_second=per_second, read_share=0.5, storage=MemoryStorage(), wait_seconds=wait
    )


async def test_reads_may_use_only_their_share_and_are_refused_with_429() -> None:
    budget = _budget(10)
    for _ in range(5):
        await budget.spend(StripeClass.READ)

    with pytest.raises(RateLimited) as refused:
        await budget.spend(StripeClass.READ)

    assert refused.value.headers["Retry-After"] == "1"


async def test_money_and_webhooks_keep_the_rest_when_reads_have_spent_theirs() -> None:
    budget = _budget(10)
    for _ in range(5):
        await budget.spend(StripeClass.READ)
    with pytest.raises(RateLimited):
        await budget.spend(StripeClass.READ)

    for _ in range(5):
        await budget.spend(StripeClass.WRITE)  # nothing refused, nothing waited


async def test_priority_calls_wait_for_room_within_their_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget = _budget(4, wait=3.0)
    for _ in range(4):
        await budget.spend(StripeClass.WRITE)

    await budget.spend(StripeClass.WRITE)  # not refused: room came within the wait

    assert '"event":"stripe.budget.waited"' in caplog.text


async def test_priority_calls_give_up_with_503_past_their_wait() -> None:
    budget = _budget(2, wait=0.1)
    await asyncio.gather(*(budget.spend(StripeClass.WRITE) for _ in range(2)))

    with pytest.raises(UpstreamUnavailable) as refused:
        await budget.spend(StripeClass.WRITE)

    assert refused.value.code == "upstream_unavailable"
    assert int(refused.value.headers["Retry-After"]) >= 1


async def test_a_budget_of_zero_is_no_budget() -> None:
    budget = _budget(0)

    for _ in range(200):
        await budget.spend(StripeClass.READ)


# --- shared by every process through Redis ---------------------------------------------------


@pytest.fixture
async def storages() -> AsyncIterator[Callable[[str], Storage]]:
    """Makes the `limits` storage one process would have, on its own Redis connections."""
    pools: list[ConnectionPool] = []

    def storage(url: str) -> Storage:
        pool = ConnectionPool.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        pools.append(pool)
        return RedisStorage(
            "async+" + url,
            implementation="redispy",
            wrap_exceptions=True,
            **cast(dict[str, Any], {"connection_pool": pool}),
        )

    yield storage
    for pool in pools:
        await pool.aclose()


async def test_processes_sharing_redis_share_each_users_limit(
    redis_url: str, storages: Callable[[str], Storage]
) -> None:
    # Two processes (each its own storage client), one Redis: the 4th call is refused on
    # whichever process it lands.
    one, two = (
        RateLimiter({RouteGroup.ONBOARDING: 3}, storage=storages(redis_url)) for _ in range(2)
    )
    for limiter in (one, two, one):
        await limiter.take(RouteGroup.ONBOARDING, "usr_a")

    with pytest.raises(RateLimited):
        await two.take(RouteGroup.ONBOARDING, "usr_a")
    await one.take(RouteGroup.ONBOARDING, "usr_b")  # another user's own limit


async def test_processes_sharing_redis_share_the_stripe_budget(
    redis_url: str, storages: Callable[[str], Storage]
) -> None:
    one, two = (
        StripeBudget(per_second=4, read_share=0.5, storage=storages(redis_url)) for _ in range(2)
    )
    await one.spend(StripeClass.READ)
    await two.spend(StripeClass.READ)

    with pytest.raises(RateLimited):
        await one.spend(StripeClass.READ)


NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def test_without_its_store_reads_go_on_and_money_and_onboarding_fail_closed(
    storages: Callable[[str], Storage],
) -> None:
    limiter = RateLimiter(
        {RouteGroup.READS: 1, RouteGroup.ONBOARDING: 1, RouteGroup.MONEY: 1},
        storage=storages(NO_REDIS),
    )

    for _ in range(3):
        await limiter.take(RouteGroup.READS, "usr_a")  # unlimited while the store is away
    for group in (RouteGroup.ONBOARDING, RouteGroup.MONEY):
        with pytest.raises(UpstreamUnavailable) as refused:
            await limiter.take(group, "usr_a")
        assert refused.value.code == "limits_unavailable"
        assert refused.value.headers["Retry-After"] == "5"


async def test_without_its_store_the_budget_lets_reads_and_webhooks_through_but_not_writes(
    storages: Callable[[str], Storage],
) -> None:
    budget = StripeBudget(per_second=4, read_share=0.5, storage=storages(NO_REDIS))

    for _ in range(5):
        await budget.spend(StripeClass.READ)
        await budget.spend(StripeClass.EVENT)
    with pytest.raises(UpstreamUnavailable) as refused:
        await budget.spend(StripeClass.WRITE)
    assert refused.value.code == "limits_unavailable"
