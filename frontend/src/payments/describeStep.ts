import type { ConnectStatus, OnboardingStep } from "../backend/client";

/** The onboarding step in words, for the organization's owner or member reading it. */
export function describeStep(status: Pick<ConnectStatus, "status" | "onboarding_step" | "rejection_reason">): string {
  const reason = status.rejection_reason ? ` (${humanizeReason(status.rejection_reason)})` : "";
  const sentences: Record<OnboardingStep, string> = {
    account_creation: "Payouts are not set up yet: connect a Stripe account to receive money.",
    details_submission: "Stripe is waiting for your business and bank details.",
    action_required:
      status.status === "active"
        ? "Payouts work, but Stripe needs more information to keep them running."
        : "Stripe needs more information before payouts can start.",
    under_review:
      status.status === "disabled"
        ? `Stripe has paused the account${reason}.`
        : "Stripe is reviewing your details; this usually takes a few minutes.",
    complete: "Onboarding is complete: you can receive money and pay it out.",
    rejected: `Stripe could not accept the account${reason}.`,
    deauthorized: "The Stripe account was disconnected from the platform.",
  };
  return sentences[status.onboarding_step];
}

function humanizeReason(reason: string): string {
  return reason.replace(/^rejected\./, "rejected: ").replaceAll("_", " ");
}
