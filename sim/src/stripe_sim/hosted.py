"""Stripe-hosted pages, simulated: Account Link onboarding and the Express dashboard.

``GET /setup/s/{account}/{token}`` opens an account link once and shows three choices
("Complete onboarding", "Leave information due", "Reject"), each a form POSTing back to
the same URL; the choice changes the account (emitting events) and redirects (303) to
``return_url``. An expired or already used link redirects to ``refresh_url``.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from stripe_sim.store import LinkRecord, Store

_CHOICES = (
    ("complete", "Complete onboarding"),
    ("due", "Leave information due"),
    ("reject", "Reject"),
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><p><strong>Stripe simulator</strong> (test double, not Stripe)</p>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


class HostedPages:
    """Routes for the pages a person's browser would visit."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self) -> list[Route]:
        return [
            Route("/setup/s/{account}/{token}", self.onboarding, methods=["GET", "POST"]),
            Route("/express/{account}/{token}", self.dashboard, methods=["GET"]),
        ]

    def _link(self, request: Request, kind: str) -> LinkRecord | None:
        link = self.store.links.get(request.path_params["token"])
        if link is None or link.account_id != request.path_params["account"]:
            return None
        if (link.kind == "login") != (kind == "login"):
            return None
        return link

    def _refresh(self, link: LinkRecord, status: int) -> Response:
        if link.refresh_url:
            return RedirectResponse(link.refresh_url, status_code=status)
        return _page("This link has expired", "<p>Ask the platform for a new link.</p>", 410)

    async def onboarding(self, request: Request) -> Response:
        link = self._link(request, "onboarding")
        if link is None:
            return _page("Link not found", "<p>No such account link.</p>", 404)
        record = self.store.accounts.reachable(link.account_id, link.livemode)
        if record is None:
            return _page("Account unavailable", "<p>The account is not connected.</p>", 410)
        expired = self.store.clock.now() > link.expires_at
        if request.method == "GET":
            if link.state != "fresh" or expired:
                return self._refresh(link, 302)
            link.state = "opened"
            buttons = "".join(
                f"<form method='post'><input type='hidden' name='outcome' value='{value}'>"
                f"<button type='submit' name='choice' value='{value}'>{label}</button></form>"
                for value, label in _CHOICES
            )
            name = record.data["business_profile"].get("name") or record.id
            return _page(
                f"Onboarding for {name}",
                f"<p>Account <code>{html.escape(record.id)}</code> "
                f"({html.escape(link.kind)})</p>{buttons}",
            )
        if link.state == "used" or (link.state == "fresh" and expired):
            return self._refresh(link, 303)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        outcome = (form.get("outcome") or [""])[0]
        if outcome not in dict(_CHOICES):
            return _page("Unknown choice", f"<p>{html.escape(outcome)}</p>", 400)
        self.store.accounts.apply_onboarding(record, outcome)
        link.state = "used"
        if link.return_url:
            return RedirectResponse(link.return_url, status_code=303)
        return _page("Done", f"<p>Outcome: {html.escape(outcome)}</p>")

    async def dashboard(self, request: Request) -> Response:
        link = self._link(request, "login")
        if link is None:
            return _page("Link not found", "<p>No such login link.</p>", 404)
        if link.state == "used" or self.store.clock.now() > link.expires_at:
            return _page("This link has expired", "<p>Ask the platform for a new link.</p>", 410)
        link.state = "used"
        record = self.store.accounts.reachable(link.account_id, link.livemode)
        if record is None:
            return _page("Account unavailable", "<p>The account is not connected.</p>", 410)
        available, pending = record.ledger.totals()
        available.setdefault(record.data["default_currency"], 0)
        rows = "".join(
            f"<li>{html.escape(c)}: available {available[c]}, pending {pending.get(c, 0)}</li>"
            for c in sorted(available)
        )
        return _page(
            "Express dashboard",
            f"<p>Account <code>{html.escape(record.id)}</code></p><ul>{rows}</ul>",
        )
