"""Stripe's request pipeline: every ``/v1`` call, step by step, to its handler.

Every call goes through :meth:`StripeApi.endpoint`: authentication (``authentication.py``),
fault injection (``chaos.py``), a restricted key's permissions (``access.py``),
``Stripe-Account``, form decoding (``form_decoding.py``), idempotency (``idempotency.py``),
latency, parameter validation (the specs in ``endpoint_params.py``), the handler (the table
in ``endpoints.py``), then Stripe's error body and headers (``Request-Id`` on every answer).
Handlers are plain synchronous functions, so a state change never interleaves with another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sim import ids, objects
from stripe_sim.access import PERMISSIONS, Permissions
from stripe_sim.chaos import Chaos
from stripe_sim.errors import StripeError, account_access, from_status, invalid_request
from stripe_sim.form_decoding import parse_pairs, read_pairs
from stripe_sim.idempotency import IdempotencyStore, SavedResponse, Scope
from stripe_sim.param_specs import Anything, Spec
from stripe_sim.request_counts import RequestCounts
from stripe_sim.store import AccountRecord, Origin, Store
from stripe_sim.v1.authentication import authenticate, is_live
from stripe_sim.v1.call import Call, Handler
from stripe_sim.v1.endpoints import ENDPOINTS, unknown_url
from stripe_sim.v2.endpoints import V2_ENDPOINTS

log = logging.getLogger("stripe_sim.api")
Json = dict[str, Any]


class _Exchange:
    """One ``/v1`` request on its way through :class:`StripeApi`'s pipeline."""

    def __init__(self, request: Request, permission: str | None) -> None:
        self.request = request
        self.permission = permission
        self.request_id = ids.request_id()
        self.method = request.method
        self.path = request.url.path
        self.stripe_account = request.headers.get("stripe-account")
        self.livemode = False
        self.idempotency_key: str | None = None
        self.claimed: Scope | None = None  # the idempotency key this call holds
        self.waited = False
        self.headers = {
            "Stripe-Version": request.headers.get("stripe-version") or objects.API_VERSION
        }


@dataclass
class _Outcome:
    """What a call ended in: a status and body, or a saved answer to replay."""

    status: int
    payload: Json
    replayable: bool
    saved: SavedResponse | None = None


class StripeApi:
    """The ``/v1`` routes over one store, each behind the pipeline."""

    def __init__(
        self,
        *,
        store: Store,
        chaos: Chaos,
        idempotency: IdempotencyStore,
        permissions: Permissions | None = None,
        api_keys: list[str] | None = None,
        request_counts: RequestCounts | None = None,
    ) -> None:
        self.store = store
        self.chaos = chaos
        self.idempotency = idempotency
        self.permissions = permissions or Permissions()
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.request_counts = request_counts or RequestCounts()

    def routes(self) -> list[Route]:
        """Starlette routes for every endpoint the simulator implements."""
        routes = [
            Route(
                endpoint.path,
                self.endpoint(
                    endpoint.handler,
                    endpoint.params,
                    permission=PERMISSIONS[endpoint.method, endpoint.path],
                ),
                methods=[endpoint.method],
            )
            for endpoint in [*ENDPOINTS, *V2_ENDPOINTS]
        ]
        routes.append(Route("/v1/{rest:path}", self.endpoint(unknown_url, Anything())))
        routes.append(Route("/v2/{rest:path}", self.endpoint(unknown_url, Anything())))
        return routes

    def endpoint(
        self, handler: Handler, spec: Spec, *, permission: str | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler in Stripe's request pipeline (see :meth:`_answer`).

        ``permission``: what a restricted key needs for this endpoint.
        """

        async def run(request: Request) -> Response:
            exchange = _Exchange(request, permission)
            # Counted as received, before anything can refuse it.
            self.request_counts.record(exchange.method, exchange.path, exchange.stripe_account)
            try:
                return await self._answer(exchange, handler, spec)
            finally:
                self._release(exchange)

        run.__name__ = f"{handler.__name__}_endpoint"
        return run

    async def _answer(self, exchange: _Exchange, handler: Handler, spec: Spec) -> Response:
        """Run the call, then answer: replay, or save the result, inject faults, stall."""
        outcome = await self._outcome(exchange, handler, spec)
        await self._wait_latency(exchange)
        if outcome.saved is not None:
            return _replay(outcome.saved, exchange.request_id, exchange.idempotency_key or "")
        encoded = orjson.dumps(outcome.payload)
        self._save_for_replay(exchange, outcome, encoded)
        status, encoded = self._fault_after(exchange, outcome.status, encoded)
        await _sleep(self.chaos.timeout())
        return _response(encoded, status, exchange.request_id, exchange.headers)

    async def _outcome(self, exchange: _Exchange, handler: Handler, spec: Spec) -> _Outcome:
        """The handler's result, or the error Stripe answers instead (never an exception)."""
        try:
            return await self._execute(exchange, handler, spec)
        except StripeError as error:
            exchange.headers.update(error.headers)
            return _Outcome(
                error.status,
                error.body(exchange.request_id, livemode=exchange.livemode),
                replayable=error.replayable,
            )
        except Exception:  # a simulator bug answers like Stripe's 500, not a traceback
            log.exception("handler failed")
            crash = from_status(500).body(exchange.request_id, livemode=exchange.livemode)
            return _Outcome(500, crash, replayable=False)

    async def _execute(self, exchange: _Exchange, handler: Handler, spec: Spec) -> _Outcome:
        """Authenticate, check faults, permissions and ``Stripe-Account``, claim the key, run."""
        key = self._authenticate(exchange)
        self._fault_before(exchange)
        self._check_permission(exchange, key)
        account = self._acting_account(exchange, key)
        if exchange.path.startswith("/v2/") and exchange.method == "POST":
            # v2 takes JSON; its idempotency compares the decoded body.
            params = _json_body(await exchange.request.body())
            pairs = [("json", orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode())]
        else:
            pairs = await read_pairs(exchange.request)
            params = spec.parse(parse_pairs(pairs), "") or {}
        saved = self._claim_idempotency_key(exchange, key, pairs)
        if saved is not None:
            return _Outcome(saved.status, {}, replayable=False, saved=saved)
        # The key stays claimed while the call "runs": same-key calls meanwhile get 409.
        await self._wait_latency(exchange)
        call = Call(
            key=key,
            livemode=exchange.livemode,
            account=account,
            params=params,
            path_params=dict(exchange.request.path_params),
            origin=Origin(exchange.request_id, exchange.idempotency_key),
            method=exchange.method,
            path=exchange.path,
        )
        return _Outcome(200, handler(self.store, call), replayable=True)

    def _authenticate(self, exchange: _Exchange) -> str:
        """The caller's API key; its prefix decides the mode."""
        key = authenticate(exchange.request.headers.get("authorization"), self.api_keys)
        exchange.livemode = is_live(key)
        return key

    def _fault_before(self, exchange: _Exchange) -> None:
        """A ``when="before"`` fault refuses the call before anything happens."""
        rule = self.chaos.fault(exchange.method, exchange.path, "before")
        if rule is not None:
            raise from_status(rule.status)

    def _check_permission(self, exchange: _Exchange, key: str) -> None:
        """A restricted key denied this call gets Stripe's 403 (``/_sim/config``)."""
        platform_id = self.store.accounts.platforms[exchange.livemode].data["id"]
        self.permissions.check(
            key,
            exchange.method,
            exchange.path,
            permission=exchange.permission,
            account_id=exchange.stripe_account or platform_id,
        )

    def _acting_account(self, exchange: _Exchange, key: str) -> AccountRecord | None:
        """The connected account named by ``Stripe-Account`` (None: the platform itself)."""
        stripe_account = exchange.stripe_account
        platform_id = self.store.accounts.platforms[exchange.livemode].data["id"]
        if not stripe_account or stripe_account == platform_id:
            return None
        account = self.store.accounts.reachable(stripe_account, exchange.livemode)
        if account is None:
            raise account_access(key, stripe_account)
        return account

    def _claim_idempotency_key(
        self, exchange: _Exchange, key: str, pairs: list[tuple[str, str]]
    ) -> SavedResponse | None:
        """Claim a POST's ``Idempotency-Key``, or return the saved answer to replay."""
        if exchange.method != "POST":
            return None
        idempotency_key = exchange.request.headers.get("idempotency-key")
        if not idempotency_key:
            return None
        exchange.idempotency_key = idempotency_key
        exchange.headers["Idempotency-Key"] = idempotency_key
        scope = (key, exchange.stripe_account or "", idempotency_key)
        saved = self.idempotency.begin(scope, exchange.path, pairs)
        if saved is None:
            exchange.claimed = scope
        return saved

    async def _wait_latency(self, exchange: _Exchange) -> None:
        """The configured latency, once per call."""
        if not exchange.waited:
            exchange.waited = True
            await _sleep(self.chaos.latency())

    def _save_for_replay(self, exchange: _Exchange, outcome: _Outcome, encoded: bytes) -> None:
        """Save the answer under the claimed key, or release the key if it is not saved."""
        if exchange.claimed is None:
            return
        saved = SavedResponse(outcome.status, encoded, exchange.request_id)
        self.idempotency.finish(exchange.claimed, saved if outcome.replayable else None)
        exchange.claimed = None

    def _fault_after(self, exchange: _Exchange, status: int, encoded: bytes) -> tuple[int, bytes]:
        """A ``when="after"`` fault: the call ran (and was saved), the answer is lost."""
        if status >= 400:
            return status, encoded
        rule = self.chaos.fault(exchange.method, exchange.path, "after")
        if rule is None:
            return status, encoded
        lost = from_status(rule.status)
        exchange.headers.update(lost.headers)
        body = lost.body(exchange.request_id, livemode=exchange.livemode)
        return rule.status, orjson.dumps(body)

    def _release(self, exchange: _Exchange) -> None:
        """Cancelled mid-call: release the key and save nothing."""
        if exchange.claimed is not None:
            self.idempotency.finish(exchange.claimed, None)
            exchange.claimed = None


def _json_body(raw: bytes) -> Json:
    """A v2 request's JSON object (an empty body is no parameters)."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _response(body: bytes, status: int, request_id: str, extra: dict[str, str]) -> Response:
    headers = {"Request-Id": request_id, "Cache-Control": "no-cache, no-store", **extra}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _replay(saved: SavedResponse, request_id: str, idempotency_key: str) -> Response:
    return _response(
        saved.body,
        saved.status,
        request_id,
        {
            "Stripe-Version": objects.API_VERSION,
            "Idempotency-Key": idempotency_key,
            "Idempotent-Replayed": "true",
            "Original-Request": saved.request_id,
        },
    )
