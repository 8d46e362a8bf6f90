import type { PayoutFailure } from "../backend/client";
import { formatDate } from "../kit/formatDate";

interface Props {
  failure: PayoutFailure;
  /** Owners and admins get the button that opens Stripe; other members only read why. */
  onFix?: () => void;
  busy?: boolean;
}

/**
 * The organization's last payout failed (the status's `payout_failure`, cleared by the next
 * paid payout made after it): Stripe returned the money to the balance; the owner fixes the bank
 * details at Stripe.
 */
export function PayoutFailureBanner({ failure, onFix, busy = false }: Props) {
  const message = failure.message.replace(/[.\s]+$/, "");
  return (
    <div className="notice notice-error" role="alert" data-testid="payout-failure-banner" data-code={failure.failure_code}>
      <p>
        <strong>Your last payout failed: {message}. Check your bank details.</strong>
      </p>
      <p className="small">The payout of {formatDate(failure.payout_created)} came back to your balance.</p>
      {onFix ? (
        <button type="button" className="primary" disabled={busy} onClick={onFix}>
          {busy ? "Opening Stripe…" : "Update bank details"}
        </button>
      ) : null}
    </div>
  );
}
