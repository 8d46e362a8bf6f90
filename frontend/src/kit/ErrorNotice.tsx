import { BackendError, NETWORK_ERROR } from "../backend/errors";

/** Words for the service's error codes a person can act on; others show the service's message. */
const MESSAGES: Record<string, string> = {
  [NETWORK_ERROR]: "The payments service could not be reached. Check your connection and try again.",
  upstream_unavailable: "Payments are briefly unavailable. Please try again in a moment.",
  unauthorized: "Your session has ended. Please sign in again.",
  forbidden: "Only the organization's owners and admins can do this.",
  not_onboarded: "Set up payouts first.",
  insufficient_balance: "There is nothing available to pay out yet.",
  account_not_active: "Finish onboarding first.",
  account_inaccessible: "The Stripe account is no longer connected to the platform.",
  claims_changed: "What the organization owes changed while the transfer was decided; nothing was sent. Try again.",
  reversal_exceeds_transfer: "That is more than remains of the transfer: refresh its history and try a smaller amount.",
  rate_limited: "Too many attempts. Please wait a minute and try again.",
  accounts_v2_not_enabled:
    "Payouts cannot be set up right now: the platform's Stripe settings do not allow it yet. Please contact the platform's support.",
};

/** What went wrong, in words, with the request id for support. */
export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const backend = error instanceof BackendError ? error : null;
  const message =
    (backend && MESSAGES[backend.code]) ??
    (error instanceof Error ? error.message : "Something went wrong.");
  return (
    <div className="notice notice-error" role="alert" data-code={backend?.code}>
      <span>{message}</span>
      {backend?.requestId ? <small className="request-id"> (request {backend.requestId})</small> : null}
      {onRetry ? (
        <button type="button" className="link" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
