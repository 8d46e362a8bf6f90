"""What Stripe does to many connected accounts at once, and when Stripe saw the calls (the
simulator's own API, not Stripe's).

- ``POST /_sim/requirements/change``: a platform-wide requirements change. Stripe updates
  KYC requirements when regulators, card networks or other financial institutions change
  theirs, across every affected connected account, and tells the platform through each
  account's ``account.updated``
  (<https://docs.stripe.com/connect/handle-verification-updates>,
  <https://docs.stripe.com/connect/handling-api-verification>: "watch for ``account.*``
  events"). One call deep-merges ``requirements`` (and ``future_requirements``) into every
  connected account the platform can still reach in the mode (or those named in
  ``accounts``), and records one ``account.updated`` per account that changed, at the same
  moment: the deliveries are queued together.
- ``GET /_sim/requests/times``: when each Stripe call arrived (Unix seconds), so a test can
  count the calls in any one-second window.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sim.admin import AdminError, AdminRoutes, _body, _json
from stripe_sim.simulator import Simulator
from stripe_sim.store.records import AccountRecord

CHANGEABLE = ("requirements", "future_requirements")


class PlatformChanges:
    """The ``/_sim`` helpers over many accounts at once."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        table: list[tuple[str, list[str], Any]] = [
            ("/_sim/requirements/change", ["POST"], self.requirements_change),
            ("/_sim/requests/times", ["GET"], self.request_times),
        ]
        return [Route(path, AdminRoutes._wrap(fn), methods=methods) for path, methods, fn in table]

    async def requirements_change(self, request: Request) -> Response:
        body = await _body(request)
        patch = {name: body[name] for name in CHANGEABLE if name in body}
        unknown = sorted(set(body) - {*CHANGEABLE, "accounts", "livemode"})
        if unknown or not patch:
            raise AdminError(
                "give requirements and/or future_requirements (objects), and optionally "
                "accounts (ids) and livemode"
            )
        if not all(isinstance(value, dict) for value in patch.values()):
            raise AdminError("requirements and future_requirements must be objects")
        livemode = bool(body.get("livemode", False))
        records = self._targets(body.get("accounts"), livemode)
        events: list[str] = []
        for record in records:
            events += [e["id"] for e in self.sim.store.accounts.patch(record, patch)]
        return _json({"accounts": len(records), "events": events})

    def _targets(self, named: Any, livemode: bool) -> list[AccountRecord]:
        store = self.sim.store.accounts
        if named is None:
            ids = list(store)
        elif isinstance(named, list) and all(isinstance(i, str) for i in named):
            ids = list(named)
        else:
            raise AdminError("accounts must be a list of account ids")
        found = [(i, store.reachable(i, livemode)) for i in ids]
        if named is not None and (missing := [i for i, record in found if record is None]):
            raise AdminError(f"no reachable account {missing[0]} in this mode")
        return [record for _, record in found if record is not None]

    async def request_times(self, request: Request) -> Response:
        query = request.query_params
        times = self.sim.request_counts.times(
            method=query.get("method"), path_prefix=query.get("path_prefix", "")
        )
        return _json({"data": times, "count": len(times)})
