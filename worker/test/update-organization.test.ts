import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createInternalApi } from "../src/internal";
import { KEY, expectInvalid, insertOrganization, internal, storedOrganization, unique } from "./helpers";

const update = (body: unknown) => internal("POST", "/update-organization", { body });
const link = (organization_id: string, stripe_connect_account_id: string, replace_account_id?: string) =>
  internal("POST", "/create-connect-account", { body: { organization_id, stripe_connect_account_id, replace_account_id } });

/** An organization linked to a fresh account and recorded deauthorized (as a webhook would); its account. */
async function deauthorized(id: string): Promise<string> {
  const account = unique("acct_old");
  await link(id, account);
  const answer = await update({
    organization_id: id,
    updates: { stripe_connect_status: "disabled", onboarding_step: "deauthorized" },
    synced_at: "2026-11-26T10:00:00.000Z",
    expected_account_id: account,
  });
  expect(answer.body.applied).toBe(true);
  return account;
}

/** The module on the test's D1 with its log lines kept, to read why a write was refused. */
function loggedApi() {
  const records: Record<string, unknown>[] = [];
  const app = createInternalApi({ getSession: async () => null, log: (record) => records.push(record) });
  return {
    records,
    async update(body: unknown) {
      const response = await app.fetch(
        new Request("http://module.test/update-organization", {
          method: "POST",
          headers: { "X-Internal-Api-Key": KEY, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        }),
        { DB: env.DB, INTERNAL_API_KEYS: KEY, ENVIRONMENT: "development" },
      );
      return { status: response.status, body: (await response.json()) as any };
    },
  };
}

describe("update-organization", () => {
  it("applies any subset of the four fields and answers the organization after", async () => {
    const id = await insertOrganization();
    const answer = await update({
      organization_id: id,
      updates: {
        stripe_connect_status: "active",
        onboarding_step: "complete",
        onboarding_rejection_reason: null,
        platform_fee_percent: 12.5,
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization).toMatchObject({
      id,
      stripe_connect_status: "active",
      onboarding_step: "complete",
      onboarding_rejection_reason: null,
      platform_fee_percent: 12.5,
      stripe_connect_synced_at: null,
    });
    expect(await storedOrganization(id)).toMatchObject({ stripe_connect_status: "active", platform_fee_percent: 12.5 });
  });

  it("leaves the fields it was not given alone", async () => {
    const id = await insertOrganization();
    await update({ organization_id: id, updates: { onboarding_step: "rejected", onboarding_rejection_reason: "rejected.fraud" } });
    const answer = await update({ organization_id: id, updates: { platform_fee_percent: 0 } });
    expect(answer.body.organization).toMatchObject({
      onboarding_step: "rejected",
      onboarding_rejection_reason: "rejected.fraud",
      platform_fee_percent: 0,
    });
  });

  it("answers 404 not_found for an unknown organization, with or without synced_at", async () => {
    for (const synced_at of [undefined, "2026-11-26T10:00:00.000Z"]) {
      const answer = await update({ organization_id: unique("org_missing"), updates: { platform_fee_percent: 5 }, synced_at });
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe("not_found");
    }
  });

  it("stores synced_at with the write when nothing was stored yet", async () => {
    const id = await insertOrganization();
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "pending" },
      synced_at: "2026-11-26T10:00:00.000Z",
    });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization.stripe_connect_synced_at).toBe("2026-11-26T10:00:00.000Z");
  });

  it("applies a newer synced_at", async () => {
    const id = await insertOrganization();
    await update({ organization_id: id, updates: { stripe_connect_status: "pending" }, synced_at: "2026-11-26T10:00:00.000Z" });
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "complete" },
      synced_at: "2026-11-26T10:00:00.001Z",
    });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization).toMatchObject({
      stripe_connect_status: "active",
      onboarding_step: "complete",
      stripe_connect_synced_at: "2026-11-26T10:00:00.001Z",
    });
  });

  it("drops a stale synced_at: applied false and nothing changes", async () => {
    const id = await insertOrganization();
    await update({ organization_id: id, updates: { stripe_connect_status: "active" }, synced_at: "2026-11-26T10:00:00.000Z" });
    const before = await storedOrganization(id);
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "disabled", platform_fee_percent: 50 },
      synced_at: "2026-11-26T09:59:59.999Z",
    });
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(false);
    expect(answer.body.organization).toMatchObject({ stripe_connect_status: "active", platform_fee_percent: 10 });
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("drops a synced_at equal to the stored one (a replayed event changes nothing)", async () => {
    const id = await insertOrganization();
    await update({ organization_id: id, updates: { stripe_connect_status: "active" }, synced_at: "2026-11-26T10:00:00.000Z" });
    const answer = await update({ organization_id: id, updates: { stripe_connect_status: "disabled" }, synced_at: "2026-11-26T10:00:00.000Z" });
    expect(answer.body.applied).toBe(false);
    expect(answer.body.organization.stripe_connect_status).toBe("active");
  });

  it("compares instants, not text: an offset is normalised to UTC", async () => {
    const id = await insertOrganization();
    await update({ organization_id: id, updates: { stripe_connect_status: "pending" }, synced_at: "2026-11-26T10:00:00.000Z" });
    // 10:30+01:00 is 09:30Z: older, although its text sorts after.
    const stale = await update({ organization_id: id, updates: { stripe_connect_status: "disabled" }, synced_at: "2026-11-26T10:30:00+01:00" });
    expect(stale.body.applied).toBe(false);
    // 11:00:00-00:30 is 11:30Z: newer; stored as UTC with ms.
    const newer = await update({ organization_id: id, updates: { stripe_connect_status: "active" }, synced_at: "2026-11-26T11:00:00-00:30" });
    expect(newer.body.applied).toBe(true);
    expect(newer.body.organization.stripe_connect_synced_at).toBe("2026-11-26T11:30:00.000Z");
  });

  it("writes without synced_at regardless of the stored one, and keeps it", async () => {
    const id = await insertOrganization();
    await update({ organization_id: id, updates: { stripe_connect_status: "active" }, synced_at: "2026-11-26T10:00:00.000Z" });
    const answer = await update({ organization_id: id, updates: { platform_fee_percent: 15 }, synced_at: null });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization).toMatchObject({ platform_fee_percent: 15, stripe_connect_synced_at: "2026-11-26T10:00:00.000Z" });
  });

  it("lets exactly one of several concurrent writers with the same synced_at win", async () => {
    const id = await insertOrganization();
    const statuses = ["pending", "active", "disabled", "active", "pending", "disabled"] as const;
    const answers = await Promise.all(
      statuses.map((status, i) =>
        update({
          organization_id: id,
          updates: { stripe_connect_status: status, onboarding_rejection_reason: `writer-${i}` },
          synced_at: "2026-11-26T10:00:00.000Z",
        }),
      ),
    );
    const winners = answers.filter((a) => a.body.applied === true);
    expect(winners).toHaveLength(1);
    const stored = await storedOrganization(id);
    // The row holds the answer's columns (payout_failure is made of other columns, all null here).
    const { payout_failure, ...columns } = winners[0]!.body.organization;
    expect(payout_failure).toBeNull();
    expect(stored).toMatchObject({ ...columns, stripe_payout_failure_id: null });
    expect(stored!.onboarding_rejection_reason).toBe(winners[0]!.body.organization.onboarding_rejection_reason);
  });

  it("ends at the newest view whatever order concurrent writers arrive in", async () => {
    const id = await insertOrganization();
    const minutes = [3, 7, 1, 9, 4, 2, 8];
    const answers = await Promise.all(
      minutes.map((m) =>
        update({
          organization_id: id,
          updates: { onboarding_rejection_reason: `minute-${m}` },
          synced_at: `2026-11-26T10:0${m}:00.000Z`,
        }),
      ),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.some((a) => a.body.applied)).toBe(true);
    const stored = await storedOrganization(id);
    expect(stored).toMatchObject({ onboarding_rejection_reason: "minute-9", stripe_connect_synced_at: "2026-11-26T10:09:00.000Z" });
  });
});

describe("update-organization: expected_account_id", () => {
  it("applies while the organization holds that account", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    await link(id, account);
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "complete" },
      synced_at: "2026-11-26T10:00:00.000Z",
      expected_account_id: account,
    });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization).toMatchObject({ stripe_connect_status: "active", stripe_connect_account_id: account });
  });

  it("answers a view of another account like a stale write: applied false and the row unchanged", async () => {
    const id = await insertOrganization();
    await link(id, unique("acct_"));
    const before = await storedOrganization(id);
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "complete" },
      synced_at: "2026-11-26T10:00:00.000Z",
      expected_account_id: unique("acct_other"),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(false);
    expect(answer.body.organization).toMatchObject({ stripe_connect_status: "pending", onboarding_step: "details_submission" });
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("refuses it for an organization holding no account, also without synced_at", async () => {
    const id = await insertOrganization();
    const before = await storedOrganization(id);
    const answer = await update({ organization_id: id, updates: { platform_fee_percent: 20 }, expected_account_id: "acct_1" });
    expect(answer.body.applied).toBe(false);
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("keeps a view of the old account off the new one after a replacement reset synced_at", async () => {
    const id = await insertOrganization();
    const old = await deauthorized(id);
    const fresh = unique("acct_new");
    expect((await link(id, fresh, old)).body.created).toBe(true);
    expect((await storedOrganization(id))!.stripe_connect_synced_at).toBeNull();
    // An in-flight view of the old account, newer than anything stored (null is older than all).
    const late = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "complete" },
      synced_at: "2026-11-26T11:00:00.000Z",
      expected_account_id: old,
    });
    expect(late.body.applied).toBe(false);
    expect(late.body.organization).toMatchObject({ stripe_connect_account_id: fresh, stripe_connect_status: "pending", stripe_connect_synced_at: null });
  });

  it("still answers 404 for an unknown organization", async () => {
    const answer = await update({ organization_id: unique("org_missing"), updates: { platform_fee_percent: 5 }, expected_account_id: "acct_1" });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
  });

  it("logs why: internal.update_organization.other_account", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    await link(id, account);
    const api = loggedApi();
    const answer = await api.update({ organization_id: id, updates: { platform_fee_percent: 1 }, expected_account_id: "acct_someone_else" });
    expect(answer.body.applied).toBe(false);
    expect(api.records).toContainEqual(
      expect.objectContaining({
        event: "internal.update_organization.other_account",
        organization_id: id,
        expected_account_id: "acct_someone_else",
        stored_account_id: account,
      }),
    );
  });
});

describe("update-organization: deauthorization is final for its account", () => {
  it.each(["complete", "details_submission", "under_review", "action_required", "rejected", "account_creation"] as const)(
    "a newer view setting step %s does not move a deauthorized organization",
    async (step) => {
      const id = await insertOrganization();
      const account = await deauthorized(id);
      const before = await storedOrganization(id);
      const answer = await update({
        organization_id: id,
        updates: { stripe_connect_status: "active", onboarding_step: step },
        synced_at: "2026-11-26T12:00:00.000Z",
        expected_account_id: account,
      });
      expect(answer.status).toBe(200);
      expect(answer.body.applied).toBe(false);
      expect(answer.body.organization).toMatchObject({ onboarding_step: "deauthorized", stripe_connect_status: "disabled" });
      expect(await storedOrganization(id)).toEqual(before);
    },
  );

  it("holds without expected_account_id too, and logs internal.update_organization.deauthorized", async () => {
    const id = await insertOrganization();
    await deauthorized(id);
    const api = loggedApi();
    const answer = await api.update({
      organization_id: id,
      updates: { onboarding_step: "complete" },
      synced_at: "2026-11-26T12:00:00.000Z",
    });
    expect(answer.body.applied).toBe(false);
    expect(api.records.map((r) => r.event)).toContain("internal.update_organization.deauthorized");
  });

  it("holds against a view that sets only the status", async () => {
    const id = await insertOrganization();
    const account = await deauthorized(id);
    const before = await storedOrganization(id);
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active" },
      synced_at: "2026-11-26T12:00:00.000Z",
      expected_account_id: account,
    });
    expect(answer.body.applied).toBe(false);
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("lets a newer deauthorized view through (it moves nothing)", async () => {
    const id = await insertOrganization();
    await deauthorized(id);
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "disabled", onboarding_step: "deauthorized", onboarding_rejection_reason: "again" },
      synced_at: "2026-11-26T12:00:00.000Z",
    });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization.onboarding_rejection_reason).toBe("again");
  });

  it("lets a write without synced_at (the platform fee) through", async () => {
    const id = await insertOrganization();
    await deauthorized(id);
    const answer = await update({ organization_id: id, updates: { platform_fee_percent: 7.5 } });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization).toMatchObject({ platform_fee_percent: 7.5, onboarding_step: "deauthorized" });
  });

  it("is left by a replacement link, after which the new account's views apply", async () => {
    const id = await insertOrganization();
    const old = await deauthorized(id);
    const fresh = unique("acct_new");
    const replaced = await link(id, fresh, old);
    expect(replaced.body.organization).toMatchObject({ onboarding_step: "details_submission", stripe_connect_account_id: fresh });
    const answer = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "complete" },
      synced_at: "2026-11-26T09:00:00.000Z",
      expected_account_id: fresh,
    });
    expect(answer.body.applied).toBe(true);
    expect(answer.body.organization).toMatchObject({ onboarding_step: "complete", stripe_connect_status: "active" });
  });
});

describe("update-organization: validation", () => {
  const ok = { organization_id: "org_x", updates: { platform_fee_percent: 1 } };
  it.each([
    [{ updates: { platform_fee_percent: 1 } }, "organization_id"],
    [{ organization_id: "org_x" }, "updates"],
    [{ organization_id: "org_x", updates: {} }, "updates"],
    [{ organization_id: "org_x", updates: { name: "x" } }, "updates.name"],
    [{ organization_id: "org_x", updates: { stripe_connect_account_id: "acct_1" } }, "updates.stripe_connect_account_id"],
    [{ organization_id: "org_x", updates: { stripe_connect_status: "paused" } }, "updates.stripe_connect_status"],
    [{ organization_id: "org_x", updates: { onboarding_step: "done" } }, "updates.onboarding_step"],
    [{ organization_id: "org_x", updates: { onboarding_step: null } }, "updates.onboarding_step"],
    [{ organization_id: "org_x", updates: { platform_fee_percent: 100.01 } }, "updates.platform_fee_percent"],
    [{ organization_id: "org_x", updates: { platform_fee_percent: -1 } }, "updates.platform_fee_percent"],
    [{ organization_id: "org_x", updates: { platform_fee_percent: "5" } }, "updates.platform_fee_percent"],
    [{ organization_id: "org_x", updates: { onboarding_rejection_reason: 5 } }, "updates.onboarding_rejection_reason"],
    [{ ...ok, synced_at: "yesterday" }, "synced_at"],
    [{ ...ok, synced_at: "2026-11-26T10:00:00" }, "synced_at"],
    [{ ...ok, synced_at: 1764151200 }, "synced_at"],
    [{ ...ok, extra: 1 }, "extra"],
    [{ ...ok, expected_account_id: "" }, "expected_account_id"],
    [{ ...ok, expected_account_id: null }, "expected_account_id"],
    [{ ...ok, expected_account_id: "a".repeat(256) }, "expected_account_id"],
  ])("answers 400 invalid_request naming the field (message and param) for %j", async (body, field) => {
    const answer = await update(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_request");
    expect(answer.body.error.message).toContain(`"${field}"`);
    // The same name, machine-readable, so a caller never parses the message.
    expect(answer.body.error.param).toBe(field);
  });

  it("accepts the boundaries 0 and 100 and a null status", async () => {
    const id = await insertOrganization();
    expect((await update({ organization_id: id, updates: { platform_fee_percent: 0 } })).status).toBe(200);
    expect((await update({ organization_id: id, updates: { platform_fee_percent: 100 } })).status).toBe(200);
    const cleared = await update({ organization_id: id, updates: { stripe_connect_status: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.organization.stripe_connect_status).toBeNull();
  });
});

describe("update-organization: the requirements deadline (migrations/0009)", () => {
  const T0 = "2026-11-26T10:00:00.000Z";
  const T1 = "2026-11-26T10:00:01.000Z";
  const linked = async () => {
    const id = await insertOrganization();
    const account = unique("acct_due");
    await link(id, account);
    return { id, account };
  };

  it("is written with the view's status and step, normalised to UTC with ms, and cleared by a newer view", async () => {
    const { id, account } = await linked();
    const due = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "action_required", stripe_connect_requirements_deadline: "2026-12-01T01:00:00+01:00" },
      synced_at: T0,
      expected_account_id: account,
    });
    expect(due.body.applied).toBe(true);
    expect(due.body.organization.stripe_connect_requirements_deadline).toBe("2026-12-01T00:00:00.000Z");
    expect((await storedOrganization(id))!.stripe_connect_requirements_deadline).toBe("2026-12-01T00:00:00.000Z");
    const done = await update({
      organization_id: id,
      updates: { stripe_connect_status: "active", onboarding_step: "complete", stripe_connect_requirements_deadline: null },
      synced_at: T1,
      expected_account_id: account,
    });
    expect(done.body.organization).toMatchObject({ onboarding_step: "complete", stripe_connect_requirements_deadline: null });
  });

  it("is not overwritten by a stale view (the same synced_at ordering as the status)", async () => {
    const { id, account } = await linked();
    const deadline = "2026-12-01T00:00:00.000Z";
    await update({ organization_id: id, updates: { onboarding_step: "action_required", stripe_connect_requirements_deadline: deadline }, synced_at: T1, expected_account_id: account });
    for (const synced_at of [T0, T1]) {
      const stale = await update({
        organization_id: id,
        updates: { onboarding_step: "action_required", stripe_connect_requirements_deadline: "2026-11-27T00:00:00.000Z" },
        synced_at,
      });
      expect(stale.body.applied).toBe(false);
      expect(stale.body.organization.stripe_connect_requirements_deadline).toBe(deadline);
    }
    expect((await storedOrganization(id))!.stripe_connect_requirements_deadline).toBe(deadline);
  });

  it("is left alone by a write that does not name it (the platform fee)", async () => {
    const { id, account } = await linked();
    await update({ organization_id: id, updates: { stripe_connect_requirements_deadline: "2026-12-01T00:00:00.000Z" }, synced_at: T0, expected_account_id: account });
    const fee = await update({ organization_id: id, updates: { platform_fee_percent: 3 } });
    expect(fee.body.organization).toMatchObject({ platform_fee_percent: 3, stripe_connect_requirements_deadline: "2026-12-01T00:00:00.000Z" });
  });

  it("is cleared by a replacement link, with synced_at", async () => {
    const { id, account } = await linked();
    await update({
      organization_id: id,
      updates: { stripe_connect_status: "disabled", onboarding_step: "deauthorized", stripe_connect_requirements_deadline: "2026-12-01T00:00:00.000Z" },
      synced_at: T0,
      expected_account_id: account,
    });
    const replaced = await link(id, unique("acct_new"), account);
    expect(replaced.body.organization).toMatchObject({ stripe_connect_synced_at: null, stripe_connect_requirements_deadline: null });
  });

  it.each([
    [{ synced_at: undefined }, "without synced_at"],
    [{ synced_at: null }, "with a null synced_at"],
  ])("answers 400 naming it when written %s, and changes nothing", async (extra, _what) => {
    const id = await insertOrganization();
    const answer = await update({ organization_id: id, updates: { stripe_connect_requirements_deadline: "2026-12-01T00:00:00.000Z" }, ...extra });
    expectInvalid(answer, "updates.stripe_connect_requirements_deadline");
    expect((await storedOrganization(id))!.stripe_connect_requirements_deadline).toBeNull();
  });

  it.each(["2026-12-01", "soon", 1764547200])("answers 400 naming it for %j", async (deadline) => {
    const answer = await update({ organization_id: "org_x", updates: { stripe_connect_requirements_deadline: deadline }, synced_at: T0 });
    expectInvalid(answer, "updates.stripe_connect_requirements_deadline");
  });
});
