import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { UNLINKED, insertOrganization, internal, storedOrganization, unique } from "./helpers";

const outcome = (body: unknown) => internal("POST", "/payout-outcome", { body });

const T1 = "2026-11-26T10:00:00.000Z";
const T2 = "2026-11-27T10:00:00.000Z";
const T3 = "2026-11-28T10:00:00.000Z";

function failed(organization_id: string, payout_id: string, payout_created: string, failure_code = "account_closed") {
  return outcome({
    organization_id,
    payout_id,
    outcome: "failed",
    payout_created,
    failure_code,
    failure_message: `The bank account was closed (${payout_id}).`,
  });
}

const paid = (organization_id: string, payout_id: string, payout_created: string) =>
  outcome({ organization_id, payout_id, outcome: "paid", payout_created });

function failure(payout_id: string, payout_created: string, failure_code = "account_closed") {
  return {
    payout_id,
    failure_code,
    failure_message: `The bank account was closed (${payout_id}).`,
    payout_created,
  };
}

async function storedFailure(id: string) {
  const row = await storedOrganization(id);
  return {
    id: row?.stripe_payout_failure_id,
    code: row?.stripe_payout_failure_code,
    message: row?.stripe_payout_failure_message,
    created: row?.stripe_payout_failed_created,
  };
}

describe("payout-outcome: failed", () => {
  it("stores the failure and answers the organization with it, changed true", async () => {
    const id = await insertOrganization();
    const answer = await failed(id, "po_1", T1);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      organization: { id, name: `Org ${id}`, slug: expect.any(String), ...UNLINKED, payout_failure: failure("po_1", T1) },
      changed: true,
    });
    expect(await storedFailure(id)).toEqual({
      id: "po_1",
      code: "account_closed",
      message: "The bank account was closed (po_1).",
      created: T1,
    });
    // Every read of the organization answers it too.
    const read = await internal("GET", `/organization/${id}`, {}, "/organization/{id}");
    expect(read.body.organization.payout_failure).toEqual(failure("po_1", T1));
  });

  it("keeps a failure without code or message, and stores created as UTC with milliseconds", async () => {
    const id = await insertOrganization();
    const answer = await outcome({
      organization_id: id,
      payout_id: "po_bare",
      outcome: "failed",
      payout_created: "2026-11-26T11:00:00+01:00",
    });
    expect(answer.body.organization.payout_failure).toEqual({
      payout_id: "po_bare",
      failure_code: null,
      failure_message: null,
      payout_created: T1,
    });
  });

  it("answers the same failure again with changed false", async () => {
    const id = await insertOrganization();
    const first = await failed(id, "po_1", T1);
    const again = await failed(id, "po_1", T1);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ organization: first.body.organization, changed: false });
  });

  it("replaces a failure by a later payout's, in order", async () => {
    const id = await insertOrganization();
    await failed(id, "po_1", T1);
    const later = await failed(id, "po_2", T2, "no_account");
    expect(later.body.changed).toBe(true);
    expect(later.body.organization.payout_failure).toEqual(failure("po_2", T2, "no_account"));
  });

  it("keeps the later failure when an earlier payout's failure arrives after it", async () => {
    const id = await insertOrganization();
    await failed(id, "po_2", T2);
    const late = await failed(id, "po_1", T1);
    expect(late.status).toBe(200);
    expect(late.body.changed).toBe(false);
    expect(late.body.organization.payout_failure).toEqual(failure("po_2", T2));
    expect((await storedFailure(id)).id).toBe("po_2");
  });

  it("breaks a tie of created by payout id, so both orders keep the same failure", async () => {
    const a = await insertOrganization();
    await failed(a, "po_a", T1);
    expect((await failed(a, "po_b", T1)).body.changed).toBe(true);
    const b = await insertOrganization();
    await failed(b, "po_b", T1);
    expect((await failed(b, "po_a", T1)).body.changed).toBe(false);
    expect((await storedFailure(a)).id).toBe("po_b");
    expect((await storedFailure(b)).id).toBe("po_b");
  });

  it("converges on the latest failure whatever the order of concurrent events", async () => {
    const id = await insertOrganization();
    const created = ["2026-11-20T10:00:00.000Z", T3, T1, T2, "2026-11-21T10:00:00.000Z"];
    await Promise.all(created.map((at, i) => failed(id, `po_${i}`, at)));
    expect(await storedFailure(id)).toMatchObject({ id: "po_1", created: T3 });
  });
});

describe("payout-outcome: paid", () => {
  it("clears a failure of an earlier payout, changed true", async () => {
    const id = await insertOrganization();
    await failed(id, "po_1", T1);
    const answer = await paid(id, "po_2", T2);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      organization: { id, name: `Org ${id}`, slug: expect.any(String), ...UNLINKED, payout_failure: null },
      changed: true,
    });
    expect(await storedFailure(id)).toEqual({ id: null, code: null, message: null, created: null });
  });

  it("does not clear a failure of another payout created at the same time (a tie goes to the failure)", async () => {
    const a = await insertOrganization();
    await failed(a, "po_1", T1);
    expect((await paid(a, "po_2", T1)).body.changed).toBe(false);
    const b = await insertOrganization();
    await paid(b, "po_2", T1);
    expect((await failed(b, "po_1", T1)).body.changed).toBe(true);
    expect((await storedFailure(a)).id).toBe("po_1");
    expect((await storedFailure(b)).id).toBe("po_1");
  });

  it("does not clear a newer failure when an older payout's paid arrives late", async () => {
    const id = await insertOrganization();
    await failed(id, "po_2", T2);
    const late = await paid(id, "po_1", T1);
    expect(late.status).toBe(200);
    expect(late.body.changed).toBe(false);
    expect(late.body.organization.payout_failure).toEqual(failure("po_2", T2));
  });

  it("keeps the failure of a payout marked paid first (Stripe may fail a payout after paid), in both orders", async () => {
    const a = await insertOrganization();
    await failed(a, "po_1", T1);
    const late = await paid(a, "po_1", T1);
    expect(late.body.changed).toBe(false);
    expect(late.body.organization.payout_failure).toEqual(failure("po_1", T1));
    const b = await insertOrganization();
    await paid(b, "po_1", T1);
    expect((await failed(b, "po_1", T1)).body.organization.payout_failure).toEqual(failure("po_1", T1));
  });

  it("changes nothing without a stored failure", async () => {
    const id = await insertOrganization();
    const answer = await paid(id, "po_1", T1);
    expect(answer.body).toMatchObject({ changed: false, organization: { payout_failure: null } });
  });

  it("converges whatever the order: an older payout's failure after a later one was paid is not shown", async () => {
    const a = await insertOrganization();
    await failed(a, "po_1", T1);
    await paid(a, "po_2", T2);
    const b = await insertOrganization();
    await paid(b, "po_2", T2);
    const late = await failed(b, "po_1", T1);
    expect(late.body).toMatchObject({ changed: false, organization: { payout_failure: null } });
    expect(await storedFailure(a)).toEqual(await storedFailure(b));
    expect((await storedFailure(b)).id).toBeNull();
    // A failure of a payout created after the last paid one is shown again.
    expect((await failed(b, "po_3", T3)).body.organization.payout_failure).toEqual(failure("po_3", T3));
  });

  it("converges under concurrent failures and payments of several payouts in any order", async () => {
    const events: Array<[string, string, "failed" | "paid"]> = [
      ["po_1", T1, "failed"],
      ["po_2", T2, "paid"],
      ["po_3", T3, "failed"],
      ["po_0", "2026-11-01T00:00:00.000Z", "paid"],
    ];
    const orders = [events, [...events].reverse(), [events[2]!, events[0]!, events[3]!, events[1]!]];
    for (const order of orders) {
      const id = await insertOrganization();
      await Promise.all(order.map(([po, at, kind]) => (kind === "paid" ? paid(id, po, at) : failed(id, po, at))));
      expect(await storedFailure(id)).toMatchObject({ id: "po_3", created: T3 });
      // Then the later payout is paid: cleared.
      await paid(id, "po_4", "2026-11-29T00:00:00.000Z");
      expect((await storedFailure(id)).id).toBeNull();
    }
  });

  it("leaves other organizations alone", async () => {
    const a = await insertOrganization();
    const b = await insertOrganization();
    await failed(a, "po_a", T1);
    await failed(b, "po_b", T1);
    await paid(a, "po_a2", T2);
    expect((await storedFailure(a)).id).toBeNull();
    expect((await storedFailure(b)).id).toBe("po_b");
  });
});

describe("payout-outcome: refusals", () => {
  it("answers 404 not_found for an unknown organization", async () => {
    for (const answer of [await failed(unique("org_missing"), "po_1", T1), await paid(unique("org_missing"), "po_1", T1)]) {
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe("not_found");
    }
  });

  const ok = { organization_id: "org_x", payout_id: "po_1", outcome: "failed", payout_created: T1 };
  it.each([
    [{ ...ok, outcome: "canceled" }, "outcome"],
    [{ ...ok, payout_created: "yesterday" }, "payout_created"],
    [{ ...ok, payout_created: 1764151200 }, "payout_created"],
    [(({ payout_created: _c, ...rest }) => rest)(ok), "payout_created"],
    [{ ...ok, payout_id: "" }, "payout_id"],
    [{ ...ok, organization_id: "" }, "organization_id"],
    [{ ...ok, failure_code: "" }, "failure_code"],
    [{ ...ok, failure_message: "x".repeat(1001) }, "failure_message"],
    [{ ...ok, amount: 100 }, "amount"],
    [{ ...ok, outcome: "paid", failure_code: "account_closed" }, "failure_code"],
    [{ ...ok, outcome: "paid", failure_message: "closed" }, "failure_message"],
  ])("answers 400 invalid_request with param for %j, and changes nothing", async (body, field) => {
    const id = await insertOrganization();
    await failed(id, "po_0", T1);
    const before = await storedOrganization(id);
    const answer = await outcome({ ...body, organization_id: body.organization_id === "" ? "" : id });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: "invalid_request", param: field });
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("needs the API key", async () => {
    const id = await insertOrganization();
    const answer = await internal("POST", "/payout-outcome", { body: { ...ok, organization_id: id }, key: null });
    expect(answer.status).toBe(401);
    expect((await storedFailure(id)).id).toBeNull();
  });
});

describe("payout-outcome: storage", () => {
  it("answers a row written before the columns' values with payout_failure null", async () => {
    const id = await insertOrganization();
    await env.DB.prepare(`UPDATE organizations SET stripe_payout_failure_id = NULL WHERE id = ?1`).bind(id).run();
    const read = await internal("GET", `/organization/${id}`, {}, "/organization/{id}");
    expect(read.body.organization.payout_failure).toBeNull();
  });
});
