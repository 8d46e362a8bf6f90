"""Account Links and login links: single-use URLs to the simulated hosted pages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from stripe_sim import ids
from stripe_sim.errors import invalid_request, resource_missing
from stripe_sim.store.accounts import Accounts
from stripe_sim.store.records import AccountRecord, Clock, Json, LinkRecord

LINK_TTL_SECONDS = 300
SESSION_TTL_SECONDS = 1800
"""An Account Session's life: Stripe says only that sessions "expire relatively quickly"
(the AccountSession object); 30 minutes is the simulator's choice."""


class Links(Mapping[str, LinkRecord]):
    """Links by token."""

    def __init__(self, clock: Clock, accounts: Accounts, *, public_url: str) -> None:
        self.clock = clock
        self.accounts = accounts
        self.public_url = public_url.rstrip("/")
        self._links: dict[str, LinkRecord] = {}
        self._sessions: dict[str, LinkRecord] = {}

    def __getitem__(self, token: str) -> LinkRecord:
        return self._links[token]

    def __iter__(self) -> Iterator[str]:
        return iter(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def reset(self) -> None:
        self._links.clear()
        self._sessions.clear()

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

    def create_account_session(self, params: Json, *, livemode: bool) -> Json:
        """``POST /v1/account_sessions``: a single-use client secret for embedded components.

        Features follow the API reference's rules: ``external_account_collection`` (default
        true) can be false, and ``disable_stripe_user_authentication`` (default: the opposite
        of ``external_account_collection``) can be true, only for accounts whose requirements
        the platform collects; payouts' ``standard_payouts`` and ``edit_payout_schedule`` (and,
        the simulator's reading, ``instant_payouts``) default to true only where Stripe
        carries the losses.
        """
        account_id = params["account"]
        record = self.accounts.reachable(account_id, livemode)
        if record is None:
            raise resource_missing("account", account_id, param="account", status=400)
        controller = record.data.get("controller") or {}
        platform_collects = controller.get("requirement_collection") == "application"
        stripe_losses = (controller.get("losses") or {}).get("payments") == "stripe"
        components: Json = {}
        for name, wanted in (params.get("components") or {}).items():
            given = wanted.get("features") or {}
            path = f"components[{name}][features]"
            collect = given.get("external_account_collection")
            collect = True if collect is None else collect
            if not collect and not platform_collects:
                raise invalid_request(
                    "`external_account_collection` can only be false for accounts whose "
                    "requirements your platform collects "
                    "(`controller[requirement_collection]=application`).",
                    param=f"{path}[external_account_collection]",
                )
            no_auth = given.get("disable_stripe_user_authentication")
            no_auth = (not collect) if no_auth is None else no_auth
            if no_auth and not platform_collects:
                raise invalid_request(
                    "`disable_stripe_user_authentication` can only be true for accounts whose "
                    "requirements your platform collects "
                    "(`controller[requirement_collection]=application`).",
                    param=f"{path}[disable_stripe_user_authentication]",
                )
            features: Json = {
                "disable_stripe_user_authentication": no_auth,
                "external_account_collection": collect,
            }
            if name == "payouts":
                for feature in ("edit_payout_schedule", "instant_payouts", "standard_payouts"):
                    value = given.get(feature)
                    features[feature] = stripe_losses if value is None else value
            components[name] = {"enabled": bool(wanted["enabled"]), "features": features}
        now = self.clock.now()
        secret = f"accs_secret__{ids.random_chars(48)}"
        self._sessions[secret] = LinkRecord(
            token=secret,
            kind="account_session",
            account_id=account_id,
            livemode=livemode,
            created=now,
            expires_at=now + SESSION_TTL_SECONDS,
        )
        return {
            "object": "account_session",
            "account": account_id,
            "client_secret": secret,
            "components": components,
            "expires_at": now + SESSION_TTL_SECONDS,
            "livemode": livemode,
        }

    def use_account_session(self, client_secret: str) -> AccountRecord:
        """What Connect.js does with a client secret, once: the session's account, while the
        session is fresh, unexpired and its account still reachable."""
        session = self._sessions.get(client_secret)
        if session is None or session.state != "fresh":
            raise invalid_request("The client secret is unknown or already used.")
        if self.clock.now() > session.expires_at:
            raise invalid_request("The Account Session has expired.")
        record = self.accounts.reachable(session.account_id, session.livemode)
        if record is None:
            raise invalid_request("The Account Session's account is no longer reachable.")
        session.state = "used"
        return record
