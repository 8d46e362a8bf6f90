import { describe, expect, it } from "vitest";
import { insertOrganization, internal, storedOrganization, unique } from "./helpers";

const update = (body: unknown) => internal("POST", "/update-organization", { body });

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
    expect(stored).toMatchObject(winners[0]!.body.organization);
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
  ])("answers 400 invalid_request naming the field for %j", async (body, field) => {
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
