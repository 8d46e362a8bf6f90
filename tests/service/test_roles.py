"""Who may do what: the product spec's roles table, row by row, and how callers are identified."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.service.fakes import FakeStripe, FakeWorker
from tests.support.service import bearer, onboarded


@dataclass(frozen=True)
class Call:
    """One route of the roles table, called for organization `org_a`."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


CALLS: dict[str, Call] = {
    "status": Call("GET", "/api/connect/status/org_a"),
    "onboard": Call("POST", "/api/connect/onboard", {"organization_id": "org_a"}),
    "dashboard-link": Call("POST", "/api/connect/dashboard-link", {"organization_id": "org_a"}),
    "balance": Call("GET", "/api/connect/balance/org_a"),
    "payout": Call(
        "POST",
        "/api/connect/payout",
        {"organization_id": "org_a", "currency": "usd"},
        {"Idempotency-Key": "po-1"},
    ),
    "payout-schedule": Call(
        "PUT", "/api/connect/payout-schedule", {"organization_id": "org_a", "interval": "daily"}
    ),
    "transfer": Call(
        "POST",
        "/api/connect/transfer",
        {"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        {"Idempotency-Key": "tr-1"},
    ),
    "platform-fee": Call("PUT", "/api/connect/platform-fee/org_a", {"platform_fee_percent": 5}),
}

# The spec's table: route -> who may call it. Everyone else is refused.
ALLOWED: dict[str, set[str]] = {
    "status": {"member", "admin", "owner", "platform_admin"},
    "onboard": {"admin", "owner"},
    "dashboard-link": {"admin", "owner"},
    "balance": {"admin", "owner", "platform_admin"},
    "payout": {"admin", "owner"},
    "payout-schedule": {"admin", "owner"},
    "transfer": {"platform_admin"},
    "platform-fee": {"platform_admin"},
}
CALLERS = ("member", "admin", "owner", "platform_admin", "other_org_member")

# What each refusal looks like: a member of another organization is not a member of this one.
REFUSAL_CODE = {
    "member": "forbidden",
    "admin": "forbidden",
    "owner": "forbidden",
    "platform_admin": "forbidden",
    "other_org_member": "not_a_member",
}

TABLE = [
    pytest.param(route, caller, caller in ALLOWED[route], id=f"{route}-{caller}")
    for route in CALLS
    for caller in CALLERS
]


def _people(worker: FakeWorker) -> dict[str, str]:
    worker.add_org("org_b")
    return {
        "member": worker.add_person("mia", org_a="member").token,
        "admin": worker.add_person("adam", org_a="admin").token,
        "owner": worker.add_person("olive", org_a="owner").token,
        "platform_admin": worker.add_person("pat", role="admin").token,
        "other_org_member": worker.add_person("otto", org_b="owner").token,
    }


async def _send(client: httpx.AsyncClient, call: Call, token: str) -> httpx.Response:
    return await client.request(
        call.method, call.path, json=call.json, headers=bearer(token, **(call.headers or {}))
    )


def _stripe_writes(stripe: FakeStripe) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in stripe.requests if r.method != "GET"]


@pytest.mark.parametrize(("route", "caller", "allowed"), TABLE)
async def test_roles_table(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    route: str,
    caller: str,
    allowed: bool,
) -> None:
    onboarded(worker, stripe, "org_a", available=5000)
    tokens = _people(worker)
    before = dict(worker.organizations["org_a"])

    r = await _send(client, CALLS[route], tokens[caller])

    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == REFUSAL_CODE[caller]
        # A refused call changes nothing anywhere.
        assert _stripe_writes(stripe) == []
        assert worker.organizations["org_a"] == before
        assert worker.calls("update-organization") == []


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_org_admin_can_never_transfer_platform_money(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, role: str
) -> None:
    onboarded(worker, stripe, "org_a")
    person = worker.add_person("adam", **{"org_a": role})
    r = await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(person.token, **{"Idempotency-Key": "mine"}),
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert stripe.calls("POST", r"/v1/transfers") == []


async def test_org_admin_claiming_a_platform_admins_user_id_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    onboarded(worker, stripe, "org_a")
    admin = worker.add_person("adam", org_a="admin")
    platform_admin = worker.add_person("pat", role="admin")
    r = await client.post(
        "/api/connect/transfer",
        json={"organization_id": "org_a", "amount": 1000, "currency": "usd"},
        headers=bearer(admin.token, **{"Idempotency-Key": "k", "X-User-ID": platform_admin.id}),
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "user_mismatch"
    assert stripe.calls("POST", r"/v1/transfers") == []


async def test_no_token_is_401_missing_token_without_asking_the_worker(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    r = await client.get("/api/connect/status/org_a")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_token"
    assert worker.requests == []


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer ", "tok_olive"])
async def test_a_non_bearer_authorization_is_401_missing_token(
    client: httpx.AsyncClient, worker: FakeWorker, authorization: str
) -> None:
    worker.add_org("org_a")
    worker.add_person("olive", org_a="owner")
    r = await client.get("/api/connect/status/org_a", headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_token"


async def test_a_token_over_4096_characters_is_401_missing_token_without_asking_the_worker(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    r = await client.get("/api/connect/status/org_a", headers=bearer("t" * 4097))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_token"
    assert worker.requests == []


async def test_the_bearer_scheme_is_read_whatever_its_case(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    r = await client.get(
        "/api/connect/status/org_a", headers={"Authorization": f"bEaReR {owner.token}"}
    )
    assert r.status_code == 200
    [verify] = worker.calls("verify-user-context")
    assert orjson.loads(verify.read())["session_token"] == owner.token


@pytest.mark.parametrize("name", ["X-Org-ID", "X-User-ID"])
async def test_a_claim_header_over_255_characters_is_422_naming_it_without_asking_the_worker(
    client: httpx.AsyncClient, worker: FakeWorker, name: str
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    r = await client.get(
        "/api/connect/status/org_a", headers=bearer(owner.token, **{name: "x" * 256})
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [
        {
            "loc": ["header", name],
            "msg": "String should have at most 255 characters",
            "type": "string_too_long",
        }
    ]
    assert "x" * 256 not in r.text  # the value is not echoed
    assert worker.requests == []


async def test_claim_headers_of_255_characters_are_read(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    org_id = "org_" + "a" * 251
    worker.add_org(org_id)
    owner = worker.add_person("olive", **{org_id: "owner"})
    r = await client.get("/api/connect/status", headers=bearer(owner.token, **{"X-Org-ID": org_id}))
    assert r.status_code == 200
    assert r.json()["organization_id"] == org_id


async def test_unknown_token_is_401_invalid_session(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    r = await client.get("/api/connect/status/org_a", headers=bearer("tok_nobody"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_session"
    [verify] = worker.calls("verify-user-context")
    assert verify.read() == b'{"session_token":"tok_nobody","organization_id":"org_a"}'


async def test_spoofed_user_id_is_403_user_mismatch(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    r = await client.get(
        "/api/connect/status/org_a", headers=bearer(owner.token, **{"X-User-ID": "usr_someone"})
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "user_mismatch"


async def test_matching_user_id_header_is_accepted(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    r = await client.get(
        "/api/connect/status/org_a", headers=bearer(owner.token, **{"X-User-ID": owner.id})
    )
    assert r.status_code == 200
    assert r.json()["organization_id"] == "org_a"


@pytest.mark.parametrize(
    ("method", "path", "json", "x_org_id"),
    [
        pytest.param("GET", "/api/connect/status/org_a", None, "org_b", id="path-vs-header"),
        pytest.param("GET", "/api/connect/balance/org_a", None, "org_b", id="balance-path-header"),
        pytest.param(
            "POST", "/api/connect/onboard", {"organization_id": "org_a"}, "org_b", id="body-header"
        ),
        pytest.param(
            "PUT",
            "/api/connect/platform-fee/org_a",
            {"platform_fee_percent": 5},
            "org_b",
            id="fee-path-header",
        ),
    ],
)
async def test_differing_organizations_are_400_organization_mismatch(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    method: str,
    path: str,
    json: dict[str, Any] | None,
    x_org_id: str,
) -> None:
    worker.add_org("org_a")
    worker.add_org("org_b")
    owner = worker.add_person("olive", org_a="owner", org_b="owner")
    r = await client.request(
        method, path, json=json, headers=bearer(owner.token, **{"X-Org-ID": x_org_id})
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "organization_mismatch"
    assert worker.calls("verify-user-context") == []
    assert stripe.requests == []


async def test_same_organization_named_twice_is_not_a_mismatch(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    r = await client.get(
        "/api/connect/status/org_a", headers=bearer(owner.token, **{"X-Org-ID": "org_a"})
    )
    assert r.status_code == 200
    assert r.json()["organization_id"] == "org_a"


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("GET", "/api/connect/status", None),
        ("GET", "/api/connect/balance", None),
        ("POST", "/api/connect/onboard", {}),
        ("POST", "/api/connect/dashboard-link", None),
        ("PUT", "/api/connect/payout-schedule", {"interval": "daily"}),
        ("POST", "/api/connect/payout", {"currency": "usd"}),
    ],
)
async def test_no_organization_named_is_400_organization_required(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    method: str,
    path: str,
    json: dict[str, Any] | None,
) -> None:
    owner = worker.add_person("olive")
    r = await client.request(
        method, path, json=json, headers=bearer(owner.token, **{"Idempotency-Key": "k"})
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "organization_required"
    assert worker.calls("verify-user-context") == []


async def test_nonexistent_organization_is_403_not_a_member(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    owner = worker.add_person("olive", org_a="owner")
    r = await client.get("/api/connect/status/org_ghost", headers=bearer(owner.token))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "not_a_member"


async def test_organization_id_with_a_slash_cannot_change_the_worker_path(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    admin = worker.add_person("pat", role="admin")
    r = await client.get(
        "/api/connect/status", headers=bearer(admin.token, **{"X-Org-ID": "../health"})
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "not_a_member"
    [verify] = worker.calls("verify-user-context")
    assert b'"organization_id":"../health"' in verify.read()
