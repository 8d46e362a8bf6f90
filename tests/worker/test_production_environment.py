"""wrangler.jsonc's production environment, run for real: no development value reaches it.

`wrangler dev --env production` starts the Worker as `wrangler deploy --env production` would
configure it, minus the secrets (those are set with `wrangler secret put --env production`).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.contract import assert_response_matches
from tests.support.worker_stack import running_worker

pytestmark = pytest.mark.worker

RULE = json.loads(
    (Path(__file__).resolve().parents[2] / "contract" / "internal-api-key-rule.json").read_text(
        encoding="utf-8"
    )
)
STRONG_KEY = next(vector["key"] for vector in RULE["vectors"] if vector["strong"])


def test_production_without_its_secret_serves_nothing(tmp_path: Path) -> None:
    # Not even the development key: vars are not inherited by named environments.
    with running_worker(
        tmp_path, api_keys=(), wrangler_env="production", ready_status=(503,)
    ) as stack:
        for key in ("dev-internal-key", STRONG_KEY):
            response = httpx.get(
                f"{stack.base_url}/api/internal/health",
                headers={"X-Internal-Api-Key": key},
                timeout=10.0,
            )
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "misconfigured"
            assert_response_matches("/api/internal/health", "GET", 503, response.json())


def test_production_serves_with_a_strong_key(tmp_path: Path) -> None:
    # A weak one is refused like no key at all (worker/test/environment.test.ts).
    with running_worker(tmp_path, api_keys=(STRONG_KEY,), wrangler_env="production") as stack:
        response = httpx.get(
            f"{stack.base_url}/api/internal/health",
            headers={"X-Internal-Api-Key": STRONG_KEY},
            timeout=10.0,
        )
        assert response.json() == {"status": "ok", "d1": "ok"}
