import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_DECISION_BYTES } from "../src/internal/schemas";
import { insertOrganization, internal, unique } from "./helpers";

const claim = (body: unknown) => internal("POST", "/idempotency-keys/claim", { body });
const complete = (body: unknown) => internal("POST", "/idempotency-keys/complete", { body });
const release = (body: unknown) => internal("POST", "/idempotency-keys/release", { body });

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A fresh organization and a key no other test used, as the three endpoints name a record. */
async function freshRef(operation: "transfer" | "payout" | "reversal" = "transfer") {
  return { organization_id: await insertOrganization(), operation, key: unique("idem-") };
}

const decision = { amount: 1250, currency: "usd", destination: "acct_1", nested: { fee: 125 } };

async function storedRows(ref: { organization_id: string; operation: string; key: string }) {
  const { results } = await env.DB.prepare(
    `SELECT * FROM connect_idempotency_keys WHERE organization_id = ?1 AND operation = ?2 AND key = ?3`,
  )
    .bind(ref.organization_id, ref.operation, ref.key)
    .all();
  return results;
}

describe("idempotency-keys/claim", () => {
  it("inserts a record and answers it with created true", async () => {
    const ref = await freshRef();
    const answer = await claim({ ...ref, fingerprint: "fp-1", decision });
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(true);
    expect(answer.body.record).toEqual({
      ...ref,
      fingerprint: "fp-1",
      decision,
      stripe_object_id: null,
      created_at: expect.stringMatching(ISO_MS),
      completed_at: null,
    });
    expect(await storedRows(ref)).toHaveLength(1);
  });

  it("answers the record already held with created false, whatever the fingerprint, and changes nothing", async () => {
    const ref = await freshRef("payout");
    const first = await claim({ ...ref, fingerprint: "fp-1", decision });
    const again = await claim({ ...ref, fingerprint: "fp-other", decision: { amount: 1 } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ record: first.body.record, created: false });
  });

  it("keeps records apart by organization and operation", async () => {
    const ref = await freshRef();
    const other = await insertOrganization();
    expect((await claim({ ...ref, fingerprint: "a", decision })).body.created).toBe(true);
    expect((await claim({ ...ref, operation: "payout", fingerprint: "b", decision })).body.created).toBe(true);
    expect((await claim({ ...ref, organization_id: other, fingerprint: "c", decision })).body.created).toBe(true);
  });

  it("lets exactly one of several concurrent claims of one key create it; all answer that record", async () => {
    const ref = await freshRef();
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => claim({ ...ref, fingerprint: `fp-${i}`, decision: { writer: i } })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const created = answers.filter((a) => a.body.created === true);
    expect(created).toHaveLength(1);
    for (const answer of answers) expect(answer.body.record).toEqual(created[0]!.body.record);
    expect(await storedRows(ref)).toHaveLength(1);
  });

  it("answers 404 not_found for an unknown organization and stores nothing", async () => {
    const ref = { organization_id: unique("org_missing"), operation: "transfer", key: unique("idem-") };
    const answer = await claim({ ...ref, fingerprint: "fp", decision });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
    expect(await storedRows(ref)).toHaveLength(0);
  });

  it("accepts a decision of exactly the largest size", async () => {
    const ref = await freshRef();
    const pad = "x".repeat(MAX_DECISION_BYTES - JSON.stringify({ p: "" }).length);
    const answer = await claim({ ...ref, fingerprint: "fp", decision: { p: pad } });
    expect(answer.status).toBe(200);
    expect(answer.body.record.decision.p).toHaveLength(pad.length);
  });

  it("is removed with its organization", async () => {
    const ref = await freshRef();
    await claim({ ...ref, fingerprint: "fp", decision });
    await env.DB.prepare(`DELETE FROM organizations WHERE id = ?1`).bind(ref.organization_id).run();
    expect(await storedRows(ref)).toHaveLength(0);
  });
});

describe("idempotency-keys/complete", () => {
  it("records Stripe's object once and answers the record", async () => {
    const ref = await freshRef();
    const claimed = await claim({ ...ref, fingerprint: "fp", decision });
    const answer = await complete({ ...ref, stripe_object_id: "tr_123" });
    expect(answer.status).toBe(200);
    expect(answer.body.record).toEqual({
      ...claimed.body.record,
      stripe_object_id: "tr_123",
      completed_at: expect.stringMatching(ISO_MS),
    });
  });

  it("answers a retry with the same object like the first call, keeping completed_at", async () => {
    const ref = await freshRef();
    await claim({ ...ref, fingerprint: "fp", decision });
    const first = await complete({ ...ref, stripe_object_id: "tr_1" });
    const again = await complete({ ...ref, stripe_object_id: "tr_1" });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  it("answers 409 idempotency_mismatch with the record when it names another object, and changes nothing", async () => {
    const ref = await freshRef();
    await claim({ ...ref, fingerprint: "fp", decision });
    const first = await complete({ ...ref, stripe_object_id: "tr_1" });
    const other = await complete({ ...ref, stripe_object_id: "tr_2" });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("idempotency_mismatch");
    expect(other.body.record).toEqual(first.body.record);
    expect((await storedRows(ref))[0]).toMatchObject({ stripe_object_id: "tr_1" });
  });

  it("lets exactly one of concurrent completions with different objects land", async () => {
    const ref = await freshRef();
    await claim({ ...ref, fingerprint: "fp", decision });
    const answers = await Promise.all(["tr_a", "tr_b", "tr_c", "tr_d"].map((id) => complete({ ...ref, stripe_object_id: id })));
    const landed = answers.filter((a) => a.status === 200);
    expect(landed).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(3);
    expect((await storedRows(ref))[0]).toMatchObject({ stripe_object_id: landed[0]!.body.record.stripe_object_id });
  });

  it("answers 404 not_found when there is no such record (also for an unknown organization)", async () => {
    const ref = await freshRef();
    for (const body of [ref, { ...ref, organization_id: unique("org_missing") }]) {
      const answer = await complete({ ...body, stripe_object_id: "tr_1" });
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe("not_found");
    }
  });
});

describe("idempotency-keys/release", () => {
  it("deletes a record that names no object, so the key can be claimed anew", async () => {
    const ref = await freshRef();
    await claim({ ...ref, fingerprint: "fp-1", decision });
    const answer = await release(ref);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ released: true });
    expect(await storedRows(ref)).toHaveLength(0);
    const again = await claim({ ...ref, fingerprint: "fp-2", decision });
    expect(again.body).toMatchObject({ created: true, record: { fingerprint: "fp-2" } });
  });

  it("never deletes a completed record", async () => {
    const ref = await freshRef();
    await claim({ ...ref, fingerprint: "fp", decision });
    await complete({ ...ref, stripe_object_id: "po_1" });
    expect((await release(ref)).body).toEqual({ released: false });
    expect(await storedRows(ref)).toHaveLength(1);
  });

  it("answers released false for no such record and for a repeat", async () => {
    const ref = await freshRef();
    expect((await release(ref)).body).toEqual({ released: false });
    expect((await release({ ...ref, organization_id: unique("org_missing") })).body).toEqual({ released: false });
    await claim({ ...ref, fingerprint: "fp", decision });
    expect((await release(ref)).body).toEqual({ released: true });
    expect((await release(ref)).body).toEqual({ released: false });
  });
});

describe("idempotency-keys: validation", () => {
  const ref = { organization_id: "org_x", operation: "transfer", key: "k" };
  const ok = { ...ref, fingerprint: "fp", decision: {} };
  it.each([
    ["/claim", { ...ok, organization_id: "" }, "organization_id"],
    ["/claim", { ...ok, operation: "refund" }, "operation"],
    ["/claim", { ...ok, key: "" }, "key"],
    ["/claim", { ...ok, key: "k".repeat(256) }, "key"],
    ["/claim", { ...ok, fingerprint: "" }, "fingerprint"],
    ["/claim", { ...ok, fingerprint: "f".repeat(129) }, "fingerprint"],
    ["/claim", { ...ok, decision: [1] }, "decision"],
    ["/claim", { ...ok, decision: "x" }, "decision"],
    ["/claim", { ...ok, decision: null }, "decision"],
    ["/claim", { ...ok, decision: { p: "x".repeat(MAX_DECISION_BYTES) } }, "decision"],
    ["/claim", (({ fingerprint: _f, ...rest }) => rest)(ok), "fingerprint"],
    ["/claim", { ...ok, stripe_object_id: "tr_1" }, "stripe_object_id"],
    ["/complete", ref, "stripe_object_id"],
    ["/complete", { ...ref, stripe_object_id: "" }, "stripe_object_id"],
    ["/complete", { ...ref, stripe_object_id: null }, "stripe_object_id"],
    ["/release", { ...ref, operation: "PAYOUT" }, "operation"],
    ["/release", { ...ref, fingerprint: "fp" }, "fingerprint"],
  ])("POST idempotency-keys%s answers 400 invalid_request with param for %j", async (path, body, field) => {
    const answer = await internal("POST", `/idempotency-keys${path}`, { body });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_request");
    expect(answer.body.error.param).toBe(field);
    expect(answer.body.error.message).toContain(`"${field}"`);
  });

  it.each(["/claim", "/complete", "/release"])("POST idempotency-keys%s answers a body that is not JSON with param body", async (path) => {
    const answer = await internal("POST", `/idempotency-keys${path}`, { rawBody: "{nope" });
    expect(answer.status).toBe(400);
    expect(answer.body.error.param).toBe("body");
  });

  it.each(["/claim", "/complete", "/release"])("POST idempotency-keys%s needs the API key", async (path) => {
    const answer = await internal("POST", `/idempotency-keys${path}`, { body: ok, key: null });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
  });
});
