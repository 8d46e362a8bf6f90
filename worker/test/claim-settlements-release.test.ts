import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { insertOrganization, internal, unique } from "./helpers";

const record = (body: unknown) => internal("POST", "/claims", { body });
const settle = (id: string, body: unknown) =>
  internal("POST", `/claims/${encodeURIComponent(id)}/settlements`, { body }, "/claims/{id}/settlements");
const release = (body: unknown) => internal("POST", "/claims/settlements/release", { body });

async function claimFor(organization_id: string, amount = 1000) {
  const answer = await record({
    organization_id,
    amount,
    currency: "usd",
    cause: "refund",
    cause_id: unique("re_"),
    transfer_id: unique("tr_"),
  });
  expect(answer.status).toBe(200);
  return answer.body.claim as { id: string };
}

async function stored(id: string) {
  const claim = await env.DB.prepare(`SELECT settled FROM connect_claims WHERE id = ?1`).bind(id).first<{ settled: number }>();
  const { results } = await env.DB.prepare(`SELECT key, kind, amount FROM connect_claim_settlements WHERE claim_id = ?1 ORDER BY rowid`)
    .bind(id)
    .all();
  return { settled: claim?.settled, settlements: results };
}

describe("claims: release a transfer's settlements", () => {
  it("removes the organization's transfer settlements under the key and recomputes settled", async () => {
    const org = await insertOrganization();
    const first = await claimFor(org, 300);
    const second = await claimFor(org, 1000);
    // One transfer settled the first claim in full and part of the second.
    await settle(first.id, { key: "tr_net", amount: 300, kind: "transfer" });
    await settle(second.id, { key: "trr_earlier", amount: 100, kind: "reversal" });
    await settle(second.id, { key: "tr_net", amount: 200, kind: "transfer" });

    const answer = await release({ organization_id: org, key: "tr_net" });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ released: 2 });
    expect(await stored(first.id)).toEqual({ settled: 0, settlements: [] });
    expect(await stored(second.id)).toEqual({ settled: 100, settlements: [{ key: "trr_earlier", kind: "reversal", amount: 100 }] });

    // The claims are open again, as the list says.
    const listed = await internal("GET", `/claims?organization_id=${org}`, {}, "/claims");
    expect(listed.body.totals).toEqual([{ currency: "usd", open: 1200 }]);
    expect(listed.body.claims.map((c: { id: string; open: number }) => [c.id, c.open])).toEqual([
      [first.id, 300],
      [second.id, 900],
    ]);
  });

  it("is safe to repeat: the second call releases nothing and changes nothing", async () => {
    const org = await insertOrganization();
    const claim = await claimFor(org);
    await settle(claim.id, { key: "tr_net", amount: 400, kind: "transfer" });
    expect((await release({ organization_id: org, key: "tr_net" })).body).toEqual({ released: 1 });
    const after = await stored(claim.id);
    expect((await release({ organization_id: org, key: "tr_net" })).body).toEqual({ released: 0 });
    expect(await stored(claim.id)).toEqual(after);
  });

  it("releases each settlement once under concurrent calls", async () => {
    const org = await insertOrganization();
    const claims = [await claimFor(org), await claimFor(org), await claimFor(org)];
    for (const claim of claims) await settle(claim.id, { key: "tr_race", amount: 250, kind: "transfer" });
    const answers = await Promise.all(Array.from({ length: 6 }, () => release({ organization_id: org, key: "tr_race" })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.reduce((sum, a) => sum + a.body.released, 0)).toBe(3);
    for (const claim of claims) expect(await stored(claim.id)).toEqual({ settled: 0, settlements: [] });
  });

  it("leaves reversal and waived settlements under the same key alone", async () => {
    const org = await insertOrganization();
    const a = await claimFor(org);
    const b = await claimFor(org);
    await settle(a.id, { key: "same_key", amount: 100, kind: "reversal" });
    await settle(b.id, { key: "same_key", amount: 200, kind: "waived" });
    expect((await release({ organization_id: org, key: "same_key" })).body).toEqual({ released: 0 });
    expect(await stored(a.id)).toEqual({ settled: 100, settlements: [{ key: "same_key", kind: "reversal", amount: 100 }] });
    expect(await stored(b.id)).toEqual({ settled: 200, settlements: [{ key: "same_key", kind: "waived", amount: 200 }] });
  });

  it("leaves other keys and other organizations' settlements under the key alone", async () => {
    const org = await insertOrganization();
    const other = await insertOrganization();
    const mine = await claimFor(org);
    const theirs = await claimFor(other);
    await settle(mine.id, { key: "tr_net", amount: 100, kind: "transfer" });
    await settle(mine.id, { key: "tr_other", amount: 50, kind: "transfer" });
    await settle(theirs.id, { key: "tr_net", amount: 70, kind: "transfer" });
    expect((await release({ organization_id: org, key: "tr_net" })).body).toEqual({ released: 1 });
    expect(await stored(mine.id)).toEqual({ settled: 50, settlements: [{ key: "tr_other", kind: "transfer", amount: 50 }] });
    expect(await stored(theirs.id)).toEqual({ settled: 70, settlements: [{ key: "tr_net", kind: "transfer", amount: 70 }] });
  });

  it("lets the same key settle the claim again once released", async () => {
    const org = await insertOrganization();
    const claim = await claimFor(org);
    await settle(claim.id, { key: "tr_net", amount: 1000, kind: "transfer" });
    await release({ organization_id: org, key: "tr_net" });
    const again = await settle(claim.id, { key: "tr_net", amount: 600, kind: "transfer" });
    expect(again.body).toMatchObject({ applied: true, claim: { settled: 600, open: 400 } });
  });

  it("answers released 0 for an unknown organization", async () => {
    expect((await release({ organization_id: unique("org_missing"), key: "tr_net" })).body).toEqual({ released: 0 });
  });

  it("is not taken for a claim's settlements route (a claim named 'settlements')", async () => {
    const answer = await internal(
      "POST",
      "/claims/settlements/settlements",
      { body: { key: "k", amount: 1, kind: "transfer" } },
      "/claims/{id}/settlements",
    );
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
    // And the release path refuses a settlement's body: it is its own route.
    const refused = await release({ key: "k", amount: 1, kind: "transfer" });
    expect(refused.status).toBe(400);
  });

  it.each([
    [{ key: "tr_net" }, "organization_id"],
    [{ organization_id: "org_x" }, "key"],
    [{ organization_id: "org_x", key: "" }, "key"],
    [{ organization_id: "org_x", key: "tr_net", kind: "transfer" }, "kind"],
  ])("answers 400 invalid_request with param for %j", async (body, field) => {
    const answer = await release(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: "invalid_request", param: field });
  });

  it("needs the API key", async () => {
    const answer = await internal("POST", "/claims/settlements/release", { body: { organization_id: "o", key: "k" }, key: null });
    expect(answer.status).toBe(401);
  });
});

describe("claims: waived settlements", () => {
  it("accepts kind waived, settling what the claim still holds", async () => {
    const org = await insertOrganization();
    const claim = await claimFor(org, 500);
    await settle(claim.id, { key: "tr_net", amount: 200, kind: "transfer" });
    const waived = await settle(claim.id, { key: "dp_won", amount: 300, kind: "waived" });
    expect(waived.status).toBe(200);
    expect(waived.body).toMatchObject({ applied: true, claim: { settled: 500, open: 0 } });
    expect(waived.body.claim.settlements.map((s: { kind: string }) => s.kind)).toEqual(["transfer", "waived"]);
  });

  it("never waives more than is open", async () => {
    const org = await insertOrganization();
    const claim = await claimFor(org, 500);
    const answer = await settle(claim.id, { key: "dp_won", amount: 501, kind: "waived" });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("claim_exceeded");
  });

  it("is refused by D1 for a kind it does not know", async () => {
    const org = await insertOrganization();
    const claim = await claimFor(org);
    await expect(
      env.DB.prepare(`INSERT INTO connect_claim_settlements (claim_id, key, amount, kind, created_at) VALUES (?1, 'k', 1, 'forgiven', 'x')`)
        .bind(claim.id)
        .run(),
    ).rejects.toThrow(/CHECK constraint failed/);
  });
});
