import { useId, useRef, useState, type FormEvent } from "react";
import type { BackendClient, ConnectStatus, Transfer } from "../backend/client";
import { BackendError } from "../backend/errors";
import { IdempotentAction } from "../backend/idempotency";
import { ErrorNotice } from "../kit/ErrorNotice";
import { formatPercent } from "../kit/formatPercent";
import { formatMoney, parseMoney } from "../kit/money";
import { useAction } from "../kit/useAction";
import { useResource } from "../kit/useResource";
import { splitFee, type FeeSplit } from "./splitFee";

interface Props {
  backend: BackendClient;
  organization: ConnectStatus;
  /** The organization's name, as the confirmation and the result say it. */
  name: string;
  /** Called after the service made a transfer. */
  onSent: () => void;
  /** Changes when the organization's claims may have changed (read again). */
  claimsVersion?: number;
}

/** What the admin is about to confirm: the amount and the fee preview it was shown with. */
interface Review {
  amount: number;
  currency: string;
  percent: number;
  split: FeeSplit;
  /** What of the net settles the organization's open claims (oldest first) instead of being sent. */
  claims: number;
}

/**
 * Sends money to the organization in two steps: the amount, then a confirmation showing gross,
 * fee and net (the service's rule, computed here), and what of the net settles the
 * organization's open claims in that currency (the service settles them first, so that part is
 * not sent), before anything moves. One confirmed
 * transfer has one Idempotency-Key: every retry of it (a lost answer, 5xx, 429) sends the same
 * key, so the money moves at most once; the next confirmed transfer gets a new one.
 */
export function TransferForm({ backend, organization, name, onSent, claimsVersion = 0 }: Props) {
  const orgId = organization.organization_id;
  // The open totals per currency: what the next transfer's net settles first.
  const owed = useResource(`${orgId}:${claimsVersion}`, () => backend.claims(orgId, { state: "open", limit: 1 }));
  const transferring = useRef(new IdempotentAction());
  const [amountText, setAmountText] = useState("");
  const [currency, setCurrency] = useState("usd");
  const [invalid, setInvalid] = useState(false);
  const [review, setReview] = useState<Review | null>(null);
  const [sent, setSent] = useState<Transfer | null>(null);
  const id = useId();

  const send = useAction(async (confirmed: Review) => {
    const body = { organization_id: orgId, amount: confirmed.amount, currency: confirmed.currency };
    const made = await transferring.current.run(body, (idempotencyKey) => backend.transfer(body, { idempotencyKey }));
    setSent(made);
    setReview(null);
    setAmountText("");
    onSent();
  });

  const prepare = (event: FormEvent) => {
    event.preventDefault();
    const code = currency.trim().toLowerCase();
    const amount = /^[a-z]{3}$/.test(code) ? parseMoney(amountText, code) : null;
    const valid = amount !== null && amount >= 1;
    setInvalid(!valid);
    setSent(null);
    send.clearError();
    if (!valid) return;
    const percent = organization.platform_fee_percent;
    const split = splitFee(amount, percent);
    const open = owed.data?.totals.find((total) => total.currency === code)?.open ?? 0;
    setReview({ amount, currency: code, percent, split, claims: Math.min(open, Math.max(split.net, 0)) });
  };

  const cancel = () => {
    // The action's key stays if its last attempt got no answer: confirming the same transfer
    // again then reuses it, and the service returns the first transfer if it was made.
    setReview(null);
    send.clearError();
  };

  const failure = send.error;
  const retryable = failure instanceof BackendError && failure.transient;
  return (
    <div className="transfer">
      <h3>Send a transfer</h3>
      <form className="schedule" onSubmit={prepare} aria-label="Transfer">
        <label htmlFor={`${id}-amount`}>Amount</label>
        <input
          id={`${id}-amount`}
          name="amount"
          inputMode="decimal"
          placeholder="100.00"
          size={10}
          value={amountText}
          disabled={review !== null}
          onChange={(e) => setAmountText(e.target.value)}
          aria-invalid={invalid}
        />
        <label htmlFor={`${id}-currency`}>Currency</label>
        <input
          id={`${id}-currency`}
          name="currency"
          size={4}
          maxLength={3}
          value={currency}
          disabled={review !== null}
          onChange={(e) => setCurrency(e.target.value)}
        />
        <button type="submit" disabled={review !== null}>
          Review transfer
        </button>
      </form>
      {invalid ? (
        <p className="notice notice-error" role="alert">
          Enter an amount like 100.00 and a three-letter currency.
        </p>
      ) : null}
      {review ? (
        <div className="confirm" role="group" aria-label="Confirm the transfer" data-testid="transfer-confirmation">
          <p>
            <strong>Send this transfer to {name}?</strong> Nothing moves until you confirm.
          </p>
          <dl className="split">
            <dt>Gross</dt>
            <dd data-testid="preview-gross">{formatMoney(review.split.gross, review.currency)}</dd>
            <dt>Platform fee ({formatPercent(review.percent)})</dt>
            <dd data-testid="preview-fee">− {formatMoney(review.split.fee, review.currency)}</dd>
            {review.claims > 0 ? (
              <>
                <dt>Settles what {name} owes (open claims)</dt>
                <dd data-testid="preview-claims">− {formatMoney(review.claims, review.currency)}</dd>
              </>
            ) : null}
            <dt>The organization receives</dt>
            <dd data-testid="preview-net">
              <strong>{formatMoney(review.split.net - review.claims, review.currency)}</strong>
            </dd>
          </dl>
          {owed.state === "failed" ? (
            <p className="muted small" data-testid="preview-claims-unknown">
              What {name} owes could not be read: any open claims are settled from this net first.
            </p>
          ) : null}
          {review.claims > 0 && review.claims === review.split.net ? (
            <p className="notice notice-info">
              The claims take the whole net: nothing is sent, and what {name} owes goes down by it.
            </p>
          ) : null}
          {review.split.net <= 0 ? (
            <p className="notice notice-error">The fee takes the whole amount: there is nothing to send.</p>
          ) : null}
          {failure ? <ErrorNotice error={failure} /> : null}
          <div className="actions">
            <button
              type="button"
              className="primary"
              disabled={send.busy || review.split.net <= 0}
              onClick={() => void send.run(review)}
            >
              {send.busy ? "Sending…" : retryable ? "Try again" : "Confirm transfer"}
            </button>
            <button type="button" disabled={send.busy} onClick={cancel}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {sent ? <TransferResult sent={sent} name={name} /> : null}
    </div>
  );
}

/** What the service says it sent, and what of the net settled the organization's claims. */
function TransferResult({ sent, name }: { sent: Transfer; name: string }) {
  const money = (amount: number) => formatMoney(amount, sent.currency);
  const fee = `${money(sent.gross_amount)} less the ${formatPercent(sent.platform_fee_percent)} fee of ${money(sent.fee_amount)}`;
  const claims = sent.claims_settled > 0 ? `, less ${money(sent.claims_settled)} that settled what ${name} owed` : "";
  return (
    <p className="notice notice-ok" role="status" data-testid="transfer-result">
      {sent.transfer_id === null
        ? `Nothing sent to ${name}: ${fee} settled ${money(sent.claims_settled)} of what it owed.`
        : `Sent ${money(sent.transfer_amount)} to ${name}: ${fee}${claims} (transfer ${sent.transfer_id}).`}
    </p>
  );
}
