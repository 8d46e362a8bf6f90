"""Account Links and login links: single-use URLs to the simulated hosted pages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from stripe_sim import ids
from stripe_sim.errors import invalid_request, resource_missing
from stripe_sim.store.accounts import Accounts
from stripe_sim.store.records import AccountRecord, Clock, Json, LinkRecord

LINK_TTL_SECONDS = 300


class Links(Mapping[str, LinkRecord]):
    """Links by token."""

    def __init__(self, clock: Clock, accounts: Accounts, *, public_url: str) -> None:
        self.clock = clock
        self.accounts = accounts
        self.public_url = public_url.rstrip("/")
        self._links: dict[str, LinkRecord] = {}

    def __getitem__(self, token: str) -> LinkRecord:
        return self._links[token]

    def __iter__(self) -> Iterator[str]:
        return iter(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def reset(self) -> None:
        self._links.clear()

    def _add(self, link: LinkRecord) -> None:
        """Keep a link; beyond 50,000, forget those expired more than an hour ago."""
        if len(self._links) >= 50_000:
            horizon = self.clock.now() - 3600
            for token in [t for t, old in self._links.items() if old.expires_at < horizon]:
                del self._links[token]
        self._links[link.token] = link

    def create_account_link(self, params: Json, *, livemode: bool) -> Json:
        """``POST /v1/account_links``: a single-use hosted onboarding URL, 300 s to live."""
        account_id = params["account"]
        record = self.accounts.reachable(account_id, livemode)
        if record is None:
            raise resource_missing("account", account_id, param="account", status=400)
        link_type = params["type"]
        controller = record.data.get("controller", {})
        if link_type == "account_update" and controller.get("requirement_collection") != (
            "application"
        ):
            raise invalid_request(
                "You cannot create `account_update` type Account Links for accounts whose "
                "requirements Stripe collects (Express or Standard); use `account_onboarding`.",
                param="type",
            )
        now = self.clock.now()
        token = ids.random_chars(12)
        self._add(
            LinkRecord(
                token=token,
                kind=link_type,
                account_id=account_id,
                livemode=livemode,
                created=now,
                expires_at=now + LINK_TTL_SECONDS,
                refresh_url=params.get("refresh_url"),
                return_url=params.get("return_url"),
            )
        )
        return {
            "created": now,
            "expires_at": now + LINK_TTL_SECONDS,
            "object": "account_link",
            "url": f"{self.public_url}/setup/s/{account_id}/{token}",
        }

    def create_login_link(self, record: AccountRecord) -> Json:
        """``POST /v1/accounts/{id}/login_links``: Express accounts only."""
        dashboard = record.data.get("controller", {}).get("stripe_dashboard", {})
        if dashboard.get("type") != "express":
            raise invalid_request(
                f"Cannot create a login link for the account {record.id}, which is not an "
                "Express account.",
                param="account",
            )
        if not record.data["details_submitted"]:
            raise invalid_request(
                "Cannot create a login link for an account that has not completed onboarding.",
                param="account",
            )
        now = self.clock.now()
        token = ids.random_chars(12)
        self._add(
            LinkRecord(
                token=token,
                kind="login",
                account_id=record.id,
                livemode=record.livemode,
                created=now,
                expires_at=now + LINK_TTL_SECONDS,
            )
        )
        return {
            "created": now,
            "object": "login_link",
            "url": f"{self.public_url}/express/{record.id}/{token}",
        }
