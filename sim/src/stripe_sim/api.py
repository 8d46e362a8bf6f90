"""The ``/v1`` routes: Stripe's wire format around the store's operations.

Every call goes through :meth:`StripeApi.endpoint`: authentication, fault injection, a
restricted key's permissions, ``Stripe-Account``, form decoding, idempotency, latency,
parameter validation (the specs in ``endpoint_params.py``), the handler, then Stripe's error
body and headers (``Request-Id`` on every answer). Handlers are plain synchronous functions
of a :class:`Call`, so a state change never interleaves with another; lists page through
``lists.py``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sim import ids, lists, objects
from stripe_sim.access import PERMISSIONS, Permissions
from stripe_sim.chaos import Chaos
from stripe_sim.endpoint_params import (
    ACCOUNT_CREATE,
    ACCOUNT_LINK_CREATE,
    ACCOUNT_UPDATE,
    EVENT_LIST,
    LIST,
    PAYOUT_CREATE,
    PAYOUT_LIST,
    RETRIEVE,
    TRANSFER_CREATE,
    TRANSFER_LIST,
)
from stripe_sim.errors import (
    StripeError,
    account_access,
    from_status,
    invalid_api_key,
    invalid_request,
    missing_api_key,
    parameter_invalid,
)
from stripe_sim.form_decoding import parse_pairs, read_pairs
from stripe_sim.idempotency import IdempotencyStore, SavedResponse, Scope
from stripe_sim.param_specs import Anything, Obj, Spec
from stripe_sim.request_counts import RequestCounts
from stripe_sim.store import AccountRecord, Origin, OwnedObject, Store

log = logging.getLogger("stripe_sim.api")
Json = dict[str, Any]
KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


@dataclass
class Call:
    """One authenticated ``/v1`` call, as a handler sees it."""

    key: str
    livemode: bool
    account: AccountRecord | None  # from Stripe-Account; None: the platform itself
    params: Json
    path_params: dict[str, str]
    origin: Origin
    method: str = "GET"
    path: str = "/"

    def path_account(self, store: Store) -> AccountRecord:
        """The connected account named in the path, or Stripe's 403."""
        account_id = self.path_params["account"]
        record = store.accounts.reachable(account_id, self.livemode)
        if record is None:
            raise account_access(self.key, account_id)
        return record


Handler = Callable[[Call], Json]


def _expand(
    data: Json, wanted: list[str] | None, expandable: dict[str, Callable[[Any], Any]]
) -> Json:
    """Replace ids by objects for ``expand[]`` (only what the simulator can expand)."""
    if not wanted:
        return data
    out = dict(data)
    for path in wanted:
        field_name = path.removeprefix("data.")
        resolve = expandable.get(field_name)
        if resolve is None:
            raise parameter_invalid(f"This property cannot be expanded ({path}).", "expand")
        out[field_name] = resolve(out[field_name])
    return out


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
    """The ``/v1`` routes over one store."""

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
        table: list[tuple[str, str, Obj, Handler]] = [
            ("/v1/accounts", "POST", ACCOUNT_CREATE, self.create_account),
            ("/v1/accounts", "GET", LIST, self.list_accounts),
            ("/v1/accounts/{account}", "GET", RETRIEVE, self.retrieve_account),
            ("/v1/accounts/{account}", "POST", ACCOUNT_UPDATE, self.update_account),
            ("/v1/accounts/{account}/capabilities", "GET", RETRIEVE, self.list_capabilities),
            (
                "/v1/accounts/{account}/capabilities/{capability}",
                "GET",
                RETRIEVE,
                self.retrieve_capability,
            ),
            ("/v1/accounts/{account}/login_links", "POST", RETRIEVE, self.create_login_link),
            ("/v1/account", "GET", RETRIEVE, self.retrieve_current_account),
            ("/v1/account_links", "POST", ACCOUNT_LINK_CREATE, self.create_account_link),
            ("/v1/balance", "GET", RETRIEVE, self.retrieve_balance),
            ("/v1/transfers", "POST", TRANSFER_CREATE, self.create_transfer),
            ("/v1/transfers", "GET", TRANSFER_LIST, self.list_transfers),
            ("/v1/transfers/{id}", "GET", RETRIEVE, self.retrieve_transfer),
            ("/v1/payouts", "POST", PAYOUT_CREATE, self.create_payout),
            ("/v1/payouts", "GET", PAYOUT_LIST, self.list_payouts),
            ("/v1/payouts/{id}", "GET", RETRIEVE, self.retrieve_payout),
            ("/v1/events", "GET", EVENT_LIST, self.list_events),
            ("/v1/events/{id}", "GET", RETRIEVE, self.retrieve_event),
        ]
        routes = [
            Route(
                path,
                self.endpoint(handler, spec, permission=PERMISSIONS[method, path]),
                methods=[method],
            )
            for path, method, spec, handler in table
        ]
        routes.append(Route("/v1/{rest:path}", self.endpoint(self.unknown, Anything())))
        return routes

    # ----------------------------------------------------------------- pipeline

    def authenticate(self, authorization: str | None) -> str:
        """The API key from ``Authorization`` (Bearer, or Basic with the key as user)."""
        if not authorization:
            raise missing_api_key()
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "basic":
            try:
                credentials = base64.b64decode(credentials).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                raise invalid_api_key(credentials) from None
        elif scheme.lower() != "bearer":
            raise invalid_api_key(authorization)
        if not credentials:
            raise missing_api_key()
        if not credentials.startswith(KEY_PREFIXES) or len(credentials) <= len("sk_test_"):
            raise invalid_api_key(credentials)
        if self.api_keys is not None and credentials not in self.api_keys:
            raise invalid_api_key(credentials)
        return credentials

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
        pairs = await read_pairs(exchange.request)
        saved = self._claim_idempotency_key(exchange, key, pairs)
        if saved is not None:
            return _Outcome(saved.status, {}, replayable=False, saved=saved)
        # The key stays claimed while the call "runs": same-key calls meanwhile get 409.
        await self._wait_latency(exchange)
        call = Call(
            key=key,
            livemode=exchange.livemode,
            account=account,
            params=spec.parse(parse_pairs(pairs), "") or {},
            path_params=dict(exchange.request.path_params),
            origin=Origin(exchange.request_id, exchange.idempotency_key),
            method=exchange.method,
            path=exchange.path,
        )
        return _Outcome(200, handler(call), replayable=True)

    def _authenticate(self, exchange: _Exchange) -> str:
        """The caller's API key; its prefix decides the mode."""
        key = self.authenticate(exchange.request.headers.get("authorization"))
        exchange.livemode = key.startswith(("sk_live_", "rk_live_"))
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

    # ----------------------------------------------------------------- handlers

    def unknown(self, call: Call) -> Json:
        raise invalid_request(
            f"Unrecognized request URL ({call.method}: {call.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            status=404,
        )

    def create_account(self, call: Call) -> Json:
        record = self.store.accounts.create(call.params, livemode=call.livemode, origin=call.origin)
        return record.data

    def list_accounts(self, call: Call) -> Json:
        items = [
            record.data
            for record in self.store.accounts.values()
            if record.livemode == call.livemode and not record.deauthorized
        ]
        return lists.page(items, call.params, "/v1/accounts")

    def retrieve_account(self, call: Call) -> Json:
        return call.path_account(self.store).data

    def retrieve_current_account(self, call: Call) -> Json:
        if call.account is not None:
            return call.account.data
        return self.store.accounts.platforms[call.livemode].data

    def update_account(self, call: Call) -> Json:
        record = call.path_account(self.store)
        return self.store.accounts.update(record, call.params, origin=call.origin)

    def list_capabilities(self, call: Call) -> Json:
        record = call.path_account(self.store)
        data = [record.capability(name) for name in sorted(record.data["capabilities"])]
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": f"/v1/accounts/{record.id}/capabilities",
        }

    def retrieve_capability(self, call: Call) -> Json:
        record = call.path_account(self.store)
        name = call.path_params["capability"]
        if name not in record.data["capabilities"]:
            raise invalid_request(
                f"No such capability: '{name}'", code="resource_missing", param="capability",
                status=404,
            )  # fmt: skip
        return record.capability(name)

    def create_login_link(self, call: Call) -> Json:
        return self.store.links.create_login_link(call.path_account(self.store))

    def create_account_link(self, call: Call) -> Json:
        return self.store.links.create_account_link(call.params, livemode=call.livemode)

    def retrieve_balance(self, call: Call) -> Json:
        return self.store.money.balance(call.account, call.livemode)

    def _expand_transfer(self, data: Json, call: Call) -> Json:
        def destination(account_id: Any) -> Any:
            record = self.store.accounts.get(str(account_id))
            return record.data if record is not None else account_id

        return _expand(data, call.params.get("expand"), {"destination": destination})

    def create_transfer(self, call: Call) -> Json:
        data = self.store.money.create_transfer(
            call.account, call.params, livemode=call.livemode, origin=call.origin
        )
        return self._expand_transfer(data, call)

    def _owned(self, table: dict[str, OwnedObject], kind: str, call: Call) -> Json:
        return self.store.money.get_owned(
            table, kind, call.path_params["id"], call.account, call.livemode
        ).data

    def _owned_list(self, table: dict[str, OwnedObject], call: Call) -> list[Json]:
        owner = call.account.id if call.account is not None else None
        return [o.data for o in table.values() if o.owner == owner and o.livemode == call.livemode]

    def retrieve_transfer(self, call: Call) -> Json:
        return self._expand_transfer(
            self._owned(self.store.money.transfers, "transfer", call), call
        )

    def list_transfers(self, call: Call) -> Json:
        """Newest first; ``destination`` and ``transfer_group`` filter."""
        transfers = self._owned_list(self.store.money.transfers, call)
        for name in ("destination", "transfer_group"):
            if call.params.get(name) is not None:
                transfers = [t for t in transfers if t[name] == call.params[name]]
        return lists.page(transfers, call.params, "/v1/transfers")

    def create_payout(self, call: Call) -> Json:
        return self.store.money.create_payout(
            call.account, call.params, livemode=call.livemode, origin=call.origin
        )

    def retrieve_payout(self, call: Call) -> Json:
        return self._owned(self.store.money.payouts, "payout", call)

    def list_payouts(self, call: Call) -> Json:
        """Newest first; ``status``, ``destination`` and ``arrival_date`` filter."""
        payouts = self._owned_list(self.store.money.payouts, call)
        for name in ("status", "destination"):
            if call.params.get(name) is not None:
                payouts = [p for p in payouts if p[name] == call.params[name]]
        payouts = lists.in_range(payouts, "arrival_date", call.params.get("arrival_date"))
        return lists.page(payouts, call.params, "/v1/payouts")

    def _visible_events(self, call: Call) -> list[Json]:
        owner = call.account.id if call.account is not None else None
        return [
            event
            for event in self.store.events.values()
            if event.get("account") == owner and event["livemode"] == call.livemode
        ]

    def retrieve_event(self, call: Call) -> Json:
        event_id = call.path_params["id"]
        for event in self._visible_events(call):
            if event["id"] == event_id:
                return event
        raise invalid_request(
            f"No such event: '{event_id}'", code="resource_missing", param="id", status=404
        )

    def list_events(self, call: Call) -> Json:
        events = self._visible_events(call)
        types = call.params.get("types") or []
        if call.params.get("type"):
            types = [*types, call.params["type"]]
        if types:
            events = [e for e in events if any(_type_matches(t, e["type"]) for t in types)]
        return lists.page(events, call.params, "/v1/events")


def _type_matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


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
