/**
 * The Worker's internal API (/api/internal/*), used by the Connect backend. A self-contained
 * Hono sub-app: mount it with `app.route("/api/internal", createInternalApi({...}))`.
 * Contract: contract/worker-internal-api.openapi.json.
 */
import { Hono, type Context, type Handler, type Input, type MiddlewareHandler } from "hono";
import { encodeClaimCursor, encodeCursor, encodeDeadlineCursor, encodeSyncCursor } from "./cursor";
import * as db from "./db";
import { errorResponse } from "./errors";
import {
  consoleLogger,
  refuseWeakKeys,
  requestLog,
  requireApiKey,
  type InternalVariables,
  type Logger,
} from "./middleware";
import { highestMemberRole } from "./roles";
import {
  CLAIM_PAGE_LIMIT,
  PAGE_LIMIT,
  claimIdempotencyKeyRequest,
  completeIdempotencyKeyRequest,
  createConnectAccountRequest,
  listClaimsQuery,
  listOrganizationsQuery,
  organizationCountsQuery,
  payoutOutcomeRequest,
  recordClaimRequest,
  releaseClaimSettlementsRequest,
  releaseIdempotencyKeyRequest,
  settleClaimRequest,
  updateOrganizationRequest,
  verifyUserContextRequest,
} from "./schemas";
import { jsonBody, queryParams } from "./validators";

export type { Claim, ClaimSettlement, ClaimTotal, Organization, PayoutFailure } from "./db";
export { parseKeys, matchesAnyKey } from "./middleware";
export { highestMemberRole } from "./roles";
export { KEY_RULE, isStrongKey } from "./key-rule";
export { DEFAULT_ONBOARDING_STEP, DEFAULT_PLATFORM_FEE_PERCENT } from "./schemas";

/** The bindings the module reads by default. */
export interface InternalBindings {
  DB: D1Database;
  INTERNAL_API_KEYS?: string;
  /** "development" relaxes the key rule (see `refuseWeakKeys`); anything else, or none, is strict. */
  ENVIRONMENT?: string;
}

/** What the module needs to know of a Better Auth session. */
export interface SessionInfo {
  user: { id: string; email: string; name: string; role?: string | null | undefined };
  session: { id: string; expiresAt: Date | string };
}

export interface InternalApiOptions<E> {
  /**
   * Resolves the session named by `headers` (`Authorization: Bearer <token>`) as Better
   * Auth does, e.g. `(env, headers) => createAuth(env).api.getSession({ headers })`;
   * null when the token is unknown, expired or revoked.
   */
  getSession: (env: E, headers: Headers) => Promise<SessionInfo | null>;
  /** The D1 database holding Better Auth's tables; defaults to `env.DB`. */
  database?: (env: E) => D1Database;
  /** The comma-separated accepted API keys; defaults to `env.INTERNAL_API_KEYS`. */
  apiKeys?: (env: E) => string | undefined;
  /**
   * The deployment's environment; defaults to `env.ENVIRONMENT`. Only "development" accepts
   * keys weaker than 32 random bytes; elsewhere (also when unset) such keys make every
   * request 503 `misconfigured`.
   */
  environment?: (env: E) => string | undefined;
  /** Where the JSON log lines go; defaults to console.log. */
  log?: Logger;
}

type AppEnv<E> = { Bindings: E; Variables: InternalVariables };

/** Builds the /api/internal/* sub-app. */
export function createInternalApi<E extends InternalBindings>(
  options: InternalApiOptions<E>,
): Hono<AppEnv<E>> {
  const log = options.log ?? consoleLogger;
  const database = options.database ?? ((env: E) => env.DB);
  const apiKeys = options.apiKeys ?? ((env: E) => env.INTERNAL_API_KEYS);
  const environment = options.environment ?? ((env: E) => env.ENVIRONMENT);
  const app = new Hono<AppEnv<E>>();

  /**
   * A route's handler behind its validator (`jsonBody`, `queryParams`), as one handler: the
   * handler runs only once the request passed and reads `c.req.valid(...)`; a refusal is the
   * validator's answer. One handler keeps one entry per endpoint in `app.routes`, which the
   * contract test reads as the routes served.
   */
  const validated =
    <I extends Input>(
      check: MiddlewareHandler<AppEnv<E>, string, I>,
      handler: (c: Context<AppEnv<E>, string, I>) => Promise<Response>,
    ): Handler<AppEnv<E>, string, I> =>
    async (c) =>
      (await check(c, async () => {})) ?? handler(c);

  app.use("*", requestLog(log));
  app.use("*", refuseWeakKeys<E>(apiKeys, environment, log));
  app.use("*", requireApiKey<E>(apiKeys, log));

  app.onError((err, c) => {
    log({
      event: "internal.error",
      request_id: c.get("requestId"),
      path: c.req.path,
      error: err instanceof Error ? err.message : String(err),
    });
    return errorResponse(c, 500, "internal_error", "internal error");
  });

  app.get("/health", async (c) => {
    try {
      await db.ping(database(c.env));
    } catch (err) {
      log({ event: "internal.health.d1_failed", request_id: c.get("requestId"), error: String(err) });
      return errorResponse(c, 503, "d1_unavailable", "D1 did not answer");
    }
    return c.json({ status: "ok", d1: "ok" });
  });

  app.post("/verify-user-context", validated(jsonBody(verifyUserContextRequest), async (c) => {
    const body = c.req.valid("json");

    const headers = new Headers({ Authorization: `Bearer ${body.session_token}` });
    const found = await resolveSession(options.getSession, c.env, headers);
    if (!found) return errorResponse(c, 401, "invalid_session", "session is unknown, expired or revoked");

    const user = {
      id: found.user.id,
      email: found.user.email,
      name: found.user.name,
      role: found.user.role ?? "user",
    };
    const session = { id: found.session.id, expires_at: db.toIsoUtc(found.session.expiresAt) };
    const organizationId = body.organization_id ?? null;
    if (organizationId === null) {
      return c.json({ user, session, organization: null, member_role: null });
    }

    const access = await db.getOrganizationForUser(database(c.env), organizationId, user.id);
    const memberRole = access ? highestMemberRole(access.memberRole) : null;
    // An unknown organization answers like one the user is not in; admins see existing ones.
    if (!access || (memberRole === null && user.role !== "admin")) {
      return errorResponse(c, 403, "not_a_member", "user is not a member of this organization");
    }
    return c.json({
      user,
      session,
      organization: db.toOrganization(access.organization),
      member_role: memberRole,
    });
  }));

  app.get("/organizations", validated(queryParams(listOrganizationsQuery), async (c) => {
    const { limit: given, cursor, order: asked, ...filters } = c.req.valid("query");
    const limit = given ?? PAGE_LIMIT.default;
    const order = asked ?? "id";
    // One row past the page says whether another page follows.
    const rows = await db.listOrganizations(database(c.env), {
      after: cursor === undefined ? null : "after" in cursor ? cursor.after : cursor,
      limit: limit + 1,
      order,
      status: filters.status,
      linked: filters.linked,
      step: filters.step,
      unsettled: filters.unsettled,
      syncedBefore: filters.synced_before,
      name: filters.name,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    let next: string | null = null;
    if (rows.length > limit && last) {
      next =
        order === "id"
          ? encodeCursor(last.id)
          : order === "deadline"
            ? encodeDeadlineCursor(db.deadlinePosition(last))
            : encodeSyncCursor({ ...db.syncPosition(last), order });
    }
    return c.json({ organizations: page.map(db.toOrganization), next_cursor: next });
  }));

  app.get("/organization-counts", validated(queryParams(organizationCountsQuery), async (c) => {
    const filters = c.req.valid("query");
    const counts = await db.countOrganizations(database(c.env), {
      linked: filters.linked,
      step: filters.step,
      unsettled: filters.unsettled,
      syncedBefore: filters.synced_before,
      name: filters.name,
    });
    return c.json(counts);
  }));

  app.get("/organization/:id", async (c) =>
    organizationOr404(c, await db.getOrganization(database(c.env), c.req.param("id")), "organization not found"),
  );

  app.get("/organization-by-account/:account_id", async (c) =>
    organizationOr404(
      c,
      await db.getOrganizationByAccount(database(c.env), c.req.param("account_id")),
      "no organization is linked to this account",
    ),
  );

  app.post("/update-organization", validated(jsonBody(updateOrganizationRequest), async (c) => {
    const body = c.req.valid("json");
    const d1 = database(c.env);
    const conditions: db.UpdateConditions = {
      syncedAt: body.synced_at ? db.toIsoUtc(body.synced_at) : null,
      expectedAccountId: body.expected_account_id ?? null,
    };

    const written = await db.updateOrganization(d1, body.organization_id, body.updates, conditions);
    if (written) return c.json({ organization: db.toOrganization(written), applied: true });

    const current = await db.getOrganization(d1, body.organization_id);
    if (!current) return errorResponse(c, 404, "not_found", "organization not found");
    // Every refusal answers alike (the caller's view lost); the log says which condition failed.
    log({
      event: `internal.update_organization.${db.explainUpdate(current, body.updates, conditions)}`,
      request_id: c.get("requestId"),
      organization_id: body.organization_id,
      synced_at: conditions.syncedAt,
      stored_synced_at: current.stripe_connect_synced_at,
      expected_account_id: conditions.expectedAccountId,
      stored_account_id: current.stripe_connect_account_id,
      stored_onboarding_step: current.onboarding_step,
    });
    return c.json({ organization: db.toOrganization(current), applied: false });
  }));

  app.post("/create-connect-account", validated(jsonBody(createConnectAccountRequest), async (c) => {
    const body = c.req.valid("json");
    const d1 = database(c.env);
    const { organization_id: id, stripe_connect_account_id: accountId } = body;
    const replacing = body.replace_account_id ?? null;

    // A second try covers the one interleaving the explanation cannot name: the account
    // was released by its holder (or the organization came to hold what the compare-and-set
    // wanted) between the compare-and-set and the read.
    for (let attempt = 0; attempt < 2; attempt++) {
      let linked: db.OrganizationRow | null;
      try {
        linked = await db.linkConnectAccount(d1, id, accountId, replacing, body.account_api ?? "v1");
      } catch (err) {
        if (!db.isUniqueViolation(err)) throw err;
        linked = null;
      }
      if (linked) {
        log({
          event: replacing === null ? "internal.connect_account.linked" : "internal.connect_account.replaced",
          request_id: c.get("requestId"),
          organization_id: id,
          account_id: accountId,
          ...(replacing === null ? {} : { replaced_account_id: replacing }),
        });
        return c.json({ organization: db.toOrganization(linked), created: true });
      }

      const { organization, holder } = await db.explainLink(d1, id, accountId);
      if (!organization) return errorResponse(c, 404, "not_found", "organization not found");
      const held = organization.stripe_connect_account_id;
      // The same account again (a retry, or a lost answer): nothing to do.
      if (held === accountId) return c.json({ organization: db.toOrganization(organization), created: false });
      if (held !== null && held !== replacing) {
        return errorResponse(c, 409, "already_linked", "organization is already linked to another account", {
          organization: db.toOrganization(organization),
        });
      }
      if (replacing !== null && (held === null || organization.onboarding_step !== "deauthorized")) {
        return errorResponse(c, 409, "not_deauthorized", "organization holds no deauthorized link to that account", {
          organization: db.toOrganization(organization),
        });
      }
      if (holder) {
        return errorResponse(c, 409, "account_in_use", "account is linked to another organization");
      }
    }
    return errorResponse(c, 409, "account_in_use", "account is linked to another organization");
  }));

  app.post("/payout-outcome", validated(jsonBody(payoutOutcomeRequest), async (c) => {
    const body = c.req.valid("json");
    const recorded = await db.recordPayoutOutcome(database(c.env), body, db.toIsoUtc(body.payout_created));
    if (!recorded) return errorResponse(c, 404, "not_found", "organization not found");
    const { row, changed } = recorded;
    // Ids and Stripe's code only: the message is Stripe's prose, kept in D1, not in the log.
    log({
      event: `internal.payout_outcome.${body.outcome}${changed ? "" : ".unchanged"}`,
      request_id: c.get("requestId"),
      organization_id: body.organization_id,
      payout_id: body.payout_id,
      failure_code: body.failure_code ?? null,
      stored_payout_id: row.stripe_payout_failure_id,
    });
    return c.json({ organization: db.toOrganization(row), changed });
  }));

  app.post("/idempotency-keys/claim", validated(jsonBody(claimIdempotencyKeyRequest), async (c) => {
    const body = c.req.valid("json");
    const d1 = database(c.env);

    // A second try covers the one interleaving the read cannot name: the record was released
    // between this insert's no-op and the read.
    for (let attempt = 0; attempt < 2; attempt++) {
      const inserted = await db.claimIdempotencyKey(d1, body, db.toIsoUtc(new Date()));
      if (inserted) {
        logKey(log, c, "internal.idempotency_key.claimed", inserted);
        return c.json({ record: db.toIdempotencyRecord(inserted), created: true });
      }
      const found = await db.findIdempotencyKey(d1, body);
      if (!found) return errorResponse(c, 404, "not_found", "organization not found");
      if (found.record) {
        // Whatever its fingerprint: the caller compares it with what it sent.
        logKey(log, c, "internal.idempotency_key.existing", found.record);
        return c.json({ record: db.toIdempotencyRecord(found.record), created: false });
      }
    }
    throw new Error("idempotency key neither inserted nor found twice");
  }));

  app.post("/idempotency-keys/complete", validated(jsonBody(completeIdempotencyKeyRequest), async (c) => {
    const body = c.req.valid("json");
    const d1 = database(c.env);

    const written = await db.completeIdempotencyKey(d1, body, body.stripe_object_id, db.toIsoUtc(new Date()));
    if (written) {
      logKey(log, c, "internal.idempotency_key.completed", written);
      return c.json({ record: db.toIdempotencyRecord(written) });
    }
    const record = (await db.findIdempotencyKey(d1, body))?.record ?? null;
    if (!record) return errorResponse(c, 404, "not_found", "no such idempotency record");
    // The same object again is a retry (a lost answer); another one means two objects for one key.
    if (record.stripe_object_id === body.stripe_object_id) {
      logKey(log, c, "internal.idempotency_key.already_completed", record);
      return c.json({ record: db.toIdempotencyRecord(record) });
    }
    logKey(log, c, "internal.idempotency_key.mismatch", record, { refused_stripe_object_id: body.stripe_object_id });
    return errorResponse(c, 409, "idempotency_mismatch", "the record names another Stripe object", {
      record: db.toIdempotencyRecord(record),
    });
  }));

  app.post("/idempotency-keys/release", validated(jsonBody(releaseIdempotencyKeyRequest), async (c) => {
    const body = c.req.valid("json");
    const released = await db.releaseIdempotencyKey(database(c.env), body);
    log({
      event: released ? "internal.idempotency_key.released" : "internal.idempotency_key.kept",
      request_id: c.get("requestId"),
      organization_id: body.organization_id,
      operation: body.operation,
      key: body.key,
    });
    return c.json({ released });
  }));

  app.post("/claims", validated(jsonBody(recordClaimRequest), async (c) => {
    const body = c.req.valid("json");
    const d1 = database(c.env);

    const inserted = await db.recordClaim(d1, body, db.newClaimId(), db.toIsoUtc(new Date()));
    if (inserted) {
      logClaim(log, c, "internal.claim.recorded", inserted);
      return c.json({ claim: db.toClaim(inserted), created: true });
    }
    const found = await db.findClaim(d1, body);
    if (!found) return errorResponse(c, 404, "not_found", "organization not found");
    // Claims are never deleted but with their organization, so a no-op insert means one is held.
    if (!found.claim) throw new Error("claim neither inserted nor found");
    // Whatever its amount: the caller compares it with what it sent.
    logClaim(log, c, "internal.claim.existing", found.claim);
    return c.json({ claim: db.toClaim(found.claim), created: false });
  }));

  app.get("/claims", validated(queryParams(listClaimsQuery), async (c) => {
    const query = c.req.valid("query");
    const limit = query.limit ?? CLAIM_PAGE_LIMIT.default;
    // One row past the page says whether another page follows.
    const { claims, totals } = await db.listClaims(database(c.env), {
      organizationId: query.organization_id ?? null,
      openOnly: (query.state ?? "open") === "open",
      currency: query.currency ?? null,
      after: query.cursor ?? null,
      limit: limit + 1,
    });
    const page = claims.slice(0, limit);
    const last = page.at(-1);
    log({
      event: "internal.claims.listed",
      request_id: c.get("requestId"),
      organization_id: query.organization_id ?? null,
      claims: page.length,
    });
    return c.json({
      claims: page.map(db.toClaim),
      totals,
      next_cursor: claims.length > limit && last ? encodeClaimCursor(last) : null,
    });
  }));

  // Before `/claims/:id/settlements`, though that pattern cannot match this path either.
  app.post("/claims/settlements/release", validated(jsonBody(releaseClaimSettlementsRequest), async (c) => {
    const body = c.req.valid("json");
    const released = await db.releaseClaimSettlements(database(c.env), body);
    log({
      event: "internal.claim.settlements_released",
      request_id: c.get("requestId"),
      organization_id: body.organization_id,
      key: body.key,
      released,
    });
    return c.json({ released });
  }));

  app.post("/claims/:id/settlements", validated(jsonBody(settleClaimRequest), async (c) => {
    const body = c.req.valid("json");
    // The route always has the segment; its type only loses the path (see `validated`).
    const claimId = c.req.param("id") ?? "";
    const { applied, claim } = await db.settleClaim(database(c.env), claimId, body, db.toIsoUtc(new Date()));
    if (!claim) return errorResponse(c, 404, "not_found", "claim not found");
    const answered = db.toClaim(claim);
    const extra = { key: body.key, kind: body.kind };
    if (applied) {
      logClaim(log, c, "internal.claim.settled", claim, extra);
      return c.json({ claim: answered, applied: true });
    }
    if (answered.settlements.some((s) => s.key === body.key)) {
      // The same key again (a retry, or a lost answer): nothing changes, whatever its amount.
      logClaim(log, c, "internal.claim.settlement_existing", claim, extra);
      return c.json({ claim: answered, applied: false });
    }
    logClaim(log, c, "internal.claim.exceeded", claim, extra);
    return errorResponse(c, 409, "claim_exceeded", "the settlement is more than the claim has open", {
      claim: answered,
    });
  }));

  app.all("*", (c) => errorResponse(c, 404, "not_found", "no such endpoint"));

  return app;
}

/** One line per idempotency call: the record's ids, never its decision. */
function logKey(
  log: Logger,
  c: Context,
  event: string,
  record: db.IdempotencyRow,
  extra: Record<string, unknown> = {},
): void {
  log({
    event,
    request_id: c.get("requestId"),
    organization_id: record.organization_id,
    operation: record.operation,
    key: record.key,
    fingerprint: record.fingerprint,
    stripe_object_id: record.stripe_object_id,
    ...extra,
  });
}

/** One line per claim call: the claim's ids, never more. */
function logClaim(
  log: Logger,
  c: Context,
  event: string,
  claim: db.ClaimRow,
  extra: Record<string, unknown> = {},
): void {
  log({
    event,
    request_id: c.get("requestId"),
    claim_id: claim.id,
    organization_id: claim.organization_id,
    cause: claim.cause,
    cause_id: claim.cause_id,
    transfer_id: claim.transfer_id,
    ...extra,
  });
}

/** Better Auth answers an unusable token with null, or with a 401 APIError for some malformed ones. */
async function resolveSession<E>(
  getSession: InternalApiOptions<E>["getSession"],
  env: E,
  headers: Headers,
): Promise<SessionInfo | null> {
  try {
    return await getSession(env, headers);
  } catch (err) {
    const status = (err as { statusCode?: unknown; status?: unknown } | null)?.statusCode;
    if (status === 401 || (err as { status?: unknown } | null)?.status === "UNAUTHORIZED") return null;
    throw err;
  }
}

/** `{"organization": …}`, or 404 `not_found` with `missing` as the message. */
function organizationOr404(c: Context, row: db.OrganizationRow | null, missing: string): Response {
  if (!row) return errorResponse(c, 404, "not_found", missing);
  return c.json({ organization: db.toOrganization(row) });
}
