"""RateLimiter: a token bucket per (route group, user) — burst, refill, Retry-After, bound, off."""

from __future__ import annotations

import pytest

from connect_backend.errors import RateLimited
from connect_backend.limits import RateLimiter, RouteGroup
from connect_backend.settings import Settings
from tests.service.conftest import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(per_minute: int, *, max_keys: int = 100, money: int = 0) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    limits = {RouteGroup.ONBOARDING: per_minute, RouteGroup.MONEY: money}
    return RateLimiter(limits, max_keys=max_keys, clock=clock), clock


def _spend(limiter: RateLimiter, n: int, user: str = "usr_a") -> None:
    for _ in range(n):
        limiter.take(RouteGroup.ONBOARDING, user)


def test_a_full_bucket_allows_a_burst_of_per_minute_calls_then_refuses() -> None:
    limiter, _ = _limiter(10)
    _spend(limiter, 10)

    with pytest.raises(RateLimited) as refused:
        limiter.take(RouteGroup.ONBOARDING, "usr_a")

    assert refused.value.status == 429
    assert refused.value.code == "rate_limited"


def test_retry_after_is_the_whole_seconds_until_one_token_is_back() -> None:
    limiter, clock = _limiter(10)  # one token every 6 s
    _spend(limiter, 10)
    clock.now += 1.5

    with pytest.raises(RateLimited) as refused:
        limiter.take(RouteGroup.ONBOARDING, "usr_a")

    assert refused.value.headers == {"Retry-After": "5"}  # 4.5 s rounded up


def test_tokens_come_back_at_the_per_minute_rate() -> None:
    limiter, clock = _limiter(10)
    _spend(limiter, 10)
    clock.now += 6.0

    limiter.take(RouteGroup.ONBOARDING, "usr_a")  # one token is back
    with pytest.raises(RateLimited):
        limiter.take(RouteGroup.ONBOARDING, "usr_a")


def test_a_bucket_never_holds_more_than_per_minute_tokens() -> None:
    limiter, clock = _limiter(3)
    _spend(limiter, 1)
    clock.now += 3600

    _spend(limiter, 3)
    with pytest.raises(RateLimited):
        limiter.take(RouteGroup.ONBOARDING, "usr_a")


def test_users_and_route_groups_have_buckets_of_their_own() -> None:
    limiter, _ = _limiter(2, money=2)
    _spend(limiter, 2, "usr_a")

    _spend(limiter, 2, "usr_b")
    limiter.take(RouteGroup.MONEY, "usr_a")
    with pytest.raises(RateLimited):
        limiter.take(RouteGroup.ONBOARDING, "usr_a")


def test_zero_per_minute_turns_the_limit_off_and_keeps_no_state() -> None:
    limiter, _ = _limiter(0)

    _spend(limiter, 1000)

    assert len(limiter) == 0


def test_the_buckets_are_bounded_and_the_least_recently_used_goes_first() -> None:
    limiter, _ = _limiter(1, max_keys=3)
    for user in ("usr_1", "usr_2", "usr_3"):
        limiter.take(RouteGroup.ONBOARDING, user)
    with pytest.raises(RateLimited):  # usr_1 is used again: now the most recent
        limiter.take(RouteGroup.ONBOARDING, "usr_1")

    limiter.take(RouteGroup.ONBOARDING, "usr_4")  # evicts usr_2, the least recently used

    assert len(limiter) == 3
    limiter.take(RouteGroup.ONBOARDING, "usr_2")  # forgotten: a full bucket again
    with pytest.raises(RateLimited):
        limiter.take(RouteGroup.ONBOARDING, "usr_1")


def test_many_users_never_grow_the_buckets_past_the_bound() -> None:
    limiter, _ = _limiter(5, max_keys=1000)

    for n in range(20_000):
        limiter.take(RouteGroup.ONBOARDING, f"usr_{n}")

    assert len(limiter) == 1000


def test_settings_default_to_10_onboarding_and_30_money_calls_a_minute() -> None:
    settings = make_settings()

    assert settings.rate_limit_onboarding_per_minute == 10
    assert settings.rate_limit_money_per_minute == 30


def test_settings_read_the_rate_limits_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RATE_LIMIT_ONBOARDING_PER_MINUTE", "0")
    monkeypatch.setenv("RATE_LIMIT_MONEY_PER_MINUTE", "120")

    settings = Settings(  # type: ignore[call-arg]
        stripe_secret_key="sk_test_x",
        stripe_webhook_secret="whsec_x",
        worker_base_url="https://worker.test",
        worker_api_key="k",
        frontend_url="https://app.test",
        _env_file=None,
    )

    assert (settings.rate_limit_onboarding_per_minute, settings.rate_limit_money_per_minute) == (
        0,
        120,
    )


def test_negative_rate_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_limit_money_per_minute"):
        make_settings(rate_limit_money_per_minute=-1)
