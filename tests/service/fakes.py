"""Stateful fakes of the Worker's internal API and of Stripe, on the wire.

The Worker's fake answers through respx (the Worker client speaks httpx); Stripe's is served on
a loopback socket (stripe-python speaks aiohttp), each request handed to it as an
`httpx.Request`. They speak the real formats (JSON for the Worker; form-encoded parameters,
`Stripe-Account`, `Idempotency-Key` and Stripe's error bodies for Stripe) and record every
request, so tests assert both on the service's answer and on what each upstream received.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import inspect
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote

import httpx
import respx
from aiohttp import web

from tests.support.stripe_account import stripe_account

WORKER_URL = "https://worker.test"
STRIPE_URL = "https://stripe.test"
WORKER_KEY = "test-internal-key"
NOW_ISO = "2026-11-26T10:00:00.000Z"


def form_to_nested(body: bytes) -> dict[str, Any]:
    """Decode Stripe's form encoding (`a[b][c]=1`, `a[0]=x`) into nested dicts."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


def organization(org_id: str, **overrides: Any) -> dict[str, Any]:
    """An organization object exactly as the contract shapes it."""
    org: dict[str, Any] = {
        "id": org_id,
        "name": f"Org {org_id}",
        "slug": org_id,
        "stripe_connect_account_id": None,
        "stripe_connect_status": None,
        "platform_fee_percent": 10.0,
        "onboarding_step": "account_creation",
        "onboarding_rejection_reason": None,
        "stripe_connect_synced_at": None,
        "payout_failure": None,
        "stripe_connect_account_api": None,
        "stripe_connect_requirements_deadline": None,
    }
    org.update(overrides)
    if org["stripe_connect_account_id"] is not None and org["stripe_connect_account_api"] is None:
        org["stripe_connect_account_api"] = "v1"  # as the Worker reads a row from before it
    return org


@dataclass
class Person:
    """A signed-in user: a session token, and memberships by organization id."""

    id: str
    token: str
    email: str
    role: str = "user"
    memberships: dict[str, str] = field(default_factory=dict)
    # When the session ends (ISO 8601 UTC): a week from now unless a test says otherwise.
    session_expires: str = field(
        default_factory=lambda: (
            (datetime.now(UTC) + timedelta(days=7))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    )


@dataclass
class FakeWorker:
    """The Worker's internal API over an in-memory D1."""

    organizations: dict[str, dict[str, Any]] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    fail_with: int | Exception | None = None  # every call answers this while set
    faults: dict[str, int | Exception] = field(default_factory=dict)  # by path, until healed
    gates: dict[str, Gate] = field(default_factory=dict)  # by path: hold calls, see `Gate`
    # connect_idempotency_keys, by (organization, operation, key)
    idempotency: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    # connect_claims by id, each with its settlements (oldest first); `open` is derived
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    _claim_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # organizations' stripe_payout_paid_created (not in the organization object), by id
    payouts_paid: dict[str, str] = field(default_factory=dict)

    def add_org(self, org_id: str, **overrides: Any) -> dict[str, Any]:
        self.organizations[org_id] = organization(org_id, **overrides)
        return self.organizations[org_id]

    def add_person(self, name: str, *, role: str = "user", **memberships: str) -> Person:
        person = Person(
            id=f"usr_{name}",
            token=f"tok_{name}",
            email=f"{name}@example.com",
            role=role,
            memberships=memberships,
        )
        self.people[person.token] = person
        return person

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/api/internal/" + path]

    def install(self, mock: respx.MockRouter) -> None:
        mock.route(host="worker.test").mock(side_effect=self._dispatch)

    def serving(self) -> AbstractAsyncContextManager[str]:
        """This fake on a loopback socket (for a test without respx); yields its base URL."""
        return on_loopback(self._dispatch, WORKER_URL)

    def fail_path(self, path: str, answer: int | Exception = 503) -> None:
        """Every call to one path (e.g. "create-connect-account") fails until `heal(path)`."""
        self.faults[path] = answer

    def heal(self, path: str) -> None:
        self.faults.pop(path, None)

    async def _dispatch(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.removeprefix("/api/internal/")
        fault = self.faults.get(name)
        if fault is not None:
            self.requests.append(request)
            if isinstance(fault, Exception):
                raise fault
            return _error(fault, "boom", "injected")
        gate = self.gates.get(name)
        if gate is None:
            return self._handle(request)
        turn = await gate.enter()
        try:
            return self._handle(request)
        finally:
            gate.leave(turn)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.fail_with, Exception):
            raise self.fail_with
        if self.fail_with is not None:
            return _error(self.fail_with, "boom", "injected")
        if request.headers.get("x-internal-api-key") != WORKER_KEY:
            return _error(401, "unauthorized", "bad key")
        path = request.url.path.removeprefix("/api/internal")
        body = json.loads(request.content) if request.content else {}
        if path == "/verify-user-context":
            return self._verify(body)
        if path == "/health":
            return httpx.Response(200, json={"status": "ok", "d1": "ok"})
        if m := re.fullmatch(r"/organization/(.+)", path):
            org = self.organizations.get(m[1])
            return _org(org) if org else _error(404, "not_found", "no org")
        if m := re.fullmatch(r"/organization-by-account/(.+)", path):
            found = [
                o for o in self.organizations.values() if o["stripe_connect_account_id"] == m[1]
            ]
            return _org(found[0]) if found else _error(404, "not_found", "no org")
        if path == "/organizations" and request.method == "GET":
            return self._list(request.url.query.decode())
        if path == "/organization-counts" and request.method == "GET":
            return self._count(request.url.query.decode())
        if path == "/update-organization":
            return self._update(body)
        if path == "/create-connect-account":
            return self._link(body)
        if path == "/idempotency-keys/claim":
            return self._claim(body)
        if path == "/idempotency-keys/complete":
            return self._complete(body)
        if path == "/idempotency-keys/release":
            return self._release(body)
        if path == "/claims" and request.method == "POST":
            return self._record_claim(body)
        if path == "/claims" and request.method == "GET":
            return self._list_claims(request.url.query.decode())
        if path == "/claims/settlements/release":
            return self._release_settlements(body)
        if path == "/payout-outcome":
            return self._payout_outcome(body)
        if m := re.fullmatch(r"/claims/([^/]+)/settlements", path):
            return self._settle_claim(unquote(m[1]), body)
        return _error(404, "not_found", "no route")

    def _verify(self, body: dict[str, Any]) -> httpx.Response:
        person = self.people.get(body["session_token"])
        if person is None:
            return _error(401, "invalid_session", "no session")
        org_id = body.get("organization_id")
        org = self.organizations.get(org_id) if org_id else None
        role = person.memberships.get(org_id) if org_id else None
        if org_id and (org is None or (role is None and person.role != "admin")):
            return _error(403, "not_a_member", "not a member")
        return httpx.Response(
            200,
            json={
                "user": {
                    "id": person.id,
                    "email": person.email,
                    "name": person.id,
                    "role": person.role,
                },
                "session": {"id": "ses_" + person.id, "expires_at": person.session_expires},
                "organization": copy.deepcopy(org),
                "member_role": role,
            },
        )

    def _update(self, body: dict[str, Any]) -> httpx.Response:
        updates = body["updates"]
        if "stripe_connect_requirements_deadline" in updates:
            # Part of Stripe's view: only with synced_at, stored as UTC with ms (migrations/0009).
            deadline = updates["stripe_connect_requirements_deadline"]
            if body.get("synced_at") is None or not (deadline is None or _utc_ms(deadline)):
                return _error(
                    400,
                    "invalid_request",
                    'invalid field "updates.stripe_connect_requirements_deadline"',
                    param="updates.stripe_connect_requirements_deadline",
                )
            updates = {
                **updates,
                "stripe_connect_requirements_deadline": deadline and _utc_ms(deadline),
            }
        org = self.organizations.get(body["organization_id"])
        if org is None:
            return _error(404, "not_found", "no org")
        synced_at = body.get("synced_at")
        stored = org["stripe_connect_synced_at"]
        expected = body.get("expected_account_id")
        if (
            (synced_at is not None and stored is not None and stored >= synced_at)
            or (expected is not None and org["stripe_connect_account_id"] != expected)
            or (
                # Deauthorization is final for its account: only a new link leaves it.
                synced_at is not None
                and org["onboarding_step"] == "deauthorized"
                and updates.get("onboarding_step") != "deauthorized"
            )
        ):
            return httpx.Response(200, json={"organization": org, "applied": False})
        org.update(updates)
        if synced_at is not None:
            org["stripe_connect_synced_at"] = synced_at
        return httpx.Response(200, json={"organization": org, "applied": True})

    def _list(self, query: str) -> httpx.Response:
        given = _single_parameters(query, _LIST_PARAMETERS)
        if isinstance(given, httpx.Response):
            return given
        limit_text = given.get("limit", "50")
        if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= 200:
            return _error(400, "invalid_request", 'invalid field "limit"', param="limit")
        order = given.get("order", "id")
        if order not in ("id", "synced_at", "-synced_at", "deadline"):
            return _error(400, "invalid_request", 'invalid field "order"', param="order")
        status = given.get("status")
        if status is not None and status not in _STATUS_FILTERS:
            return _error(400, "invalid_request", 'invalid field "status"', param="status")
        passes = _organization_filter(given)
        if isinstance(passes, httpx.Response):
            return passes
        limit = int(limit_text)

        def key(org: dict[str, Any]) -> tuple[str, ...]:
            # The Worker's sort keys (worker/src/internal/db.ts): no deadline sorts last ("~").
            synced = org["stripe_connect_synced_at"] or ""
            if order == "deadline":
                return (org["stripe_connect_requirements_deadline"] or "~", synced, org["id"])
            return (synced, org["id"]) if order != "id" else (org["id"],)

        parts = {"deadline": ("deadline", "synced", "id")}.get(order, ("synced", "id"))
        after: tuple[str, ...] | None = None
        if "cursor" in given:
            position = _decode_after(given["cursor"])
            if order == "id" and isinstance(position, str) and position:
                after = (position,)
            elif (
                order != "id"
                and isinstance(position, dict)
                and set(position) == {*parts, "order"}
                and position["order"] == order
                and all(isinstance(position[part], str) for part in parts)
            ):
                after = tuple(position[part] for part in parts)
            else:
                return _error(400, "invalid_request", 'invalid field "cursor"', param="cursor")
        descending = order == "-synced_at"
        ordered = sorted(self.organizations.values(), key=key, reverse=descending)
        rows = [
            org
            for org in ordered
            if (after is None or (key(org) < after if descending else key(org) > after))
            and (status is None or _status_of(org) == status)
            and passes(org)
        ][: limit + 1]
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = _encode_cursor(
                last["id"]
                if order == "id"
                else {**dict(zip(parts, key(last), strict=True)), "order": order}
            )
        return httpx.Response(200, json={"organizations": page, "next_cursor": next_cursor})

    def _count(self, query: str) -> httpx.Response:
        given = _single_parameters(query, _COUNT_PARAMETERS)
        if isinstance(given, httpx.Response):
            return given
        passes = _organization_filter(given)
        if isinstance(passes, httpx.Response):
            return passes
        by_status = dict.fromkeys(sorted(_STATUS_FILTERS), 0)
        total = 0
        for org in self.organizations.values():
            if passes(org):
                total += 1
                status = _status_of(org)
                if status is not None:
                    by_status[status] += 1
        return httpx.Response(200, json={"total": total, "by_status": by_status})

    def _link(self, body: dict[str, Any]) -> httpx.Response:
        org = self.organizations.get(body["organization_id"])
        if org is None:
            return _error(404, "not_found", "no org")
        account_id = body["stripe_connect_account_id"]
        replacing = body.get("replace_account_id")
        if replacing == account_id:
            return _error(
                400,
                "invalid_request",
                'invalid field "replace_account_id"',
                param="replace_account_id",
            )
        held = org["stripe_connect_account_id"]
        if held == account_id:
            return httpx.Response(200, json={"organization": org, "created": False})
        if held is not None and held != replacing:
            return httpx.Response(
                409,
                json={
                    "error": {"code": "already_linked", "message": "linked"},
                    "organization": org,
                },
            )
        if replacing is not None and (held is None or org["onboarding_step"] != "deauthorized"):
            return httpx.Response(
                409,
                json={
                    "error": {"code": "not_deauthorized", "message": "not deauthorized"},
                    "organization": org,
                },
            )
        if any(o["stripe_connect_account_id"] == account_id for o in self.organizations.values()):
            return _error(409, "account_in_use", "in use")
        org.update(
            stripe_connect_account_id=account_id,
            stripe_connect_account_api=body.get("account_api", "v1"),
            stripe_connect_status="pending",
            onboarding_step="details_submission",
            onboarding_rejection_reason=None,
        )
        if replacing is not None:
            org["stripe_connect_synced_at"] = None
            org["stripe_connect_requirements_deadline"] = None
        return httpx.Response(200, json={"organization": org, "created": True})

    def _claim(self, body: dict[str, Any]) -> httpx.Response:
        if body["organization_id"] not in self.organizations:
            return _error(404, "not_found", "no org")
        where = (body["organization_id"], body["operation"], body["key"])
        held = self.idempotency.get(where)
        if held is not None:
            return httpx.Response(200, json={"record": held, "created": False})
        record = {
            **{k: body[k] for k in ("organization_id", "operation", "key", "fingerprint")},
            "decision": body["decision"],
            "stripe_object_id": None,
            "created_at": _now_iso(),
            "completed_at": None,
        }
        self.idempotency[where] = record
        return httpx.Response(200, json={"record": record, "created": True})

    def _complete(self, body: dict[str, Any]) -> httpx.Response:
        record = self.idempotency.get((body["organization_id"], body["operation"], body["key"]))
        if record is None:
            return _error(404, "not_found", "no record")
        if record["stripe_object_id"] not in (None, body["stripe_object_id"]):
            return httpx.Response(
                409,
                json={
                    "error": {"code": "idempotency_mismatch", "message": "another object"},
                    "record": record,
                },
            )
        if record["stripe_object_id"] is None:
            record.update(stripe_object_id=body["stripe_object_id"], completed_at=_now_iso())
        return httpx.Response(200, json={"record": record})

    def _release(self, body: dict[str, Any]) -> httpx.Response:
        where = (body["organization_id"], body["operation"], body["key"])
        record = self.idempotency.get(where)
        if record is None or record["stripe_object_id"] is not None:
            return httpx.Response(200, json={"released": False})
        del self.idempotency[where]
        return httpx.Response(200, json={"released": True})

    def _record_claim(self, body: dict[str, Any]) -> httpx.Response:
        if body["organization_id"] not in self.organizations:
            return _error(404, "not_found", "no org")
        unique = ("organization_id", "cause", "cause_id", "transfer_id")
        for held in self.claims.values():
            if all(held[k] == body[k] for k in unique):
                return httpx.Response(200, json={"claim": _claim_view(held), "created": False})
        # Sequential ids, so claims made in one millisecond keep their order (FIFO's tie-break).
        claim = {
            "id": f"clm_{next(self._claim_ids):032x}",
            **{k: body[k] for k in ("organization_id", "amount", "currency", *unique[1:])},
            "settled": 0,
            "created_at": _now_iso(),
            "settlements": [],
        }
        self.claims[claim["id"]] = claim
        return httpx.Response(200, json={"claim": _claim_view(claim), "created": True})

    def _list_claims(self, query: str) -> httpx.Response:
        params = parse_qs(query, keep_blank_values=True)
        for name, values in params.items():
            if name not in _CLAIM_PARAMETERS or len(values) > 1:
                return _error(400, "invalid_request", f'invalid field "{name}"', param=name)
        given = {name: values[0] for name, values in params.items()}
        limit_text = given.get("limit", "100")
        state = given.get("state", "open")
        currency = given.get("currency")
        organization_id = given.get("organization_id")
        after = _decode_claim_cursor(given["cursor"]) if "cursor" in given else ("", "")
        for name, refused in [
            ("organization_id", organization_id == ""),
            ("state", state not in ("open", "all")),
            ("currency", currency is not None and not re.fullmatch(r"[a-z]{3}", currency)),
            (
                "limit",
                not (limit_text.isascii() and limit_text.isdigit() and 1 <= int(limit_text) <= 200),
            ),
            ("cursor", after is None),
        ]:
            if refused:
                return _error(400, "invalid_request", f'invalid field "{name}"', param=name)
        assert after is not None
        limit = int(limit_text)
        scoped = [
            c
            for c in self.claims.values()
            if organization_id in (None, c["organization_id"]) and currency in (None, c["currency"])
        ]
        fifo = sorted(scoped, key=lambda c: (c["created_at"], c["id"]))
        rows = [
            c
            for c in fifo
            if (c["created_at"], c["id"]) > after and (state == "all" or c["settled"] < c["amount"])
        ][: limit + 1]
        page = rows[:limit]
        last = page[-1] if len(rows) > limit else None
        totals: dict[str, int] = {}
        for c in scoped:
            if c["settled"] < c["amount"]:
                totals[c["currency"]] = totals.get(c["currency"], 0) + c["amount"] - c["settled"]
        return httpx.Response(
            200,
            json={
                "claims": [_claim_view(c) for c in page],
                "totals": [{"currency": k, "open": v} for k, v in sorted(totals.items())],
                "next_cursor": _encode_cursor([last["created_at"], last["id"]]) if last else None,
            },
        )

    def _settle_claim(self, claim_id: str, body: dict[str, Any]) -> httpx.Response:
        claim = self.claims.get(claim_id)
        if claim is None:
            return _error(404, "not_found", "no claim")
        if any(s["key"] == body["key"] for s in claim["settlements"]):
            return httpx.Response(200, json={"claim": _claim_view(claim), "applied": False})
        if claim["settled"] + body["amount"] > claim["amount"]:
            return httpx.Response(
                409,
                json={
                    "error": {"code": "claim_exceeded", "message": "more than is open"},
                    "claim": _claim_view(claim),
                },
            )
        settlement = {k: body[k] for k in ("key", "amount", "kind")}
        claim["settlements"].append({**settlement, "created_at": _now_iso()})
        claim["settled"] += body["amount"]
        return httpx.Response(200, json={"claim": _claim_view(claim), "applied": True})

    def _release_settlements(self, body: dict[str, Any]) -> httpx.Response:
        """The Worker's rule: the organization's `transfer` settlements under the key go, and
        each claim's `settled` is the sum of what is left."""
        released = 0
        for claim in self.claims.values():
            if claim["organization_id"] != body["organization_id"]:
                continue
            kept = [
                s
                for s in claim["settlements"]
                if not (s["key"] == body["key"] and s["kind"] == "transfer")
            ]
            released += len(claim["settlements"]) - len(kept)
            claim["settlements"] = kept
            claim["settled"] = sum(s["amount"] for s in kept)
        return httpx.Response(200, json={"released": released})

    def _payout_outcome(self, body: dict[str, Any]) -> httpx.Response:
        """The Worker's rule (worker/README.md, "Payout failures"): ordered by the payout's
        `created`, ties to the failure; a failure ties by payout id."""
        org = self.organizations.get(body["organization_id"])
        if org is None:
            return _error(404, "not_found", "no org")
        created = _utc_ms(body["payout_created"])
        stored = org["payout_failure"]
        paid = self.payouts_paid.get(org["id"])
        changed = False
        if body["outcome"] == "paid":
            for param in ("failure_code", "failure_message"):
                if body.get(param) is not None:
                    return _error(400, "invalid_request", f'invalid field "{param}"', param=param)
            if stored is not None and stored["payout_created"] < created:
                org["payout_failure"] = None
                changed = True
            if paid is None or paid < created:
                self.payouts_paid[org["id"]] = created
        else:
            failure = {
                "payout_id": body["payout_id"],
                "failure_code": body.get("failure_code"),
                "failure_message": body.get("failure_message"),
                "payout_created": created,
            }
            later = stored is None or (stored["payout_created"], stored["payout_id"]) <= (
                created,
                body["payout_id"],
            )
            if (paid is None or paid <= created) and later and failure != stored:
                org["payout_failure"] = failure
                changed = True
        return httpx.Response(200, json={"organization": org, "changed": changed})


def _utc_ms(value: str) -> str:
    """An ISO 8601 time as the Worker stores it: UTC with milliseconds."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _claim_view(claim: dict[str, Any]) -> dict[str, Any]:
    """A stored claim as the contract answers it (`open` derived, a copy)."""
    return {**copy.deepcopy(claim), "open": claim["amount"] - claim["settled"]}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_FILTER_PARAMETERS = {"linked", "step", "unsettled", "synced_before", "name"}
_LIST_PARAMETERS = {"limit", "cursor", "status", "order"} | _FILTER_PARAMETERS
_COUNT_PARAMETERS = _FILTER_PARAMETERS
_CLAIM_PARAMETERS = {"organization_id", "state", "currency", "limit", "cursor"}
_STATUS_FILTERS = {"not_started", "pending", "active", "disabled"}


def _single_parameters(query: str, known: set[str]) -> dict[str, str] | httpx.Response:
    """The query's parameters, or the Worker's 400 for an unknown or repeated one."""
    params = parse_qs(query, keep_blank_values=True)
    for name, values in params.items():
        if name not in known or len(values) > 1:
            return _error(400, "invalid_request", f'invalid field "{name}"', param=name)
    return {name: values[0] for name, values in params.items()}


_UNSETTLED_STEPS = {"action_required", "under_review"}


def _status_of(org: dict[str, Any]) -> str | None:
    """The organization's status as the Worker's filters and counts read it."""
    if org["stripe_connect_account_id"] is None:
        return "not_started"
    status: str | None = org["stripe_connect_status"]
    return status


def _organization_filter(
    given: dict[str, str],
) -> Callable[[dict[str, Any]], bool] | httpx.Response:
    """The Worker's shared filters (worker/src/internal/db.ts), or its 400 for a bad one."""
    for name in ("linked", "unsettled"):
        if given.get(name) not in (None, "true", "false"):
            return _error(400, "invalid_request", f'invalid field "{name}"', param=name)
    linked, unsettled = given.get("linked"), given.get("unsettled")
    step, name = given.get("step"), given.get("name")
    before: str | None = None
    if "synced_before" in given:
        try:
            moment = datetime.fromisoformat(given["synced_before"].replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            return _error(
                400, "invalid_request", 'invalid field "synced_before"', param="synced_before"
            )
        before = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if name == "":
        return _error(400, "invalid_request", 'invalid field "name"', param="name")

    def passes(org: dict[str, Any]) -> bool:
        has_account = org["stripe_connect_account_id"] is not None
        if linked is not None and has_account != (linked == "true"):
            return False
        if step is not None and org["onboarding_step"] != step:
            return False
        if unsettled is not None:
            waiting = has_account and (
                org["stripe_connect_status"] in (None, "pending")
                or org["onboarding_step"] in _UNSETTLED_STEPS
            )
            if not has_account or waiting != (unsettled == "true"):
                return False
        if before is not None and (org["stripe_connect_synced_at"] or "") >= before:
            return False
        return name is None or _ascii_folded(org["name"]).startswith(_ascii_folded(name))

    return passes


def _ascii_folded(text: str) -> str:
    """SQLite's NOCASE: ASCII letters folded, nothing else."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _encode_cursor(after: str | list[str] | dict[str, str]) -> str:
    """The Worker's cursor: base64url, unpadded, of `{"after": …}` (opaque to callers): an
    organization's id (or its last-sync position), or a claim's [created_at, id]."""
    raw = json.dumps({"after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _utc_ms(moment: str) -> str | None:
    """An ISO 8601 time with an offset as the Worker stores it (UTC, ms), else None."""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decode_after(cursor: str) -> object:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not cursor or not isinstance(value, dict) or set(value) != {"after"}:
        return None
    return value["after"]


def _decode_cursor(cursor: str) -> str | None:
    after = _decode_after(cursor)
    return after if isinstance(after, str) and after else None


def _decode_claim_cursor(cursor: str) -> tuple[str, str] | None:
    after = _decode_after(cursor)
    if not isinstance(after, list) or len(after) != 2:
        return None
    if not all(isinstance(part, str) and part for part in after):
        return None
    return after[0], after[1]


class Gate:
    """Holds Worker calls on one path, to force an interleaving of concurrent requests.

    `Gate(parties=n)`: every call waits until `n` calls have arrived (all race past the
    steps before this one). `Gate(hold_first=True)`: the first call waits until a later
    call has been answered (the first one's write lands last). Never waits past `timeout`.
    """

    def __init__(self, *, parties: int = 1, hold_first: bool = False, timeout: float = 3.0):
        self.parties = parties
        self.hold_first = hold_first
        self.timeout = timeout
        self.arrived = 0
        self._all_here = asyncio.Event()
        self._later_answered = asyncio.Event()

    async def enter(self) -> int:
        self.arrived += 1
        turn = self.arrived
        if turn >= self.parties:
            self._all_here.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await self._all_here.wait()
                if self.hold_first and turn == 1:
                    await self._later_answered.wait()
        return turn

    def leave(self, turn: int) -> None:
        if turn > 1:
            self._later_answered.set()


def _org(org: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"organization": org})


def _error(status: int, code: str, message: str, *, param: str | None = None) -> httpx.Response:
    error = {"code": code, "message": message, **({"param": param} if param else {})}
    return httpx.Response(status, json={"error": error})


def stripe_error(
    status: int,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    message: str = "Stripe says no.",
    param: str | None = None,
) -> httpx.Response:
    """A response in Stripe's error format."""
    error: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return httpx.Response(status, json={"error": error}, headers={"Request-Id": "req_fake"})


Override = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
"""An answer a test puts in place of the fake Stripe's own (`FakeStripe.fail`)."""


@dataclass
class FakeStripe:
    """Enough of Stripe's API, on the wire, for the service's calls."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    v2_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    balances: dict[str, dict[str, Any]] = field(default_factory=dict)
    payouts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # newest first
    transfers: list[dict[str, Any]] = field(default_factory=list)  # newest first
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # the platform's
    refunds: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: float = field(default_factory=time.time)  # Stripe's "now": `created` of new objects
    requests: list[httpx.Request] = field(default_factory=list)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: list[tuple[str, str, Override]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, path_re: str, response: Override) -> None:
        """Answer matching requests with `response` instead of the fake's own behaviour (an
        awaitable answer is awaited: the request is held meanwhile)."""
        self.overrides.append((method, path_re, response))

    def calls(self, method: str, path_re: str) -> list[httpx.Request]:
        return [
            r for r in self.requests if r.method == method and re.fullmatch(path_re, r.url.path)
        ]

    def serving(self, sock: socket.socket | None = None) -> AbstractAsyncContextManager[str]:
        """Serve this fake on a loopback socket (`sock`, or a new one); yields its base URL.

        An override that raises `httpx.TransportError` (a timeout, a refused or lost
        connection) drops the connection unanswered, as a network failure would.
        """
        return on_loopback(self._handle, STRIPE_URL, sock)

    @contextlib.contextmanager
    def serving_in_thread(self, sock: socket.socket) -> Iterator[None]:
        """`serving` on an event loop of its own, in a thread, while the block runs (for an
        app whose lifespan runs on a loop the test does not own, as Schemathesis does)."""
        ready = threading.Event()
        stop: list[asyncio.Event] = []
        loop = asyncio.new_event_loop()

        async def run() -> None:
            stop.append(asyncio.Event())
            async with self.serving(sock):
                ready.set()
                await stop[0].wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
        thread.start()
        ready.wait(5)
        try:
            yield
        finally:
            loop.call_soon_threadsafe(stop[0].set)
            thread.join(5)
            loop.close()

    @staticmethod
    def _list(url: str, items: list[dict[str, Any]], query: dict[str, str]) -> httpx.Response:
        """A Stripe list, newest first: `created[gte]`, `limit` and `starting_after`."""
        since = int(query.get("created[gte]", 0))
        items = [i for i in items if i.get("created", 0) >= since]
        after = query.get("starting_after")
        if after is not None:
            ids = [i["id"] for i in items]
            if after not in ids:  # as Stripe answers a cursor it does not know
                return stripe_error(
                    400,
                    code="resource_missing",
                    param="starting_after",
                    message=f"No such object: '{after}'",
                )
            items = items[ids.index(after) + 1 :]
        limit = int(query.get("limit", 10))
        page = {"object": "list", "url": url, "has_more": len(items) > limit}
        return httpx.Response(200, json={**page, "data": items[:limit]})

    def charge(
        self, amount: int, *, currency: str = "usd", transfer_group: str | None = None
    ) -> str:
        """A succeeded charge on the platform; its id."""
        charge_id = self._next("ch")
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "refunded": False,
            "status": "succeeded",
            "transfer_group": transfer_group,
            "created": int(self.clock),
        }
        return charge_id

    def refund(self, charge_id: str, amount: int, *, status: str = "succeeded") -> dict[str, Any]:
        """A refund of the charge (its event is the test's to deliver)."""
        refund = {
            "id": self._next("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge_id,
            "currency": self.charges[charge_id]["currency"],
            "status": status,
            "created": int(self.clock),
        }
        self.refunds.append(refund)
        if status == "succeeded":
            charge = self.charges[charge_id]
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return refund

    def dispute(self, charge_id: str, *, status: str = "needs_response") -> dict[str, Any]:
        """A dispute of the whole charge."""
        dispute = {
            "id": self._next("dp"),
            "object": "dispute",
            "amount": self.charges[charge_id]["amount"],
            "charge": charge_id,
            "currency": self.charges[charge_id]["currency"],
            "status": status,
        }
        self.disputes[dispute["id"]] = dispute
        self.charges[charge_id]["disputed"] = True
        return dispute

    def _reversals(
        self, request: httpx.Request, transfer_id: str, params: dict[str, Any]
    ) -> httpx.Response:
        transfer = next((t for t in self.transfers if t["id"] == transfer_id), None)
        if transfer is None:
            return stripe_error(404, code="resource_missing", message="No such transfer")
        reversals = transfer.setdefault(
            "reversals", {"object": "list", "data": [], "has_more": False}
        )["data"]
        if request.method == "GET":
            return self._list(f"/v1/transfers/{transfer_id}/reversals", reversals, {})
        remaining = transfer["amount"] - transfer.get("amount_reversed", 0)
        amount = int(params.get("amount", remaining))
        if amount > remaining:
            return stripe_error(
                400,
                code="transfer_reversal_amount_exceeds_transfer",  # what the simulator answers
                message="The reversal amount exceeds what remains of the transfer.",
                param="amount",
            )
        held = self.balances.get(transfer["destination"], {}).get("available", [])
        entry = next((e for e in held if e["currency"] == transfer["currency"]), None)
        if entry is not None and entry["amount"] < amount:
            return stripe_error(
                400, code="balance_insufficient", message="The destination cannot cover it."
            )
        if entry is not None:
            entry["amount"] -= amount
            entry.setdefault("source_types", {})["card"] = entry["amount"]
        reversal = {
            "id": self._next("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "currency": transfer["currency"],
            "transfer": transfer_id,
            "metadata": params.get("metadata", {}),
            "created": int(self.clock),
        }
        reversals.insert(0, reversal)
        transfer["amount_reversed"] = transfer.get("amount_reversed", 0) + amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        return httpx.Response(200, json=reversal)

    def _next(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):016d}"

    def _handle(self, request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        self.requests.append(request)
        path = request.url.path
        for method, path_re, override in self.overrides:
            if request.method == method and re.fullmatch(path_re, path):
                return override(request)
        if request.method != "POST":
            params = {}
        elif path.startswith("/v2/"):  # Accounts v2 speaks JSON
            params = json.loads(request.content or b"{}")
        else:
            params = form_to_nested(request.content)
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key:
            scope = f"{request.headers.get('stripe-account')}:{key}"
            earlier = self.replies.get(scope)
            if earlier is not None:
                if earlier["params"] != params:
                    return stripe_error(
                        400,
                        type_="idempotency_error",
                        message="Keys for idempotent requests can only be used "
                        "with the same parameters.",
                    )
                return httpx.Response(
                    earlier["status"], json=earlier["body"], headers={"Idempotent-Replayed": "true"}
                )
        response = self._route(request, path, params)
        if request.method == "POST" and key:
            self.replies[scope] = {
                "params": params,
                "status": response.status_code,
                "body": json.loads(response.content),
            }
        return response

    def v2_account(
        self,
        account_id: str,
        *,
        transfers: str = "pending",
        payouts: str = "pending",
        entries: list[dict[str, Any]] | None = None,
        rejected: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A v2 Account with the recipient configuration, as `GET /v2/core/accounts/{id}` with
        `include` answers it (Stripe's v2 Account object)."""
        details = [{"code": rejected, "resolution": "no_resolution"}] if rejected else []
        account: dict[str, Any] = {
            "id": account_id,
            "object": "v2.core.account",
            "applied_configurations": ["recipient"],
            "closed": False,
            "configuration": {
                "recipient": {
                    "capabilities": {
                        "stripe_balance": {
                            "stripe_transfers": {"status": transfers, "status_details": details},
                            "payouts": {"status": payouts, "status_details": []},
                        }
                    }
                }
            },
            "contact_email": None,
            "created": "2025-11-26T09:40:00.000Z",
            "dashboard": "express",
            "defaults": {
                "responsibilities": {
                    "fees_collector": "application",
                    "losses_collector": "application",
                }
            },
            "display_name": None,
            "livemode": False,
            "metadata": {},
            "requirements": {"entries": entries or [], "summary": None},
        }
        account.update(fields)
        self.v2_accounts[account_id] = account
        return account

    def _v2_route(
        self, request: httpx.Request, path: str, params: dict[str, Any]
    ) -> httpx.Response:
        if path == "/v2/core/accounts" and request.method == "POST":
            account_id = self._next("acct")
            recipient = params.get("configuration", {}).get("recipient")
            account = self.v2_account(
                account_id,
                dashboard=params.get("dashboard"),
                display_name=params.get("display_name"),
                metadata=params.get("metadata", {}),
                defaults=params.get("defaults"),
                entries=[v2_entry("identity.individual.first_name", "routine_onboarding")],
            )
            if recipient is None:
                account["configuration"] = {}
            return httpx.Response(200, json=account)
        if path == "/v2/core/account_links" and request.method == "POST":
            return httpx.Response(
                200,
                json={
                    "object": "v2.core.account_link",
                    "account": params["account"],
                    "created": "2025-11-26T09:40:00.000Z",
                    "expires_at": "2025-11-26T09:45:00.000Z",
                    "livemode": False,
                    "url": f"https://connect.stripe.test/v2/setup/{params['account']}/"
                    f"{self._next('la')}",
                    "use_case": params.get("use_case"),
                },
            )
        if m := re.fullmatch(r"/v2/core/accounts/(acct_\w+)", path):
            found = self.v2_accounts.get(m[1])
            if found is None:
                return stripe_error(404, code="resource_missing", message="No such account")
            return httpx.Response(200, json=found)
        if m := re.fullmatch(r"/v2/core/accounts/(acct_\w+)/close", path):
            found = self.v2_accounts.get(m[1])
            if found is None:
                return stripe_error(404, code="resource_missing", message="No such account")
            found["closed"] = True
            return httpx.Response(200, json=found)
        return stripe_error(404, code="resource_missing", message=f"Unrecognized {path}")

    def _route(self, request: httpx.Request, path: str, params: dict[str, Any]) -> httpx.Response:
        if path.startswith("/v2/"):
            return self._v2_route(request, path, params)
        on_behalf = request.headers.get("stripe-account")
        if request.method == "POST" and path == "/v1/accounts":
            account_id = self._next("acct")
            account = stripe_account(
                account_id,
                organization_id=params.get("metadata", {}).get("organization_id"),
                capabilities=tuple(params.get("capabilities", {"transfers": 1})),
            )
            if "controller" in params:  # made by its controller properties: no legacy type
                account["type"] = "none"
                account["controller"] = {
                    **params["controller"],
                    "is_controller": True,
                    "type": "application",
                }
            elif "type" in params:
                account["type"] = params["type"]
            account["email"] = params.get("email")
            account["business_profile"]["name"] = params.get("business_profile", {}).get("name")
            self.accounts[account_id] = account
            return httpx.Response(200, json=account)
        if (m := re.fullmatch(r"/v1/accounts/(acct_\w+)", path)) and m[1] in self.v2_accounts:
            # A v2 account through v1: what the service reads and writes of it, the schedule.
            held = self.v2_accounts[m[1]].setdefault(
                "v1_settings", {"payouts": {"schedule": {"interval": "daily", "delay_days": 2}}}
            )
            if request.method == "POST" and "settings" in params:
                held["payouts"]["schedule"] = params["settings"]["payouts"]["schedule"]
            return httpx.Response(
                200, json={"id": m[1], "object": "account", "settings": held, "type": "none"}
            )
        if m := re.fullmatch(r"/v1/accounts/(acct_\w+)", path):
            account = self.accounts.get(m[1])
            if account is None:
                return stripe_error(404, code="resource_missing", message="No such account")
            if request.method == "DELETE":
                del self.accounts[m[1]]
                return httpx.Response(200, json={"id": m[1], "object": "account", "deleted": True})
            if request.method == "POST" and "email" in params:
                account["email"] = params["email"]
            if request.method == "POST" and "settings" in params:
                schedule = params.get("settings", {}).get("payouts", {}).get("schedule", {})
                held = account["settings"]["payouts"]["schedule"]
                held.clear()
                held.update(
                    {
                        k: int(v) if k in ("monthly_anchor", "delay_days") else v
                        for k, v in schedule.items()
                    }
                )
            return httpx.Response(200, json=account)
        if path == "/v1/account_links":
            return httpx.Response(
                200,
                json={
                    "object": "account_link",
                    "created": 1764150000,
                    "expires_at": 1764150300,
                    "url": f"https://connect.stripe.test/setup/{params['account']}/{self._next('la')}",
                },
            )
        if path == "/v1/account_sessions" and request.method == "POST":
            if params.get("account") not in self.accounts:
                return stripe_error(
                    400, code="resource_missing", message="No such account", param="account"
                )
            return httpx.Response(
                200,
                json={
                    "object": "account_session",
                    "account": params["account"],
                    "client_secret": f"accs_secret__{secrets.token_urlsafe(18)}",
                    "components": params.get("components", {}),
                    "expires_at": int(self.clock) + 1800,
                    "livemode": False,
                },
            )
        if m := re.fullmatch(r"/v1/accounts/(acct_\w+)/login_links", path):
            return httpx.Response(
                200,
                json={
                    "object": "login_link",
                    "created": 1764150000,
                    "url": f"https://connect.stripe.test/express/{m[1]}",
                },
            )
        if path == "/v1/balance":
            balance = self.balances.get(
                on_behalf or "platform",
                {
                    "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
                    "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
                },
            )
            return httpx.Response(200, json={"object": "balance", "livemode": False, **balance})
        if path == "/v1/transfers" and request.method == "GET":
            query = dict(request.url.params)
            return self._list(
                "/v1/transfers",
                [
                    t
                    for t in self.transfers
                    if all(
                        t[name] == query[name]
                        for name in ("destination", "transfer_group")
                        if name in query
                    )
                ],
                query,
            )
        if m := re.fullmatch(r"/v1/transfers/(\w+)/reversals", path):
            return self._reversals(request, m[1], params)
        if (m := re.fullmatch(r"/v1/transfers/(\w+)", path)) and request.method == "GET":
            found = next((t for t in self.transfers if t["id"] == m[1]), None)
            if found is None:
                return stripe_error(404, code="resource_missing", message="No such transfer")
            return httpx.Response(200, json=found)
        if (m := re.fullmatch(r"/v1/charges/(ch_\w+)", path)) and request.method == "GET":
            charge = self.charges.get(m[1])
            if charge is None:
                return stripe_error(404, code="resource_missing", message="No such charge")
            return httpx.Response(200, json=charge)
        if path == "/v1/refunds" and request.method == "GET":
            query = dict(request.url.params)
            held = [r for r in self.refunds if r["charge"] == query.get("charge")]
            return self._list("/v1/refunds", list(reversed(held)), query)
        if path == "/v1/charges" and request.method == "GET":
            query = dict(request.url.params)
            return self._list("/v1/charges", list(reversed(self.charges.values())), query)
        if path == "/v1/disputes" and request.method == "GET":
            query = dict(request.url.params)
            held = [d for d in self.disputes.values() if d["charge"] == query.get("charge")]
            return self._list("/v1/disputes", list(reversed(held)), query)
        if (m := re.fullmatch(r"/v1/disputes/(dp_\w+)", path)) and request.method == "GET":
            dispute = self.disputes.get(m[1])
            if dispute is None:
                return stripe_error(404, code="resource_missing", message="No such dispute")
            return httpx.Response(200, json=dispute)
        if path == "/v1/transfers":
            transfer = {
                "id": self._next("tr"),
                "object": "transfer",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "created": int(self.clock),
                "destination": params["destination"],
                "metadata": params.get("metadata", {}),
                "amount_reversed": 0,
                "reversals": {"object": "list", "data": [], "has_more": False},
                "reversed": False,
                "source_transaction": params.get("source_transaction"),
                "transfer_group": params.get("transfer_group"),
            }
            self.transfers.insert(0, transfer)
            return httpx.Response(200, json=transfer)
        if path == "/v1/payouts" and request.method == "POST":
            payout = {
                "id": self._next("po"),
                "object": "payout",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "status": "pending",
                "arrival_date": 1764300000,
                "created": int(self.clock),
                "source_type": params.get("source_type", "card"),
                "metadata": params.get("metadata", {}),
            }
            self.payouts.setdefault(on_behalf or "platform", []).insert(0, payout)
            for entry in self.balances.get(on_behalf or "", {}).get("available", []):
                if entry["currency"] == payout["currency"]:
                    entry["amount"] -= payout["amount"]
                    sources = entry.setdefault("source_types", {})
                    sources[payout["source_type"]] = (
                        sources.get(payout["source_type"], 0) - payout["amount"]
                    )
            return httpx.Response(200, json=payout)
        if (m := re.fullmatch(r"/v1/payouts/(po_\w+)", path)) and request.method == "GET":
            held = self.payouts.get(on_behalf or "platform", [])
            found = next((p for p in held if p["id"] == m[1]), None)
            if found is None:
                return stripe_error(404, code="resource_missing", message="No such payout")
            return httpx.Response(200, json=found)
        if path == "/v1/payouts" and request.method == "GET":
            return self._list(
                "/v1/payouts",
                self.payouts.get(on_behalf or "platform", []),
                dict(request.url.params),
            )
        return stripe_error(404, code="resource_missing", message=f"Unrecognized {path}")


def v2_entry(
    description: str,
    reason: str = "routine_onboarding",
    *,
    deadline: str = "currently_due",
    awaiting: str = "user",
) -> dict[str, Any]:
    """One entry of a v2 Account's `requirements.entries`."""
    return {
        "awaiting_action_from": awaiting,
        "description": description,
        "errors": [],
        "impact": {"restricts_capabilities": []},
        "minimum_deadline": {"status": deadline},
        "reference": None,
        "requested_reasons": [{"code": reason}],
    }


Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
"""A fake's answer to a request as it came off the wire."""


@contextlib.asynccontextmanager
async def on_loopback(
    handle: Handler, url: str, sock: socket.socket | None = None
) -> AsyncIterator[str]:
    """Serve `handle` on a loopback socket (`sock`, or a new one); yields its base URL. Each
    request reaches `handle` as an `httpx.Request` for `url` + its path. A `handle` that
    raises `httpx.TransportError` drops the connection unanswered, as a network failure
    would."""

    async def serve_one(request: web.BaseRequest) -> web.StreamResponse:
        wire = httpx.Request(
            request.method,
            url + request.path_qs,
            headers=list(request.headers.items()),
            content=await request.read(),
        )
        try:
            answer = handle(wire)
            if inspect.isawaitable(answer):
                answer = await answer
        except httpx.TransportError:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=599)  # never reaches the caller
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return web.Response(status=answer.status_code, body=answer.content, headers=headers)

    server = web.Server(serve_one)
    loop = asyncio.get_running_loop()
    if sock is None:
        listener = await loop.create_server(server, "127.0.0.1", 0)
    else:
        listener = await loop.create_server(server, sock=sock)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()
        await server.shutdown(0.1)
        await listener.wait_closed()
