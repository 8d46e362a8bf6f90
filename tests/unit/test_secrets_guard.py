"""The secrets guard: it finds each kind of secret, masks it, and a leak fails a whole run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.secrets_guard import COLLECTED, KNOWN_SECRETS, find_leaks

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"event":"x","key":"sk_live_51HxYzAbCdEf"}', "stripe key"),
        ("restricted rk_test_9a8b7c6d5e", "stripe key"),
        ("signing with whsec_abcdEFGH1234", "webhook secret"),
        ("Authorization: Bearer 3f9aK2LmQx0pZ7", "bearer token"),
        ('{"session_token":"tok_olive"}', "session token"),
        ('{"description":"do-not-log-this-webhook-body-7f3a"}', "webhook body"),
        ('{"id":"evt_1","type":"payout.paid","data": {"object": {"id":"po_1"}}}', "webhook body"),
        ("X-Internal-Api-Key: test-internal-key", "known secret"),
    ],
)
def test_each_kind_of_secret_is_found_and_masked(text: str, kind: str) -> None:
    leaks = find_leaks([("log info", text)], KNOWN_SECRETS)

    assert [leak.kind for leak in leaks] == [kind]
    assert leaks[0].where == "log info"
    assert "masked" in leaks[0].excerpt
    for secret in ("sk_live_51HxYzAbCdEf", "whsec_abcdEFGH1234", "3f9aK2LmQx0pZ7", "tok_olive"):
        assert secret not in leaks[0].excerpt


@pytest.mark.parametrize(
    "text",
    [
        '{"event":"request.done","request_id":"a1","route":"/api/connect/status/{org_id}",'
        '"status":401,"organization_id":"org_a","user_id":"usr_olive"}',
        '{"event":"stripe.failed","message":"Invalid API Key provided: [redacted]"}',
        '{"error":{"code":"missing_token","message":"A Bearer session token is required."}}',
        '{"securitySchemes":{"HTTPBearer":{"type":"http","scheme":"bearer"}}}',
        '{"event":"webhook.logged","event_id":"evt_1","event_type":"payout.paid","amount":500}',
    ],
    ids=["request-line", "redacted", "error-body", "openapi", "webhook-line"],
)
def test_what_the_service_does_write_is_not_a_leak(text: str) -> None:
    assert find_leaks([("log info", text)], KNOWN_SECRETS) == []


def _run(tmp_path: Path, test_body: str) -> subprocess.CompletedProcess[str]:
    """A pytest run of its own, with the guard's hooks, of one test that passes."""
    (tmp_path / "conftest.py").write_text(
        "from tests.secrets_guard import pytest_configure, pytest_sessionfinish, "
        "pytest_unconfigure\n"
    )
    (tmp_path / "test_sub.py").write_text(
        "from connect_backend import log\n\n\n"
        f"def test_passes(tmp_path_factory):\n{test_body}\n    assert True\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # noqa: S603 - this interpreter, a fixed command line
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_run_whose_tests_pass_fails_when_the_service_logged_a_secret(tmp_path: Path) -> None:
    run = _run(tmp_path, '    log.warning("worker.refused", key="test-internal-key")')

    assert "1 passed" in run.stdout
    assert run.returncode == 1, run.stdout
    assert "LEAK known secret in log warning" in run.stdout
    assert "test-internal-key" not in run.stdout


def test_a_run_fails_when_a_process_log_file_holds_a_secret(tmp_path: Path) -> None:
    body = (
        '    logs = tmp_path_factory.mktemp("stack") / "logs"\n'
        "    logs.mkdir()\n"
        '    (logs / "connect-backend.log").write_text(\'{"signed":"whsec_leaked0123"}\\n\')'
    )
    run = _run(tmp_path, body)

    assert "1 passed" in run.stdout
    assert run.returncode == 1, run.stdout
    assert "LEAK webhook secret in" in run.stdout
    assert "connect-backend.log" in run.stdout


def test_a_run_without_a_leak_passes(tmp_path: Path) -> None:
    run = _run(tmp_path, '    log.info("connect.status.read", organization_id="org_a")')

    assert run.returncode == 0, run.stdout
    assert "0 leaks" in run.stdout


def test_the_real_stack_s_session_tokens_and_keys_are_secrets_too() -> None:
    from devstack.stack import Member, StackConfig

    Member("ada@example.com", "pw", "3nD8rQk2vX9LmP4sT7wY1zA6bC0eF5gH", "usr_ada")

    assert "3nD8rQk2vX9LmP4sT7wY1zA6bC0eF5gH" in COLLECTED.secrets
    assert StackConfig.internal_api_key in COLLECTED.secrets
    assert StackConfig.webhook_secret in COLLECTED.secrets
