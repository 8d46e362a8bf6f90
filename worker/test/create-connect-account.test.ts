import { describe, expect, it } from "vitest";
import { insertOrganization, internal, storedOrganization, unique } from "./helpers";

const link = (organization_id: string, stripe_connect_account_id: string) =>
  internal("POST", "/create-connect-account", { body: { organization_id, stripe_connect_account_id } });

describe("create-connect-account", () => {
  it("links an account to an organization that has none: pending, details_submission", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    const answer = await link(id, account);
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(true);
    expect(answer.body.organization).toMatchObject({
      id,
      stripe_connect_account_id: account,
      stripe_connect_status: "pending",
      onboarding_step: "details_submission",
      onboarding_rejection_reason: null,
    });
    expect(await storedOrganization(id)).toMatchObject({ stripe_connect_account_id: account, stripe_connect_status: "pending" });
  });

  it("answers created false for the same account again, changing nothing", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    await link(id, account);
    await internal("POST", "/update-organization", {
      body: { organization_id: id, updates: { stripe_connect_status: "active", onboarding_step: "complete" } },
    });
    const answer = await link(id, account);
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(false);
    expect(answer.body.organization).toMatchObject({ stripe_connect_account_id: account, stripe_connect_status: "active", onboarding_step: "complete" });
  });

  it("answers 409 already_linked with the organization when it holds another account", async () => {
    const id = await insertOrganization();
    const first = unique("acct_");
    await link(id, first);
    const answer = await link(id, unique("acct_"));
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("already_linked");
    expect(answer.body.organization).toMatchObject({ id, stripe_connect_account_id: first });
    expect((await storedOrganization(id))!.stripe_connect_account_id).toBe(first);
  });

  it("answers 409 account_in_use when another organization holds the account", async () => {
    const holder = await insertOrganization();
    const other = await insertOrganization();
    const account = unique("acct_");
    await link(holder, account);
    const answer = await link(other, account);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("account_in_use");
    expect(answer.body.organization).toBeUndefined();
    expect((await storedOrganization(other))!.stripe_connect_account_id).toBeNull();
  });

  it("answers 404 not_found for an unknown organization", async () => {
    const answer = await link(unique("org_missing"), unique("acct_"));
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
  });

  it("lets exactly one of several concurrent links to one organization win", async () => {
    const id = await insertOrganization();
    const accounts = Array.from({ length: 6 }, () => unique("acct_"));
    const answers = await Promise.all(accounts.map((account) => link(id, account)));
    const winners = answers.filter((a) => a.status === 200);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.body.created).toBe(true);
    const linked = winners[0]!.body.organization.stripe_connect_account_id;
    for (const loser of answers.filter((a) => a.status !== 200)) {
      expect(loser.status).toBe(409);
      expect(loser.body.error.code).toBe("already_linked");
      expect(loser.body.organization.stripe_connect_account_id).toBe(linked);
    }
    expect((await storedOrganization(id))!.stripe_connect_account_id).toBe(linked);
  });

  it("gives one account to exactly one of several organizations racing for it", async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => insertOrganization()));
    const account = unique("acct_");
    const answers = await Promise.all(ids.map((id) => link(id, account)));
    const winners = answers.filter((a) => a.status === 200);
    expect(winners).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.error.code === "account_in_use")).toBe(true);
    const holders = [];
    for (const id of ids) if ((await storedOrganization(id))!.stripe_connect_account_id === account) holders.push(id);
    expect(holders).toEqual([winners[0]!.body.organization.id]);
  });

  it("makes repeated concurrent links of the same account idempotent", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    const answers = await Promise.all(Array.from({ length: 5 }, () => link(id, account)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.body.created).length).toBe(1);
  });
});

describe("create-connect-account: validation", () => {
  it.each([
    [{ stripe_connect_account_id: "acct_1" }, "organization_id"],
    [{ organization_id: "org_x" }, "stripe_connect_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: "cus_123" }, "stripe_connect_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: "" }, "stripe_connect_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: null }, "stripe_connect_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: "acct_1", status: "active" }, "status"],
  ])("answers 400 invalid_request naming the field for %j", async (body, field) => {
    const answer = await internal("POST", "/create-connect-account", { body });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_request");
    expect(answer.body.error.message).toContain(`"${field}"`);
  });
});
