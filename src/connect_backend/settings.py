"""Service configuration, read from the environment (and `.env`) by pydantic-settings."""

from __future__ import annotations

import math
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connect_backend import countries
from connect_backend.keys import is_strong_internal_key
from connect_backend.money import RefundFeePolicy

_STRIPE_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
_WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=_-]+$")
_CAPABILITY = re.compile(r"^[a-z][a-z0-9_]*$")

CommaList = Annotated[list[str], NoDecode]


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an absolute http(s) URL, lower-cased; ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return f"{parts.scheme}://{parts.netloc}".lower()


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: those it may run on, capped by its container's CPU
    quota (cgroup v2 `cpu.max`, e.g. Railway's vCPU limit), rounded up; at least 1."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota to read: the affinity stands
    return max(1, cpus)


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything the service reads from its environment; secrets are `SecretStr`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    stripe_secret_key: SecretStr = Field(description="sk_test_…, sk_live_… or rk_… key")
    stripe_webhook_secret: SecretStr = Field(description="whsec_…; comma-separated for several")
    stripe_api_base: str = "https://api.stripe.com"
    worker_base_url: str
    worker_api_key: SecretStr
    frontend_url: str
    allowed_origins: CommaList = Field(default_factory=list)
    connect_account_type: Literal["express", "custom"] = "express"
    connect_accounts_api: Literal["v1", "v2"] = "v1"
    connect_capabilities: CommaList = Field(default_factory=lambda: ["transfers"])
    connect_default_country: str = "US"
    refund_fee_policy: RefundFeePolicy = "proportional"
    connect_allowed_countries: CommaList = Field(
        default_factory=lambda: sorted(countries.TRANSFERS_WITH_FULL_AGREEMENT)
    )
    environment: Literal["development", "production"] = "production"
    session_cache_ttl_seconds: float = Field(default=10.0, ge=0)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    rate_limit_reads_per_minute: int = Field(default=120, ge=0)
    rate_limit_onboarding_per_minute: int = Field(default=10, ge=0)
    rate_limit_money_per_minute: int = Field(default=30, ge=0)
    ready_reuse_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long /ready answers with its last check's outcome instead of checking",
    )
    stripe_requests_per_second: int | None = Field(default=None, ge=0)
    stripe_read_share: float = Field(default=0.5, gt=0, le=1)
    worker_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    web_concurrency: int = Field(default_factory=available_cpus, ge=1, le=64)
    redis_url: SecretStr | None = None
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token for GET /metrics; unset: /metrics is off"
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector base URL; unset: no traces"
    )
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on every interface
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("stripe_secret_key")
    @classmethod
    def _stripe_key_shape(cls, value: SecretStr) -> SecretStr:
        if not _STRIPE_KEY.match(value.get_secret_value()):
            raise ValueError("must look like sk_test_…, sk_live_…, rk_test_… or rk_live_…")
        return value

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _webhook_secrets_shape(cls, value: SecretStr) -> SecretStr:
        secrets = [s.strip() for s in value.get_secret_value().split(",") if s.strip()]
        if not secrets or not all(_WEBHOOK_SECRET.match(s) for s in secrets):
            raise ValueError("must be one or more comma-separated whsec_… secrets")
        return value

    @field_validator("worker_api_key")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < 32:
            raise ValueError("must be 32 characters or more (secrets.token_urlsafe(32))")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _otlp_endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        origin_of(value)
        return value.strip().rstrip("/")

    @field_validator("stripe_api_base", "worker_base_url", "frontend_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        origin_of(value)
        return value.strip().rstrip("/")

    @field_validator(
        "allowed_origins", "connect_capabilities", "connect_allowed_countries", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("connect_capabilities")
    @classmethod
    def _capability_names(cls, value: list[str]) -> list[str]:
        if not value or not all(_CAPABILITY.match(name) for name in value):
            raise ValueError("must be comma-separated capability names, e.g. transfers")
        return value

    @field_validator("connect_default_country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("must be a two-letter country code")
        return value.upper()

    @field_validator("connect_allowed_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        codes = [code.upper() for code in value]
        unknown = [code for code in codes if code not in countries.REACHABLE]
        if not codes or unknown:
            raise ValueError(
                "must be two-letter codes of countries a US platform can onboard"
                + (f" (not {', '.join(unknown)})" if unknown else "")
            )
        return codes

    @model_validator(mode="after")
    def _strong_worker_key(self) -> Settings:
        if self.environment != "development" and not is_strong_internal_key(
            self.worker_api_key.get_secret_value()
        ):
            raise ValueError(
                "WORKER_API_KEY must stand for 32 random bytes (at least 43 characters, 12 "
                "distinct) outside ENVIRONMENT=development; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if self.connect_default_country not in self.connect_allowed_countries:
            raise ValueError("CONNECT_DEFAULT_COUNTRY must be one of CONNECT_ALLOWED_COUNTRIES")
        if self.connect_accounts_api == "v2" and set(self.connect_capabilities) != {"transfers"}:
            raise ValueError(
                "CONNECT_ACCOUNTS_API=v2 makes recipient accounts, whose one capability here is "
                "transfers: set CONNECT_CAPABILITIES=transfers"
            )
        return self

    @model_validator(mode="after")
    def _default_origins(self) -> Settings:
        origins = [origin_of(o) for o in self.allowed_origins] or [origin_of(self.frontend_url)]
        object.__setattr__(self, "allowed_origins", origins)
        return self

    @cached_property
    def webhook_secrets(self) -> tuple[str, ...]:
        """Every configured webhook signing secret, in order."""
        return tuple(s.strip() for s in self.stripe_webhook_secret.get_secret_value().split(","))

    @property
    def livemode(self) -> bool:
        """Whether the Stripe key is a live-mode key (events of the other mode are ignored):
        its prefix says so (`sk_live_`, `rk_live_`), never `_live_` further in the key."""
        return self.stripe_secret_key.get_secret_value().startswith(("sk_live_", "rk_live_"))

    @property
    def stripe_budget_per_second(self) -> int:
        """The platform's Stripe requests a second: the setting, else below Stripe's own
        limits (about 100 a second live, 25 in test mode)."""
        if self.stripe_requests_per_second is not None:
            return self.stripe_requests_per_second
        return 90 if self.livemode else 20

    @property
    def stripe_budget_per_process(self) -> int:
        """This process's part of the budget: all of it when the processes share it through
        Redis; otherwise an equal share of this replica's (so one replica's processes stay
        within it together; several replicas without Redis each spend a whole budget)."""
        budget = self.stripe_budget_per_second
        if self.redis_url is not None or budget == 0:
            return budget
        return max(1, budget // self.web_concurrency)

    def per_process_state(self) -> list[str]:
        """What each process keeps to itself with these settings (said at start-up)."""
        kept = ["session cache"]
        if self.redis_url is None:
            kept[:0] = [
                "per-user rate limits",
                "Stripe budget (split evenly)",
                "refresh coalescing",
            ]
        return kept
