"""Payments on the platform: charges, their refunds and their disputes.

The platform charges customers itself (separate charges and transfers); every movement of
money lands on the platform's ``card`` balance, available at once (no pending period):
a charge adds its amount less Stripe's processing fee, a refund takes its amount (the fee
is not returned), a dispute takes its amount and the dispute fee, a won dispute gives the
amount back (the fee stays). The limits are the pure rules of ``payment_rules.py``.
"""

from __future__ import annotations

from stripe_sim import ids, objects
from stripe_sim.errors import invalid_request, resource_missing
from stripe_sim.store import payment_rules, rules
from stripe_sim.store.accounts import Accounts
from stripe_sim.store.events import EventLog
from stripe_sim.store.records import Clock, Json, Ledger, Origin, OwnedObject

DISPUTE_OUTCOMES = ("won", "lost")
# https://docs.stripe.com/api/refunds/object#refund_object-failure_reason
REFUND_FAILURE_REASONS = (
    "charge_for_pending_refund_disputed",
    "declined",
    "expired_or_canceled_card",
    "insufficient_funds",
    "lost_or_stolen_card",
    "merchant_request",
    "unknown",
)


class Payments:
    """Charges, refunds and disputes of the platform (both modes), by id."""

    def __init__(self, clock: Clock, events: EventLog, accounts: Accounts) -> None:
        self.clock = clock
        self.events = events
        self.accounts = accounts
        self.charges: dict[str, OwnedObject] = {}
        self.refunds: dict[str, OwnedObject] = {}
        self.disputes: dict[str, OwnedObject] = {}

    def reset(self) -> None:
        self.charges.clear()
        self.refunds.clear()
        self.disputes.clear()

    def _ledger(self, livemode: bool) -> Ledger:
        return self.accounts.platforms[livemode].ledger

    def charge(self, charge_id: str, livemode: bool) -> OwnedObject | None:
        """The platform's charge with this id in this mode, if any."""
        found = self.charges.get(charge_id)
        return found if found is not None and found.livemode == livemode else None

    def create_charge(
        self,
        *,
        amount: int,
        currency: str,
        livemode: bool,
        transfer_group: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Json:
        """A succeeded card charge on the platform (helper): its net lands available."""
        currency = rules.currency(currency)
        data = objects.charge(
            amount=amount,
            currency=currency,
            created=self.clock.now(),
            livemode=livemode,
            description=description,
            metadata=dict(metadata or {}),
            transfer_group=transfer_group,
        )
        self._ledger(livemode).add(currency, amount - payment_rules.processing_fee(amount))
        self.charges[data["id"]] = OwnedObject(data=data, owner=None, livemode=livemode)
        self.events.emit("charge.succeeded", data, livemode=livemode, account_id=None)
        return data

    def create_refund(self, params: Json, *, livemode: bool, origin: Origin) -> Json:
        """``POST /v1/refunds``: refund all or part of a charge from the platform's balance."""
        found = self.charge(params["charge"], livemode)
        if found is None:
            raise resource_missing("charge", params["charge"], param="charge", status=400)
        charge = found.data
        amount = payment_rules.refund_amount(
            charge, params.get("amount"), disputed=self._chargeback_open(charge["id"])
        )
        self._ledger(livemode).add(charge["currency"], -amount)
        data = objects.refund(
            amount=amount,
            charge_id=charge["id"],
            currency=charge["currency"],
            created=self.clock.now(),
            metadata=rules.merge_metadata({}, params.get("metadata")),
            reason=params.get("reason"),
        )
        self.refunds[data["id"]] = OwnedObject(data=data, owner=None, livemode=livemode)
        self.events.emit("refund.created", data, livemode=livemode, account_id=None, origin=origin)
        previous = self._refunded(charge, amount, data)
        self.events.emit(
            "charge.refunded",
            charge,
            livemode=livemode,
            account_id=None,
            origin=origin,
            previous=previous,
        )
        data["status"] = "succeeded"
        self.events.emit(
            "refund.updated",
            data,
            livemode=livemode,
            account_id=None,
            origin=origin,
            previous={"status": "pending"},
        )
        return data

    def fail_refund(self, refund_id: str, failure_reason: str | None = None) -> Json:
        """A refund the card network gave back (helper): the money returns to the platform."""
        found = self.refunds.get(refund_id)
        if found is None:
            raise resource_missing("refund", refund_id, param="id")
        data = found.data
        if data["status"] == "failed":
            raise invalid_request(f"Refund {refund_id} has already failed.", param="id")
        reason = failure_reason or "expired_or_canceled_card"
        if reason not in REFUND_FAILURE_REASONS:
            raise invalid_request(
                f"Invalid failure_reason: must be one of {', '.join(REFUND_FAILURE_REASONS)}",
                param="failure_reason",
            )
        previous = {"status": data["status"], "failure_reason": None}
        data.update(
            status="failed",
            failure_reason=reason,
            failure_balance_transaction=ids.new_id("txn"),
        )
        self._ledger(found.livemode).add(data["currency"], data["amount"])
        charge = self.charges[data["charge"]].data
        charge["amount_refunded"] -= data["amount"]
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.events.emit(
            "refund.failed", data, livemode=found.livemode, account_id=None, previous=previous
        )
        return data

    def open_dispute(self, charge_id: str, *, amount: int | None, reason: str) -> Json:
        """The customer disputes a charge (helper): the amount and the fee leave the balance."""
        found = self.charges.get(charge_id)
        if found is None:
            raise resource_missing("charge", charge_id, param="charge")
        charge = found.data
        if charge["disputed"]:
            raise invalid_request(f"Charge {charge_id} is already disputed.", param="charge")
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            # Fully refunded card payments cannot be disputed (https://docs.stripe.com/refunds).
            raise invalid_request(
                f"Charge {charge_id} is fully refunded and cannot be disputed.", param="charge"
            )
        amount = left if amount is None else amount
        if not 0 < amount <= left:
            raise invalid_request(
                f"The disputed amount must be between 1 and {left}.", param="amount"
            )
        now = self.clock.now()
        data = objects.dispute(
            amount=amount,
            charge_id=charge_id,
            currency=charge["currency"],
            created=now,
            livemode=found.livemode,
            reason=reason,
        )
        self.disputes[data["id"]] = OwnedObject(data=data, owner=None, livemode=found.livemode)
        charge["disputed"] = True
        self.events.emit("charge.dispute.created", data, livemode=found.livemode, account_id=None)
        fee = payment_rules.DISPUTE_FEE
        self._ledger(found.livemode).add(charge["currency"], -(amount + fee))
        data["balance_transactions"].append(
            objects.dispute_balance_transaction(
                dispute_id=data["id"],
                charge_id=charge_id,
                amount=-amount,
                fee=fee,
                currency=charge["currency"],
                created=now,
            )
        )
        self.events.emit(
            "charge.dispute.funds_withdrawn", data, livemode=found.livemode, account_id=None
        )
        return data

    def close_dispute(self, dispute_id: str, outcome: str) -> Json:
        """Close a dispute (helper): ``won`` gives the amount back, the fee stays; ``lost``."""
        found = self.disputes.get(dispute_id)
        if found is None:
            raise resource_missing("dispute", dispute_id, param="id")
        data = found.data
        if outcome not in DISPUTE_OUTCOMES:
            raise invalid_request("Invalid outcome: must be one of won or lost", param="outcome")
        if data["status"] in DISPUTE_OUTCOMES:
            raise invalid_request(f"Dispute {dispute_id} is already {data['status']}.")
        previous = {"status": data["status"]}
        data["status"] = outcome
        self.events.emit(
            "charge.dispute.closed",
            data,
            livemode=found.livemode,
            account_id=None,
            previous=previous,
        )
        if outcome == "won":
            self._ledger(found.livemode).add(data["currency"], data["amount"])
            data["balance_transactions"].append(
                objects.dispute_balance_transaction(
                    dispute_id=dispute_id,
                    charge_id=data["charge"],
                    amount=data["amount"],
                    fee=0,
                    currency=data["currency"],
                    created=self.clock.now(),
                )
            )
            self.events.emit(
                "charge.dispute.funds_reinstated", data, livemode=found.livemode, account_id=None
            )
        return data

    def _chargeback_open(self, charge_id: str) -> bool:
        """The charge has a dispute that has not been won: it can no longer be refunded."""
        return any(
            d.data["charge"] == charge_id and d.data["status"] != "won"
            for d in self.disputes.values()
        )

    def _refunded(self, charge: Json, amount: int, refund: Json) -> Json:
        """Record a refund on its charge; returns the charge's previous attributes."""
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refunds = charge["refunds"]
        refunds["data"] = [refund, *refunds["data"]][:10]
        refunds["total_count"] += 1
        refunds["has_more"] = refunds["total_count"] > len(refunds["data"])
        return previous
