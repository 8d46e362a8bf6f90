"""A header sent twice with different values names two things at once: refused."""

from __future__ import annotations

import httpx

from tests.service.fakes import FakeWorker


async def test_two_different_x_org_id_values_are_an_organization_mismatch(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    worker.add_org("org_b")
    owner = worker.add_person("olive", org_a="owner", org_b="owner")
    headers = [
        ("Authorization", f"Bearer {owner.token}"),
        ("X-Org-ID", "org_a"),
        ("X-Org-ID", "org_b"),
    ]
    response = await client.get("/api/connect/status", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "organization_mismatch"
    assert worker.calls("verify-user-context") == []


async def test_the_same_x_org_id_twice_is_accepted(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    headers = [
        ("Authorization", f"Bearer {owner.token}"),
        ("X-Org-ID", "org_a"),
        ("X-Org-ID", "org_a"),
    ]
    response = await client.get("/api/connect/status", headers=headers)
    assert response.status_code == 200
    assert response.json()["organization_id"] == "org_a"


async def test_two_different_x_user_id_values_are_a_user_mismatch(
    client: httpx.AsyncClient, worker: FakeWorker
) -> None:
    worker.add_org("org_a")
    owner = worker.add_person("olive", org_a="owner")
    headers = [
        ("Authorization", f"Bearer {owner.token}"),
        ("X-User-ID", owner.id),
        ("X-User-ID", "usr_someone_else"),
    ]
    response = await client.get("/api/connect/status/org_a", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_mismatch"
