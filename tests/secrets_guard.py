"""After the whole run: nothing the service logged or answered holds a secret. Fails the build.

Collected over the session: every line the `connect_backend` logger writes (at DEBUG, so every
line any test makes it write), every answer the service tests' client receives (status,
headers, body: `/ready`, every error body, `/openapi.json`), and, at the end, the log files
of the real processes that the end-to-end stacks ran under pytest's temporary directory.
None may hold a Stripe key, a webhook secret, the Worker API key, a session token or a
webhook body. `tests/conftest.py` installs the hooks; `tests/unit/test_secrets_guard.py`
proves a leak fails the run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Secrets the suites hand the service (a leak is the literal value, wherever it shows up).
KNOWN_SECRETS = {
    "sk_test_service123",  # tests/service: STRIPE_SECRET_KEY
    "whsec_test_platform",  # tests/service: STRIPE_WEBHOOK_SECRET
    "whsec_test_connect",
    "test-internal-key",  # tests/service: WORKER_API_KEY
    "sk_test_unitsecret123",  # tests/unit
    "whsec_unitsecret456",
    "worker-unit-secret-789",
    "worker-unit-secret-0123456789-abcdefghijklmnopq",
    "unit-worker-key",
    "rk_test_local_faults",  # tests/e2e: the fault stack's restricted key
}
# Shapes of secrets, whatever their value. Session tokens of the fake Worker are `tok_…`;
# the real stack's tokens are remembered as the stack hands them out (`remember`).
PATTERNS = {
    "stripe key": re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}"),
    "webhook secret": re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{4,}"),
    # A token after "Bearer": 8+ token characters with a digit or "_" (not "Bearer session").
    "bearer token": re.compile(r"(?i)\bbearer\s+(?=[^\s\"]*[0-9_])[A-Za-z0-9._~+/=-]{8,}"),
    "session token": re.compile(r"\btok_[A-Za-z0-9_]+"),
    "client secret": re.compile(r"\b[a-z]+_secret_[A-Za-z0-9_-]{4,}"),
    "webhook body": re.compile(r"do-not-log-this-webhook-body|\"data\"\s*:\s*\{\s*\"object\"\s*:"),
}


# Secrets whose whole point is to be answered to the caller (an Account Session's client
# secret, for Connect.js in the caller's browser): never in a log, but expected in an answer.
ANSWERED_TO_THE_CALLER = frozenset({"client secret"})


@dataclass(frozen=True)
class Leak:
    """A secret found: where, what kind, and the text around it with the secret masked."""

    where: str
    kind: str
    excerpt: str


@dataclass
class Collected:
    """What the session made the service write and answer."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    secrets: set[str] = field(default_factory=lambda: set(KNOWN_SECRETS))

    def add(self, where: str, text: str) -> None:
        self.entries.append((where, text))


COLLECTED = Collected()


def remember(secret: str) -> None:
    """Treat `secret` (e.g. a session token the real stack issued) as one for the final check."""
    if len(secret) >= 8:
        COLLECTED.secrets.add(secret)


def _mask(text: str, start: int, end: int) -> str:
    before = text[max(0, start - 60) : start]
    after = text[end : end + 60]
    return f"…{before}<{end - start} characters masked>{after}…".replace("\n", " ")


def find_leaks(entries: Iterable[tuple[str, str]], secrets: Iterable[str]) -> list[Leak]:
    """Every secret (a literal of `secrets` or a shape of PATTERNS) in `entries`."""
    literals = sorted({s for s in secrets if s}, key=len, reverse=True)
    leaks: list[Leak] = []
    for where, text in entries:
        for secret in literals:
            at = text.find(secret)
            if at >= 0:
                leaks.append(Leak(where, "known secret", _mask(text, at, at + len(secret))))
        for kind, pattern in PATTERNS.items():
            if kind in ANSWERED_TO_THE_CALLER and where.startswith("answer "):
                continue
            found = pattern.search(text)
            if found:
                leaks.append(Leak(where, kind, _mask(text, found.start(), found.end())))
    return leaks


def process_logs(root: Path | None) -> Iterator[tuple[str, str]]:
    """The log files the real processes (service, Worker, simulator) wrote under `root`."""
    if root is None or not root.is_dir():
        return
    for path in sorted(root.rglob("*.log")):
        if path.is_file():
            yield str(path), path.read_text(errors="replace")


class _Lines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        COLLECTED.add(f"log {record.levelname.lower()}", record.getMessage())


_HANDLER = _Lines(level=logging.DEBUG)
_LOGGER = logging.getLogger("connect_backend")


def pytest_configure(config: pytest.Config) -> None:
    """Collect every line the service logs, at every level, for the whole session."""
    config.stash[_level_key] = _LOGGER.level
    _LOGGER.setLevel(logging.DEBUG)
    _LOGGER.addHandler(_HANDLER)
    _remember_stack_tokens()


def pytest_unconfigure(config: pytest.Config) -> None:
    _LOGGER.removeHandler(_HANDLER)
    _LOGGER.setLevel(config.stash.get(_level_key, logging.NOTSET))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run (exit status 1) when anything collected holds a secret."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    root = factory.getbasetemp() if factory is not None else None
    entries = [*COLLECTED.entries, *process_logs(root)]
    leaks = find_leaks(entries, COLLECTED.secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", "secrets guard")
        reporter.write_line(
            f"checked {len(COLLECTED.entries)} log lines and answers, "
            f"{len(entries) - len(COLLECTED.entries)} process log files: {len(leaks)} leaks"
        )
        for leak in leaks[:50]:
            reporter.write_line(f"LEAK {leak.kind} in {leak.where}: {leak.excerpt}", red=True)
    if leaks and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _remember_stack_tokens() -> None:
    """The real stack's session tokens are random: remember each as a `Member` is made."""
    try:
        from devstack import stack
    except ImportError:  # pragma: no cover - running outside the repository
        return
    original = stack.Member.__init__
    if getattr(original, "_remembers", False):
        return

    def init(self: stack.Member, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        remember(self.token)

    init._remembers = True  # type: ignore[attr-defined]
    stack.Member.__init__ = init  # type: ignore[method-assign]
    config_defaults = stack.StackConfig.__dataclass_fields__
    for name in ("internal_api_key", "webhook_secret", "stripe_secret_key"):
        default = config_defaults[name].default
        if isinstance(default, str):
            remember(default)


_level_key = pytest.StashKey[int]()
