import { useId, useRef, useState } from "react";
import type { BackendClient, ReversalMade, TransferItem } from "../backend/client";
import { BackendError } from "../backend/errors";
import { IdempotentAction } from "../backend/idempotency";
import { ErrorNotice } from "../kit/ErrorNotice";
import { formatDate } from "../kit/formatDate";
import { formatAmountInput, formatMoney, parseMoney } from "../kit/money";
import { useAction } from "../kit/useAction";
import { useResource } from "../kit/useResource";

/** Claims read to find those already held on the transfer (the service's page at most). */
const CLAIMS_READ = 100;

interface Props {
  backend: BackendClient;
  /** The organization the transfer went to. */
  orgId: string;
  transfer: TransferItem;
  /** The organization's name, as the confirmation says it. */
  name: string;
  /** Called with the service's answer once the reversal (or the claim) was made. */
  onReversed: (made: ReversalMade) => void;
  onCancel: () => void;
}

/** What is left to take back of a transfer: what it sent less what was already reversed. */
export function remainingOf(transfer: Pick<TransferItem, "net_amount" | "amount_reversed">): number {
  return Math.max(0, transfer.net_amount - transfer.amount_reversed);
}

/**
 * The console's Reverse: a confirmation with the transfer's amount, what was already reversed,
 * the amount to take back (all that remains unless changed) and what will remain, before
 * anything moves. One confirmed reversal has one Idempotency-Key: a retry after a lost answer
 * sends the same key (the service answers the first reversal), the next confirmed one a new key.
 */
export function ReverseTransfer({ backend, orgId, transfer, name, onReversed, onCancel }: Props) {
  const currency = transfer.currency;
  const remaining = remainingOf(transfer);
  // What earlier reversals of it could not take and left as claims: Stripe's unreversed amount
  // does not count them, so the admin sees them before taking back more.
  const claims = useResource(`${orgId}:${transfer.transfer_id}`, () =>
    backend.claims(orgId, { state: "all", limit: CLAIMS_READ }),
  );
  const held = (claims.data?.data ?? []).filter((claim) => claim.transfer_id === transfer.transfer_id);
  const claimed = held.reduce((sum, claim) => sum + claim.amount, 0);
  const stillOpen = held.reduce((sum, claim) => sum + claim.open, 0);
  const reversing = useRef(new IdempotentAction());
  const [amountText, setAmountText] = useState(() => formatAmountInput(remaining, currency));
  const [reason, setReason] = useState("");
  const id = useId();
  const amount = parseMoney(amountText, currency);
  const valid = amount !== null && amount >= 1 && amount <= remaining;
  const money = (minor: number) => formatMoney(minor, currency);

  const reverse = useAction(async (confirmed: { amount: number; reason: string }) => {
    const body = { amount: confirmed.amount, ...(confirmed.reason ? { reason: confirmed.reason } : {}) };
    const made = await reversing.current.run({ transfer: transfer.transfer_id, ...body }, (idempotencyKey) =>
      backend.reverseTransfer(transfer.transfer_id, body, { idempotencyKey }),
    );
    onReversed(made);
  });

  const failure = reverse.error;
  const retryable = failure instanceof BackendError && failure.transient;
  return (
    <div className="confirm" role="group" aria-label="Confirm the reversal" data-testid="reversal-confirmation">
      <p>
        <strong>
          Take money back of {name}'s transfer{transfer.created ? ` of ${formatDate(transfer.created)}` : ""}?
        </strong>{" "}
        Nothing moves until you confirm. If {name}'s balance cannot cover it, what it cannot is recorded as a
        claim, settled from its next transfers.
      </p>
      <dl className="split">
        <dt>Transfer</dt>
        <dd>
          <code className="small">{transfer.transfer_id}</code>
        </dd>
        <dt>Amount sent</dt>
        <dd data-testid="reverse-sent">{money(transfer.net_amount)}</dd>
        <dt>Already reversed</dt>
        <dd data-testid="reverse-already">{money(transfer.amount_reversed)}</dd>
        {claimed > 0 ? (
          <>
            <dt>Already claimed (the balance could not cover it)</dt>
            <dd data-testid="reverse-claimed">
              {money(claimed)} <span className="muted small">({money(stillOpen)} still open)</span>
            </dd>
          </>
        ) : null}
        <dt>
          <label htmlFor={`${id}-amount`}>Amount to reverse</label>
        </dt>
        <dd>
          <input
            id={`${id}-amount`}
            name="reverse-amount"
            inputMode="decimal"
            size={10}
            value={amountText}
            disabled={reverse.busy}
            onChange={(e) => {
              setAmountText(e.target.value);
              reverse.clearError();
            }}
            aria-invalid={!valid}
          />
        </dd>
        <dt>
          <label htmlFor={`${id}-reason`}>Reason (optional)</label>
        </dt>
        <dd>
          <input
            id={`${id}-reason`}
            name="reverse-reason"
            size={24}
            maxLength={200}
            value={reason}
            disabled={reverse.busy}
            onChange={(e) => setReason(e.target.value)}
          />
        </dd>
        <dt>Will remain to reverse</dt>
        <dd data-testid="reverse-remains">
          <strong>{valid ? money(remaining - amount) : "—"}</strong>
        </dd>
      </dl>
      {claims.state === "failed" ? (
        <p className="muted small" data-testid="reverse-claims-unknown">
          The claims already held on this transfer could not be read.
        </p>
      ) : null}
      {!valid ? (
        <p className="notice notice-error" role="alert">
          Enter an amount from {money(Math.min(1, remaining))} to {money(remaining)}.
        </p>
      ) : null}
      {failure ? <ErrorNotice error={failure} /> : null}
      <div className="actions">
        <button
          type="button"
          className="primary"
          disabled={reverse.busy || !valid}
          onClick={() => valid && void reverse.run({ amount, reason: reason.trim() })}
        >
          {reverse.busy ? "Reversing…" : retryable ? "Try again" : "Confirm reversal"}
        </button>
        <button type="button" disabled={reverse.busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** What the service says it did: a reversal, or a claim where the balance could not cover it. */
export function ReversalResult({ made, name }: { made: ReversalMade; name: string }) {
  const money = (amount: number) => formatMoney(amount, made.currency);
  if (made.reversal_id === null) {
    return (
      <p className="notice notice-info" role="status" data-testid="reversal-result" data-outcome="claim">
        {name}'s balance could not cover {money(made.amount)}: recorded as claim <code>{made.claim_id}</code>, which
        its next transfers settle first (transfer {made.transfer_id}).
      </p>
    );
  }
  return (
    <p className="notice notice-ok" role="status" data-testid="reversal-result" data-outcome="reversal">
      Reversed {money(made.amount)} of transfer {made.transfer_id} (reversal {made.reversal_id}): {money(made.amount_reversed)}{" "}
      reversed in all, {money(made.remaining)} remains.
    </p>
  );
}
