/** Words and numbers for the payments settings: statuses, steps, requirements, money, dates. */
import type { ConnectStatus, OnboardingStep, StatusName } from "../backend/client";

export const STATUS_LABELS: Record<StatusName, string> = {
  not_started: "Not started",
  pending: "Pending",
  active: "Active",
  disabled: "Disabled",
};

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

const REQUIREMENT_LABELS: Record<string, string> = {
  external_account: "Bank account for payouts",
  "business_profile.url": "Business website",
  "business_profile.mcc": "Business category",
  "business_profile.product_description": "What your business sells",
  business_type: "Business type",
  "tos_acceptance.date": "Acceptance of Stripe's terms",
  "tos_acceptance.ip": "Acceptance of Stripe's terms",
  "individual.verification.document": "Identity document",
  "individual.id_number": "ID number",
  "individual.ssn_last_4": "Last 4 digits of SSN",
  "individual.dob.day": "Date of birth",
  "individual.dob.month": "Date of birth",
  "individual.dob.year": "Date of birth",
  "individual.first_name": "First name",
  "individual.last_name": "Last name",
  "individual.email": "Email",
  "individual.phone": "Phone number",
  "company.tax_id": "Company tax ID",
  "company.name": "Company name",
};

/** A Stripe requirement (`individual.address.city`) in words, e.g. "Individual: address city". */
export function describeRequirement(field: string): string {
  const known = REQUIREMENT_LABELS[field];
  if (known) return known;
  const [head, ...rest] = field.split(".");
  const words = (part: string) => part.replaceAll("_", " ");
  const first = words(head ?? field);
  const title = first.charAt(0).toUpperCase() + first.slice(1);
  return rest.length ? `${title}: ${rest.map(words).join(" ")}` : title;
}

/** Requirement labels without repeats, in the order Stripe listed the fields. */
export function describeRequirements(fields: readonly string[]): string[] {
  return [...new Set(fields.map(describeRequirement))];
}

function humanizeReason(reason: string): string {
  return reason.replace(/^rejected\./, "rejected: ").replaceAll("_", " ");
}

function currencyFormat(currency: string): Intl.NumberFormat | null {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
  } catch {
    return null;
  }
}

/** How many minor units a currency's major unit has, as a power of ten (usd 2, jpy 0). */
export function minorDigits(currency: string): number | null {
  const format = currencyFormat(currency);
  return format ? (format.resolvedOptions().maximumFractionDigits ?? 2) : null;
}

/** An amount in minor units as money, e.g. (9000, "usd") → "$90.00". */
export function formatMoney(amount: number, currency: string): string {
  const format = currencyFormat(currency);
  const digits = minorDigits(currency);
  if (!format || digits === null) return `${amount} ${currency.toUpperCase()} (minor units)`;
  return format.format(amount / 10 ** digits);
}

/**
 * What a person typed as money ("100", "100.5", "100.50") in minor units (10050 for usd),
 * or null when it is not a plain amount with at most the currency's decimals.
 */
export function parseMoney(text: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (digits === null || !match) return null;
  const [, whole = "", fraction = ""] = match;
  if (fraction.length > digits) return null;
  const minor = Number(whole + fraction.padEnd(digits, "0"));
  return Number.isSafeInteger(minor) ? minor : null;
}

/** A fee percent as people read it: 10 → "10 %", 12.5 → "12.5 %". */
export function formatPercent(percent: number): string {
  return `${percent} %`;
}

/** An ISO 8601 timestamp as a date and time in the reader's locale. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** An ISO 8601 timestamp as a date in the reader's locale. */
export function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleDateString(undefined, { dateStyle: "medium" });
}
