/**
 * Every SQL statement of the internal API. Writes that must not interleave with other
 * writers (the account compare-and-set, the synced_at ordering, the idempotency records'
 * claim, completion and release, a claim's recording) are single statements, and a claim's
 * settlement is one transactional batch;
 * the reads that follow a no-op only explain it.
 */
import type { ClaimPosition } from "./cursor";
import {
  DEFAULT_ONBOARDING_STEP,
  DEFAULT_PLATFORM_FEE_PERCENT,
  type AccountApi,
  type ClaimCause,
  type ClaimIdempotencyKeyRequest,
  type ConnectStatus,
  type IdempotencyKeyRef,
  type IdempotencyOperation,
  type OnboardingStep,
  type OrganizationUpdates,
  type PayoutOutcomeRequest,
  type RecordClaimRequest,
  type ReleaseClaimSettlementsRequest,
  type SettleClaimRequest,
  type SettlementKind,
  type StatusFilter,
  STATUS_FILTERS,
} from "./schemas";

/** The organization's last failed payout, until a later one is paid (migrations/0006). */
export interface PayoutFailure {
  payout_id: string;
  failure_code: string | null;
  failure_message: string | null;
  /** The failed payout's own `created`. */
  payout_created: string;
}

/** The organization object of the contract. */
export interface Organization {
  id: string;
  name: string;
  slug: string;
  stripe_connect_account_id: string | null;
  stripe_connect_status: ConnectStatus | null;
  platform_fee_percent: number;
  onboarding_step: OnboardingStep;
  onboarding_rejection_reason: string | null;
  stripe_connect_synced_at: string | null;
  payout_failure: PayoutFailure | null;
  stripe_connect_account_api: AccountApi | null;
  /** Stripe's requirements deadline as of the last applied view (migrations/0009), or null. */
  stripe_connect_requirements_deadline: string | null;
}

/** The columns holding `payout_failure` (the id and created both null, or both set). */
interface PayoutFailureColumns {
  stripe_payout_failure_id: string | null;
  stripe_payout_failure_code: string | null;
  stripe_payout_failure_message: string | null;
  stripe_payout_failed_created: string | null;
}

/**
 * A row of `organizations` as this API reads it: the object's columns, where the Connect ones
 * are unchecked text or null (rows that predate a column hold null).
 */
export type OrganizationRow = Omit<
  Organization,
  "stripe_connect_status" | "platform_fee_percent" | "onboarding_step" | "payout_failure" | "stripe_connect_account_api"
> &
  PayoutFailureColumns & {
    stripe_connect_status: string | null;
    platform_fee_percent: number | null;
    onboarding_step: string | null;
    stripe_connect_account_api: string | null;
  };

const COLUMNS = [
  "id",
  "name",
  "slug",
  "stripe_connect_account_id",
  "stripe_connect_status",
  "platform_fee_percent",
  "onboarding_step",
  "onboarding_rejection_reason",
  "stripe_connect_synced_at",
  "stripe_payout_failure_id",
  "stripe_payout_failure_code",
  "stripe_payout_failure_message",
  "stripe_payout_failed_created",
  "stripe_connect_account_api",
  "stripe_connect_requirements_deadline",
] as const satisfies ReadonlyArray<keyof OrganizationRow>;
const ORG_COLUMNS = COLUMNS.join(", ");
const ORG_COLUMNS_O = COLUMNS.map((c) => `o.${c}`).join(", ");

/** The columns `update-organization` may write; the request's fields carry the columns' names. */
const UPDATABLE = [
  "stripe_connect_status",
  "onboarding_step",
  "onboarding_rejection_reason",
  "platform_fee_percent",
  "stripe_connect_requirements_deadline",
] as const satisfies ReadonlyArray<keyof OrganizationUpdates & (typeof COLUMNS)[number]>;

/** Stored timestamps are normalised ISO 8601 UTC with milliseconds, so text order is time order. */
export function toIsoUtc(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function isoOrNull(value: string | null): string | null {
  if (value === null) return null;
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? value : parsed.toISOString();
}

/** Maps a row to the contract's object, filling the column defaults for rows that predate them. */
export function toOrganization(row: OrganizationRow): Organization {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    stripe_connect_account_id: row.stripe_connect_account_id,
    stripe_connect_status: row.stripe_connect_status as ConnectStatus | null,
    platform_fee_percent: row.platform_fee_percent ?? DEFAULT_PLATFORM_FEE_PERCENT,
    onboarding_step: (row.onboarding_step ?? DEFAULT_ONBOARDING_STEP) as OnboardingStep,
    onboarding_rejection_reason: row.onboarding_rejection_reason,
    stripe_connect_synced_at: isoOrNull(row.stripe_connect_synced_at),
    payout_failure:
      row.stripe_payout_failure_id === null || row.stripe_payout_failed_created === null
        ? null
        : {
            payout_id: row.stripe_payout_failure_id,
            failure_code: row.stripe_payout_failure_code,
            failure_message: row.stripe_payout_failure_message,
            payout_created: toIsoUtc(row.stripe_payout_failed_created),
          },
    // A linked row without it predates the column (migrations/0008): every such account was v1.
    stripe_connect_account_api:
      (row.stripe_connect_account_api as AccountApi | null) ?? (row.stripe_connect_account_id === null ? null : "v1"),
    stripe_connect_requirements_deadline: isoOrNull(row.stripe_connect_requirements_deadline),
  };
}

/** A trivial query that proves D1 answers. */
export async function ping(db: D1Database): Promise<void> {
  await db.prepare("SELECT 1 AS ok").first();
}

export function getOrganization(db: D1Database, id: string): Promise<OrganizationRow | null> {
  return db
    .prepare(`SELECT ${ORG_COLUMNS} FROM organizations WHERE id = ?1`)
    .bind(id)
    .first<OrganizationRow>();
}

export function getOrganizationByAccount(
  db: D1Database,
  accountId: string,
): Promise<OrganizationRow | null> {
  return db
    .prepare(`SELECT ${ORG_COLUMNS} FROM organizations WHERE stripe_connect_account_id = ?1`)
    .bind(accountId)
    .first<OrganizationRow>();
}

/** Where a page in last-sync order starts: after the (sync key, id) of the last one given. */
export interface SyncPosition {
  /** The stored `stripe_connect_synced_at`, or "" for never synced (it sorts first). */
  synced: string;
  id: string;
}

/** Where a page in deadline order starts: after the (deadline key, sync key, id) of the last one given. */
export interface DeadlinePosition extends SyncPosition {
  /** The stored `stripe_connect_requirements_deadline`, or `NO_DEADLINE` for none (it sorts last). */
  deadline: string;
}

/**
 * The orders of `GET /organizations`: by id, by last sync (never synced first) either way, or
 * by requirements deadline (nearest first, none last), then last sync.
 */
export type ListOrder = "id" | "synced_at" | "-synced_at" | "deadline";

/** The filters of `GET /organizations` and `GET /organization-counts`. */
export interface OrganizationFilters {
  status?: StatusFilter | undefined;
  linked?: boolean | undefined;
  step?: OnboardingStep | undefined;
  unsettled?: boolean | undefined;
  /** Only those never synced or last synced before this ISO 8601 UTC time. */
  syncedBefore?: string | undefined;
  /** Only those whose name starts with this (ASCII case folded). */
  name?: string | undefined;
}

/** Which organizations a page holds: those after the cursor's position that pass the filters. */
export interface PageQuery extends OrganizationFilters {
  /**
   * Where the page starts: after this id (id order) or this position (last-sync orders; a
   * `DeadlinePosition` in deadline order).
   */
  after: string | SyncPosition | DeadlinePosition | null;
  limit: number;
  order?: ListOrder | undefined;
}

/**
 * The sort key of last-sync order, exactly as migrations/0007's indexes spell it (an
 * expression index is used only for the same expression).
 */
const SYNCED = "COALESCE(stripe_connect_synced_at, '')";
/** The key of no deadline: after every stored time (they start with a digit). */
export const NO_DEADLINE = "~";
/** The sort key of deadline order, exactly as migrations/0009's index spells it. */
const DEADLINE = `COALESCE(stripe_connect_requirements_deadline, '${NO_DEADLINE}')`;
/** Not yet settled: linked, and pending (or no status yet), or waiting on requirements or a review. */
const UNSETTLED = `stripe_connect_account_id IS NOT NULL
    AND (stripe_connect_status IS NULL OR stripe_connect_status = 'pending'
         OR onboarding_step IN ('action_required', 'under_review'))`;
/** Above every character a name can hold next: a prefix's upper bound. */
const PAST_PREFIX = "\u{10FFFF}";

/** The WHERE terms and their values for the filters (shared by the list and the counts). */
function filterTerms(filters: OrganizationFilters): { where: string[]; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  if (filters.status === "not_started") {
    where.push("stripe_connect_account_id IS NULL");
  } else if (filters.status !== undefined) {
    where.push("stripe_connect_status = ?");
    values.push(filters.status);
  }
  if (filters.linked !== undefined) {
    where.push(`stripe_connect_account_id IS ${filters.linked ? "NOT NULL" : "NULL"}`);
  }
  if (filters.step !== undefined) {
    where.push("onboarding_step = ?");
    values.push(filters.step);
  }
  if (filters.unsettled === true) {
    where.push(UNSETTLED);
  } else if (filters.unsettled === false) {
    // Settled: holding an account that is none of the above.
    where.push(`stripe_connect_account_id IS NOT NULL AND NOT (${UNSETTLED})`);
  }
  if (filters.syncedBefore !== undefined) {
    where.push(`${SYNCED} < ?`);
    values.push(filters.syncedBefore);
  }
  if (filters.name !== undefined) {
    where.push("name COLLATE NOCASE >= ? AND name COLLATE NOCASE < ?");
    values.push(filters.name, filters.name + PAST_PREFIX);
  }
  return { where, values };
}

function whereClause(where: string[]): string {
  return where.length > 0 ? `WHERE ${where.map((term) => `(${term})`).join(" AND ")}` : "";
}

/**
 * Up to `limit` organizations that pass the filters, starting after `after`: in id order
 * (SQLite's binary order, so stable), or with `order` by last sync (never synced first;
 * `-synced_at` newest first, never synced last), ties by id. `not_started` means no account;
 * `linked` means holding one.
 */
export async function listOrganizations(db: D1Database, query: PageQuery): Promise<OrganizationRow[]> {
  const { sql, values } = listStatement(query);
  const { results } = await db
    .prepare(sql)
    .bind(...values)
    .all<OrganizationRow>();
  return results;
}

/** A statement and its values (exported so the tests can hold each to its index). */
export interface Statement {
  sql: string;
  values: unknown[];
}

/** The statement of `listOrganizations`. */
export function listStatement(query: PageQuery): Statement {
  const { where, values } = filterTerms(query);
  const order = query.order ?? "id";
  const descending = order === "-synced_at";
  const after = query.after;
  if (order === "id") {
    if (typeof after === "string") {
      where.push("id > ?");
      values.push(after);
    }
  } else if (order === "deadline") {
    if (after !== null && typeof after === "object" && "deadline" in after) {
      where.push(`(${DEADLINE}, ${SYNCED}, id) > (?, ?, ?)`);
      values.push(after.deadline, after.synced, after.id);
    }
  } else if (after !== null && typeof after === "object") {
    where.push(`(${SYNCED}, id) ${descending ? "<" : ">"} (?, ?)`);
    values.push(after.synced, after.id);
  }
  const orderBy = {
    id: "id",
    synced_at: `${SYNCED}, id`,
    "-synced_at": `${SYNCED} DESC, id DESC`,
    deadline: `${DEADLINE}, ${SYNCED}, id`,
  }[order];
  values.push(query.limit);
  return {
    sql: `SELECT ${ORG_COLUMNS} FROM organizations ${whereClause(where)} ORDER BY ${orderBy} LIMIT ?`,
    values,
  };
}

/** Where the next page in last-sync order starts, after this row. */
export function syncPosition(row: OrganizationRow): SyncPosition {
  return { synced: row.stripe_connect_synced_at ?? "", id: row.id };
}

/** Where the next page in deadline order starts, after this row. */
export function deadlinePosition(row: OrganizationRow): DeadlinePosition {
  return { ...syncPosition(row), deadline: row.stripe_connect_requirements_deadline ?? NO_DEADLINE };
}

/** How many organizations pass the filters, in all and per status (`not_started`: no account). */
export interface OrganizationCounts {
  total: number;
  by_status: Record<StatusFilter, number>;
}

/** The counts of the organizations that pass the filters, in one statement. */
export async function countOrganizations(db: D1Database, filters: OrganizationFilters): Promise<OrganizationCounts> {
  const { sql, values } = countStatement(filters);
  const { results } = await db
    .prepare(sql)
    .bind(...values)
    .all<{ status: string | null; n: number }>();
  const counts: OrganizationCounts = {
    total: 0,
    by_status: Object.fromEntries(STATUS_FILTERS.map((s) => [s, 0])) as Record<StatusFilter, number>,
  };
  for (const { status, n } of results) {
    counts.total += n;
    // A linked row with no status (none the API writes) counts only in the total.
    if (status !== null && status in counts.by_status) counts.by_status[status as StatusFilter] += n;
  }
  return counts;
}

/** The statement of `countOrganizations`. */
export function countStatement(filters: OrganizationFilters): Statement {
  const { where, values } = filterTerms(filters);
  return {
    sql: `SELECT CASE WHEN stripe_connect_account_id IS NULL THEN 'not_started'
                      ELSE stripe_connect_status END AS status,
                 COUNT(*) AS n
            FROM organizations ${whereClause(where)}
           GROUP BY 1`,
    values,
  };
}

/**
 * The organization and the user's `member.role` in it (null when not a member); null when no
 * such organization. Should the user hold several rows (Better Auth's table has no unique
 * pair before migrations/0003), the earliest by (createdAt, id) answers, the same every time.
 */
export async function getOrganizationForUser(
  db: D1Database,
  organizationId: string,
  userId: string,
): Promise<{ organization: OrganizationRow; memberRole: string | null } | null> {
  const row = await db
    .prepare(
      `SELECT ${ORG_COLUMNS_O}, m.role AS member_role
         FROM organizations o
         LEFT JOIN member m ON m.organizationId = o.id AND m.userId = ?2
        WHERE o.id = ?1
        ORDER BY m.createdAt, m.id
        LIMIT 1`,
    )
    .bind(organizationId, userId)
    .first<OrganizationRow & { member_role: string | null }>();
  if (!row) return null;
  const { member_role, ...organization } = row;
  return { organization, memberRole: member_role };
}

/** What `updateOrganization` checks besides the id, all in its one statement. */
export interface UpdateConditions {
  /** The view's time: the row is written only when its stored one is null or older. */
  syncedAt: string | null;
  /** The account the view describes: the row is written only while it holds exactly that one. */
  expectedAccountId: string | null;
}

/**
 * Applies `updates` in one statement, so no other writer can interleave between the checks
 * and the write. With `syncedAt`, the row is written (and its `stripe_connect_synced_at` set)
 * only when the stored value is null or older. With `expectedAccountId`, only while the row
 * holds that account: after a replacement link resets `synced_at` to null, a view of the old
 * account must not land on the new one. Deauthorization is final for its account: a write
 * with `syncedAt` that sets `onboarding_step` to another step never applies to a deauthorized
 * row (only `linkConnectAccount` with `replacing` moves it on); writes without `syncedAt` (the
 * platform fee) are not ordered by Stripe's view and pass. Returns the row after the write,
 * or null when nothing was written (see `explainUpdate`).
 */
export async function updateOrganization(
  db: D1Database,
  id: string,
  updates: OrganizationUpdates,
  { syncedAt, expectedAccountId }: UpdateConditions,
): Promise<OrganizationRow | null> {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const field of UPDATABLE) {
    if (field in updates) {
      const value = updates[field] ?? null;
      sets.push(`${field} = ?`);
      // A timestamp is stored normalised, like every other (text order is time order).
      values.push(field === "stripe_connect_requirements_deadline" && typeof value === "string" ? toIsoUtc(value) : value);
    }
  }
  if (syncedAt !== null) {
    sets.push("stripe_connect_synced_at = ?");
    values.push(syncedAt);
  }
  const where = ["id = ?"];
  values.push(id);
  if (syncedAt !== null) {
    where.push("(stripe_connect_synced_at IS NULL OR stripe_connect_synced_at < ?)");
    values.push(syncedAt);
  }
  if (leavesDeauthorized(updates, syncedAt)) {
    where.push("onboarding_step IS NOT 'deauthorized'");
  }
  if (expectedAccountId !== null) {
    where.push("stripe_connect_account_id = ?");
    values.push(expectedAccountId);
  }
  return db
    .prepare(`UPDATE organizations SET ${sets.join(", ")} WHERE ${where.join(" AND ")} RETURNING ${ORG_COLUMNS}`)
    .bind(...values)
    .first<OrganizationRow>();
}

/**
 * Whether a view (a write with `synced_at`) could change a deauthorized row into anything but
 * deauthorized: any view that does not itself say `deauthorized`, so a status-only view cannot
 * leave the row half-changed either.
 */
function leavesDeauthorized(updates: OrganizationUpdates, syncedAt: string | null): boolean {
  return syncedAt !== null && updates.onboarding_step !== "deauthorized";
}

/** Why `updateOrganization` wrote nothing to an existing row, for the log (checked in its order of interest). */
export type UpdateRefusal = "other_account" | "deauthorized" | "stale";

/** After a no-op update: which of its conditions the current row fails. */
export function explainUpdate(
  current: OrganizationRow,
  updates: OrganizationUpdates,
  { syncedAt, expectedAccountId }: UpdateConditions,
): UpdateRefusal {
  if (expectedAccountId !== null && current.stripe_connect_account_id !== expectedAccountId) return "other_account";
  if (leavesDeauthorized(updates, syncedAt) && current.onboarding_step === "deauthorized") return "deauthorized";
  return "stale";
}

/**
 * Compare-and-set in one statement: links `accountId` to the organization only when it holds
 * no account yet (or, with `replacing`, exactly that account with its step `deauthorized`) and
 * no other organization holds `accountId`. The link starts over: status `pending`, step
 * `details_submission`, no rejection reason, and after a replacement no `synced_at` nor requirements
 * deadline (the old account's view says nothing of the new one). Returns the row after the write, or null when
 * nothing was written (see `explainLink`). The unique partial index is the last guard; its
 * violation surfaces as `isUniqueViolation`.
 */
export function linkConnectAccount(
  db: D1Database,
  id: string,
  accountId: string,
  replacing: string | null = null,
  accountApi: AccountApi = "v1",
): Promise<OrganizationRow | null> {
  const held =
    replacing === null
      ? "stripe_connect_account_id IS NULL"
      : "stripe_connect_account_id = ?4 AND onboarding_step = 'deauthorized'";
  // The old account's view (its sync and its requirements deadline) says nothing of the new one.
  const resetSynced =
    replacing === null ? "" : ", stripe_connect_synced_at = NULL, stripe_connect_requirements_deadline = NULL";
  return db
    .prepare(
      `UPDATE organizations
          SET stripe_connect_account_id = ?2,
              stripe_connect_account_api = ?3,
              stripe_connect_status = 'pending',
              onboarding_step = 'details_submission',
              onboarding_rejection_reason = NULL${resetSynced}
        WHERE id = ?1
          AND ${held}
          AND NOT EXISTS (SELECT 1 FROM organizations WHERE stripe_connect_account_id = ?2)
        RETURNING ${ORG_COLUMNS}`,
    )
    .bind(...(replacing === null ? [id, accountId, accountApi] : [id, accountId, accountApi, replacing]))
    .first<OrganizationRow>();
}

/** After a no-op link: the organization itself and the one (if any) holding `accountId`. */
export async function explainLink(
  db: D1Database,
  id: string,
  accountId: string,
): Promise<{ organization: OrganizationRow | null; holder: OrganizationRow | null }> {
  const { results } = await db
    .prepare(
      `SELECT ${ORG_COLUMNS} FROM organizations WHERE id = ?1 OR stripe_connect_account_id = ?2`,
    )
    .bind(id, accountId)
    .all<OrganizationRow>();
  return {
    organization: results.find((row) => row.id === id) ?? null,
    holder: results.find((row) => row.stripe_connect_account_id === accountId) ?? null,
  };
}

/** True for D1's error on the unique index over `stripe_connect_account_id`. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/i.test(error.message);
}

/**
 * Records what became of a payout, ordered by the payout's own `created` (`payoutCreated`,
 * normalised ISO, so text order is time order), so events arriving in any order converge on
 * the same row. Ties go to the failure: a failure is the safer thing to show, and Stripe may
 * mark a payout paid and fail it later (never the other way round).
 *
 * - `failed` (one statement) stores the failure when no payout created after it was paid
 *   (`stripe_payout_paid_created <= created`) and none is stored or the stored one is not later
 *   by (created, payout id); a repeat that would store the same values changes nothing.
 * - `paid` (one transactional batch) clears a stored failure whose payout was created strictly
 *   before the paid one (so never the paid payout's own failure, nor a newer failure when an
 *   older payout's `paid` arrives late), and keeps the latest paid `created`.
 *
 * Returns the row after, and whether `payout_failure` changed; null when no such organization.
 */
export async function recordPayoutOutcome(
  db: D1Database,
  outcome: PayoutOutcomeRequest,
  payoutCreated: string,
): Promise<{ row: OrganizationRow; changed: boolean } | null> {
  const id = outcome.organization_id;
  if (outcome.outcome === "paid") {
    const [cleared, , after] = await db.batch([
      db
        .prepare(
          `UPDATE organizations
              SET stripe_payout_failure_id = NULL, stripe_payout_failure_code = NULL,
                  stripe_payout_failure_message = NULL, stripe_payout_failed_created = NULL
            WHERE id = ?1 AND stripe_payout_failure_id IS NOT NULL AND stripe_payout_failed_created < ?2
            RETURNING id`,
        )
        .bind(id, payoutCreated),
      db
        .prepare(
          `UPDATE organizations SET stripe_payout_paid_created = ?2
            WHERE id = ?1 AND (stripe_payout_paid_created IS NULL OR stripe_payout_paid_created < ?2)`,
        )
        .bind(id, payoutCreated),
      db.prepare(`SELECT ${ORG_COLUMNS} FROM organizations WHERE id = ?1`).bind(id),
    ]);
    const row = ((after?.results ?? [])[0] as OrganizationRow | undefined) ?? null;
    return row && { row, changed: (cleared?.results.length ?? 0) > 0 };
  }
  const written = await db
    .prepare(
      `UPDATE organizations
          SET stripe_payout_failure_id = ?2, stripe_payout_failure_code = ?3,
              stripe_payout_failure_message = ?4, stripe_payout_failed_created = ?5
        WHERE id = ?1
          AND (stripe_payout_paid_created IS NULL OR stripe_payout_paid_created <= ?5)
          AND (stripe_payout_failure_id IS NULL
               OR (stripe_payout_failed_created, stripe_payout_failure_id) <= (?5, ?2))
          AND (stripe_payout_failure_id IS NOT ?2 OR stripe_payout_failure_code IS NOT ?3
               OR stripe_payout_failure_message IS NOT ?4 OR stripe_payout_failed_created IS NOT ?5)
        RETURNING ${ORG_COLUMNS}`,
    )
    .bind(id, outcome.payout_id, outcome.failure_code ?? null, outcome.failure_message ?? null, payoutCreated)
    .first<OrganizationRow>();
  if (written) return { row: written, changed: true };
  // Nothing written: the read only answers the row as it is (or says there is none).
  const row = await getOrganization(db, id);
  return row && { row, changed: false };
}

/** An idempotency record as the contract answers it (migrations/0004). */
export interface IdempotencyRecord {
  organization_id: string;
  operation: IdempotencyOperation;
  key: string;
  fingerprint: string;
  decision: Record<string, unknown>;
  stripe_object_id: string | null;
  created_at: string;
  completed_at: string | null;
}

/** A row of `connect_idempotency_keys`: the record with `decision` still JSON text. */
export type IdempotencyRow = Omit<IdempotencyRecord, "decision"> & { decision: string };

const KEY_COLUMNS =
  "organization_id, operation, key, fingerprint, decision, stripe_object_id, created_at, completed_at";
const KEY_COLUMNS_K = KEY_COLUMNS.split(", ")
  .map((c) => `k.${c}`)
  .join(", ");
const KEY_MATCH = "organization_id = ?1 AND operation = ?2 AND key = ?3";

export function toIdempotencyRecord(row: IdempotencyRow): IdempotencyRecord {
  return { ...row, decision: JSON.parse(row.decision) as Record<string, unknown> };
}

/**
 * Inserts the record in one statement unless one is held under that key (whatever its
 * fingerprint) or the organization does not exist; the row this call inserted, else null
 * (see `findIdempotencyKey`). Of concurrent claims of one key exactly one inserts.
 */
export function claimIdempotencyKey(
  db: D1Database,
  claim: ClaimIdempotencyKeyRequest,
  createdAt: string,
): Promise<IdempotencyRow | null> {
  // The WHERE also settles SQLite's parse of INSERT … SELECT … ON CONFLICT.
  return db
    .prepare(
      `INSERT INTO connect_idempotency_keys (${KEY_COLUMNS})
       SELECT ?1, ?2, ?3, ?4, ?5, NULL, ?6, NULL
        WHERE EXISTS (SELECT 1 FROM organizations WHERE id = ?1)
       ON CONFLICT (organization_id, operation, key) DO NOTHING
       RETURNING ${KEY_COLUMNS}`,
    )
    .bind(claim.organization_id, claim.operation, claim.key, claim.fingerprint, JSON.stringify(claim.decision), createdAt)
    .first<IdempotencyRow>();
}

/**
 * The organization's existence and its record under that key, in one read: null when no such
 * organization; `record` null when it holds none.
 */
export async function findIdempotencyKey(
  db: D1Database,
  ref: IdempotencyKeyRef,
): Promise<{ record: IdempotencyRow | null } | null> {
  const row = await db
    .prepare(
      `SELECT ${KEY_COLUMNS_K}
         FROM organizations o
         LEFT JOIN connect_idempotency_keys k
           ON k.organization_id = o.id AND k.operation = ?2 AND k.key = ?3
        WHERE o.id = ?1`,
    )
    .bind(ref.organization_id, ref.operation, ref.key)
    .first<{ [K in keyof IdempotencyRow]: IdempotencyRow[K] | null }>();
  if (!row) return null;
  return { record: row.key === null ? null : (row as IdempotencyRow) };
}

/**
 * Records Stripe's object on the record in one statement, only while it holds none, so a
 * record never changes the object it names. The row after the write, or null when nothing
 * was written (no such record, or completed already: see `findIdempotencyKey`).
 */
export function completeIdempotencyKey(
  db: D1Database,
  ref: IdempotencyKeyRef,
  stripeObjectId: string,
  completedAt: string,
): Promise<IdempotencyRow | null> {
  return db
    .prepare(
      `UPDATE connect_idempotency_keys
          SET stripe_object_id = ?4, completed_at = ?5
        WHERE ${KEY_MATCH} AND stripe_object_id IS NULL
        RETURNING ${KEY_COLUMNS}`,
    )
    .bind(ref.organization_id, ref.operation, ref.key, stripeObjectId, completedAt)
    .first<IdempotencyRow>();
}

/**
 * Deletes the record in one statement only while it names no Stripe object (Stripe refused,
 * nothing was made); a completed record is kept forever. True when this call deleted it.
 */
export async function releaseIdempotencyKey(db: D1Database, ref: IdempotencyKeyRef): Promise<boolean> {
  const deleted = await db
    .prepare(`DELETE FROM connect_idempotency_keys WHERE ${KEY_MATCH} AND stripe_object_id IS NULL RETURNING key`)
    .bind(ref.organization_id, ref.operation, ref.key)
    .first<{ key: string }>();
  return deleted !== null;
}

/** One part of a claim settled, and what settled it (migrations/0005). */
export interface ClaimSettlement {
  key: string;
  amount: number;
  kind: SettlementKind;
  created_at: string;
}

/** A claim as the contract answers it: `open` is what is left, `settlements` oldest first. */
export interface Claim {
  id: string;
  organization_id: string;
  amount: number;
  currency: string;
  settled: number;
  open: number;
  cause: ClaimCause;
  cause_id: string;
  transfer_id: string;
  created_at: string;
  settlements: ClaimSettlement[];
}

/** A row of `connect_claims` read with its settlements as one JSON array (text). */
export type ClaimRow = Omit<Claim, "open" | "settlements"> & { settlements: string };

/** What one currency's open claims add up to. */
export interface ClaimTotal {
  currency: string;
  open: number;
}

const CLAIM_COLUMNS = "id, organization_id, amount, currency, settled, cause, cause_id, transfer_id, created_at";
const CLAIM_COLUMNS_C = CLAIM_COLUMNS.split(", ")
  .map((c) => `c.${c}`)
  .join(", ");
/** A claim's settlements as one JSON array, oldest first, read in the claim's own statement. */
const SETTLEMENTS_OF_C = `(SELECT json_group_array(json_object('key', s.key, 'amount', s.amount, 'kind', s.kind, 'created_at', s.created_at))
     FROM (SELECT * FROM connect_claim_settlements WHERE claim_id = c.id ORDER BY created_at, rowid) s) AS settlements`;
const OPEN = "settled < amount";

export function toClaim(row: ClaimRow): Claim {
  const { settlements, ...claim } = row;
  return { ...claim, open: row.amount - row.settled, settlements: JSON.parse(settlements) as ClaimSettlement[] };
}

/** A new claim's id: `clm_` and 128 random bits in hex. */
export function newClaimId(): string {
  return `clm_${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * Inserts the claim in one statement unless one is held under (organization, cause, cause_id,
 * transfer_id), whatever its amount, or the organization does not exist; the row this call
 * inserted, else null (see `findClaim`). Of concurrent records of one claim exactly one inserts.
 */
export async function recordClaim(
  db: D1Database,
  claim: RecordClaimRequest,
  id: string,
  createdAt: string,
): Promise<ClaimRow | null> {
  const row = await db
    .prepare(
      `INSERT INTO connect_claims (${CLAIM_COLUMNS})
       SELECT ?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8
        WHERE EXISTS (SELECT 1 FROM organizations WHERE id = ?2)
       ON CONFLICT (organization_id, cause, cause_id, transfer_id) DO NOTHING
       RETURNING ${CLAIM_COLUMNS}`,
    )
    .bind(id, claim.organization_id, claim.amount, claim.currency, claim.cause, claim.cause_id, claim.transfer_id, createdAt)
    .first<Omit<ClaimRow, "settlements">>();
  return row && { ...row, settlements: "[]" };
}

/**
 * The organization's existence and its claim under (cause, cause_id, transfer_id), in one
 * read: null when no such organization; `claim` null when it holds none.
 */
export async function findClaim(
  db: D1Database,
  ref: Pick<RecordClaimRequest, "organization_id" | "cause" | "cause_id" | "transfer_id">,
): Promise<{ claim: ClaimRow | null } | null> {
  const row = await db
    .prepare(
      `SELECT o.id AS org, ${CLAIM_COLUMNS_C}, ${SETTLEMENTS_OF_C}
         FROM organizations o
         LEFT JOIN connect_claims c
           ON c.organization_id = o.id AND c.cause = ?2 AND c.cause_id = ?3 AND c.transfer_id = ?4
        WHERE o.id = ?1`,
    )
    .bind(ref.organization_id, ref.cause, ref.cause_id, ref.transfer_id)
    .first<{ org: string } & { [K in keyof ClaimRow]: ClaimRow[K] | null }>();
  if (!row) return null;
  const { org: _org, ...claim } = row;
  return { claim: claim.id === null ? null : (claim as ClaimRow) };
}

/** Which claims a page holds: those after `after` in FIFO order that pass the filters. */
export interface ClaimQuery {
  organizationId: string | null;
  openOnly: boolean;
  currency: string | null;
  after: ClaimPosition | null;
  limit: number;
}

/**
 * Up to `limit` claims in FIFO order (created_at, id) after `after`, each with its
 * settlements, and what the open claims passing the organization and currency filters add up
 * to per currency (over all of them, not the page). One batch: one snapshot of D1.
 */
export async function listClaims(
  db: D1Database,
  query: ClaimQuery,
): Promise<{ claims: ClaimRow[]; totals: ClaimTotal[] }> {
  const scope: string[] = [];
  const scopeValues: unknown[] = [];
  if (query.organizationId !== null) {
    scope.push("organization_id = ?");
    scopeValues.push(query.organizationId);
  }
  if (query.currency !== null) {
    scope.push("currency = ?");
    scopeValues.push(query.currency);
  }
  const where = [...scope];
  const values = [...scopeValues];
  if (query.openOnly) where.push(OPEN);
  if (query.after !== null) {
    where.push("(created_at, id) > (?, ?)");
    values.push(query.after.created_at, query.after.id);
  }
  values.push(query.limit);
  const filter = (conditions: string[]) => (conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "");
  const [page, totals] = await db.batch([
    db
      .prepare(`SELECT ${CLAIM_COLUMNS_C}, ${SETTLEMENTS_OF_C} FROM connect_claims c ${filter(where)} ORDER BY created_at, id LIMIT ?`)
      .bind(...values),
    db
      .prepare(
        `SELECT currency, SUM(amount - settled) AS open FROM connect_claims ${filter([...scope, OPEN])}
          GROUP BY currency ORDER BY currency`,
      )
      .bind(...scopeValues),
  ]);
  return { claims: (page?.results ?? []) as ClaimRow[], totals: (totals?.results ?? []) as ClaimTotal[] };
}

/** What `settleClaim` did: `applied` when this call added the settlement; the claim after. */
export interface SettleOutcome {
  applied: boolean;
  claim: ClaimRow | null;
}

/**
 * Settles part of a claim in one transactional batch: the settlement is inserted only when its
 * key is new and the claim has room for its amount (`settled + amount <= amount`), then
 * `settled` is set to the sum of the claim's settlements (so it never counts one twice; the
 * CHECK on `settled <= amount` is the last guard), then the claim is read back. D1 runs a
 * batch as one transaction, so concurrent settlements of one claim never interleave.
 * `claim` is null when there is no such claim.
 */
export async function settleClaim(
  db: D1Database,
  claimId: string,
  settlement: SettleClaimRequest,
  createdAt: string,
): Promise<SettleOutcome> {
  const [inserted, , after] = await db.batch([
    db
      .prepare(
        `INSERT INTO connect_claim_settlements (claim_id, key, amount, kind, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5
          WHERE EXISTS (SELECT 1 FROM connect_claims WHERE id = ?1 AND settled + ?3 <= amount)
         ON CONFLICT (claim_id, key) DO NOTHING
         RETURNING key`,
      )
      .bind(claimId, settlement.key, settlement.amount, settlement.kind, createdAt),
    db
      .prepare(
        `UPDATE connect_claims
            SET settled = (SELECT COALESCE(SUM(amount), 0) FROM connect_claim_settlements WHERE claim_id = ?1)
          WHERE id = ?1`,
      )
      .bind(claimId),
    db.prepare(`SELECT ${CLAIM_COLUMNS_C}, ${SETTLEMENTS_OF_C} FROM connect_claims c WHERE c.id = ?1`).bind(claimId),
  ]);
  return {
    applied: (inserted?.results.length ?? 0) > 0,
    claim: ((after?.results ?? [])[0] as ClaimRow | undefined) ?? null,
  };
}

/**
 * Undoes an organization's `transfer` settlements under `key` (a transfer sent net of claims
 * that Stripe then refused) in one transactional batch: each affected claim's `settled`
 * becomes the sum of its other settlements, then those settlements are deleted. Settlements
 * of another kind, key or organization are left alone. Returns how many were deleted (0 when
 * none: safe to repeat).
 */
export async function releaseClaimSettlements(
  db: D1Database,
  release: ReleaseClaimSettlementsRequest,
): Promise<number> {
  const released = "s.key = ?2 AND s.kind = 'transfer'";
  const [, deleted] = await db.batch([
    db
      .prepare(
        `UPDATE connect_claims AS c
            SET settled = (SELECT COALESCE(SUM(s.amount), 0) FROM connect_claim_settlements s
                            WHERE s.claim_id = c.id AND NOT (${released}))
          WHERE c.organization_id = ?1
            AND EXISTS (SELECT 1 FROM connect_claim_settlements s WHERE s.claim_id = c.id AND ${released})`,
      )
      .bind(release.organization_id, release.key),
    db
      .prepare(
        `DELETE FROM connect_claim_settlements
          WHERE key = ?2 AND kind = 'transfer'
            AND claim_id IN (SELECT id FROM connect_claims WHERE organization_id = ?1)
          RETURNING claim_id`,
      )
      .bind(release.organization_id, release.key),
  ]);
  return deleted?.results.length ?? 0;
}
