import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeCursor } from "../src/internal/cursor";
import { insertOrganization, internal, unique, type Answer } from "./helpers";

const record = (body: unknown) => internal("POST", "/claims", { body });
const settle = (id: string, body: unknown) =>
  internal("POST", `/claims/${encodeURIComponent(id)}/settlements`, { body }, "/claims/{id}/settlements");
function list(params: Record<string, string | number> = {}): Promise<Answer> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return internal("GET", `/claims${query ? `?${query}` : ""}`, {}, "/claims");
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A claim no other test recorded, for a fresh organization unless one is given. */
async function claimBody(overrides: Record<string, unknown> = {}) {
  return {
    organization_id: await insertOrganization(),
    amount: 1000,
    currency: "usd",
    cause: "refund",
    cause_id: unique("re_"),
    transfer_id: unique("tr_"),
    ...overrides,
  };
}

async function recorded(overrides: Record<string, unknown> = {}) {
  const answer = await record(await claimBody(overrides));
  expect(answer.status).toBe(200);
  return answer.body.claim;
}

async function storedClaim(id: string) {
  return env.DB.prepare(`SELECT * FROM connect_claims WHERE id = ?1`).bind(id).first();
}

/** Every claim of the query, page by page. */
async function walk(params: Record<string, string | number>): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const answer = await list(cursor === null ? params : { ...params, cursor });
    expect(answer.status).toBe(200);
    pages += 1;
    ids.push(...answer.body.claims.map((c: { id: string }) => c.id));
    cursor = answer.body.next_cursor;
  } while (cursor !== null && pages < 100);
  return { ids, pages };
}

describe("claims: record", () => {
  it("records a claim and answers it with created true", async () => {
    const body = await claimBody({ cause: "dispute", cause_id: unique("dp_") });
    const answer = await record(body);
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(true);
    expect(answer.body.claim).toEqual({
      ...body,
      id: expect.stringMatching(/^clm_[0-9a-f]{32}$/),
      settled: 0,
      open: 1000,
      created_at: expect.stringMatching(ISO_MS),
      settlements: [],
    });
    expect(await storedClaim(answer.body.claim.id)).toMatchObject({ settled: 0, amount: 1000 });
  });

  it("answers the claim already held with created false, whatever its amount, and changes nothing", async () => {
    const body = await claimBody();
    const first = await record(body);
    const again = await record({ ...body, amount: 7 });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ claim: first.body.claim, created: false });
  });

  it("keeps claims apart by cause, cause id and transfer", async () => {
    const body = await claimBody();
    expect((await record(body)).body.created).toBe(true);
    expect((await record({ ...body, cause: "manual" })).body.created).toBe(true);
    expect((await record({ ...body, cause_id: unique("re_") })).body.created).toBe(true);
    expect((await record({ ...body, transfer_id: unique("tr_") })).body.created).toBe(true);
  });

  it("lets exactly one of several concurrent records of one claim create it; all answer that claim", async () => {
    const body = await claimBody();
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => record({ ...body, amount: 100 + i })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const created = answers.filter((a) => a.body.created === true);
    expect(created).toHaveLength(1);
    for (const answer of answers) expect(answer.body.claim).toEqual(created[0]!.body.claim);
  });

  it("answers 404 not_found for an unknown organization and stores nothing", async () => {
    const body = await claimBody({ organization_id: unique("org_missing") });
    const answer = await record(body);
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
    const { results } = await env.DB.prepare(`SELECT id FROM connect_claims WHERE organization_id = ?1`)
      .bind(body.organization_id)
      .all();
    expect(results).toHaveLength(0);
  });

  it("answers a held claim with its settlements", async () => {
    const body = await claimBody();
    const { claim } = (await record(body)).body;
    await settle(claim.id, { key: "tr_next", amount: 300, kind: "transfer" });
    const again = await record(body);
    expect(again.body.claim).toMatchObject({ settled: 300, open: 700, settlements: [{ key: "tr_next", amount: 300 }] });
  });

  it("is removed with its organization, settlements too", async () => {
    const claim = await recorded();
    await settle(claim.id, { key: "tr_1", amount: 1, kind: "transfer" });
    await env.DB.prepare(`DELETE FROM organizations WHERE id = ?1`).bind(claim.organization_id).run();
    expect(await storedClaim(claim.id)).toBeNull();
    const left = await env.DB.prepare(`SELECT key FROM connect_claim_settlements WHERE claim_id = ?1`).bind(claim.id).all();
    expect(left.results).toHaveLength(0);
  });

  it("refuses in D1 itself what the API never writes", async () => {
    const claim = await recorded();
    for (const sql of [
      `UPDATE connect_claims SET settled = amount + 1 WHERE id = ?1`,
      `UPDATE connect_claims SET settled = -1 WHERE id = ?1`,
      `UPDATE connect_claims SET amount = 0, settled = 0 WHERE id = ?1`,
      `UPDATE connect_claims SET currency = 'USD' WHERE id = ?1`,
      `UPDATE connect_claims SET cause = 'chargeback' WHERE id = ?1`,
    ]) {
      await expect(env.DB.prepare(sql).bind(claim.id).run()).rejects.toThrow(/CHECK constraint failed/);
    }
  });
});

describe("claims: settle", () => {
  it("settles part of a claim and answers it with applied true", async () => {
    const claim = await recorded();
    const answer = await settle(claim.id, { key: "tr_a", amount: 400, kind: "transfer" });
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(true);
    expect(answer.body.claim).toEqual({
      ...claim,
      settled: 400,
      open: 600,
      settlements: [{ key: "tr_a", amount: 400, kind: "transfer", created_at: expect.stringMatching(ISO_MS) }],
    });
  });

  it("answers the same key again with applied false and changes nothing, whatever its amount", async () => {
    const claim = await recorded();
    const first = await settle(claim.id, { key: "trr_1", amount: 250, kind: "reversal" });
    for (const amount of [250, 1, 5000]) {
      const again = await settle(claim.id, { key: "trr_1", amount, kind: "reversal" });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ claim: first.body.claim, applied: false });
    }
    expect(await storedClaim(claim.id)).toMatchObject({ settled: 250 });
  });

  it("settles a claim up to exactly its amount, then it is no longer open", async () => {
    const claim = await recorded();
    await settle(claim.id, { key: "tr_1", amount: 600, kind: "transfer" });
    const last = await settle(claim.id, { key: "tr_2", amount: 400, kind: "transfer" });
    expect(last.body).toMatchObject({ applied: true, claim: { settled: 1000, open: 0 } });
    expect(last.body.claim.settlements.map((s: { key: string }) => s.key)).toEqual(["tr_1", "tr_2"]);
  });

  it("answers 409 claim_exceeded with the claim for more than is open, and changes nothing", async () => {
    const claim = await recorded();
    const first = await settle(claim.id, { key: "tr_1", amount: 900, kind: "transfer" });
    const over = await settle(claim.id, { key: "tr_2", amount: 101, kind: "transfer" });
    expect(over.status).toBe(409);
    expect(over.body.error.code).toBe("claim_exceeded");
    expect(over.body.claim).toEqual(first.body.claim);
    expect(await storedClaim(claim.id)).toMatchObject({ settled: 900 });
    // The refused key is not taken: it may settle what is open.
    expect((await settle(claim.id, { key: "tr_2", amount: 100, kind: "transfer" })).body.applied).toBe(true);
  });

  it("never exceeds a claim under concurrent settlements with different keys", async () => {
    const claim = await recorded({ amount: 1000 });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => settle(claim.id, { key: `tr_${i}`, amount: 300, kind: "transfer" })),
    );
    const applied = answers.filter((a) => a.status === 200 && a.body.applied === true);
    expect(applied).toHaveLength(3);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(7);
    const stored = await storedClaim(claim.id);
    expect(stored).toMatchObject({ settled: 900 });
    const { results } = await env.DB.prepare(`SELECT SUM(amount) AS sum FROM connect_claim_settlements WHERE claim_id = ?1`)
      .bind(claim.id)
      .all<{ sum: number }>();
    expect(results[0]!.sum).toBe(900);
  });

  it("applies one of concurrent settlements with the same key once", async () => {
    const claim = await recorded();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => settle(claim.id, { key: "tr_same", amount: 200, kind: "transfer" })),
    );
    expect(answers.filter((a) => a.body.applied === true)).toHaveLength(1);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await storedClaim(claim.id)).toMatchObject({ settled: 200 });
  });

  it("answers 404 not_found for an unknown claim and stores nothing", async () => {
    const id = unique("clm_missing");
    const answer = await settle(id, { key: "tr_1", amount: 1, kind: "transfer" });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
    const left = await env.DB.prepare(`SELECT key FROM connect_claim_settlements WHERE claim_id = ?1`).bind(id).all();
    expect(left.results).toHaveLength(0);
  });
});

describe("claims: list", () => {
  it("answers an organization's open claims first in, first out, with their settlements and totals", async () => {
    const organization_id = await insertOrganization();
    const a = await recorded({ organization_id, amount: 500 });
    const b = await recorded({ organization_id, amount: 300 });
    const c = await recorded({ organization_id, amount: 200, currency: "eur" });
    const done = await recorded({ organization_id, amount: 100 });
    await settle(done.id, { key: "tr_full", amount: 100, kind: "transfer" });
    await settle(a.id, { key: "tr_part", amount: 50, kind: "transfer" });

    const answer = await list({ organization_id });
    expect(answer.status).toBe(200);
    expect(answer.body.claims.map((x: { id: string }) => x.id)).toEqual([a.id, b.id, c.id]);
    expect(answer.body.claims[0]).toMatchObject({ settled: 50, open: 450, settlements: [{ key: "tr_part", amount: 50 }] });
    expect(answer.body.totals).toEqual([
      { currency: "eur", open: 200 },
      { currency: "usd", open: 750 },
    ]);
    expect(answer.body.next_cursor).toBeNull();

    const all = await list({ organization_id, state: "all" });
    expect(all.body.claims.map((x: { id: string }) => x.id)).toEqual([a.id, b.id, c.id, done.id]);
    expect(all.body.totals).toEqual(answer.body.totals);

    const usd = await list({ organization_id, currency: "usd" });
    expect(usd.body.claims.map((x: { id: string }) => x.id)).toEqual([a.id, b.id]);
    expect(usd.body.totals).toEqual([{ currency: "usd", open: 750 }]);
  });

  it("orders claims by created_at, then id", async () => {
    const organization_id = await insertOrganization();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await recorded({ organization_id })).id);
    // Same instant for two of them: the id breaks the tie.
    await env.DB.prepare(`UPDATE connect_claims SET created_at = '2020-01-01T00:00:00.000Z' WHERE id IN (?1, ?2)`)
      .bind(ids[2], ids[3])
      .run();
    const tied = [ids[2]!, ids[3]!].sort();
    const answer = await list({ organization_id });
    expect(answer.body.claims.map((x: { id: string }) => x.id)).toEqual([...tied, ids[0], ids[1]]);
  });

  it("answers no claims and no totals for an organization without claims", async () => {
    const answer = await list({ organization_id: await insertOrganization() });
    expect(answer.body).toEqual({ claims: [], totals: [], next_cursor: null });
  });

  it("pages through every organization's claims in FIFO order, with totals over all of them", async () => {
    // Only this test's claims: every other claim of the file is closed first.
    await env.DB.prepare(`UPDATE connect_claims SET settled = amount`).run();
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await recorded({ amount: 10 + i, currency: "gbp" }));
    const first = await list({ limit: 2 });
    expect(first.body.claims).toHaveLength(2);
    expect(first.body.totals).toEqual([{ currency: "gbp", open: 60 }]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const { ids, pages } = await walk({ limit: 2 });
    expect(ids).toEqual(mine.map((c) => c.id));
    expect(pages).toBe(3);
    expect((await walk({ limit: 5 })).pages).toBe(1);
  });

  it("refuses bad parameters by name, a cursor of another list too", async () => {
    for (const [query, param] of [
      ["state=closed", "state"],
      ["currency=USD", "currency"],
      ["limit=0", "limit"],
      ["limit=201", "limit"],
      ["cursor=nope!", "cursor"],
      [`cursor=${encodeCursor("org_1")}`, "cursor"],
      ["organization_id=", "organization_id"],
      ["page=2", "page"],
      ["state=open&state=all", "state"],
    ] as const) {
      const answer = await internal("GET", `/claims?${query}`, {}, "/claims");
      expect(answer.status, query).toBe(400);
      expect(answer.body.error.param, query).toBe(param);
    }
  });
});

describe("claims: validation", () => {
  const ok = { organization_id: "org_x", amount: 1, currency: "usd", cause: "refund", cause_id: "re_1", transfer_id: "tr_1" };
  it.each([
    [{ ...ok, amount: 0 }, "amount"],
    [{ ...ok, amount: 1.5 }, "amount"],
    [{ ...ok, amount: "1" }, "amount"],
    [{ ...ok, currency: "usdx" }, "currency"],
    [{ ...ok, cause: "chargeback" }, "cause"],
    [{ ...ok, cause_id: "" }, "cause_id"],
    [(({ transfer_id: _t, ...rest }) => rest)(ok), "transfer_id"],
    [{ ...ok, settled: 0 }, "settled"],
  ])("POST claims answers 400 invalid_request with param for %j", async (body, field) => {
    const answer = await record(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.param).toBe(field);
  });

  it.each([
    [{ key: "", amount: 1, kind: "transfer" }, "key"],
    [{ key: "k", amount: -1, kind: "transfer" }, "amount"],
    [{ key: "k", amount: 1, kind: "refund" }, "kind"],
    [{ key: "k", amount: 1 }, "kind"],
  ])("POST claims/{id}/settlements answers 400 invalid_request with param for %j", async (body, field) => {
    const answer = await settle("clm_x", body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.param).toBe(field);
  });

  it("needs the API key", async () => {
    expect((await internal("POST", "/claims", { body: ok, key: null })).status).toBe(401);
    expect((await internal("GET", "/claims", { key: null })).status).toBe(401);
    expect((await internal("POST", "/claims/clm_x/settlements", { body: {}, key: null }, "/claims/{id}/settlements")).status).toBe(401);
  });
});
