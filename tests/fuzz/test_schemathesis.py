"""Schemathesis against the service's own OpenAPI, in process (ASGI), authenticated.

Every operation gets schema-valid (positive) and schema-invalid (negative) requests (`mode
all`: examples, coverage and fuzzing phases, undeclared methods too), and every answer must
hold to Schemathesis' checks: no 5xx, a documented status code, content type, headers and body
schema, negative data rejected, valid data accepted (a 400 only for a rule the schema cannot
express), required headers enforced, and auth enforced (a 2xx is replayed without and with a
wrong token, which must be refused).

Authenticated with Bearer sessions of the respx fake Worker: a platform admin for transfer and
platform fee, an owner of every organization for the rest. Every organization the fuzzer names
exists, made on first use: three in four are onboarded, with an active Stripe account and money
in it. So the happy paths are reached, not only the 4xx; the last test checks that.
Valid webhooks are signed as Stripe signs them.

Bounded and deterministic: MAX_EXAMPLES per operation, derandomized with a fixed seed, about
2,000 requests in under 30 s on two cores. `FUZZ_SEED=7 FUZZ_EXAMPLES=500` explores further.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
import schemathesis
from schemathesis import Case
from schemathesis.checks import CheckContext
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from connect_backend.app import create_app
from tests.service.fakes import FakeStripe, FakeWorker, Person
from tests.support.service import WEBHOOK_SECRET, make_settings, worker_on
from tests.support.stripe_account import stripe_account

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("FUZZ_SEED", "20261126"))
OWNER = "tok_fuzz_owner"
ADMIN = "tok_fuzz_admin"
WEBHOOK = "/api/connect/webhook"
PLATFORM_ADMIN_ROUTES = (
    "/api/connect/transfer",
    "/api/connect/transfers/{transfer_id}/reversals",
    "/api/connect/platform-fee/{org_id}",
    "/api/connect/organizations",
    "/api/connect/open-claims",
)


class _OwnerEverywhere(dict[str, str]):
    """The fuzzing owner's memberships: owner of every organization there is."""

    def get(self, key: str, default: Any = None) -> Any:
        return "owner"


def _could_be_in_d1(org_id: str) -> bool:
    """Any non-empty text D1 can hold: not a lone surrogate (JSON can carry one, D1 cannot)."""
    try:
        org_id.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(org_id)


class EveryOrganizationExists(FakeWorker):
    """The fake Worker, where any organization the fuzzer names exists (made on first use)."""

    def __init__(self, stripe: FakeStripe) -> None:
        super().__init__()
        self.stripe = stripe

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/internal")
        named: object = None
        if path.startswith("/organization/"):
            named = path.removeprefix("/organization/")
        elif request.content:
            named = json.loads(request.content).get("organization_id")
        if isinstance(named, str) and _could_be_in_d1(named) and named not in self.organizations:
            self._make(named)
        return super()._handle(request)

    def _make(self, org_id: str) -> None:
        digest = hashlib.sha256(org_id.encode()).hexdigest()
        if int(digest[0], 16) % 4 == 0:  # one in four has not onboarded yet
            self.add_org(org_id)
            return
        account_id = f"acct_fz{digest[:16]}"
        self.stripe.accounts[account_id] = stripe_account(
            account_id, organization_id=org_id, state="active"
        )
        self.stripe.balances[account_id] = {
            "available": [{"amount": 50_000, "currency": "usd", "source_types": {"card": 50_000}}],
            "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
        }
        self.add_org(
            org_id,
            stripe_connect_account_id=account_id,
            stripe_connect_status="active",
            onboarding_step="complete",
        )


class CursorsAnywhere(FakeStripe):
    """The fake Stripe, where a list's `starting_after` the fuzzer made up (never an id of the
    list) reads the list from its start instead of being refused, and where any transfer the
    fuzzer names exists (sent to `REVERSIBLE`'s account, made on first use): so the history
    and reversal routes' happy paths are reached. Refusing an unknown cursor is tested in
    test_history_routes.py, an unknown transfer in test_reversals.py."""

    def _route(self, request: httpx.Request, path: str, params: dict[str, Any]) -> httpx.Response:
        named = re.fullmatch(r"/v1/transfers/(\w+)(?:/reversals)?", path)
        if named and not any(t["id"] == named[1] for t in self.transfers):
            self.transfers.append(
                {
                    "id": named[1],
                    "object": "transfer",
                    "amount": 1000,
                    "amount_reversed": 0,
                    "currency": "usd",
                    "destination": REVERSIBLE_ACCOUNT,
                    "metadata": {},
                }
            )
        return super()._route(request, path, params)

    @staticmethod
    def _list(url: str, items: list[dict[str, Any]], query: dict[str, str]) -> httpx.Response:
        if query.get("starting_after") not in {item["id"] for item in items}:
            query = {k: v for k, v in query.items() if k != "starting_after"}
        return FakeStripe._list(url, items, query)


REVERSIBLE = "org_fuzz_reversible"
REVERSIBLE_ACCOUNT = "acct_fzreversible0000"
STRIPE = CursorsAnywhere()
WORKER = EveryOrganizationExists(STRIPE)
STRIPE.accounts[REVERSIBLE_ACCOUNT] = stripe_account(
    REVERSIBLE_ACCOUNT, organization_id=REVERSIBLE, state="active"
)
STRIPE.balances[REVERSIBLE_ACCOUNT] = {
    "available": [{"amount": 10**9, "currency": "usd", "source_types": {"card": 10**9}}],
    "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
}
WORKER.add_org(REVERSIBLE, stripe_connect_account_id=REVERSIBLE_ACCOUNT)
WORKER.people[OWNER] = Person(
    "usr_fuzz_owner", OWNER, "owner@fuzz.test", memberships=_OwnerEverywhere()
)
WORKER.people[ADMIN] = Person("usr_fuzz_admin", ADMIN, "admin@fuzz.test", role="admin")

# The fake Stripe's socket, bound now so that the app's settings can name it; it is served
# for the whole module on a loop of its own (see `_upstreams`).
STRIPE_SOCKET = socket.socket()
STRIPE_SOCKET.bind(("127.0.0.1", 0))
# The fake Worker on a respx router of its own, which the app's Worker client sends through.
WORKER_ROUTER = respx.MockRouter(assert_all_mocked=True, assert_all_called=False)
WORKER.install(WORKER_ROUTER)
APP = create_app(
    make_settings(
        stripe_api_base=f"http://127.0.0.1:{STRIPE_SOCKET.getsockname()[1]}",
        # Counted, but high enough that the happy paths stay reachable.
        rate_limit_onboarding_per_minute=1_000_000,
        rate_limit_money_per_minute=1_000_000,
    ),
    worker_transport=worker_on(WORKER_ROUTER),
)
# Refusals of schema-valid requests that the schema cannot express: which organization a
# request names (path, body and X-Org-ID must agree, and one must be given), the redirect
# allow-list, the countries the platform onboards from (a setting: the document, and the
# frontend's types made from it, are the same in every deployment), a fee that leaves nothing
# to transfer, a list cursor that names nothing, and webhook signatures. A schema-valid
# request may be refused with 400 only for one of these.
RULES_OUTSIDE_THE_SCHEMA = {
    "organization_mismatch",
    "organization_required",
    "invalid_redirect_url",
    "country_not_allowed",
    "amount_too_small",
    "invalid_cursor",
    "missing_signature",
    "invalid_signature",
}
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",  # nothing written to the work tree; every run the same
        },
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
            },
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def _upstreams() -> Iterator[None]:
    """The fake Stripe on the wire for the whole module, and respx in front of every other httpx
    call (the fake Worker is on `WORKER_ROUTER`; the app's clients are
    the lifespan's, which Schemathesis runs on its own event loop thread)."""
    with (
        respx.mock(using="httpx", assert_all_mocked=True, assert_all_called=False) as mock,
        STRIPE.serving_in_thread(STRIPE_SOCKET),
    ):
        mock.route(host="localhost").pass_through()  # Schemathesis's own calls to the app
        yield


def _signed(body: bytes) -> str:
    timestamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def valid_data_refused_only_by_rules_outside_the_schema(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """A 400 to schema-valid data names one of `RULES_OUTSIDE_THE_SCHEMA`."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 400:
        code = response.json()["error"]["code"]
        assert code in RULES_OUTSIDE_THE_SCHEMA, f"schema-valid request refused with {code}"
    return True


@pytest.fixture(scope="module")
def answered() -> Iterator[dict[str, Counter[int]]]:
    """The statuses each operation answered over the module's fuzzing; once it is over, every
    operation must have been served (a 2xx) as well as refused: the fuzzing reached each
    happy path, not only its 4xx. Checked here, at the end of the run that filled it, so no
    test depends on another's state (a run that fuzzed only some operations checks nothing)."""
    seen: dict[str, Counter[int]] = {}
    yield seen
    if len(seen) < len(list(schema.get_all_operations())):
        return
    shown = {operation: dict(sorted(statuses.items())) for operation, statuses in seen.items()}
    unserved = [op for op, statuses in shown.items() if not any(200 <= s < 300 for s in statuses)]
    assert unserved == [], shown


@schema.parametrize()
def test_the_api_holds_to_its_schema(case: Case, answered: dict[str, Counter[int]]) -> None:
    kwargs: dict[str, Any] = {}
    if case.path == WEBHOOK:
        if isinstance(case.body, dict):  # a valid event shape: sign it, as Stripe would
            raw = json.dumps(case.body).encode()
            kwargs["data"] = raw
            kwargs["headers"] = {"Stripe-Signature": _signed(raw)}
    elif case.headers and "Authorization" in case.headers:  # meant to be signed in: a real one
        token = ADMIN if case.path in PLATFORM_ADMIN_ROUTES else OWNER
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
    response = case.call_and_validate(
        additional_checks=[valid_data_refused_only_by_rules_outside_the_schema], **kwargs
    )
    answered.setdefault(case.operation.label, Counter())[response.status_code] += 1
