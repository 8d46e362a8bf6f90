import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { encodeCursor } from "../src/internal/cursor";
import { expectInvalid, insertOrganization, internal, unique, walkPages, type Answer } from "./helpers";

/** GET /organizations with these query parameters; the answer is checked against the contract. */
function list(params: Record<string, string | number | boolean> | string = {}, key?: string | null): Promise<Answer> {
  const query =
    typeof params === "string"
      ? params
      : new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return internal("GET", `/organizations${query ? `?${query}` : ""}`, key === undefined ? {} : { key }, "/organizations");
}

/** Every organization the filters pass, page by page with `limit`; also the number of pages. */
function walk(params: Record<string, string | number | boolean>): Promise<{ ids: string[]; pages: number }> {
  return walkPages((cursor) => list(cursor === null ? params : { ...params, cursor }), "organizations");
}

async function insertMany(n: number): Promise<string[]> {
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(await insertOrganization());
  return ids.sort();
}

/** Sets the stored Connect columns directly. */
async function setConnect(id: string, account: string | null, status: string | null, step: string): Promise<void> {
  await env.DB.prepare(
    `UPDATE organizations SET stripe_connect_account_id = ?2, stripe_connect_status = ?3, onboarding_step = ?4 WHERE id = ?1`,
  )
    .bind(id, account, status, step)
    .run();
}

// D1 keeps rows between the tests of a file; each test here starts from no organizations.
beforeEach(async () => {
  await env.DB.prepare("DELETE FROM organizations").run();
});

describe("organizations: pages", () => {
  it("answers an empty page with no cursor when there are no organizations", async () => {
    const answer = await list();
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ organizations: [], next_cursor: null });
  });

  it("answers organizations as the contract shapes them, in id order", async () => {
    const ids = await insertMany(3);
    const answer = await list();
    expect(answer.body.organizations.map((o: { id: string }) => o.id)).toEqual(ids);
    expect(answer.body.organizations[0]).toMatchObject({ id: ids[0], stripe_connect_account_id: null });
    expect(answer.body.next_cursor).toBeNull();
  });

  it("gives no cursor when the organizations fill exactly one page", async () => {
    await insertMany(3);
    const answer = await list({ limit: 3 });
    expect(answer.body.organizations).toHaveLength(3);
    expect(answer.body.next_cursor).toBeNull();
  });

  it("gives a cursor when one more organization than the limit exists, and the next page holds it", async () => {
    const ids = await insertMany(4);
    const first = await list({ limit: 3 });
    expect(first.body.organizations.map((o: { id: string }) => o.id)).toEqual(ids.slice(0, 3));
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await list({ limit: 3, cursor: first.body.next_cursor });
    expect(second.body.organizations.map((o: { id: string }) => o.id)).toEqual(ids.slice(3));
    expect(second.body.next_cursor).toBeNull();
  });

  it("walks every organization once, in order, page by page", async () => {
    const ids = await insertMany(7);
    const { ids: seen, pages } = await walk({ limit: 2 });
    expect(seen).toEqual(ids);
    expect(pages).toBe(4);
  });

  it("pages by 50 when no limit is given", async () => {
    const ids = await insertMany(51);
    const first = await list();
    expect(first.body.organizations).toHaveLength(50);
    const second = await list({ cursor: first.body.next_cursor });
    expect(second.body.organizations.map((o: { id: string }) => o.id)).toEqual(ids.slice(50));
    expect(second.body.next_cursor).toBeNull();
  });

  it("accepts the limit's bounds, 1 and 200", async () => {
    const ids = await insertMany(2);
    const one = await list({ limit: 1 });
    expect(one.body.organizations.map((o: { id: string }) => o.id)).toEqual([ids[0]]);
    expect(one.body.next_cursor).not.toBeNull();
    const most = await list({ limit: 200 });
    expect(most.status).toBe(200);
    expect(most.body.organizations).toHaveLength(2);
  });

  it("starts after the cursor's organization, even one that has since gone", async () => {
    const ids = await insertMany(3);
    await env.DB.prepare("DELETE FROM organizations WHERE id = ?1").bind(ids[1]).run();
    const answer = await list({ cursor: encodeCursor(ids[1]!) });
    expect(answer.body.organizations.map((o: { id: string }) => o.id)).toEqual([ids[2]]);
  });

  it("sees an organization created behind the cursor on a later page, never one before it", async () => {
    const [a, b] = await insertMany(2);
    const first = await list({ limit: 1 });
    expect(first.body.organizations[0].id).toBe(a);
    // Ids sort by the time they were made: this one sorts after both.
    const later = await insertOrganization();
    const rest = await walk({ limit: 1, cursor: first.body.next_cursor });
    expect(rest.ids).toEqual([b, later]);
  });
});

describe("organizations: filters", () => {
  let unlinked: string;
  let pending: string;
  let active: string;
  let deauthorized: string;

  beforeEach(async () => {
    [unlinked, pending, active, deauthorized] = await insertMany(4) as [string, string, string, string];
    await setConnect(pending, unique("acct_"), "pending", "details_submission");
    await setConnect(active, unique("acct_"), "active", "complete");
    await setConnect(deauthorized, unique("acct_"), "disabled", "deauthorized");
  });

  it.each([
    ["not_started", () => [unlinked]],
    ["pending", () => [pending]],
    ["active", () => [active]],
    ["disabled", () => [deauthorized]],
  ])("status=%s answers only those organizations", async (status, expected) => {
    const { ids } = await walk({ status, limit: 1 });
    expect(ids).toEqual(expected());
  });

  it("linked=true answers the organizations holding an account, linked=false the others", async () => {
    expect((await walk({ linked: true, limit: 2 })).ids).toEqual([pending, active, deauthorized]);
    expect((await walk({ linked: false })).ids).toEqual([unlinked]);
  });

  it("combines the filters", async () => {
    expect((await walk({ linked: true, status: "active" })).ids).toEqual([active]);
    expect((await walk({ linked: true, status: "not_started" })).ids).toEqual([]);
  });

  it("gives no cursor when the filtered organizations fill exactly one page", async () => {
    const answer = await list({ linked: true, limit: 3 });
    expect(answer.body.organizations).toHaveLength(3);
    expect(answer.body.next_cursor).toBeNull();
  });
});

describe("organizations: validation", () => {
  const json = (value: unknown) => btoa(JSON.stringify(value)).replaceAll("=", "");
  it.each([
    ["limit=0", "limit"],
    ["limit=201", "limit"],
    ["limit=-1", "limit"],
    ["limit=1.5", "limit"],
    ["limit=1e2", "limit"],
    ["limit=abc", "limit"],
    ["limit=", "limit"],
    ["limit=%205", "limit"],
    ["limit=1&limit=2", "limit"],
    ["cursor=", "cursor"],
    ["cursor=nope!", "cursor"],
    ["cursor=bm9wZQ", "cursor"], // "nope"
    [`cursor=${json({ before: "org_1" })}`, "cursor"],
    [`cursor=${json({ after: "" })}`, "cursor"],
    [`cursor=${json({ after: 7 })}`, "cursor"],
    [`cursor=${json({ after: "org_1", also: 1 })}`, "cursor"],
    [`cursor=${json(["org_1"])}`, "cursor"],
    ["status=paused", "status"],
    ["status=", "status"],
    ["status=Active", "status"],
    ["linked=yes", "linked"],
    ["linked=1", "linked"],
    ["linked=", "linked"],
    ["page=2", "page"],
  ])("answers 400 invalid_request naming the parameter (message and param) for ?%s", async (query, field) => {
    expectInvalid(await list(query), field);
  });

  it("needs the API key like every internal endpoint", async () => {
    const answer = await list({}, null);
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
  });
});
