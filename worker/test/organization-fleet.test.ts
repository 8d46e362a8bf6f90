import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { encodeCursor, encodeDeadlineCursor, encodeSyncCursor } from "../src/internal/cursor";
import { countStatement, listStatement, type OrganizationFilters, type PageQuery } from "../src/internal/db";
import { expectInvalid, insertOrganization, internal, unique, walkPages, type Answer } from "./helpers";

// The list's filters and orders for a fleet (issue 23): reconcile's choice of whom to read,
// the console's search, sort and counts; and the indexes of migrations/0007 under each.

function query(params: Record<string, string | number | boolean> | string): string {
  const text =
    typeof params === "string"
      ? params
      : new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return text ? `?${text}` : "";
}

function list(params: Record<string, string | number | boolean> | string = {}): Promise<Answer> {
  return internal("GET", `/organizations${query(params)}`, {}, "/organizations");
}

function counts(params: Record<string, string | number | boolean> | string = {}): Promise<Answer> {
  return internal("GET", `/organization-counts${query(params)}`, {}, "/organization-counts");
}

/** Every organization the query passes, page after page. */
async function walk(params: Record<string, string | number | boolean>): Promise<string[]> {
  const { ids } = await walkPages((cursor) => list(cursor === null ? params : { ...params, cursor }), "organizations");
  return ids;
}

interface Row {
  name?: string;
  account?: boolean;
  status?: string | null;
  step?: string;
  synced?: string | null;
  deadline?: string | null;
}

/** An organization with these Connect columns (a fresh account id when `account`). */
async function org(row: Row = {}): Promise<string> {
  const id = await insertOrganization();
  await env.DB.prepare(
    `UPDATE organizations
        SET name = COALESCE(?2, name), stripe_connect_account_id = ?3, stripe_connect_status = ?4,
            onboarding_step = COALESCE(?5, onboarding_step), stripe_connect_synced_at = ?6,
            stripe_connect_requirements_deadline = ?7
      WHERE id = ?1`,
  )
    .bind(id, row.name ?? null, row.account ? unique("acct_") : null, row.status ?? null, row.step ?? null, row.synced ?? null, row.deadline ?? null)
    .run();
  return id;
}

const T = (day: number) => `2026-11-${String(day).padStart(2, "0")}T10:00:00.000Z`;

beforeEach(async () => {
  await env.DB.prepare("DELETE FROM organizations").run();
});

describe("organizations: whom reconcile reads", () => {
  let unlinked: string;
  let pending: string;
  let due: string;
  let review: string;
  let listed: string;
  let fresh: string;
  let stale: string;
  let never: string;
  let rejected: string;

  beforeEach(async () => {
    unlinked = await org();
    pending = await org({ account: true, status: "pending", step: "details_submission", synced: T(20) });
    due = await org({ account: true, status: "active", step: "action_required", synced: T(3) });
    review = await org({ account: true, status: "pending", step: "under_review", synced: T(10) });
    listed = await org({ account: true, status: "disabled", step: "under_review", synced: null });
    fresh = await org({ account: true, status: "active", step: "complete", synced: T(25) });
    stale = await org({ account: true, status: "active", step: "complete", synced: T(2) });
    never = await org({ account: true, status: "active", step: "complete", synced: null });
    rejected = await org({ account: true, status: "disabled", step: "rejected", synced: T(5) });
  });

  it("unsettled=true answers the accounts not yet settled, never synced first, then oldest sync", async () => {
    expect(await walk({ unsettled: true, order: "synced_at", limit: 2 })).toEqual([listed, due, review, pending]);
  });

  it("unsettled=false answers every other linked account; never an unlinked organization", async () => {
    const ids = await walk({ unsettled: false, order: "synced_at", limit: 2 });
    expect(ids).toEqual([never, stale, rejected, fresh]);
    expect(ids).not.toContain(unlinked);
  });

  it("synced_before answers those never synced or synced before the time, oldest first", async () => {
    expect(await walk({ linked: true, unsettled: false, synced_before: T(10), order: "synced_at" })).toEqual([
      never,
      stale,
      rejected,
    ]);
    // The exact time is not before itself.
    expect(await walk({ linked: true, synced_before: T(2), order: "synced_at" })).toEqual([listed, never]);
  });

  it("synced_before takes any offset and compares in UTC", async () => {
    expect(await walk({ unsettled: false, synced_before: "2026-11-05T12:00:00.000+02:00", order: "synced_at" })).toEqual([
      never,
      stale,
    ]);
  });

  it("step= answers only that step, in id order unless told", async () => {
    expect(await walk({ step: "under_review" })).toEqual([review, listed].sort());
    expect(await walk({ step: "complete", order: "-synced_at", limit: 1 })).toEqual([fresh, stale, never]);
  });
});

describe("organizations: last-sync order", () => {
  it("pages through ties on the same sync by id, both ways, and a cursor is refused by the other order", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await org({ account: true, status: "active", step: "complete", synced: T(i % 2 ? 4 : 7) }));
    const never = await org({ account: true, status: "pending", step: "details_submission" });
    const oldestFirst = await walk({ order: "synced_at", limit: 2 });
    const at4 = ids.filter((_, i) => i % 2).sort();
    const at7 = ids.filter((_, i) => !(i % 2)).sort();
    expect(oldestFirst).toEqual([never, ...at4, ...at7]);
    expect(await walk({ order: "-synced_at", limit: 2 })).toEqual([...oldestFirst].reverse());

    const first = await list({ order: "synced_at", limit: 2 });
    for (const other of [{ order: "-synced_at" }, {}] as Record<string, string>[]) {
      const answer = await list({ ...other, cursor: first.body.next_cursor });
      expect(answer.status).toBe(400);
      expect(answer.body.error.param).toBe("cursor");
    }
    const idCursor = await list({ order: "synced_at", cursor: encodeCursor(never) });
    expect(idCursor.status).toBe(400);
  });

  it("a row synced behind the cursor during the walk is not seen twice", async () => {
    const [a, b, c] = [await org({ account: true, synced: T(1) }), await org({ account: true, synced: T(2) }), await org({ account: true, synced: T(3) })];
    const first = await list({ order: "synced_at", limit: 1 });
    expect(first.body.organizations[0].id).toBe(a);
    // `a` is synced now: it moves to the end, after the rows still to come, and is met again
    // only there (reconcile's walks bound this with synced_before = the run's start).
    await env.DB.prepare("UPDATE organizations SET stripe_connect_synced_at = ?2 WHERE id = ?1").bind(a, T(28)).run();
    const rest = await walk({ order: "synced_at", limit: 1, cursor: first.body.next_cursor });
    expect(rest).toEqual([b, c, a]);
    expect(await walk({ order: "synced_at", synced_before: T(20) })).toEqual([b, c]);
  });
});

describe("organizations: requirements deadline order (migrations/0009)", () => {
  const D = (day: number, hour = 0) => `2026-12-${String(day).padStart(2, "0")}T${String(hour).padStart(2, "0")}:00:00.000Z`;
  const due = (deadline: string | null, synced: string | null) =>
    org({ account: true, status: "active", step: "action_required", synced, deadline });

  it("answers the nearest deadline first, none last; ties by last sync (never synced first), then id; page after page", async () => {
    const far = await due(D(20), T(1));
    const near = await due(D(2), T(9));
    const noneOld = await due(null, T(1));
    const noneNever = await due(null, null);
    const tie = [await due(D(5), T(4)), await due(D(5), T(4)), await due(D(5), T(4))].sort();
    const tieNever = await due(D(5), null);
    const tieOlder = await due(D(5), T(2));
    const nearHour = await due(D(2, 1), T(1));
    const expected = [near, nearHour, tieNever, tieOlder, ...tie, far, noneNever, noneOld];
    for (const limit of [1, 2, 3, 50]) expect(await walk({ order: "deadline", limit })).toEqual(expected);
    // The filters apply as in any order: reconcile's first group.
    const complete = await org({ account: true, status: "active", step: "complete", synced: T(1), deadline: D(1) });
    expect(await walk({ order: "deadline", step: "action_required", linked: true, synced_before: T(5), limit: 2 })).toEqual([
      nearHour,
      tieNever,
      tieOlder,
      ...tie,
      far,
      noneNever,
      noneOld,
    ]);
    expect((await walk({ order: "deadline", limit: 4 }))[0]).toBe(complete);
  });

  it("a row whose deadline moves behind the cursor during the walk is not seen twice", async () => {
    const [a, b, c] = [await due(D(1), T(1)), await due(D(2), T(1)), await due(D(3), T(1))];
    const first = await list({ order: "deadline", limit: 1 });
    expect(first.body.organizations[0].id).toBe(a);
    expect(first.body.organizations[0].stripe_connect_requirements_deadline).toBe(D(1));
    await env.DB.prepare("UPDATE organizations SET stripe_connect_requirements_deadline = NULL WHERE id = ?1").bind(a).run();
    expect(await walk({ order: "deadline", limit: 1, cursor: first.body.next_cursor })).toEqual([b, c, a]);
  });

  it("a deadline cursor is refused by every other order, and theirs by it", async () => {
    for (let i = 0; i < 3; i++) await due(D(i + 1), T(1));
    const deadlineCursor = (await list({ order: "deadline", limit: 1 })).body.next_cursor;
    const syncCursor = (await list({ order: "synced_at", limit: 1 })).body.next_cursor;
    const idCursor = (await list({ limit: 1 })).body.next_cursor;
    for (const other of [{ order: "synced_at" }, { order: "-synced_at" }, {}] as Record<string, string>[]) {
      expectInvalid(await list({ ...other, cursor: deadlineCursor }), "cursor");
    }
    for (const cursor of [syncCursor, idCursor]) expectInvalid(await list({ order: "deadline", cursor }), "cursor");
  });
});

describe("organizations: name search", () => {
  it("answers the names that start with the text, ASCII case folded, in either order", async () => {
    const acme = await org({ name: "Acme Bikes" });
    const acmeCo = await org({ name: "ACME co", account: true, status: "active", step: "complete", synced: T(1) });
    await org({ name: "The Acme" });
    await org({ name: "Acm" });
    expect(await walk({ name: "acme" })).toEqual([acme, acmeCo].sort());
    expect(await walk({ name: "aCMe", order: "synced_at" })).toEqual([acme, acmeCo]);
    expect(await walk({ name: "acme", status: "active" })).toEqual([acmeCo]);
    expect(await walk({ name: "Acme Bikes!" })).toEqual([]);
  });

  it("reads % and _ as themselves, not as patterns", async () => {
    const percent = await org({ name: "100% Co" });
    await org({ name: "1000 Co" });
    expect(await walk({ name: "100%" })).toEqual([percent]);
    expect(await walk({ name: "100_" })).toEqual([]);
  });
});

describe("organization-counts", () => {
  it("counts every organization per status in one answer", async () => {
    await org();
    await org();
    await org({ account: true, status: "pending", step: "details_submission" });
    await org({ account: true, status: "active", step: "complete", synced: T(1) });
    await org({ account: true, status: "active", step: "action_required", synced: T(9) });
    await org({ account: true, status: "disabled", step: "deauthorized", synced: T(9) });
    const answer = await counts();
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ total: 6, by_status: { not_started: 2, pending: 1, active: 2, disabled: 1 } });
  });

  it("counts only what the filters pass", async () => {
    await org({ name: "Acme" });
    await org({ name: "acme two", account: true, status: "active", step: "action_required", synced: T(9) });
    await org({ name: "Bolt", account: true, status: "active", step: "complete", synced: T(1) });
    const zero = { not_started: 0, pending: 0, active: 0, disabled: 0 };
    expect((await counts({ name: "ACME" })).body).toEqual({ total: 2, by_status: { ...zero, not_started: 1, active: 1 } });
    expect((await counts({ unsettled: true })).body).toEqual({ total: 1, by_status: { ...zero, active: 1 } });
    expect((await counts({ unsettled: false, synced_before: T(5) })).body).toEqual({ total: 1, by_status: { ...zero, active: 1 } });
    expect((await counts({ linked: false })).body).toEqual({ total: 1, by_status: { ...zero, not_started: 1 } });
    expect((await counts({ step: "complete" })).body.total).toBe(1);
    expect((await counts({ name: "zzz" })).body).toEqual({ total: 0, by_status: zero });
  });

  it.each([
    ["status=active", "status"],
    ["unsettled=yes", "unsettled"],
    ["synced_before=yesterday", "synced_before"],
    ["name=", "name"],
    ["step=done", "step"],
    ["limit=5", "limit"],
    ["name=a&name=b", "name"],
  ])("answers 400 invalid_request naming the parameter for ?%s", async (text, field) => {
    expectInvalid(await counts(text), field);
  });
});

describe("organizations: the new parameters' validation", () => {
  it.each([
    ["order=name", "order"],
    ["order=", "order"],
    ["step=Complete", "step"],
    ["unsettled=1", "unsettled"],
    ["synced_before=2026-11-01", "synced_before"],
    ["synced_before=2026-11-01T10:00:00", "synced_before"],
    ["name=", "name"],
    [`name=${"a".repeat(201)}`, "name"],
    [`cursor=${encodeSyncCursor({ synced: "", id: "org_1", order: "synced_at" })}`, "cursor"],
    [`order=deadline&cursor=${encodeSyncCursor({ synced: "", id: "org_1", order: "synced_at" })}`, "cursor"],
    [`cursor=${encodeDeadlineCursor({ deadline: "~", synced: "", id: "org_1" })}`, "cursor"],
    ["order=-deadline", "order"],
  ])("answers 400 invalid_request naming the parameter for ?%s", async (text, field) => {
    expectInvalid(await list(text), field);
  });
});

/** The plan SQLite would follow for a statement: its detail lines. */
async function plan(statement: { sql: string; values: unknown[] }): Promise<string> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${statement.sql}`)
    .bind(...statement.values)
    .all<{ detail: string }>();
  return results.map((r) => r.detail).join("\n");
}

describe("organizations: an index under every filter and order (migrations/0007, 0009)", () => {
  const page = (query: Partial<PageQuery>): PageQuery => ({ after: null, limit: 101, ...query });
  it.each<[string, PageQuery, string]>([
    ["the console's default page", page({}), "sqlite_autoindex_organizations_1"],
    ["status, by id", page({ status: "active" }), "organizations_by_status"],
    ["step, by id", page({ step: "action_required" }), "organizations_by_step"],
    ["name", page({ name: "acme" }), "organizations_by_name"],
    ["name, by last sync", page({ name: "acme", order: "synced_at" }), "organizations_by_name"],
    ["by last sync", page({ order: "synced_at" }), "organizations_by_sync"],
    ["newest sync first, after a cursor", page({ order: "-synced_at", after: { synced: T(3), id: "org_1" } }), "organizations_by_sync"],
    ["unsettled, by last sync, after a cursor", page({ unsettled: true, order: "synced_at", after: { synced: "", id: "o" }, syncedBefore: T(9) }), "organizations_by_step"],
    ["settled and stale, by last sync", page({ unsettled: false, order: "synced_at", syncedBefore: T(9) }), "organizations_by_sync"],
    ["synced before, by last sync", page({ linked: true, order: "synced_at", syncedBefore: T(9) }), "organizations_by_sync"],
    ["by deadline", page({ order: "deadline" }), "organizations_by_deadline"],
    ["by deadline, after a cursor", page({ order: "deadline", after: { deadline: "2026-12-01T00:00:00.000Z", synced: T(3), id: "o" } }), "organizations_by_deadline"],
    ["reconcile's requirements due, by deadline, after a cursor", page({ step: "action_required", linked: true, order: "deadline", syncedBefore: T(9), after: { deadline: "~", synced: "", id: "o" } }), "organizations_by_step_deadline"],
  ])("%s", async (_what, query, index) => {
    const detail = await plan(listStatement(query));
    expect(detail).toContain(index);
    expect(detail).not.toMatch(/SCAN organizations$/m);
    // The deadline orders are read in the index's order, never sorted afterwards.
    if (query.order === "deadline") expect(detail).not.toContain("TEMP B-TREE");
  });

  it.each<[string, OrganizationFilters, string]>([
    ["counts by name", { name: "acme" }, "organizations_by_name"],
    ["counts of the unsettled", { unsettled: true }, "organizations_by_status"],
    ["counts of a step", { step: "complete" }, "organizations_by_step"],
    ["counts of the stale", { syncedBefore: T(9) }, "organizations_by_sync"],
  ])("%s", async (_what, filters, index) => {
    expect(await plan(countStatement(filters))).toContain(index);
  });
});
