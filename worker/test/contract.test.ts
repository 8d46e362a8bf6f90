import { describe, expect, it } from "vitest";
import contract from "../../contract/worker-internal-api.openapi.json";
import { createInternalApi } from "../src/internal";
import type { ErrorCode } from "../src/internal/errors";
import {
  CLAIM_CAUSES,
  CLAIM_PAGE_LIMIT,
  CLAIM_STATES,
  CONNECT_STATUSES,
  IDEMPOTENCY_OPERATIONS,
  LIST_ORDERS,
  MEMBER_ROLES,
  NAME_FILTER_MAX,
  ONBOARDING_STEPS,
  PAGE_LIMIT,
  PAYOUT_OUTCOMES,
  SETTLEMENT_KINDS,
  STATUS_FILTERS,
} from "../src/internal/schemas";
import { matches } from "./contract";
import { UNLINKED } from "./helpers";

const organization = { id: "org_1", name: "Acme", slug: "acme", ...UNLINKED };
const FAILURE = {
  payout_id: "po_1",
  failure_code: "account_closed",
  failure_message: "The bank account has been closed.",
  payout_created: "2026-11-26T10:00:00.000Z",
};

describe("the contract file", () => {
  it("describes exactly the routes the module serves", () => {
    const app = createInternalApi({ getSession: async () => null });
    const served = app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} /api/internal${route.path.replace(/:(\w+)/g, "{$1}")}`)
      .sort();
    const described = Object.entries(contract.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(served).toEqual(described);
  });

  it("names the components the Python client validates against", () => {
    for (const name of [
      "Organization",
      "VerifyUserContextRequest",
      "VerifyUserContextResponse",
      "OrganizationResponse",
      "UpdateOrganizationRequest",
      "UpdateOrganizationResponse",
      "CreateConnectAccountRequest",
      "CreateConnectAccountResponse",
      "HealthResponse",
      "OrganizationPage",
      "Error",
      "AlreadyLinkedError",
      "IdempotencyRecord",
      "ClaimIdempotencyKeyRequest",
      "ClaimIdempotencyKeyResponse",
      "CompleteIdempotencyKeyRequest",
      "IdempotencyRecordResponse",
      "ReleaseIdempotencyKeyRequest",
      "ReleaseIdempotencyKeyResponse",
      "IdempotencyMismatchError",
      "Claim",
      "ClaimSettlement",
      "ClaimTotal",
      "RecordClaimRequest",
      "RecordClaimResponse",
      "ClaimPage",
      "SettleClaimRequest",
      "SettleClaimResponse",
      "ClaimExceededError",
      "PayoutFailure",
      "PayoutOutcomeRequest",
      "PayoutOutcomeResponse",
      "ReleaseClaimSettlementsRequest",
      "ReleaseClaimSettlementsResponse",
    ]) {
      expect(contract.components.schemas).toHaveProperty(name);
    }
  });

  it("holds the module's enums and the page limit's bounds", () => {
    const { schemas } = contract.components;
    expect([...CONNECT_STATUSES]).toEqual(schemas.ConnectStatus.enum);
    expect([...ONBOARDING_STEPS]).toEqual(schemas.OnboardingStep.enum);
    expect([...MEMBER_ROLES]).toEqual(schemas.MemberRole.enum);
    expect([...STATUS_FILTERS]).toEqual(schemas.OrganizationStatusFilter.enum);
    expect([...LIST_ORDERS]).toEqual(schemas.OrganizationOrder.enum);
    expect(Object.keys(schemas.OrganizationCounts.properties.by_status.properties)).toEqual([...STATUS_FILTERS]);
    const name = contract.paths["/api/internal/organizations"].get.parameters.find((p) => "name" in p && p.name === "name");
    expect(name && "schema" in name ? name.schema : null).toEqual({ type: "string", minLength: 1, maxLength: NAME_FILTER_MAX });
    expect([...IDEMPOTENCY_OPERATIONS]).toEqual(schemas.IdempotencyOperation.enum);
    expect([...CLAIM_CAUSES]).toEqual(schemas.ClaimCause.enum);
    expect([...SETTLEMENT_KINDS]).toEqual(schemas.SettlementKind.enum);
    expect([...CLAIM_STATES]).toEqual(schemas.ClaimState.enum);
    expect([...PAYOUT_OUTCOMES]).toEqual(schemas.PayoutOutcome.enum);
    // Every code the module may answer is in the contract (the type is checked, the list here).
    const codes: Record<ErrorCode, true> = {
      unauthorized: true,
      invalid_request: true,
      invalid_session: true,
      not_a_member: true,
      not_found: true,
      already_linked: true,
      not_deauthorized: true,
      account_in_use: true,
      idempotency_mismatch: true,
      claim_exceeded: true,
      d1_unavailable: true,
      misconfigured: true,
      internal_error: true,
    };
    expect(Object.keys(codes).sort()).toEqual([...schemas.ErrorCode.enum].sort());
    const limit = contract.paths["/api/internal/organizations"].get.parameters.find((p) => "name" in p && p.name === "limit");
    expect(limit && "schema" in limit ? limit.schema : null).toEqual({ type: "integer", minimum: PAGE_LIMIT.min, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default });
    const claimLimit = contract.paths["/api/internal/claims"].get.parameters.find((p) => "name" in p && p.name === "limit");
    expect(claimLimit && "schema" in claimLimit ? claimLimit.schema : null).toEqual({
      type: "integer",
      minimum: CLAIM_PAGE_LIMIT.min,
      maximum: CLAIM_PAGE_LIMIT.max,
      default: CLAIM_PAGE_LIMIT.default,
    });
  });

  // The validator the tests rely on must reject what the contract forbids.
  it("accepts a well-formed organization", () => {
    expect(matches("Organization", organization)).toBe(true);
    expect(matches("Organization", { ...organization, stripe_connect_status: "active", stripe_connect_synced_at: "2026-11-26T10:00:00.000Z" })).toBe(true);
    expect(matches("Organization", { ...organization, payout_failure: FAILURE })).toBe(true);
    expect(matches("Organization", { ...organization, payout_failure: { ...FAILURE, failure_code: null, failure_message: null } })).toBe(true);
    expect(matches("Organization", { ...organization, stripe_connect_account_id: "acct_1", stripe_connect_account_api: "v2" })).toBe(true);
  });

  it.each([
    ["a missing field", (({ slug: _slug, ...rest }) => rest)(organization)],
    ["an extra field", { ...organization, logo: null }],
    ["an unknown status", { ...organization, stripe_connect_status: "paused" }],
    ["an unknown step", { ...organization, onboarding_step: "done" }],
    ["a fee as text", { ...organization, platform_fee_percent: "10" }],
    ["a timestamp without milliseconds", { ...organization, stripe_connect_synced_at: "2026-11-26T10:00:00Z" }],
    ["an unknown account API", { ...organization, stripe_connect_account_id: "acct_1", stripe_connect_account_api: "v3" }],
    ["a timestamp with an offset", { ...organization, stripe_connect_synced_at: "2026-11-26T10:00:00.000+01:00" }],
    ["no payout_failure", (({ payout_failure: _p, ...rest }) => rest)(organization)],
    ["a payout failure without its created", { ...organization, payout_failure: { ...FAILURE, payout_created: undefined } }],
    ["a payout failure with an extra field", { ...organization, payout_failure: { ...FAILURE, amount: 1 } }],
  ])("rejects an organization with %s", (_what, value) => {
    expect(matches("Organization", value)).toBe(false);
  });

  it("checks a page of organizations", () => {
    expect(matches("OrganizationPage", { organizations: [organization], next_cursor: "abc" })).toBe(true);
    expect(matches("OrganizationPage", { organizations: [], next_cursor: null })).toBe(true);
    expect(matches("OrganizationPage", { organizations: [] })).toBe(false);
    expect(matches("OrganizationPage", { organizations: [], next_cursor: "" })).toBe(false);
    expect(matches("OrganizationPage", { organizations: [{ id: "x" }], next_cursor: null })).toBe(false);
  });

  it("checks the counts of organizations", () => {
    const byStatus = { not_started: 1, pending: 2, active: 3, disabled: 0 };
    expect(matches("OrganizationCounts", { total: 6, by_status: byStatus })).toBe(true);
    expect(matches("OrganizationCounts", { total: 6, by_status: { ...byStatus, paused: 1 } })).toBe(false);
    expect(matches("OrganizationCounts", { total: -1, by_status: byStatus })).toBe(false);
    expect(matches("OrganizationCounts", { by_status: byStatus })).toBe(false);
  });

  it("rejects error bodies of another shape", () => {
    expect(matches("Error", { error: { code: "not_found", message: "x" } })).toBe(true);
    expect(matches("Error", { error: { code: "not_found" } })).toBe(false);
    expect(matches("Error", { error: { code: "teapot", message: "x" } })).toBe(false);
    expect(matches("Error", { code: "not_found", message: "x" })).toBe(false);
    expect(matches("AlreadyLinkedError", { error: { code: "already_linked", message: "x" } })).toBe(false);
    expect(matches("Error", { error: { code: "invalid_request", message: "x", param: "cursor" } })).toBe(true);
    expect(matches("Error", { error: { code: "invalid_request", message: "x", param: "" } })).toBe(false);
    expect(matches("Error", { error: { code: "invalid_request", message: "x", param: 1 } })).toBe(false);
  });

  it("checks idempotency records", () => {
    const record = {
      organization_id: "org_1",
      operation: "transfer",
      key: "k",
      fingerprint: "f",
      decision: { amount: 1 },
      stripe_object_id: null,
      created_at: "2026-11-26T10:00:00.000Z",
      completed_at: null,
    };
    expect(matches("IdempotencyRecord", record)).toBe(true);
    expect(matches("IdempotencyRecord", { ...record, stripe_object_id: "tr_1", completed_at: "2026-11-26T10:00:01.000Z" })).toBe(true);
    expect(matches("IdempotencyRecord", { ...record, operation: "refund" })).toBe(false);
    expect(matches("IdempotencyRecord", { ...record, decision: [1] })).toBe(false);
    expect(matches("IdempotencyRecord", { ...record, completed_at: "2026-11-26T10:00:01Z" })).toBe(false);
    expect(matches("IdempotencyMismatchError", { error: { code: "idempotency_mismatch", message: "x" }, record })).toBe(true);
    expect(matches("IdempotencyMismatchError", { error: { code: "idempotency_mismatch", message: "x" } })).toBe(false);
    expect(matches("ClaimIdempotencyKeyRequest", { organization_id: "o", operation: "payout", key: "k", fingerprint: "f", decision: {} })).toBe(true);
    expect(matches("ClaimIdempotencyKeyRequest", { organization_id: "o", operation: "payout", key: "", fingerprint: "f", decision: {} })).toBe(false);
  });

  it("checks claims", () => {
    const claim = {
      id: "clm_0123abcd",
      organization_id: "org_1",
      amount: 1000,
      currency: "usd",
      settled: 250,
      open: 750,
      cause: "refund",
      cause_id: "re_1",
      transfer_id: "tr_1",
      created_at: "2026-11-26T10:00:00.000Z",
      settlements: [{ key: "tr_2", amount: 250, kind: "transfer", created_at: "2026-11-27T10:00:00.000Z" }],
    };
    expect(matches("Claim", claim)).toBe(true);
    expect(matches("Claim", { ...claim, cause: "chargeback" })).toBe(false);
    expect(matches("Claim", { ...claim, currency: "USD" })).toBe(false);
    expect(matches("Claim", { ...claim, amount: 0 })).toBe(false);
    expect(matches("Claim", { ...claim, settlements: [{ ...claim.settlements[0], kind: "refund" }] })).toBe(false);
    expect(matches("Claim", (({ settlements: _s, ...rest }) => rest)(claim))).toBe(false);
    expect(matches("ClaimPage", { claims: [claim], totals: [{ currency: "usd", open: 750 }], next_cursor: null })).toBe(true);
    expect(matches("ClaimPage", { claims: [], totals: [{ currency: "usd", open: 0 }], next_cursor: null })).toBe(false);
    expect(matches("ClaimExceededError", { error: { code: "claim_exceeded", message: "x" }, claim })).toBe(true);
    expect(matches("ClaimExceededError", { error: { code: "claim_exceeded", message: "x" } })).toBe(false);
    expect(matches("SettleClaimRequest", { key: "k", amount: 1, kind: "reversal" })).toBe(true);
    expect(matches("SettleClaimRequest", { key: "k", amount: 1.5, kind: "reversal" })).toBe(false);
  });

  it("checks requests too", () => {
    expect(matches("UpdateOrganizationRequest", { organization_id: "o", updates: { platform_fee_percent: 5 } })).toBe(true);
    expect(matches("UpdateOrganizationRequest", { organization_id: "o", updates: {} })).toBe(false);
    expect(matches("UpdateOrganizationRequest", { organization_id: "o", updates: { platform_fee_percent: 101 } })).toBe(false);
    expect(matches("UpdateOrganizationRequest", { organization_id: "o", updates: { platform_fee_percent: 5 }, expected_account_id: "acct_1" })).toBe(true);
    expect(matches("UpdateOrganizationRequest", { organization_id: "o", updates: { platform_fee_percent: 5 }, expected_account_id: "" })).toBe(false);
    expect(matches("CreateConnectAccountRequest", { organization_id: "o", stripe_connect_account_id: "cus_1" })).toBe(false);
  });
});
