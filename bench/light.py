"""`python -m bench.light worker|stripe …`: lightweight stand-ins for the Worker and Stripe.

For `bench.run --upstreams light`: each answers the few calls the benchmark's scenarios make,
in the contract's and Stripe's shapes, after a fixed latency, for a fixed set of onboarded,
active organizations — and spends a small fraction of the CPU that `wrangler dev` or the
simulator spend per call, so that on a 2-core machine the service, not its upstreams, is
what the numbers show. Not a test double: no rules, no faults, loopback only.

    worker: verify-user-context (one bench token, owner of every organization),
            organization/{id}, organization-by-account/{id}, update-organization (ordered
            by synced_at, as D1 does), create-connect-account (same id: created false), health
    stripe: GET /v1/accounts/{id} (an active Express account), POST /v1/account_links,
            GET /v1/transfers?destination= (the transfers `TRANSFERS` says, the first with a
            reversal embedded)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvloop
from aiohttp import web

TOKEN = "tok_bench_light"  # noqa: S105 - the stand-in's only session, loopback only
USER = {"id": "usr_bench", "email": "owner@bench.example.com", "name": "Bench", "role": "user"}
SESSION = {"id": "ses_bench", "expires_at": "2099-01-01T00:00:00.000Z"}


def org_id(n: int) -> str:
    """The n-th organization's id."""
    return f"org_light_{n:04d}"


def account_id(n: int) -> str:
    """The n-th organization's Stripe account id."""
    return f"acct_light{n:014d}"


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _error(status: int, code: str) -> web.Response:
    return _json(status, {"error": {"code": code, "message": code}})


class Worker:
    """The Worker's internal API over an in-memory table of active organizations."""

    def __init__(self, organizations: int, api_key: str) -> None:
        self.api_key = api_key
        self.orgs: dict[str, dict[str, Any]] = {}
        for n in range(organizations):
            self.orgs[org_id(n)] = {
                "id": org_id(n),
                "name": f"Light {n}",
                "slug": f"light-{n}",
                "stripe_connect_account_id": account_id(n),
                "stripe_connect_status": "active",
                "platform_fee_percent": 10.0,
                "onboarding_step": "complete",
                "onboarding_rejection_reason": None,
                "stripe_connect_synced_at": None,
                "payout_failure": None,
                "stripe_connect_account_api": "v1",
                "stripe_connect_requirements_deadline": None,
            }
        self.by_account = {o["stripe_connect_account_id"]: o for o in self.orgs.values()}

    async def handle(self, request: web.BaseRequest) -> web.Response:
        if request.headers.get("X-Internal-Api-Key") != self.api_key:
            return _error(401, "unauthorized")
        path = request.path.removeprefix("/api/internal/")
        if request.method == "GET":
            return self._read(path)
        body = orjson.loads(await request.read())
        if path == "verify-user-context":
            return self._verify(body)
        if path == "update-organization":
            return self._update(body)
        if path == "create-connect-account":
            org = self.orgs.get(body["organization_id"])
            if org is None:
                return _error(404, "not_found")
            return _json(200, {"organization": org, "created": False})
        return _error(404, "not_found")

    def _read(self, path: str) -> web.Response:
        if path == "health":
            return _json(200, {"status": "ok", "d1": "ok"})
        kind, _, key = path.partition("/")
        table = {"organization": self.orgs, "organization-by-account": self.by_account}
        org = table.get(kind, {}).get(key)
        return _json(200, {"organization": org}) if org else _error(404, "not_found")

    def _verify(self, body: dict[str, Any]) -> web.Response:
        if body.get("session_token") != TOKEN:
            return _error(401, "invalid_session")
        org = self.orgs.get(body.get("organization_id") or "")
        if body.get("organization_id") and org is None:
            return _error(403, "not_a_member")
        return _json(
            200,
            {
                "user": USER,
                "session": SESSION,
                "organization": org,
                "member_role": "owner" if org else None,
            },
        )

    def _update(self, body: dict[str, Any]) -> web.Response:
        org = self.orgs.get(body["organization_id"])
        if org is None:
            return _error(404, "not_found")
        synced_at, stored = body.get("synced_at"), org["stripe_connect_synced_at"]
        if synced_at is not None and stored is not None and stored >= synced_at:
            return _json(200, {"organization": org, "applied": False})
        org.update(body["updates"])
        if synced_at is not None:
            org["stripe_connect_synced_at"] = synced_at
        return _json(200, {"organization": org, "applied": True})


def active_account(account: str) -> dict[str, Any]:
    """An active Express account, shaped as Stripe's fixture of an Account."""
    requirements: dict[str, Any] = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    return {
        "id": account,
        "object": "account",
        "business_profile": {"mcc": None, "name": "Light", "url": None},
        "business_type": None,
        "capabilities": {"transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "application", "is_controller": True},
        "country": "US",
        "created": 1764150000,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "owner@bench.example.com",
        "external_accounts": {"object": "list", "data": [], "has_more": False, "url": ""},
        "future_requirements": requirements,
        "metadata": {},
        "payouts_enabled": True,
        "requirements": requirements,
        "settings": {
            "dashboard": {"display_name": "Light", "timezone": "Etc/UTC"},
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "manual"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": 1764150000},
        "type": "express",
    }


TRANSFERS = 3
"""Transfers to each account in its history (10.00 gross, 9.00 sent, at 10 %)."""


def transfers_to(account: str) -> dict[str, Any]:
    """The platform's transfers to the account, newest first, as Stripe lists them: the oldest
    has 1.00 reversed, embedded as Stripe embeds a transfer's reversals."""
    items = []
    for n in reversed(range(TRANSFERS)):
        transfer = f"tr_{account.removeprefix('acct_')}{n}"
        reversed_ = 100 if n == 0 else 0
        reversals: list[dict[str, Any]] = [
            {
                "id": f"trr_{account.removeprefix('acct_')}{n}",
                "object": "transfer_reversal",
                "amount": reversed_,
                "currency": "usd",
                "created": 1764150000 + n,
                "metadata": {"cause": "manual", "cause_id": f"bench-reversal-{n}"},
                "transfer": transfer,
            }
        ][: int(reversed_ > 0)]
        items.append(
            {
                "id": transfer,
                "object": "transfer",
                "amount": 900,
                "amount_reversed": reversed_,
                "created": 1764150000 + n,
                "currency": "usd",
                "destination": account,
                "metadata": {
                    "gross_amount": "1000",
                    "fee_amount": "100",
                    "platform_fee_percent": "10",
                    "idempotency_key": f"bench-seed-{n}",
                },
                "reversals": {
                    "object": "list",
                    "data": reversals,
                    "has_more": False,
                    "url": f"/v1/transfers/{transfer}/reversals",
                },
                "reversed": False,
                "source_transaction": None,
                "transfer_group": None,
            }
        )
    return {"object": "list", "data": items, "has_more": False, "url": "/v1/transfers"}


class Stripe:
    """`GET /v1/accounts/{id}`, `POST /v1/account_links` and `GET /v1/transfers`, in Stripe's
    shapes."""

    def __init__(self) -> None:
        self._links = itertools.count(1)

    async def handle(self, request: web.BaseRequest) -> web.Response:
        if request.method == "GET" and request.path.startswith("/v1/accounts/"):
            return _json(200, active_account(request.path.rsplit("/", 1)[1]))
        if request.method == "GET" and request.path == "/v1/transfers":
            return _json(200, transfers_to(request.query.get("destination", "")))
        if request.method == "POST" and request.path == "/v1/account_links":
            await request.read()
            now = int(time.time())
            return _json(
                200,
                {
                    "object": "account_link",
                    "created": now,
                    "expires_at": now + 300,
                    "url": f"https://connect.stripe.test/setup/s/{next(self._links)}",
                },
            )
        return _json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})


def _delayed(
    handler: Callable[[web.BaseRequest], Awaitable[web.Response]], latency_ms: float
) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    async def answer(request: web.BaseRequest) -> web.Response:
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        return await handler(request)

    return answer


async def _serve(kind: str, args: argparse.Namespace) -> None:
    handler = Worker(args.orgs, args.api_key).handle if kind == "worker" else Stripe().handle
    server = web.Server(_delayed(handler, args.latency_ms), access_log=None)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", args.port, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    listener.close()
    await server.shutdown(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.light", description=__doc__)
    parser.add_argument("kind", choices=("worker", "stripe"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--api-key", default="")
    args = parser.parse_args()
    uvloop.run(_serve(args.kind, args))


if __name__ == "__main__":
    main()
