"""Test and admin helpers under ``/_sim/`` (the simulator's own API, not Stripe's).

Bodies and answers are JSON. Errors answer ``{"error": {"message": ...}}`` with 400/404
(or Stripe's error body when a store operation refuses, e.g. a payout already paid).
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sim.config import WebhookEndpointConfig
from stripe_sim.errors import StripeError
from stripe_sim.simulator import Simulator
from stripe_sim.store import OUTCOMES, SOURCE_TYPES, AccountRecord

Json = dict[str, Any]


class AdminError(Exception):
    """A bad helper call: answered as ``{"error": {"message"}}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _body(request: Request) -> Json:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AdminError("body must be JSON") from None
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


def _int(body: Json, name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise AdminError(f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError(f"{name} must be an integer")
    return value


def _source_type(body: Json) -> str:
    value = body.get("source_type", "card")
    if value not in SOURCE_TYPES:
        raise AdminError(f"source_type must be one of {', '.join(SOURCE_TYPES)}")
    return str(value)


class AdminRoutes:
    """The ``/_sim`` helpers over one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        table: list[tuple[str, list[str], Any]] = [
            ("/_sim/health", ["GET"], self.health),
            ("/_sim/reset", ["POST"], self.reset),
            ("/_sim/config", ["GET", "POST"], self.config),
            ("/_sim/clock", ["GET", "POST"], self.clock),
            ("/_sim/platform", ["GET"], self.platform),
            ("/_sim/platform/fund", ["POST"], self.fund_platform),
            ("/_sim/accounts", ["GET"], self.accounts),
            ("/_sim/accounts/{id}", ["GET"], self.account),
            ("/_sim/accounts/{id}/onboarding", ["POST"], self.onboarding),
            ("/_sim/account_sessions/onboarding", ["POST"], self.embedded_onboarding),
            ("/_sim/accounts/{id}/deauthorize", ["POST"], self.deauthorize),
            ("/_sim/accounts/{id}/balance", ["POST"], self.balance),
            ("/_sim/accounts/{id}/patch", ["POST"], self.patch),
            ("/_sim/payouts/{id}/{outcome}", ["POST"], self.payout),
            ("/_sim/charges", ["POST"], self.charge),
            ("/_sim/charges/{id}/dispute", ["POST"], self.dispute),
            ("/_sim/disputes/{id}/close", ["POST"], self.close_dispute),
            ("/_sim/refunds/{id}/failed", ["POST"], self.fail_refund),
            ("/_sim/events", ["GET"], self.events),
            ("/_sim/deliveries", ["GET"], self.deliveries),
            ("/_sim/requests", ["GET", "DELETE"], self.requests),
            ("/_sim/webhooks/flush", ["GET", "POST"], self.flush),
            ("/_sim/webhook_endpoints", ["GET", "POST"], self.webhook_endpoints),
            ("/_sim/webhook_endpoints/{id}", ["DELETE"], self.delete_webhook_endpoint),
        ]
        return [Route(path, self._wrap(fn), methods=methods) for path, methods, fn in table]

    @staticmethod
    def _wrap(fn: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                result: Response = await fn(request)
            except AdminError as error:
                return _json({"error": {"message": error.message}}, error.status)
            except StripeError as error:
                return _json(error.body(None), error.status)
            return result

        run.__name__ = fn.__name__
        return run

    def _account(self, request: Request) -> AccountRecord:
        record = self.sim.store.accounts.get(request.path_params["id"])
        if record is None:
            raise AdminError(f"no account {request.path_params['id']}", 404)
        return record

    # ----------------------------------------------------------------- handlers

    async def health(self, request: Request) -> Response:
        return _json({"status": "ok", "simulator": "stripe_sim"})

    async def reset(self, request: Request) -> Response:
        self.sim.reset()
        return _json({"reset": True})

    async def config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.sim.configure(await _body(request))
            except (TypeError, ValueError) as exc:
                raise AdminError(str(exc)) from None
        return _json(self.sim.settings())

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            seconds = _int(await _body(request), "advance_seconds", required=True)
            assert seconds is not None
            self.sim.store.clock.offset += seconds
        clock = self.sim.store.clock
        return _json({"now": clock.now(), "offset_seconds": clock.offset})

    async def platform(self, request: Request) -> Response:
        out = {}
        for mode, record in self.sim.store.accounts.platforms.items():
            out["live" if mode else "test"] = {
                "id": record.data["id"],
                "balance": self.sim.store.money.balance(None, mode),
            }
        return _json(out)

    async def fund_platform(self, request: Request) -> Response:
        body = await _body(request)
        amount = _int(body, "amount", required=True)
        livemode = bool(body.get("livemode", False))
        currency = str(body.get("currency", "usd"))
        source_type = _source_type(body)
        if body.get("pending"):
            self.sim.store.money.fund(
                None, livemode, currency=currency, pending=amount, source_type=source_type
            )
        else:
            self.sim.store.money.fund(
                None, livemode, currency=currency, available=amount, source_type=source_type
            )
        return _json(self.sim.store.money.balance(None, livemode))

    async def accounts(self, request: Request) -> Response:
        data = [record.truth() for record in self.sim.store.accounts.values()]
        return _json({"data": data, "count": len(data)})

    async def account(self, request: Request) -> Response:
        return _json(self._account(request).truth())

    async def onboarding(self, request: Request) -> Response:
        record = self._account(request)
        body = await _body(request)
        outcome = body.get("outcome")
        if outcome not in OUTCOMES:
            raise AdminError(f"outcome must be one of {', '.join(OUTCOMES)}")
        reason = body.get("reason")
        if reason is not None and not str(reason).startswith("rejected."):
            raise AdminError("reason must start with 'rejected.'")
        events = self.sim.store.accounts.apply_onboarding(record, str(outcome), reason=reason)
        return _json({"account": record.data, "events": [e["id"] for e in events]})

    async def embedded_onboarding(self, request: Request) -> Response:
        """The stand-in for Connect.js' onboarding component: the details given through an
        Account Session (its client secret, used once), with an outcome as on the hosted
        page."""
        body = await _body(request)
        secret, outcome = body.get("client_secret"), body.get("outcome")
        if not isinstance(secret, str) or outcome not in OUTCOMES:
            raise AdminError(f"client_secret and an outcome ({', '.join(OUTCOMES)}) are needed")
        record = self.sim.store.links.use_account_session(secret)
        events = self.sim.store.accounts.apply_onboarding(record, str(outcome))
        return _json({"account": record.data, "events": [e["id"] for e in events]})

    async def deauthorize(self, request: Request) -> Response:
        event = self.sim.store.accounts.deauthorize(self._account(request))
        return _json({"deauthorized": True, "event": event["id"]})

    async def balance(self, request: Request) -> Response:
        record = self._account(request)
        body = await _body(request)
        operation: Literal["add", "set"] = "add" if body.get("operation") == "add" else "set"
        currency = str(body.get("currency") or record.data["default_currency"])
        source_type = _source_type(body)
        if body.get("release_pending"):
            record.ledger.release_pending()
        self.sim.store.money.fund(
            record,
            record.livemode,
            currency=currency,
            available=_int(body, "available"),
            pending=_int(body, "pending"),
            operation=operation,
            source_type=source_type,
        )
        return _json(self.sim.store.money.balance(record, record.livemode))

    async def patch(self, request: Request) -> Response:
        record = self._account(request)
        events = self.sim.store.accounts.patch(record, await _body(request))
        return _json({"account": record.data, "events": [e["id"] for e in events]})

    async def payout(self, request: Request) -> Response:
        body = await _body(request)
        data = self.sim.store.money.settle_payout(
            request.path_params["id"],
            request.path_params["outcome"],
            failure_code=body.get("failure_code"),
            failure_message=body.get("failure_message"),
        )
        return _json(data)

    async def charge(self, request: Request) -> Response:
        body = await _body(request)
        amount = _int(body, "amount", required=True)
        assert amount is not None
        if amount < 1:
            raise AdminError("amount must be a positive integer")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise AdminError("metadata must be an object")
        group = body.get("transfer_group")
        data = self.sim.store.payments.create_charge(
            amount=amount,
            currency=str(body.get("currency", "usd")),
            livemode=bool(body.get("livemode", False)),
            transfer_group=str(group) if group is not None else None,
            description=body.get("description"),
            metadata={str(k): str(v) for k, v in metadata.items()},
        )
        return _json(data)

    async def dispute(self, request: Request) -> Response:
        body = await _body(request)
        data = self.sim.store.payments.open_dispute(
            request.path_params["id"],
            amount=_int(body, "amount"),
            reason=str(body.get("reason") or "fraudulent"),
        )
        return _json(data)

    async def close_dispute(self, request: Request) -> Response:
        body = await _body(request)
        outcome = str(body.get("outcome") or "")
        return _json(self.sim.store.payments.close_dispute(request.path_params["id"], outcome))

    async def fail_refund(self, request: Request) -> Response:
        body = await _body(request)
        reason = body.get("failure_reason")
        data = self.sim.store.payments.fail_refund(
            request.path_params["id"], str(reason) if reason is not None else None
        )
        return _json(data)

    async def events(self, request: Request) -> Response:
        query = request.query_params
        events = list(self.sim.store.events.values())
        if query.get("type"):
            events = [e for e in events if e["type"] == query["type"]]
        if query.get("account"):
            events = [e for e in events if e.get("account") == query["account"]]
        if query.get("limit"):
            events = events[-int(query["limit"]) :]
        return _json({"data": events, "count": len(events)})

    async def deliveries(self, request: Request) -> Response:
        dispatcher = self.sim.dispatcher
        entries = dispatcher.entries(request.query_params.get("event_id"))
        body = {"counts": dispatcher.counts(), "dropped": dispatcher.dropped, "data": entries}
        return _json(body)

    async def requests(self, request: Request) -> Response:
        """The counts of ``/v1`` calls received; a DELETE answers them, then starts again
        from zero (every count, whatever the filters), so no call falls between the two."""
        counts = self.sim.request_counts
        query = request.query_params
        rows = counts.rows(
            method=query.get("method"),
            path=query.get("path"),
            stripe_account=query.get("stripe_account"),
        )
        if request.method == "DELETE":
            counts.clear()
        return _json({"data": rows, "total": sum(row["count"] for row in rows)})

    async def flush(self, request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "5"))
        except ValueError:
            raise AdminError("timeout must be a number") from None
        started = time.monotonic()
        settled = await self.sim.dispatcher.wait_settled(timeout)
        body = {
            "settled": settled,
            "waited_ms": round((time.monotonic() - started) * 1000, 1),
            "counts": self.sim.dispatcher.counts(),
        }
        return _json(body, 200 if settled else 504)

    async def webhook_endpoints(self, request: Request) -> Response:
        dispatcher = self.sim.dispatcher
        if request.method == "POST":
            body = await _body(request)
            if not isinstance(body.get("url"), str):
                raise AdminError("url is required")
            events = body.get("enabled_events", ["*"])
            if not isinstance(events, list):
                raise AdminError("enabled_events must be a list")
            endpoint = dispatcher.add_endpoint(
                WebhookEndpointConfig(
                    url=body["url"],
                    secret=str(body.get("secret") or ""),
                    connect=bool(body.get("connect", False)),
                    enabled_events=[str(e) for e in events],
                    thin=bool(body.get("thin", False)),
                )
            )
            return _json(endpoint.to_json())
        data = [endpoint.to_json() for endpoint in dispatcher.endpoints.values()]
        return _json({"data": data})

    async def delete_webhook_endpoint(self, request: Request) -> Response:
        if not self.sim.dispatcher.remove_endpoint(request.path_params["id"]):
            raise AdminError("no such webhook endpoint", 404)
        return _json({"id": request.path_params["id"], "deleted": True})
