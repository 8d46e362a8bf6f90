"""`./scripts/dev --orgs N` (and the fleet benchmarks): N organizations in mixed states, so the
console and `reconcile` can be tried at size.

Each organization but a few holds an account the Stripe simulator really has (made through its
own `POST /v1/accounts`, then moved with `/_sim/accounts/{id}/onboarding`), and D1 holds what
the spec's status table derives from it (`devstack.truth`), with a last sync spread over the
past 60 days. Webhook delivery is switched off while the accounts are made (their events are
dropped: D1 is written here, in one batch per 500 rows, not by N webhook syncs) and switched
back on after. The organizations are D1 rows only (no members): the platform admin sees them
in the console.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from devstack.stack import Stack
from devstack.truth import truth

# Of every 100 organizations: what their account went through at the simulator (None: no
# account). Mostly settled, as a grown fleet is; the rest wait on someone.
MIX: tuple[tuple[str | None, int], ...] = (
    ("complete", 72),
    ("none", 8),  # created, onboarding not finished: pending, details_submission
    ("due", 8),  # requirements due
    ("review", 4),  # under review
    ("reject", 3),
    (None, 5),  # no account yet
)
WORDS = (
    "Acme", "Bolt", "Cedar", "Delta", "Ember", "Fjord", "Garnet", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pine", "Quartz", "Raven", "Sable", "Tidal",
)  # fmt: skip
KINDS = ("Bikes", "Books", "Coffee", "Design", "Farms", "Labs", "Studio", "Tools", "Travel", "Yoga")
ID_PREFIX = "org_fleet_"
BATCH = 500
"""D1 rows a `wrangler d1 execute --file` writes."""
AT_ONCE = 16
"""Simulator calls in flight while accounts are made."""


def outcomes(n: int, seed: int) -> list[str | None]:
    """What each of `n` organizations went through, in the mix's proportions, shuffled."""
    weights = [w for _, w in MIX]
    kinds = [k for k, _ in MIX]
    return random.Random(seed).choices(kinds, weights=weights, k=n)  # noqa: S311 - not secrets


def name_of(index: int) -> str:
    """A searchable name: a word, a kind and the index (`Cedar Coffee 00042`)."""
    return f"{WORDS[index % len(WORDS)]} {KINDS[index // len(WORDS) % len(KINDS)]} {index:05d}"


def seed_fleet(stack: Stack, n: int, *, seed: int = 23) -> Counter[str]:
    """N organizations (ids `org_fleet_00000`…) in mixed states at the simulator and in D1;
    how many of each D1 status were made. Organizations seeded before are replaced."""
    return asyncio.run(_seed(stack, n, seed))


async def _seed(stack: Stack, n: int, seed: int) -> Counter[str]:
    c = stack.config
    plan = outcomes(n, seed)
    clock = random.Random(seed + 1)  # noqa: S311 - not secrets
    now = datetime.now(UTC)
    auth = {"Authorization": f"Bearer {c.stripe_secret_key}"}
    async with httpx.AsyncClient(base_url=c.sim_url, timeout=30) as sim:
        await sim.post("/_sim/config", json={"webhooks_enabled": False})
        try:
            slots = asyncio.Semaphore(AT_ONCE)

            async def account(index: int, outcome: str) -> dict[str, Any]:
                async with slots:
                    made = await sim.post(
                        "/v1/accounts",
                        headers=auth,
                        data={
                            "type": "express",
                            "country": "US",
                            "business_profile[name]": name_of(index),
                            "metadata[organization_id]": f"{ID_PREFIX}{index:05d}",
                            "capabilities[transfers][requested]": "true",
                        },
                    )
                    made.raise_for_status()
                    account_id = made.json()["id"]
                    if outcome != "none":
                        moved = await sim.post(
                            f"/_sim/accounts/{account_id}/onboarding", json={"outcome": outcome}
                        )
                        moved.raise_for_status()
                    entry = await sim.get(f"/_sim/accounts/{account_id}")
                    entry.raise_for_status()
                    found: dict[str, Any] = entry.json()
                    return found

            linked = [i for i, outcome in enumerate(plan) if outcome is not None]
            entries = await asyncio.gather(*(account(i, str(plan[i])) for i in linked))
        finally:
            await sim.post("/_sim/config", json={"webhooks_enabled": True})
    made: Counter[str] = Counter()
    rows: list[str] = []
    by_index = dict(zip(linked, entries, strict=True))
    for index in range(n):
        entry = by_index.get(index)
        org_id = f"{ID_PREFIX}{index:05d}"
        values = [_text(org_id), _text(name_of(index)), _text(org_id.replace("_", "-"))]
        values.append(_text(now.isoformat(timespec="milliseconds").replace("+00:00", "Z")))
        if entry is None:
            values += ["NULL", "NULL", _text("account_creation"), "NULL", "NULL"]
            made["not_started"] += 1
        else:
            due = truth(entry)
            synced = now - timedelta(seconds=clock.uniform(0, 60 * 86400))
            values += [
                _text(entry["account"]["id"]),
                _text(str(due.status)),
                _text(due.step),
                _text(due.rejection_reason) if due.rejection_reason else "NULL",
                _text(synced.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
            ]
            made[str(due.status)] += 1
        rows.append(f"({', '.join(values)})")
    stack.d1(f"DELETE FROM organizations WHERE id LIKE '{ID_PREFIX}%'")  # noqa: S608
    for start in range(0, n, BATCH):
        _execute(stack, _insert(rows[start : start + BATCH]))
    return made


def _text(value: str) -> str:
    """An SQL string literal (the values are ours, but quoted properly all the same)."""
    return "'" + value.replace("'", "''") + "'"


def _insert(rows: list[str]) -> str:
    return (
        "INSERT INTO organizations (id, name, slug, createdAt, stripe_connect_account_id, "
        "stripe_connect_status, onboarding_step, onboarding_rejection_reason, "
        "stripe_connect_synced_at) VALUES\n" + ",\n".join(rows) + ";\n"
    )


def _execute(stack: Stack, sql: str) -> None:
    """Run a file of SQL on the stack's local D1."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(sql)
        path = Path(file.name)
    try:
        stack.d1_file(path)
    finally:
        path.unlink()
