import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { UNLINKED, createOrganization, insertOrganization, internal, signUp, unique } from "./helpers";

const byId = (id: string) => internal("GET", `/organization/${encodeURIComponent(id)}`, {}, "/organization/{id}");
const byAccount = (account: string) =>
  internal("GET", `/organization-by-account/${encodeURIComponent(account)}`, {}, "/organization-by-account/{account_id}");

describe("organization/{id}", () => {
  it("answers an organization made by Better Auth with the Connect defaults", async () => {
    const owner = await signUp();
    const id = await createOrganization(owner, "Acme Ltd");
    const answer = await byId(id);
    expect(answer.status).toBe(200);
    expect(answer.body.organization).toEqual({ id, name: "Acme Ltd", slug: expect.any(String), ...UNLINKED });
  });

  it("answers 404 not_found for an unknown id", async () => {
    const answer = await byId(unique("org_missing"));
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
  });

  it("takes the id as one path segment, even with a slash in it", async () => {
    const answer = await byId("a/b");
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
  });

  it("answers stored Connect fields, with timestamps as ISO UTC with ms", async () => {
    const id = await insertOrganization();
    await env.DB.prepare(
      `UPDATE organizations SET stripe_connect_account_id = ?2, stripe_connect_status = 'active',
         platform_fee_percent = 7.25, onboarding_step = 'complete', stripe_connect_synced_at = ?3
       WHERE id = ?1`,
    )
      .bind(id, unique("acct_"), "2026-11-26T10:00:00.000Z")
      .run();
    const answer = await byId(id);
    expect(answer.body.organization).toMatchObject({
      stripe_connect_status: "active",
      platform_fee_percent: 7.25,
      onboarding_step: "complete",
      stripe_connect_synced_at: "2026-11-26T10:00:00.000Z",
    });
  });

  it("fills the defaults for a row whose Connect columns are null", async () => {
    const id = await insertOrganization();
    await env.DB.prepare(`UPDATE organizations SET platform_fee_percent = NULL, onboarding_step = NULL WHERE id = ?1`)
      .bind(id)
      .run();
    const answer = await byId(id);
    expect(answer.body.organization).toMatchObject({
      platform_fee_percent: UNLINKED.platform_fee_percent,
      onboarding_step: UNLINKED.onboarding_step,
    });
  });
});

describe("organization-by-account/{account_id}", () => {
  it("answers the organization linked to the account", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    const linked = await internal("POST", "/create-connect-account", {
      body: { organization_id: id, stripe_connect_account_id: account },
    });
    expect(linked.status).toBe(200);
    const answer = await byAccount(account);
    expect(answer.status).toBe(200);
    expect(answer.body.organization.id).toBe(id);
    expect(answer.body.organization.stripe_connect_account_id).toBe(account);
  });

  it("answers 404 not_found for an account no organization holds", async () => {
    const answer = await byAccount(unique("acct_"));
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
  });
});
