"""Money: balances, transfers, their reversals and payouts, for connected accounts and the
platform."""

from __future__ import annotations

from typing import Literal

from stripe_sim import ids, objects
from stripe_sim.errors import invalid_request, resource_missing
from stripe_sim.store import account_rules, payment_rules, rules
from stripe_sim.store.accounts import Accounts
from stripe_sim.store.events import EventLog
from stripe_sim.store.payments import Payments
from stripe_sim.store.records import AccountRecord, Clock, Json, Ledger, Origin, OwnedObject


class Money:
    """Ledgers live on the accounts; this part keeps the transfers, reversals and payouts."""

    def __init__(
        self, clock: Clock, events: EventLog, accounts: Accounts, payments: Payments
    ) -> None:
        self.clock = clock
        self.events = events
        self.accounts = accounts
        self.payments = payments
        self.transfers: dict[str, OwnedObject] = {}
        self.reversals: dict[str, OwnedObject] = {}
        self.payouts: dict[str, OwnedObject] = {}

    def reset(self) -> None:
        self.transfers.clear()
        self.reversals.clear()
        self.payouts.clear()

    def owner_ledger(self, account: AccountRecord | None, livemode: bool) -> tuple[Ledger, str]:
        """The ledger and default currency of a connected account or of the platform."""
        if account is not None:
            return account.ledger, account.data["default_currency"]
        return self.accounts.platforms[livemode].ledger, "usd"

    def balance(self, account: AccountRecord | None, livemode: bool) -> Json:
        """``GET /v1/balance`` for the platform or (``Stripe-Account``) a connected account."""
        ledger, currency = self.owner_ledger(account, livemode)
        available, pending = ledger.view(currency)
        return objects.balance(available, pending, livemode=livemode, platform=account is None)

    def fund(
        self,
        account: AccountRecord | None,
        livemode: bool,
        *,
        currency: str,
        available: int | None = None,
        pending: int | None = None,
        operation: Literal["add", "set"] = "add",
        source_type: str = "card",
    ) -> None:
        """Add to (or set) one source type of a ledger's balances (simulator helper)."""
        ledger, _ = self.owner_ledger(account, livemode)
        currency = currency.lower()
        for is_pending, value in ((False, available), (True, pending)):
            if value is None:
                continue
            change = ledger.set if operation == "set" else ledger.add
            change(currency, value, source_type, pending=is_pending)

    def create_transfer(
        self, source: AccountRecord | None, params: Json, *, livemode: bool, origin: Origin
    ) -> Json:
        """``POST /v1/transfers``: move available funds to a connected account."""
        currency = rules.currency(params["currency"])
        destination = self.accounts.reachable(params["destination"], livemode)
        if destination is None or destination is source:
            raise resource_missing(
                "destination", params["destination"], param="destination", status=400
            )
        if destination.data["capabilities"].get("transfers") != "active" and (
            destination.data["capabilities"].get("crypto_transfers") != "active"
        ):
            raise invalid_request(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        source_transaction = params.get("source_transaction")
        if source_transaction is not None and not source_transaction.startswith(("ch_", "py_")):
            raise resource_missing(
                "charge", source_transaction, param="source_transaction", status=400
            )
        account_rules.check_transfer_destination(destination.data["country"], destination.agreement)
        ledger, _ = self.owner_ledger(source, livemode)
        amount: int = params["amount"]
        source_type = params.get("source_type") or "card"
        transfer_group = params.get("transfer_group")
        charge = self._source_charge(source, source_transaction, livemode)
        if charge is not None:
            # Funded by the charge, not by the available balance: at most what it leaves.
            payment_rules.source_charge_room(
                charge, self._transferred_from(charge["id"], livemode), amount
            )
            transfer_group = charge["transfer_group"] or transfer_group
        elif ledger.amount(currency, source_type) < amount:
            raise invalid_request(
                "You have insufficient available funds in your Stripe account. Try adding "
                "funds directly to your available balance by creating Charges using the "
                "4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
                code="balance_insufficient",
            )
        ledger.add(currency, -amount, source_type)
        destination.ledger.add(currency, amount, source_type)
        data = objects.transfer(
            amount=amount,
            currency=currency,
            destination=destination.id,
            created=self.clock.now(),
            livemode=livemode,
            description=params.get("description"),
            metadata=rules.merge_metadata({}, params.get("metadata")),
            source_transaction=source_transaction,
            transfer_group=transfer_group,
            source_type=source_type,
        )
        owner = source.id if source is not None else None
        self.transfers[data["id"]] = OwnedObject(data=data, owner=owner, livemode=livemode)
        self.events.emit(
            "transfer.created", data, livemode=livemode, account_id=owner, origin=origin
        )
        return data

    def _source_charge(
        self, source: AccountRecord | None, charge_id: str | None, livemode: bool
    ) -> Json | None:
        """The platform's charge named by ``source_transaction``, if the simulator made it.

        Ids it never made (``ch_…`` from elsewhere, ``py_…``) are accepted unchecked, as
        before charges were simulated.
        """
        if charge_id is None or source is not None:
            return None
        found = self.payments.charge(charge_id, livemode)
        return found.data if found is not None else None

    def _transferred_from(self, charge_id: str, livemode: bool) -> int:
        """What transfers with this ``source_transaction`` took so far (less reversals)."""
        return sum(
            t.data["amount"] - t.data["amount_reversed"]
            for t in self.transfers.values()
            if t.livemode == livemode and t.data["source_transaction"] == charge_id
        )

    def create_reversal(
        self,
        source: AccountRecord | None,
        transfer_id: str,
        params: Json,
        *,
        livemode: bool,
        origin: Origin,
    ) -> Json:
        """``POST /v1/transfers/{id}/reversals``: take (part of) a transfer back from its
        destination's available balance to the sender's."""
        found = self.get_owned(self.transfers, "transfer", transfer_id, source, livemode)
        transfer = found.data
        amount = payment_rules.reversal_amount(transfer, params.get("amount"))
        destination = self.accounts[transfer["destination"]]
        currency, source_type = transfer["currency"], transfer["source_type"]
        if destination.ledger.amount(currency, source_type) < amount:
            raise payment_rules.destination_cannot_cover(destination.id, transfer_id)
        destination.ledger.add(currency, -amount, source_type)
        ledger, _ = self.owner_ledger(source, livemode)
        ledger.add(currency, amount, source_type)
        data = objects.transfer_reversal(
            amount=amount,
            currency=currency,
            transfer_id=transfer_id,
            created=self.clock.now(),
            metadata=rules.merge_metadata({}, params.get("metadata")),
        )
        self.reversals[data["id"]] = OwnedObject(data=data, owner=found.owner, livemode=livemode)
        previous = {
            "amount_reversed": transfer["amount_reversed"],
            "reversed": transfer["reversed"],
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        reversals = transfer["reversals"]
        reversals["data"] = [data, *reversals["data"]][:10]
        reversals["total_count"] += 1
        reversals["has_more"] = reversals["total_count"] > len(reversals["data"])
        self.events.emit(
            "transfer.reversed",
            transfer,
            livemode=livemode,
            account_id=found.owner,
            origin=origin,
            previous=previous,
        )
        return data

    def get_owned(
        self,
        table: dict[str, OwnedObject],
        kind: str,
        object_id: str,
        owner: AccountRecord | None,
        livemode: bool,
    ) -> OwnedObject:
        """A transfer or payout visible to this caller, or Stripe's 404."""
        found = table.get(object_id)
        owner_id = owner.id if owner is not None else None
        if found is None or found.owner != owner_id or found.livemode != livemode:
            raise resource_missing(kind, object_id, param="id")
        return found

    def create_payout(
        self, account: AccountRecord | None, params: Json, *, livemode: bool, origin: Origin
    ) -> Json:
        """``POST /v1/payouts``: pay available funds out to the account's bank account."""
        currency = rules.currency(params["currency"])
        _check_payout_allowed(account, params)
        owner_data = account.data if account is not None else self.accounts.platforms[livemode].data
        bank = _payout_bank(owner_data, currency, params.get("destination"))
        ledger, _ = self.owner_ledger(account, livemode)
        amount: int = params["amount"]
        source_type = params.get("source_type") or "card"
        if ledger.amount(currency, source_type) < amount:
            raise invalid_request(
                "You have insufficient funds in your Stripe account for this transfer. Your "
                f"{_SOURCE_TYPE_NAMES[source_type]} balance is too low. You can use the "
                "/v1/balance endpoint to view your Stripe balance (for more details, see "
                "stripe.com/docs/api#balance).",
                code="balance_insufficient",
                param="amount",
            )
        ledger.add(currency, -amount, source_type)
        data = objects.payout(
            amount=amount,
            currency=currency,
            destination=bank["id"],
            created=self.clock.now(),
            livemode=livemode,
            description=params.get("description"),
            metadata=rules.merge_metadata({}, params.get("metadata")),
            statement_descriptor=params.get("statement_descriptor"),
            method=params.get("method") or "standard",
            source_type=source_type,
        )
        owner = account.id if account is not None else None
        self.payouts[data["id"]] = OwnedObject(data=data, owner=owner, livemode=livemode)
        self.events.emit("payout.created", data, livemode=livemode, account_id=owner, origin=origin)
        return data

    def settle_payout(
        self,
        payout_id: str,
        outcome: str,
        *,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> Json:
        """Move a payout on: ``in_transit``, ``paid`` or ``failed`` (money returns)."""
        found = self.payouts.get(payout_id)
        if found is None:
            raise resource_missing("payout", payout_id, param="id")
        data = found.data
        if data["status"] not in ("pending", "in_transit"):
            raise invalid_request(f"Payout {payout_id} is already {data['status']}.", param="id")
        previous = {"status": data["status"]}
        if outcome == "in_transit":
            data["status"] = "in_transit"
            event_type = "payout.updated"
        elif outcome == "paid":
            data["status"] = "paid"
            data["trace_id"] = {"status": "supported", "value": ids.random_chars(15).upper()}
            data["reconciliation_status"] = "completed"
            event_type = "payout.paid"
        elif outcome == "failed":
            code = failure_code or "account_closed"
            if code not in FAILURE_MESSAGES:
                raise invalid_request(
                    f"Invalid failure_code: must be one of {', '.join(FAILURE_MESSAGES)}",
                    param="failure_code",
                )
            data.update(
                status="failed",
                failure_code=code,
                failure_message=failure_message or FAILURE_MESSAGES[code],
                failure_balance_transaction=ids.new_id("txn"),
                trace_id={"status": "unsupported", "value": None},
            )
            owner = self.accounts.get(found.owner) if found.owner else None
            ledger, _ = self.owner_ledger(owner, found.livemode)
            ledger.add(data["currency"], data["amount"], data["source_type"])
            event_type = "payout.failed"
        else:
            raise invalid_request(
                "Invalid outcome: must be one of in_transit, paid, or failed", param="outcome"
            )
        self.events.emit(
            event_type,
            data,
            livemode=found.livemode,
            account_id=found.owner,
            previous=previous,
        )
        return data


def _check_payout_allowed(account: AccountRecord | None, params: Json) -> None:
    """Payouts on, a standard payout, and (connected accounts) a manual payout schedule."""
    if account is not None and not account.data["payouts_enabled"]:
        raise invalid_request(
            "Payouts have been disabled on the connected account. Check the connected "
            "account's status to see if any additional information needs to be provided, "
            "or if payouts have been disabled for another reason.",
            code="payouts_not_allowed",
        )
    if params.get("method") == "instant":
        raise invalid_request(
            "This account is not eligible for Instant Payouts.",
            code="instant_payouts_unsupported",
            param="method",
        )
    if account is not None:
        interval = account.data["settings"]["payouts"]["schedule"]["interval"]
        if interval != "manual":
            # Stripe's code (seen in the wild); the wording is the simulator's own.
            raise invalid_request(
                f"You cannot create standard payouts through the API for the connected "
                f"account {account.id}: its payouts are automatic "
                f"(settings[payouts][schedule][interval] is `{interval}`). Set the interval "
                "to `manual` to create payouts yourself.",
                code="cannot_create_connect_standard_payouts_through_api",
            )


def _payout_bank(owner_data: Json, currency: str, wanted: str | None) -> Json:
    """The external account a payout goes to: the one named, or the one in its currency."""
    external = owner_data["external_accounts"]["data"]
    if wanted is not None:
        named = [b for b in external if b["id"] == wanted]
        if not named:
            raise resource_missing("external account", wanted, param="destination", status=400)
        return dict(named[0])
    banks = [b for b in external if b["currency"] == currency]
    if not banks:
        raise invalid_request(
            f"You don't have any external accounts in that currency ({currency}).",
            param="currency",
        )
    return dict(banks[0])


_SOURCE_TYPE_NAMES = {"card": "card", "bank_account": "bank account", "fpx": "FPX"}

# https://docs.stripe.com/api/payouts/object#payout_object-failure_code
FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "bank_account_restricted": "The bank account has restrictions on either the type, or the "
    "number, of payouts allowed. This normally indicates that the bank account is a savings "
    "or other non-checking account.",
    "bank_ownership_changed": "The destination bank account is no longer valid because its "
    "branch has changed ownership.",
    "could_not_process": "The bank could not process this payout.",
    "debit_not_authorized": "Debit transactions are not approved on the bank account. (Stripe "
    "requires bank accounts to be set up for both credit and debit payouts.)",
    "declined": "The bank has declined this transfer. Please contact the bank before retrying.",
    "incorrect_account_holder_address": "Your bank notified us that the bank account holder "
    "address on file is incorrect.",
    "incorrect_account_holder_name": "Your bank notified us that the bank account holder name "
    "on file is incorrect.",
    "incorrect_account_holder_tax_id": "Your bank notified us that the bank account holder tax "
    "ID on file is incorrect.",
    "incorrect_account_type": "Your bank notified us that the bank account type on file is "
    "incorrect. This value can only be checking or savings in most countries. In Japan, it "
    "can only be futsu or toza.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "invalid_account_number": "The routing number seems correct, but the account number is "
    "invalid.",
    "invalid_account_number_length": "Your bank notified us that the bank account number is "
    "too long.",
    "invalid_currency": "The bank was unable to process this payout because of its currency. "
    "This is probably because the bank account cannot accept payments in that currency.",
    "no_account": "The bank account details on file are probably incorrect. No bank account "
    "could be located with those details.",
    "unsupported_card": "The bank no longer supports payouts to this card.",
}
