"""What a ``/v1`` handler receives (:class:`Call`) and how an endpoint is declared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_sim.errors import account_access
from stripe_sim.param_specs import Spec
from stripe_sim.store import AccountRecord, Origin, OwnedObject, Store

Json = dict[str, Any]


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

    @property
    def owner(self) -> str | None:
        """The id of the account acted on; None: the platform itself."""
        return self.account.id if self.account is not None else None

    def path_account(self, store: Store) -> AccountRecord:
        """The connected account named in the path, or Stripe's 403."""
        account_id = self.path_params["account"]
        record = store.accounts.reachable(account_id, self.livemode)
        if record is None:
            raise account_access(self.key, account_id)
        return record

    def owned(self, table: dict[str, OwnedObject]) -> list[Json]:
        """The transfers or payouts of ``table`` the account acted on owns, in this mode."""
        return [
            o.data for o in table.values() if o.owner == self.owner and o.livemode == self.livemode
        ]


Handler = Callable[[Store, Call], Json]


@dataclass(frozen=True)
class Endpoint:
    """One ``/v1`` (or ``/v2``) route: path, method, the parameters it accepts and its
    handler."""

    path: str
    method: str
    params: Spec
    handler: Handler
