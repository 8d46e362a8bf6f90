"""The Worker's internal API (`/api/internal/*`), typed: the only module that speaks to the Worker.

Every call carries the API key and the request id (read from the request's context, never passed
by hand), has a timeout, and is retried on transport
errors, 429 and 5xx. Every endpoint of the contract is safe to repeat (reads, a
compare-and-set, writes ordered by `synced_at` or setting a value), so all of them retry,
bounded in attempts and total time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from connect_backend import log, metrics
from connect_backend.coalesce import Coalescer
from connect_backend.domain import (
    AccountApi,
    Claim,
    ClaimCause,
    ClaimState,
    ClaimTotal,
    ConnectStatus,
    MemberRole,
    OnboardingStep,
    Organization,
    OrganizationFilter,
    OrganizationOrder,
    PayoutOutcome,
    Received,
    Session,
    SettlementKind,
    User,
)

# Re-exported: callers take the record from here, with ClaimResult (errors.py needs it too).
from connect_backend.domain import IdempotencyRecord as IdempotencyRecord
from connect_backend.errors import (
    AccountAlreadyLinked,
    AccountInUse,
    BadRequest,
    ClaimExceeded,
    ConnectError,
    IdempotencyMismatch,
    InvalidSession,
    NotAMember,
    NotDeauthorized,
    NotFound,
    UpstreamUnavailable,
)

_Model = TypeVar("_Model", bound=BaseModel)


class UserContext(Received):
    """`verify-user-context`'s answer: who the caller is and their role in the organization."""

    user: User
    session: Session
    organization: Organization | None = None
    member_role: MemberRole | None = None


class UpdateResult(Received):
    """`update-organization`'s answer; `applied` is false when a newer view was already stored."""

    organization: Organization
    applied: bool


class LinkResult(Received):
    """`create-connect-account`'s answer; `created` is false when the same id was already held."""

    organization: Organization
    created: bool


class OrganizationPage(Received):
    """`GET organizations`' answer: one page in id order; `next_cursor` is None on the last."""

    organizations: list[Organization]
    next_cursor: str | None = None


class OrganizationCounts(Received):
    """`GET organization-counts`' answer: how many pass the filters, in all and per status."""

    total: int
    by_status: dict[str, int]


class ClaimResult(Received):
    """`idempotency-keys/claim`'s answer: the key's record; `created` when this call made it."""

    record: IdempotencyRecord
    created: bool


class RecordClaimResult(Received):
    """`POST claims`' answer: the claim; `created` when this call recorded it."""

    claim: Claim
    created: bool


class ClaimPage(Received):
    """`GET claims`' answer: one page first in, first out; `totals` per currency over every open
    claim of the query (not only the page); `next_cursor` is None on the last page."""

    claims: list[Claim]
    totals: list[ClaimTotal]
    next_cursor: str | None = None


class SettleClaimResult(Received):
    """`POST claims/{id}/settlements`' answer: the claim after; `applied` when this call settled
    part of it (False: the key had settled it already, nothing changed)."""

    claim: Claim
    applied: bool


class _ReleasedSettlements(Received):
    released: int


class _RecordAnswer(Received):
    record: IdempotencyRecord


class _ReleaseAnswer(Received):
    released: bool


class OrganizationUpdates(BaseModel):
    """The fields `update-organization` may change (unset ones are left alone)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stripe_connect_status: ConnectStatus | None = None
    onboarding_step: OnboardingStep | None = None
    onboarding_rejection_reason: str | None = None
    platform_fee_percent: float | None = Field(default=None, ge=0, le=100)
    stripe_connect_requirements_deadline: datetime | None = None
    """Part of Stripe's view: the Worker takes it only with `synced_at`."""


class _OrganizationAnswer(Received):
    organization: Organization


class _PayoutOutcomeAnswer(Received):
    organization: Organization
    changed: bool


class _Transient(Exception):
    """A failure worth another attempt (transport error, 429, 5xx)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


CLAIM_PAGE = 200
"""Claims asked of the Worker a page when every one is read (the most it gives)."""
_FIRST_WAIT = wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05)
"""After the first attempt: 50 ms plus up to 50 ms of jitter."""
_NEXT_WAITS = wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.05)
"""After tenacity's k-th attempt (the (k + 1)-th in all): 0.05 * 2^k s plus up to 50 ms of
jitter, at most 1 s: the schedule goes on from `_FIRST_WAIT` as one would have run it."""


def _timeout_ext(timeout: float, *, connect: float | None = None) -> dict[str, float | None]:
    """A request's `timeout` extension (what `httpx.AsyncClient.request` would set)."""
    return httpx.Timeout(timeout, connect=timeout if connect is None else connect).as_dict()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _filter_query(where: OrganizationFilter, *, linked: bool | None) -> dict[str, str | int]:
    """The query parameters of the filters the list and the counts share."""
    query: dict[str, str | int] = {}
    if linked is not None:
        query["linked"] = "true" if linked else "false"
    if where.step is not None:
        query["step"] = where.step
    if where.unsettled is not None:
        query["unsettled"] = "true" if where.unsettled else "false"
    if where.synced_before is not None:
        query["synced_before"] = _iso(where.synced_before)
    if where.name is not None:
        query["name"] = where.name
    return query


class WorkerClient:
    """Typed client of the Worker's internal API, sending `httpx.Request`s through one shared
    httpx transport (`outbound.worker_transport`).

    The transport is called directly (`handle_async_request`), not through an
    `httpx.AsyncClient`: every request is built whole here (URL, headers, timeout), and the
    client's layers around the transport (auth flow, redirects, event hooks, cookies) had
    nothing to do yet cost about a tenth of a status read's CPU (docs/benchmarks.md)."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 5.0,
        attempts: int = 3,
        retry_budget: float = 8.0,
    ) -> None:
        self._transport = transport
        self._base = base_url.rstrip("/") + "/api/internal"
        self._headers = {"X-Internal-Api-Key": api_key}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._timeout_ext = _timeout_ext(timeout, connect=min(timeout, 2.0))
        self._attempts = attempts
        self._retry_budget = retry_budget
        # Concurrent reads of one organization share a read begun after each of them asked;
        # identical ordered writes (same view, same synced_at) share one call.
        self._reads: Coalescer[tuple[str, str], Organization | None] = Coalescer()
        self._writes: Coalescer[str, UpdateResult] = Coalescer()

    async def verify_user_context(
        self, *, session_token: str, organization_id: str | None
    ) -> UserContext:
        """Who holds this session token, and their role in `organization_id` (if given)."""
        body = {"session_token": session_token, "organization_id": organization_id}
        data = await self._call("POST", "/verify-user-context", json=body)
        return self._parse(UserContext, data)

    async def get_organization(self, organization_id: str) -> Organization:
        """The organization; `NotFound` when D1 has none."""
        path = f"/organization/{_segment(organization_id)}"
        found = await self._reads.fresh(
            ("id", organization_id), lambda: self._read_organization(path)
        )
        if found is None:
            raise NotFound("Organization not found.")
        return found

    async def get_organization_by_account(self, account_id: str) -> Organization | None:
        """The organization linked to a Stripe account, or None."""
        path = f"/organization-by-account/{_segment(account_id)}"
        return await self._reads.fresh(
            ("account", account_id), lambda: self._read_organization(path)
        )

    async def _read_organization(self, path: str) -> Organization | None:
        try:
            data = await self._call("GET", path)
        except NotFound:
            return None
        return self._parse(_OrganizationAnswer, data).organization

    async def update_organization(
        self,
        *,
        organization_id: str,
        updates: OrganizationUpdates | Mapping[str, Any],
        synced_at: datetime | None = None,
        expected_account_id: str | None = None,
    ) -> UpdateResult:
        """Write some fields; with `synced_at`, only if D1 holds no newer view.

        With `expected_account_id` (the account the view describes), only while the
        organization still holds that account. A synced write never moves a deauthorized
        organization to another step. Any refusal is `applied=False`.
        Writes with `synced_at` are idempotent: an identical one under way is joined.
        """
        if not isinstance(updates, OrganizationUpdates):
            updates = OrganizationUpdates.model_validate(updates)
        body: dict[str, Any] = {
            "organization_id": organization_id,
            "updates": updates.model_dump(mode="json", exclude_unset=True),
        }
        if expected_account_id is not None:
            body["expected_account_id"] = expected_account_id
        if synced_at is None:
            return await self._update(body)
        body["synced_at"] = _iso(synced_at)
        key = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
        return await self._writes.shared(key, lambda: self._update(body))

    async def _update(self, body: dict[str, Any]) -> UpdateResult:
        data = await self._call("POST", "/update-organization", json=body)
        return self._parse(UpdateResult, data)

    async def list_organizations(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
        linked: bool | None = None,
        order: OrganizationOrder | None = None,
        where: OrganizationFilter | None = None,
    ) -> OrganizationPage:
        """One page of organizations in id order (or `order`: by last sync or deadline); pass
        `next_cursor` back, with the same order and filters, for the next one.

        `status` is a Connect status or `not_started` (no account); `linked` keeps only those
        holding an account (True) or none (False); `where` adds the other filters (its own
        `status` and `linked` when those are not given). The Worker bounds `limit` to 1..200.
        """
        given = where or OrganizationFilter()
        query: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        if order is not None:
            query["order"] = order
        status = status if status is not None else given.status
        if status is not None:
            query["status"] = status
        linked = linked if linked is not None else given.linked
        query |= _filter_query(given, linked=linked)
        data = await self._call("GET", f"/organizations?{urlencode(query)}")
        return self._parse(OrganizationPage, data)

    async def count_organizations(
        self, where: OrganizationFilter | None = None
    ) -> OrganizationCounts:
        """How many organizations pass `where` (its `status` aside), in all and per status,
        from one Worker call."""
        given = where or OrganizationFilter()
        query = _filter_query(given, linked=given.linked)
        path = f"/organization-counts?{urlencode(query)}" if query else "/organization-counts"
        data = await self._call("GET", path)
        return self._parse(OrganizationCounts, data)

    async def create_connect_account(
        self,
        *,
        organization_id: str,
        account_id: str,
        replace_account_id: str | None = None,
        account_api: AccountApi = "v1",
    ) -> LinkResult:
        """Link a Stripe account to an organization that has none (compare-and-set), recording
        the Stripe API it was made through (`account_api`).

        With `replace_account_id`, replace that account instead, only while the organization
        holds it deauthorized (`NotDeauthorized` otherwise).
        """
        body = {
            "organization_id": organization_id,
            "stripe_connect_account_id": account_id,
            "account_api": account_api,
        }
        if replace_account_id is not None:
            body["replace_account_id"] = replace_account_id
        data = await self._call("POST", "/create-connect-account", json=body)
        return self._parse(LinkResult, data)

    async def claim_idempotency_key(
        self,
        *,
        organization_id: str,
        operation: str,
        key: str,
        fingerprint: str,
        decision: Mapping[str, Any],
    ) -> ClaimResult:
        """Record `key` for the organization's operation, or find the record already held.

        `created` is False when a record was held, whatever its fingerprint: the caller compares.
        A retry after a lost answer also sees `created=False`, with its own fingerprint.
        """
        body = {
            **_key_ref(organization_id, operation, key),
            "fingerprint": fingerprint,
            "decision": dict(decision),
        }
        data = await self._call("POST", "/idempotency-keys/claim", json=body)
        return self._parse(ClaimResult, data)

    async def complete_idempotency_key(
        self,
        *,
        organization_id: str,
        operation: str,
        key: str,
        stripe_object_id: str,
    ) -> IdempotencyRecord:
        """Record the Stripe object made under `key` (the same id again is a retry).

        `IdempotencyMismatch` (carrying the record) when it names another object; `NotFound`
        when there is no such record.
        """
        body = {**_key_ref(organization_id, operation, key), "stripe_object_id": stripe_object_id}
        path = "/idempotency-keys/complete"
        data = await self._call("POST", path, json=body)
        return self._parse(_RecordAnswer, data).record

    async def release_idempotency_key(
        self, *, organization_id: str, operation: str, key: str
    ) -> bool:
        """Forget `key`'s record while it names no Stripe object; whether this call did."""
        body = _key_ref(organization_id, operation, key)
        path = "/idempotency-keys/release"
        data = await self._call("POST", path, json=body)
        return self._parse(_ReleaseAnswer, data).released

    async def record_claim(
        self,
        *,
        organization_id: str,
        amount: int,
        currency: str,
        cause: ClaimCause,
        cause_id: str,
        transfer_id: str,
    ) -> RecordClaimResult:
        """Record what the organization still owes after a refused reversal, or find the claim
        held for (cause, cause_id, transfer_id). `created` is False when one was held, whatever
        its amount: the caller compares. `NotFound` for an unknown organization.
        """
        body = {
            "organization_id": organization_id,
            "amount": amount,
            "currency": currency,
            "cause": cause,
            "cause_id": cause_id,
            "transfer_id": transfer_id,
        }
        data = await self._call("POST", "/claims", json=body)
        return self._parse(RecordClaimResult, data)

    async def list_claims(
        self,
        *,
        organization_id: str | None,
        state: ClaimState = "open",
        currency: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> ClaimPage:
        """One page of claims first in, first out (every organization's with None); pass
        `next_cursor` back for the next one. The Worker bounds `limit` to 1..200."""
        query: dict[str, str | int] = {"state": state, "limit": limit}
        if organization_id is not None:
            query["organization_id"] = organization_id
        if currency is not None:
            query["currency"] = currency
        if cursor is not None:
            query["cursor"] = cursor
        data = await self._call("GET", f"/claims?{urlencode(query)}")
        return self._parse(ClaimPage, data)

    async def every_claim(
        self,
        *,
        organization_id: str | None,
        state: ClaimState = "open",
        currency: str | None = None,
    ) -> AsyncIterator[Claim]:
        """Every claim of the query, first in, first out, page after page (a caller that has
        what it needs stops asking)."""
        cursor: str | None = None
        while True:
            page = await self.list_claims(
                organization_id=organization_id,
                state=state,
                currency=currency,
                limit=CLAIM_PAGE,
                cursor=cursor,
            )
            for claim in page.claims:
                yield claim
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def settle_claim(
        self, claim_id: str, *, key: str, amount: int, kind: SettlementKind
    ) -> SettleClaimResult:
        """Settle `amount` of a claim by what `key` names, once per key (the same key again is
        `applied=False`, nothing changed). `ClaimExceeded` (carrying the claim) for more than is
        open; `NotFound` for an unknown claim."""
        body = {"key": key, "amount": amount, "kind": kind}
        data = await self._call("POST", f"/claims/{_segment(claim_id)}/settlements", json=body)
        return self._parse(SettleClaimResult, data)

    async def release_claim_settlements(self, *, organization_id: str, key: str) -> int:
        """Undo the organization's `transfer` settlements under `key` (the transfer sent net of
        claims was refused): those claims are open again by what it settled. How many
        settlements this call removed; 0 when none (a repeat, or an unknown organization)."""
        body = {"organization_id": organization_id, "key": key}
        data = await self._call("POST", "/claims/settlements/release", json=body)
        return self._parse(_ReleasedSettlements, data).released

    async def record_payout_outcome(
        self,
        *,
        organization_id: str,
        payout_id: str,
        outcome: PayoutOutcome,
        payout_created: datetime,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> Organization:
        """Record that a payout failed (its failure becomes the organization's `payout_failure`)
        or was paid (an earlier payout's failure is cleared), ordered by the payout's own
        `created`, so events in any order converge; the organization after. `NotFound` for an
        unknown organization. `failure_code` and `failure_message` are sent for `failed` only."""
        body: dict[str, Any] = {
            "organization_id": organization_id,
            "payout_id": payout_id,
            "outcome": outcome,
            "payout_created": _iso(payout_created),
        }
        if outcome == "failed":
            body["failure_code"] = failure_code
            body["failure_message"] = failure_message
        data = await self._call("POST", "/payout-outcome", json=body)
        return self._parse(_PayoutOutcomeAnswer, data).organization

    async def health(self, *, timeout: float = 2.0) -> None:
        """One quick, unretried call: `UpstreamUnavailable` unless the Worker and D1 answer.

        Its `code` says why: `worker_unreachable` (no answer in time, 5xx) or `worker_refused`
        (any other refusal, e.g. our API key).
        """
        try:
            await self._send("GET", "/health", json=None, timeout=timeout)
        except _Transient:
            raise UpstreamUnavailable(
                "The Worker is unreachable.", code="worker_unreachable"
            ) from None
        except ConnectError:
            raise UpstreamUnavailable("The Worker refused.", code="worker_refused") from None

    async def _call(self, method: str, path: str, *, json: object = None) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            # The first attempt goes straight out: tenacity's machinery (its state, its stop
            # and wait objects) is built only when there is something to retry.
            try:
                answer = await self._send(method, path, json=json)
            except _Transient as first:
                answer = await self._again(method, path, json, first=first, started=started)
            outcome = "ok"
            return answer
        except _Transient as exc:
            outcome = "unavailable"
            log.warning("worker.unavailable", path=_operation(path), reason=exc.reason)
            raise UpstreamUnavailable("The organization service is unavailable.") from None
        except ConnectError:
            outcome = "refused"
            raise
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_upstream("worker", _operation(path), outcome, elapsed)

    async def _again(
        self, method: str, path: str, json: object, *, first: _Transient, started: float
    ) -> Any:
        """The attempts after a first one failed: at most `attempts` in all, within
        `retry_budget` seconds of the first, each after an exponential, jittered wait."""
        left = self._retry_budget - (time.perf_counter() - started)
        if self._attempts < 2 or left <= 0:
            raise first
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self._attempts - 1) | stop_after_delay(left),
            wait=_NEXT_WAITS,
            reraise=True,
        )
        # The wait that follows the first attempt; tenacity waits after each of its own.
        await asyncio.sleep(_FIRST_WAIT(RetryCallState(retrying, fn=None, args=(), kwargs={})))
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, json=json)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: object,
        timeout: float | None = None,
    ) -> Any:
        content = None if json is None else orjson.dumps(json)
        headers = self._headers if content is None else self._json_headers
        # The request's id travels by itself: whoever asked, its context holds it.
        if request_id := log.request_id.get():
            headers = {**headers, "X-Request-ID": request_id}
        # Built whole here (base URL, headers, the timeout) and handed to the transport.
        request = httpx.Request(
            method,
            self._base + path,
            content=content,
            headers=headers,
            extensions={"timeout": self._timeout_ext if timeout is None else _timeout_ext(timeout)},
        )
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()  # the whole answer; the connection goes back to the pool
            except BaseException:
                await response.aclose()  # an answer cut off (or cancelled) lets it go too
                raise
        except httpx.TransportError as exc:
            raise _Transient(type(exc).__name__) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"status {response.status_code}")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise _Transient(f"non-JSON answer, status {response.status_code}") from None
        if response.is_success:
            return data
        raise self._error(response.status_code, data, path)

    def _error(self, status: int, data: Any, path: str) -> ConnectError:
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if status == 401 and code == "invalid_session":
            return InvalidSession("The session is invalid or has expired.")
        if status == 403 and code == "not_a_member":
            return NotAMember("You are not a member of this organization.")
        if status == 404 and path.startswith("/idempotency-keys/complete"):
            return NotFound("No such idempotency record.")
        if status == 404 and path.startswith("/claims/"):
            return NotFound("No such claim.")
        if status == 404:
            return NotFound("Organization not found.")
        if status == 409 and code == "already_linked":
            org = data.get("organization") or (error or {}).get("organization")
            linked = self._parse(Organization, org)
            return AccountAlreadyLinked(
                "The organization is linked to another Stripe account.", organization=linked
            )
        if status == 409 and code == "not_deauthorized":
            held = self._parse(Organization, data.get("organization"))
            return NotDeauthorized(
                "The organization holds no deauthorized link to that account.", organization=held
            )
        if status == 409 and code == "account_in_use":
            return AccountInUse("This Stripe account is linked to another organization.")
        if status == 409 and code == "idempotency_mismatch":
            record = self._parse(IdempotencyRecord, data.get("record"))
            return IdempotencyMismatch(
                "This idempotency key was used for another Stripe object.", record=record
            )
        if status == 409 and code == "claim_exceeded":
            claim = self._parse(Claim, data.get("claim"))
            return ClaimExceeded("The settlement is more than the claim has open.", claim=claim)
        if status == 400 and path.startswith(_PAGED) and _names_cursor(error):
            # The one parameter a caller passes through as it got it: an unknown cursor is theirs
            # (the Worker's 400 names the parameter it refused in `error.param`).
            return BadRequest("The cursor is not one this list gave out.", code="invalid_cursor")
        # 401 unauthorized (our API key), 400 invalid_request (our request): our fault, not
        # the caller's. Logged for the operator; the caller sees a dependency failure.
        log.error("worker.refused", path=path.split("/")[1], status=status, code=str(code))
        return UpstreamUnavailable("The organization service refused the request.")

    @staticmethod
    def _parse(model: type[_Model], data: Any) -> _Model:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            log.error("worker.bad_answer", model=model.__name__, errors=exc.error_count())
            raise UpstreamUnavailable(
                "The organization service gave an unexpected answer."
            ) from None


_PAGED = ("/organizations?", "/claims?")
"""The lists whose cursor a caller passes through as it got it."""


def _segment(value: str) -> str:
    """A path segment, percent-encoded, so an id can never change the path."""
    return quote(value, safe="")


def _operation(path: str) -> str:
    """The internal API's endpoint a path calls (`/organization/{id}` → `organization`): a
    bounded label, never an id."""
    return path.split("/", 2)[1].split("?", 1)[0]


def _names_cursor(error: object) -> bool:
    """Whether a Worker's 400 refused the `cursor` parameter (its machine-readable `param`)."""
    return isinstance(error, dict) and error.get("param") == "cursor"


def _key_ref(organization_id: str, operation: str, key: str) -> dict[str, Any]:
    """The fields naming one idempotency record in the Worker's requests."""
    return {"organization_id": organization_id, "operation": operation, "key": key}
