"""Settings: required values, shapes, comma-separated lists, defaults, a clear start-up failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connect_backend import tracing
from connect_backend.settings import Settings, available_cpus
from tests.support.service import make_settings

STRIPE_KEY = "sk_test_unitsecret123"
WEBHOOK_SECRET = "whsec_unitsecret456"
WORKER_KEY = "worker-unit-secret-0123456789-abcdefghijklmnopq"  # strong: production's floor

REQUIRED = {
    "STRIPE_SECRET_KEY": STRIPE_KEY,
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "WORKER_BASE_URL": "https://worker.example.com",
    "WORKER_API_KEY": WORKER_KEY,
    "FRONTEND_URL": "https://app.example.com",
}
OPTIONAL = [
    "STRIPE_API_BASE",
    "METRICS_TOKEN",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "ALLOWED_ORIGINS",
    "CONNECT_ACCOUNT_TYPE",
    "CONNECT_CAPABILITIES",
    "CONNECT_DEFAULT_COUNTRY",
    "REFUND_FEE_POLICY",
    "SESSION_CACHE_TTL_SECONDS",
    "WEBHOOK_TOLERANCE_SECONDS",
    "CONNECT_ALLOWED_COUNTRIES",
    "ENVIRONMENT",
    "RATE_LIMIT_READS_PER_MINUTE",
    "RATE_LIMIT_ONBOARDING_PER_MINUTE",
    "RATE_LIMIT_MONEY_PER_MINUTE",
    "READY_REUSE_SECONDS",
    "STRIPE_REQUESTS_PER_SECOND",
    "STRIPE_READ_SHARE",
    "HOST",
    "PORT",
    "LOG_LEVEL",
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment holding exactly the required settings."""
    for name in [*REQUIRED, *OPTIONAL]:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def load() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def failing_fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.value.errors()}


def test_required_settings_are_read_from_the_environment(env: pytest.MonkeyPatch) -> None:
    settings = load()

    assert settings.stripe_secret_key.get_secret_value() == STRIPE_KEY
    assert settings.worker_api_key.get_secret_value() == WORKER_KEY
    assert settings.webhook_secrets == (WEBHOOK_SECRET,)
    assert settings.worker_base_url == "https://worker.example.com"
    assert settings.frontend_url == "https://app.example.com"


def test_defaults_match_the_spec(env: pytest.MonkeyPatch) -> None:
    settings = load()

    assert settings.refund_fee_policy == "proportional"  # the platform returns its fee share
    assert (
        settings.stripe_api_base,
        settings.connect_account_type,
        settings.connect_capabilities,
        settings.connect_default_country,
        settings.session_cache_ttl_seconds,
        settings.webhook_tolerance_seconds,
        settings.worker_timeout_seconds,
        settings.stripe_timeout_seconds,
        settings.host,
        settings.port,
        settings.log_level,
    ) == (
        "https://api.stripe.com",
        "express",
        ["transfers"],
        "US",
        10,
        300,
        5,
        20,
        "0.0.0.0",  # noqa: S104 - the default host, compared not bound
        8000,
        "info",
    )


@pytest.mark.parametrize("name", list(REQUIRED))
def test_a_missing_required_setting_is_an_error_naming_it(
    env: pytest.MonkeyPatch, name: str
) -> None:
    env.delenv(name)

    with pytest.raises(ValidationError) as exc:
        load()

    assert failing_fields(exc) == {name.lower()}


def test_secrets_are_not_shown_by_repr(env: pytest.MonkeyPatch) -> None:
    text = repr(load())

    assert STRIPE_KEY not in text
    assert WEBHOOK_SECRET not in text
    assert WORKER_KEY not in text


@pytest.mark.parametrize(
    "key", ["sk_test_abc", "sk_live_abc", "rk_test_abc", "rk_live_abc_DEF_123"]
)
def test_secret_and_restricted_keys_are_accepted(env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("STRIPE_SECRET_KEY", key)

    assert load().stripe_secret_key.get_secret_value() == key


@pytest.mark.parametrize(
    "key", ["pk_test_abc", "sk_abc", "sk_test_", "whsec_abc", "sk_test_abc def", ""]
)
def test_a_malformed_stripe_key_is_an_error_naming_it(env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("STRIPE_SECRET_KEY", key)

    with pytest.raises(ValidationError) as exc:
        load()

    assert failing_fields(exc) == {"stripe_secret_key"}


@pytest.mark.parametrize(
    ("key", "live"),
    [
        ("sk_test_abc", False),
        ("sk_live_abc", True),
        ("rk_live_abc", True),
        ("rk_test_abc", False),
        # Only the prefix says the mode: `_live_` further in a test key is not live.
        ("sk_test_abc_live_x", False),
        ("rk_test_x_live_y", False),
        ("rk_live_abc_test_x", True),
    ],
)
def test_livemode_follows_the_key_s_prefix(env: pytest.MonkeyPatch, key: str, live: bool) -> None:
    env.setenv("STRIPE_SECRET_KEY", key)

    assert load().livemode is live


def test_several_webhook_secrets_are_comma_separated(env: pytest.MonkeyPatch) -> None:
    env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_platform, whsec_connect,whsec_old+/=")

    assert load().webhook_secrets == ("whsec_platform", "whsec_connect", "whsec_old+/=")


@pytest.mark.parametrize("value", ["whsec_a,not-a-secret", "secret", ",", "whsec_"])
def test_a_malformed_webhook_secret_is_an_error_naming_it(
    env: pytest.MonkeyPatch, value: str
) -> None:
    env.setenv("STRIPE_WEBHOOK_SECRET", value)

    with pytest.raises(ValidationError) as exc:
        load()

    assert failing_fields(exc) == {"stripe_webhook_secret"}


@pytest.mark.parametrize(
    ("frontend", "origin"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("https://App.Example.com/settings/", "https://app.example.com"),
        ("http://localhost:3000/app", "http://localhost:3000"),
    ],
)
def test_allowed_origins_default_to_the_origin_of_the_frontend(
    env: pytest.MonkeyPatch, frontend: str, origin: str
) -> None:
    env.setenv("FRONTEND_URL", frontend)

    assert load().allowed_origins == [origin]


def test_allowed_origins_are_comma_separated_origins(env: pytest.MonkeyPatch) -> None:
    env.setenv("ALLOWED_ORIGINS", "https://app.example.com, https://Admin.example.com/x,")

    assert load().allowed_origins == ["https://app.example.com", "https://admin.example.com"]


@pytest.mark.parametrize("value", ["app.example.com", "ftp://app.example.com", "https://"])
def test_a_malformed_allowed_origin_is_an_error(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("ALLOWED_ORIGINS", value)

    with pytest.raises(ValidationError):
        load()


def test_capabilities_are_comma_separated(env: pytest.MonkeyPatch) -> None:
    env.setenv("CONNECT_CAPABILITIES", "transfers, card_payments")

    assert load().connect_capabilities == ["transfers", "card_payments"]


@pytest.mark.parametrize("value", ["", "Transfers", "transfers;card_payments", "card payments"])
def test_malformed_capabilities_are_an_error_naming_them(
    env: pytest.MonkeyPatch, value: str
) -> None:
    env.setenv("CONNECT_CAPABILITIES", value)

    with pytest.raises(ValidationError) as exc:
        load()

    assert failing_fields(exc) == {"connect_capabilities"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_BASE_URL", "worker.example.com"),
        ("FRONTEND_URL", "/relative"),
        ("STRIPE_API_BASE", "not a url"),
        ("WORKER_API_KEY", "   "),
        ("CONNECT_ACCOUNT_TYPE", "standard"),
        ("CONNECT_DEFAULT_COUNTRY", "USA"),
        ("REFUND_FEE_POLICY", "platform_keeps_everything"),
        ("SESSION_CACHE_TTL_SECONDS", "-1"),
        ("WEBHOOK_TOLERANCE_SECONDS", "0"),
        ("WORKER_TIMEOUT_SECONDS", "0"),
        ("STRIPE_TIMEOUT_SECONDS", "-1"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "verbose"),
    ],
)
def test_a_malformed_setting_is_an_error_naming_it(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env.setenv(name, value)

    with pytest.raises(ValidationError) as exc:
        load()

    assert failing_fields(exc) == {name.lower()}


def test_urls_lose_their_trailing_slash(env: pytest.MonkeyPatch) -> None:
    env.setenv("WORKER_BASE_URL", "https://worker.example.com/")
    env.setenv("FRONTEND_URL", "https://app.example.com/")

    settings = load()

    assert (settings.worker_base_url, settings.frontend_url) == (
        "https://worker.example.com",
        "https://app.example.com",
    )


def test_custom_account_type_and_country_case(env: pytest.MonkeyPatch) -> None:
    env.setenv("CONNECT_ACCOUNT_TYPE", "custom")
    env.setenv("CONNECT_DEFAULT_COUNTRY", "gb")

    settings = load()

    assert (settings.connect_account_type, settings.connect_default_country) == ("custom", "GB")


def test_session_cache_ttl_zero_is_allowed(env: pytest.MonkeyPatch) -> None:
    env.setenv("SESSION_CACHE_TTL_SECONDS", "0")

    assert load().session_cache_ttl_seconds == 0


def test_settings_are_read_from_a_dotenv_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("WORKER_API_KEY")
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"WORKER_API_KEY=from-dotenv-{'x1y2z3' * 8}\nPORT=9000\n")

    settings = Settings(_env_file=dotenv)  # type: ignore[call-arg]

    assert settings.worker_api_key.get_secret_value().startswith("from-dotenv-")
    assert settings.port == 9000


def _start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m connect_backend` in a clean environment, from a directory without `.env`."""
    clean = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.run(
        [sys.executable, "-m", "connect_backend"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_start_up_without_a_required_setting_fails_with_one_line_naming_it(
    tmp_path: Path,
) -> None:
    given = {k: v for k, v in REQUIRED.items() if k != "WORKER_API_KEY"}

    run = _start(tmp_path, **given)

    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "WORKER_API_KEY" in lines[0]
    for secret in (STRIPE_KEY, WEBHOOK_SECRET):
        assert secret not in run.stderr
        assert secret not in run.stdout


def test_start_up_with_a_malformed_key_fails_without_showing_it(tmp_path: Path) -> None:
    given: dict[str, Any] = {**REQUIRED, "STRIPE_SECRET_KEY": "pk_live_leakme123"}

    run = _start(tmp_path, **given)

    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "STRIPE_SECRET_KEY" in lines[0]
    assert "pk_live_leakme123" not in run.stderr
    assert WORKER_KEY not in run.stderr
    assert WEBHOOK_SECRET not in run.stderr


# --- production's floors (issue 11.9, 11.8) ---------------------------------------------------


@pytest.mark.parametrize("key", ["dev-internal-key", "a" * 64, "0123456789" * 4])
def test_a_weak_worker_key_stops_production_start_up(env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("WORKER_API_KEY", key)

    with pytest.raises(ValidationError, match="WORKER_API_KEY must stand for 32 random bytes"):
        load()


def test_production_is_the_default_environment(env: pytest.MonkeyPatch) -> None:
    assert load().environment == "production"


def test_a_weak_worker_key_is_fine_in_development(env: pytest.MonkeyPatch) -> None:
    env.setenv("WORKER_API_KEY", "dev-internal-key")
    env.setenv("ENVIRONMENT", "development")

    assert load().worker_api_key.get_secret_value() == "dev-internal-key"


def test_the_allowed_countries_default_to_where_transfers_reach_full_accounts(
    env: pytest.MonkeyPatch,
) -> None:
    allowed = set(load().connect_allowed_countries)

    assert {"US", "CA", "GB", "CH", "DE", "FR", "NO"} <= allowed
    assert not allowed & {"AU", "JP", "BR", "KE"}  # recipient agreement only, opt in
    assert len(allowed) == 34


@pytest.mark.parametrize("value", ["US,XX", "us,zz", "", "US,JM"])
def test_allowed_countries_must_be_countries_stripe_reaches(
    env: pytest.MonkeyPatch, value: str
) -> None:
    env.setenv("CONNECT_ALLOWED_COUNTRIES", value)

    with pytest.raises(ValidationError) as failed:
        load()

    assert failing_fields(failed) == {"connect_allowed_countries"}


def test_the_default_country_must_be_allowed(env: pytest.MonkeyPatch) -> None:
    env.setenv("CONNECT_ALLOWED_COUNTRIES", "CA,GB")

    with pytest.raises(ValidationError, match="CONNECT_DEFAULT_COUNTRY must be one of"):
        load()


@pytest.mark.parametrize(("key", "per_second"), [("sk_test_abc", 20), ("sk_live_abc", 90)])
def test_the_stripe_budget_stays_below_stripe_s_own_limits(
    env: pytest.MonkeyPatch, key: str, per_second: int
) -> None:
    env.setenv("STRIPE_SECRET_KEY", key)

    assert load().stripe_budget_per_second == per_second


# --- processes and shared state ---------------------------------------------------------------


def test_the_default_processes_are_the_cpus_the_container_may_use(tmp_path: Path) -> None:
    runnable = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == runnable  # no quota: the CPUs it may run on

    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU
    assert available_cpus(tmp_path) == 1

    (tmp_path / "cpu.max").write_text(f"{(runnable + 4) * 100000} 100000\n")
    assert available_cpus(tmp_path) == runnable  # a quota above what it may run on

    assert available_cpus(tmp_path / "no-cgroup") == runnable


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/0", "rediss://:hunter2@redis.internal:6380", "unix:///run/redis.sock"],
)
def test_redis_urls_are_accepted(url: str) -> None:
    settings = make_settings(redis_url=url)

    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == url
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize("url", ["http://redis.internal:6379", "localhost:6379", "redis://"])
def test_a_malformed_redis_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="redis_url"):
        make_settings(redis_url=url)


def test_an_empty_redis_url_means_none() -> None:
    assert make_settings(redis_url="").redis_url is None


def test_the_stripe_budget_is_split_among_processes_only_without_redis() -> None:
    alone = make_settings(stripe_requests_per_second=90, web_concurrency=4)
    shared = make_settings(
        stripe_requests_per_second=90, web_concurrency=4, redis_url="redis://localhost:6379/0"
    )

    assert alone.stripe_budget_per_process == 22
    assert shared.stripe_budget_per_process == 90
    assert (
        make_settings(stripe_requests_per_second=0, web_concurrency=4).stripe_budget_per_process
        == 0
    )
    assert "per-user rate limits" in alone.per_process_state()
    assert shared.per_process_state() == ["session cache"]


def test_metrics_and_traces_are_off_unless_configured(env: pytest.MonkeyPatch) -> None:
    env.setenv("METRICS_TOKEN", "  ")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")

    settings = load()

    assert settings.metrics_token is None
    assert settings.otel_exporter_otlp_endpoint is None
    assert tracing.provider(settings) is None


def test_a_metrics_token_is_long_and_kept_secret(env: pytest.MonkeyPatch) -> None:
    env.setenv("METRICS_TOKEN", "short-token")
    with pytest.raises(ValidationError) as refused:
        load()
    assert failing_fields(refused) == {"metrics_token"}

    env.setenv("METRICS_TOKEN", "m" * 40)
    settings = load()

    assert settings.metrics_token is not None
    assert "m" * 40 not in repr(settings)


def test_traces_go_to_the_collectors_traces_path(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    settings = load()

    traces = tracing.provider(settings)

    assert settings.otel_exporter_otlp_endpoint == "http://collector:4318"
    assert traces is not None
    assert traces.resource.attributes["service.name"] == "connect-backend"
    traces.shutdown()


def test_a_malformed_collector_url_is_an_error_naming_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    with pytest.raises(ValidationError) as refused:
        load()
    assert failing_fields(refused) == {"otel_exporter_otlp_endpoint"}
