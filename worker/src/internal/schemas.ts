import { z } from "zod";
import {
  decodeClaimCursor,
  decodeCursor,
  decodeDeadlineCursor,
  decodeSyncCursor,
  type ClaimPosition,
  type DeadlineCursor,
  type SyncCursor,
} from "./cursor";

/** Contract enums (worker-internal-api.md). */
export const CONNECT_STATUSES = ["pending", "active", "disabled"] as const;
export const ONBOARDING_STEPS = [
  "account_creation",
  "details_submission",
  "under_review",
  "action_required",
  "complete",
  "rejected",
  "deauthorized",
] as const;
export const MEMBER_ROLES = ["owner", "admin", "member"] as const;
/** The Stripe API an organization's account is used through (migrations/0008). */
export const ACCOUNT_APIS = ["v1", "v2"] as const;

export type ConnectStatus = (typeof CONNECT_STATUSES)[number];
export type OnboardingStep = (typeof ONBOARDING_STEPS)[number];
export type MemberRole = (typeof MEMBER_ROLES)[number];
export type AccountApi = (typeof ACCOUNT_APIS)[number];

/**
 * The Connect columns' defaults, as migrations/0002 declares them (a test holds the migration
 * and the contract to these): a row that predates a column answers with its default.
 */
export const DEFAULT_PLATFORM_FEE_PERCENT = 10.0;
export const DEFAULT_ONBOARDING_STEP: OnboardingStep = "account_creation";

const id = z.string().min(1).max(255);
const utcTimestamp = z.iso.datetime({ offset: true });

export const verifyUserContextRequest = z.strictObject({
  session_token: z.string().min(1).max(4096),
  organization_id: id.nullable().optional(),
});

export const organizationUpdates = z
  .strictObject({
    stripe_connect_status: z.enum(CONNECT_STATUSES).nullable().optional(),
    onboarding_step: z.enum(ONBOARDING_STEPS).optional(),
    onboarding_rejection_reason: z.string().max(1000).nullable().optional(),
    platform_fee_percent: z.number().min(0).max(100).optional(),
    /** Stripe's requirements deadline (migrations/0009): only with a view (`synced_at`). */
    stripe_connect_requirements_deadline: utcTimestamp.nullable().optional(),
  })
  .refine((updates) => Object.keys(updates).length > 0, {
    message: "must hold at least one field",
  });

export const updateOrganizationRequest = z
  .strictObject({
    organization_id: id,
    updates: organizationUpdates,
    synced_at: utcTimestamp.nullable().optional(),
    /**
     * The account the caller's view describes: the write applies only while the organization
     * still holds it (see db.updateOrganization). Any id-like text; the stored one is compared.
     */
    expected_account_id: id.optional(),
  })
  .superRefine((body, ctx) => {
    // The deadline is part of Stripe's view of the account: an unordered write could land a
    // stale one over a newer view, so it comes only with the view's `synced_at`.
    if ("stripe_connect_requirements_deadline" in body.updates && !body.synced_at) {
      ctx.addIssue({
        code: "custom",
        path: ["updates", "stripe_connect_requirements_deadline"],
        message: "only with synced_at (it is part of Stripe's view of the account)",
      });
    }
  });

const accountId = z
  .string()
  .max(255)
  .regex(/^acct_[A-Za-z0-9_]+$/, "must look like acct_…");

export const createConnectAccountRequest = z
  .strictObject({
    organization_id: id,
    stripe_connect_account_id: accountId,
    /** Swap a deauthorized link to this account for the new one (see db.linkConnectAccount). */
    replace_account_id: accountId.optional(),
    /** The Stripe API the account was made through, recorded with the link (default v1). */
    account_api: z.enum(ACCOUNT_APIS).optional(),
  })
  .refine((body) => body.replace_account_id !== body.stripe_connect_account_id, {
    message: "must differ from stripe_connect_account_id",
    path: ["replace_account_id"],
  });

/** What an idempotency record may be for (migrations/0004). */
export const IDEMPOTENCY_OPERATIONS = ["transfer", "payout", "reversal"] as const;
export type IdempotencyOperation = (typeof IDEMPOTENCY_OPERATIONS)[number];
/** The largest `decision` a record keeps, in bytes of its JSON text. */
export const MAX_DECISION_BYTES = 8 * 1024;

const encoder = new TextEncoder();

/** Which record: an organization's operation under the caller's Idempotency-Key. */
const idempotencyKeyRef = {
  organization_id: id,
  operation: z.enum(IDEMPOTENCY_OPERATIONS),
  key: z.string().min(1).max(255),
};

export const claimIdempotencyKeyRequest = z.strictObject({
  ...idempotencyKeyRef,
  fingerprint: z.string().min(1).max(128),
  decision: z
    .record(z.string(), z.unknown())
    .refine((decision) => encoder.encode(JSON.stringify(decision)).length <= MAX_DECISION_BYTES, {
      message: `must be at most ${MAX_DECISION_BYTES} bytes as JSON`,
    }),
});

export const completeIdempotencyKeyRequest = z.strictObject({
  ...idempotencyKeyRef,
  stripe_object_id: z.string().min(1).max(255),
});

export const releaseIdempotencyKeyRequest = z.strictObject(idempotencyKeyRef);

/** A `limit` query parameter: a whole number within `bounds`, optional. */
function pageLimit(bounds: { min: number; max: number }) {
  return z
    .string()
    .refine((value) => /^[0-9]{1,9}$/.test(value) && +value >= bounds.min && +value <= bounds.max, {
      message: `must be a whole number from ${bounds.min} to ${bounds.max}`,
    })
    .transform(Number)
    .optional();
}

/** `GET /organizations`: the page size's bounds and default. */
export const PAGE_LIMIT = { min: 1, max: 200, default: 50 } as const;
/** `GET /organizations?status=`: a Connect status, or `not_started` for no account. */
export const STATUS_FILTERS = ["not_started", ...CONNECT_STATUSES] as const;

/**
 * `GET /organizations?order=`: by id (the default), by last sync either way, or by the
 * requirements deadline (nearest first, none last; then by last sync).
 */
export const LIST_ORDERS = ["id", "synced_at", "-synced_at", "deadline"] as const;
/** `GET /organizations?name=`: the longest name prefix searched for. */
export const NAME_FILTER_MAX = 200;

const trueOrFalse = z
  .enum(["true", "false"])
  .transform((value) => value === "true")
  .optional();

/** The filters `GET /organizations` and `GET /organization-counts` share. */
const organizationFilters = {
  status: z.enum(STATUS_FILTERS).optional(),
  linked: trueOrFalse,
  step: z.enum(ONBOARDING_STEPS).optional(),
  unsettled: trueOrFalse,
  synced_before: utcTimestamp.transform((value) => new Date(value).toISOString()).optional(),
  name: z.string().min(1).max(NAME_FILTER_MAX).optional(),
};

/** Where a page starts, as the cursor says: after an id (id order), a last-sync or a deadline position. */
export type ListCursor = { after: string } | SyncCursor | DeadlineCursor;

/** The query of `GET /organizations` (each parameter at most once: `queryParams` in validators.ts). */
export const listOrganizationsQuery = z
  .strictObject({
    limit: pageLimit(PAGE_LIMIT),
    cursor: z
      .string()
      .transform((value, ctx): ListCursor => {
        const after = decodeCursor(value);
        if (after !== null) return { after };
        const position = decodeSyncCursor(value) ?? decodeDeadlineCursor(value);
        if (position !== null) return position;
        ctx.addIssue({ code: "custom", message: "not a cursor this API gave out" });
        return z.NEVER;
      })
      .optional(),
    order: z.enum(LIST_ORDERS).optional(),
    ...organizationFilters,
  })
  .superRefine((query, ctx) => {
    if (query.cursor === undefined) return;
    const cursorOrder = "order" in query.cursor ? query.cursor.order : "id";
    if (cursorOrder !== (query.order ?? "id")) {
      ctx.addIssue({ code: "custom", path: ["cursor"], message: "a cursor of another order" });
    }
  });

/** The query of `GET /organization-counts`: the list's filters but `status` (it counts per status). */
export const organizationCountsQuery = z.strictObject({
  linked: organizationFilters.linked,
  step: organizationFilters.step,
  unsettled: organizationFilters.unsettled,
  synced_before: organizationFilters.synced_before,
  name: organizationFilters.name,
});

/** Why a claim exists (migrations/0005): the refused reversal's cause. */
export const CLAIM_CAUSES = ["refund", "dispute", "manual"] as const;
/**
 * What settled part of a claim: a transfer sent net of it, a later reversal, or a won dispute
 * that voided what the claim still held (`waived`, migrations/0006).
 */
export const SETTLEMENT_KINDS = ["transfer", "reversal", "waived"] as const;
/** `GET /claims?state=`: only claims with something left, or every claim. */
export const CLAIM_STATES = ["open", "all"] as const;
/** `GET /claims`: the page size's bounds and default. */
export const CLAIM_PAGE_LIMIT = { min: 1, max: 200, default: 100 } as const;
export type ClaimCause = (typeof CLAIM_CAUSES)[number];
export type SettlementKind = (typeof SETTLEMENT_KINDS)[number];

/** An amount in minor units: a whole number, at least 1, exact in a double. */
const minorUnits = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[a-z]{3}$/, "must be three lowercase letters");

export const recordClaimRequest = z.strictObject({
  organization_id: id,
  amount: minorUnits,
  currency,
  cause: z.enum(CLAIM_CAUSES),
  cause_id: id,
  transfer_id: id,
});

export const settleClaimRequest = z.strictObject({
  key: id,
  amount: minorUnits,
  kind: z.enum(SETTLEMENT_KINDS),
});

/**
 * `POST /claims/settlements/release`: an organization's `transfer` settlements under one key
 * (a transfer sent net of claims that Stripe then refused) are undone.
 */
export const releaseClaimSettlementsRequest = z.strictObject({
  organization_id: id,
  key: id,
});

/** What became of a payout (`payout.failed`, `payout.paid`). */
export const PAYOUT_OUTCOMES = ["failed", "paid"] as const;
export type PayoutOutcome = (typeof PAYOUT_OUTCOMES)[number];

/**
 * `POST /payout-outcome`: the payout's own `created` orders the writes (db.recordPayoutOutcome);
 * `failure_code` and `failure_message` are Stripe's, kept for a failure only.
 */
export const payoutOutcomeRequest = z
  .strictObject({
    organization_id: id,
    payout_id: id,
    outcome: z.enum(PAYOUT_OUTCOMES),
    payout_created: utcTimestamp,
    failure_code: z.string().min(1).max(255).nullable().optional(),
    failure_message: z.string().max(1000).nullable().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.outcome !== "paid") return;
    for (const field of ["failure_code", "failure_message"] as const) {
      if (body[field] != null) {
        ctx.addIssue({ code: "custom", message: "only a failed payout has one", path: [field] });
        return;
      }
    }
  });

/** The query of `GET /claims` (each parameter at most once: `queryParams` in validators.ts). */
export const listClaimsQuery = z.strictObject({
  organization_id: id.optional(),
  state: z.enum(CLAIM_STATES).optional(),
  currency: currency.optional(),
  limit: pageLimit(CLAIM_PAGE_LIMIT),
  cursor: z
    .string()
    .transform((value, ctx): ClaimPosition => {
      const after = decodeClaimCursor(value);
      if (after === null) {
        ctx.addIssue({ code: "custom", message: "not a cursor this API gave out" });
        return z.NEVER;
      }
      return after;
    })
    .optional(),
});

export type RecordClaimRequest = z.infer<typeof recordClaimRequest>;
export type SettleClaimRequest = z.infer<typeof settleClaimRequest>;
export type ListClaimsQuery = z.infer<typeof listClaimsQuery>;
export type ReleaseClaimSettlementsRequest = z.infer<typeof releaseClaimSettlementsRequest>;
export type PayoutOutcomeRequest = z.infer<typeof payoutOutcomeRequest>;

export type VerifyUserContextRequest = z.infer<typeof verifyUserContextRequest>;
export type OrganizationUpdates = z.infer<typeof organizationUpdates>;
export type UpdateOrganizationRequest = z.infer<typeof updateOrganizationRequest>;
export type CreateConnectAccountRequest = z.infer<typeof createConnectAccountRequest>;
export type ListOrganizationsQuery = z.infer<typeof listOrganizationsQuery>;
export type ClaimIdempotencyKeyRequest = z.infer<typeof claimIdempotencyKeyRequest>;
export type IdempotencyKeyRef = z.infer<typeof releaseIdempotencyKeyRequest>;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

/** The first offending field of a refused body or query: its path and one line naming it. */
export interface Issue {
  /** The field's path, dot-joined (`updates.platform_fee_percent`); `body` for the body itself. */
  param: string;
  /** e.g. `invalid field "updates.platform_fee_percent": …`. */
  message: string;
}

/** Names the first offending field, e.g. `invalid field "updates.platform_fee_percent": …`. */
export function describeIssue(error: z.ZodError): Issue {
  const issue = error.issues[0];
  if (!issue) return { param: "body", message: "invalid request body" };
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const param = [...path, issue.keys[0]].join(".");
    return { param, message: `invalid field "${param}": unknown field` };
  }
  const param = path.length > 0 ? path.join(".") : "body";
  return { param, message: `invalid field "${param}": ${issue.message}` };
}
