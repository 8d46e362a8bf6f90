"""``/v2/core/accounts`` and ``/v2/core/account_links`` with the ``recipient`` configuration.

An account made through v2 is a connected account like any other (one ``acct_`` id space):
Stripe's v2 Account says the recipient's ``stripe_balance.stripe_transfers`` capability
"enables this Account to receive /v1/transfers into their Stripe Balance (/v1/balance)" and
``stripe_balance.payouts`` "to complete payouts from their Stripe Balance", so the simulator
keeps it as an :class:`AccountRecord` that every ``/v1`` money endpoint serves, and shows it
through v2 as :func:`view` reads it. Rules and sources: sim/README.md, "Accounts v2".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stripe_sim.errors import invalid_request, parameter_missing, resource_missing
from stripe_sim.store import Store
from stripe_sim.store.records import AccountRecord
from stripe_sim.v1.call import Call

Json = dict[str, Any]

INCLUDABLE = (
    "configuration.customer",
    "configuration.merchant",
    "configuration.recipient",
    "defaults",
    "future_requirements",
    "identity",
    "requirements",
)
DASHBOARDS = ("express", "full", "none")
COLLECTORS = {
    "fees_collector": ("application", "stripe"),
    "losses_collector": ("application", "stripe"),
}


def _iso(seconds: int) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _includes(raw: Any) -> list[str]:
    """``include`` as a list (``include[0]=…`` arrives as a dict of indexes)."""
    if raw is None:
        return []
    values = list(raw.values()) if isinstance(raw, dict) else list(raw)
    for value in values:
        if value not in INCLUDABLE:
            raise invalid_request(f"Invalid include: {value}", param="include")
    return [str(v) for v in values]


def create_account(store: Store, call: Call) -> Json:
    """``POST /v2/core/accounts``: a recipient account (``stripe_transfers`` requested)."""
    params = call.params
    dashboard = params.get("dashboard") or "full"
    if dashboard not in DASHBOARDS:
        raise invalid_request(f"Invalid dashboard: {dashboard}", param="dashboard")
    responsibilities = (params.get("defaults") or {}).get("responsibilities") or {}
    for name, allowed in COLLECTORS.items():
        if name in responsibilities and responsibilities[name] not in allowed:
            raise invalid_request(
                f"Invalid {name}: {responsibilities[name]}",
                param=f"defaults.responsibilities.{name}",
            )
    configuration = params.get("configuration") or {}
    unsupported = set(configuration) - {"recipient"}
    if unsupported:
        raise invalid_request(
            f"The simulator makes recipient accounts only, not {sorted(unsupported)}.",
            param="configuration",
        )
    country = ((params.get("identity") or {}).get("country") or "").upper()
    if not country:
        raise parameter_missing("identity.country")
    balance = ((configuration.get("recipient") or {}).get("capabilities") or {}).get(
        "stripe_balance"
    ) or {}
    transfers = bool((balance.get("stripe_transfers") or {}).get("requested"))
    losses = responsibilities.get("losses_collector") or "stripe"
    fees = responsibilities.get("fees_collector") or "stripe"
    v1_params: Json = {
        "country": country,
        "controller": {
            "fees": {"payer": "application" if fees == "application" else "account"},
            "losses": {"payments": losses},
            # v2 names no requirement collection; a platform-built dashboard (none) is the
            # Custom equivalent, whose requirements the platform collects.
            "requirement_collection": "application" if dashboard == "none" else "stripe",
            "stripe_dashboard": {"type": dashboard},
        },
        "capabilities": {"transfers": {"requested": True}} if transfers else {},
        "metadata": params.get("metadata") or {},
        "business_profile": {"name": params.get("display_name")},
        "email": params.get("contact_email"),
    }
    record = store.accounts.create(v1_params, livemode=call.livemode, origin=call.origin)
    record.data["email"] = params.get("contact_email")
    record.v2 = {
        "dashboard": dashboard,
        "display_name": params.get("display_name"),
        "contact_email": params.get("contact_email"),
        "responsibilities": {"fees_collector": fees, "losses_collector": losses},
        "recipient": configuration.get("recipient") is not None,
    }
    return view(record, _includes(params.get("include")))


def retrieve_account(store: Store, call: Call) -> Json:
    """``GET /v2/core/accounts/{id}`` (``include`` to see configurations, requirements). A
    closed account is still retrieved, with ``closed: true`` and only its limited,
    non-personal fields (nothing ``include`` names)."""
    includes = _includes(call.params.get("include"))
    account_id = call.path_params["id"]
    closed = store.accounts.get(account_id)
    if closed is not None and closed.livemode == call.livemode and (closed.v2 or {}).get("closed"):
        return view(closed, [])
    return view(_record(store, call), includes)


def close_account(store: Store, call: Call) -> Json:
    """``POST /v2/core/accounts/{id}/close``: closed, no longer reachable."""
    record = _record(store, call)
    record.v2 = {**(record.v2 or {}), "closed": True}
    shown = view(record, [])
    store.events.emit_thin("v2.core.account.closed", record)
    record.deauthorized = True
    return shown


def create_account_link(store: Store, call: Call) -> Json:
    """``POST /v2/core/account_links``: the hosted onboarding page, as a v1 link is."""
    params = call.params
    use_case = params.get("use_case") or {}
    kind = use_case.get("type")
    if kind not in ("account_onboarding", "account_update"):
        raise invalid_request(f"Invalid use_case.type: {kind}", param="use_case.type")
    options = use_case.get(kind) or {}
    if not options.get("refresh_url"):
        raise parameter_missing(f"use_case.{kind}.refresh_url")
    account_id = params.get("account")
    record = store.accounts.reachable(str(account_id), call.livemode)
    if record is None or record.v2 is None:
        raise resource_missing("account", str(account_id), param="account", status=400)
    link = store.links.create_account_link(
        {
            "account": account_id,
            "type": kind,
            "refresh_url": options["refresh_url"],
            "return_url": options.get("return_url") or options["refresh_url"],
        },
        livemode=call.livemode,
    )
    return {
        "object": "v2.core.account_link",
        "account": account_id,
        "created": _iso(link["created"]),
        "expires_at": _iso(link["expires_at"]),
        "livemode": call.livemode,
        "url": link["url"],
        "use_case": use_case,
    }


def _record(store: Store, call: Call) -> AccountRecord:
    account_id = call.path_params["id"]
    record = store.accounts.reachable(account_id, call.livemode)
    if record is None or record.v2 is None:
        raise resource_missing("account", account_id, param="id", status=404)
    return record


def view(record: AccountRecord, include: list[str]) -> Json:
    """The account as ``/v2/core/accounts`` shows it, read from its v1 state (sim/README.md,
    "Accounts v2": capability status, payouts, requirement entries)."""
    data, extra = record.data, record.v2 or {}
    shown: Json = {
        "id": record.id,
        "object": "v2.core.account",
        "applied_configurations": ["recipient"] if extra.get("recipient") else [],
        "closed": bool(extra.get("closed")),
        "contact_email": extra.get("contact_email"),
        "created": _iso(int(data["created"])),
        "dashboard": extra.get("dashboard"),
        "display_name": extra.get("display_name"),
        "livemode": record.livemode,
        "metadata": dict(data.get("metadata") or {}),
        "configuration": None,
        "defaults": None,
        "identity": None,
        "requirements": None,
        "future_requirements": None,
    }
    if "configuration.recipient" in include and extra.get("recipient"):
        shown["configuration"] = {"recipient": {"capabilities": _recipient_capabilities(data)}}
    if "defaults" in include:
        shown["defaults"] = {"responsibilities": dict(extra.get("responsibilities") or {})}
    if "identity" in include:
        shown["identity"] = {"country": str(data["country"]).lower()}
    if "requirements" in include:
        shown["requirements"] = _requirements(data)
    return shown


def _capability(status: str, reason: str | None) -> Json:
    details: list[Json] = []
    if reason is not None and reason.startswith("rejected."):
        details.append(
            {"code": "rejected_" + reason.removeprefix("rejected."), "resolution": "no_resolution"}
        )
    elif status != "active":
        details.append({"code": "requirements_past_due", "resolution": "provide_info"})
    return {"status": status, "status_details": details}


def _recipient_capabilities(data: Json) -> Json:
    reason = data["requirements"].get("disabled_reason")
    held = data["capabilities"].get("transfers")
    rejected = reason is not None and str(reason).startswith("rejected.")
    if rejected:
        transfers = "rejected"
    elif held is None:
        transfers = "unsupported"
    elif held in ("active", "pending"):
        transfers = str(held)
    else:
        transfers = "restricted"
    payouts = "active" if data["payouts_enabled"] else ("rejected" if rejected else "restricted")
    return {
        "stripe_balance": {
            "stripe_transfers": _capability(transfers, reason),
            "payouts": _capability(payouts, reason),
        }
    }


def _requirements(data: Json) -> Json:
    held = data["requirements"]
    reason = "routine_verification" if data["details_submitted"] else "routine_onboarding"
    entries: list[Json] = []
    seen: set[str] = set()
    for deadline in ("past_due", "currently_due", "eventually_due"):
        for field in held.get(deadline) or []:
            if field in seen:
                continue
            seen.add(field)
            entries.append(_entry(field, "user", deadline, reason))
    for field in held.get("pending_verification") or []:
        entries.append(_entry(field, "stripe", "currently_due", "routine_verification"))
    deadline_at = held.get("current_deadline")
    summary = None
    if entries:
        worst = entries[0]["minimum_deadline"]["status"]
        summary = {
            "minimum_deadline": {
                "status": worst,
                "time": _iso(int(deadline_at)) if deadline_at else None,
            }
        }
    return {"entries": entries, "summary": summary}


def _entry(description: str, awaiting: str, deadline: str, reason: str) -> Json:
    return {
        "awaiting_action_from": awaiting,
        "description": description,
        "errors": [],
        "impact": {"restricts_capabilities": []},
        "minimum_deadline": {"status": deadline},
        "reference": None,
        "requested_reasons": [{"code": reason}],
    }
