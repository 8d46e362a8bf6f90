import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { insertOrganization, internal, storedOrganization, unique, type Answer } from "./helpers";

const link = (organization_id: string, stripe_connect_account_id: string) =>
  internal("POST", "/create-connect-account", { body: { organization_id, stripe_connect_account_id } });

const replace = (organization_id: string, stripe_connect_account_id: string, replace_account_id: string) =>
  internal("POST", "/create-connect-account", {
    body: { organization_id, stripe_connect_account_id, replace_account_id },
  });

/** Where a new link starts: the state the compare-and-set writes. */
const NEW_LINK = { stripe_connect_status: "pending", onboarding_step: "details_submission", onboarding_rejection_reason: null };

/**
 * Of concurrent links of different accounts to organization `id`, exactly one was made; the
 * others answered already_linked with the organization holding the winner's account, as D1 does.
 */
async function expectOneLinked(id: string, answers: Answer[]): Promise<void> {
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
}

/** An organization linked to a fresh account, then deauthorized as the service records it. */
async function deauthorizedOrganization(): Promise<{ id: string; old: string }> {
  const id = await insertOrganization();
  const old = unique("acct_");
  await link(id, old);
  const marked = await internal("POST", "/update-organization", {
    body: {
      organization_id: id,
      updates: { stripe_connect_status: "disabled", onboarding_step: "deauthorized", onboarding_rejection_reason: "deauthorized" },
      synced_at: "2026-11-26T10:00:00.000Z",
    },
  });
  expect(marked.body.applied).toBe(true);
  return { id, old };
}

describe("create-connect-account", () => {
  it("links an account to an organization that has none: pending, details_submission", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    const answer = await link(id, account);
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(true);
    expect(answer.body.organization).toMatchObject({ id, stripe_connect_account_id: account, ...NEW_LINK });
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
    await expectOneLinked(id, await Promise.all(accounts.map((account) => link(id, account))));
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

describe("create-connect-account: replacing a deauthorized link", () => {
  it("swaps the account and starts the new link over: pending, details_submission, no reason, no synced_at", async () => {
    const { id, old } = await deauthorizedOrganization();
    const account = unique("acct_");
    const answer = await replace(id, account, old);
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(true);
    expect(answer.body.organization).toMatchObject({
      id,
      stripe_connect_account_id: account,
      ...NEW_LINK,
      stripe_connect_synced_at: null,
    });
    expect(await storedOrganization(id)).toMatchObject({ stripe_connect_account_id: account, stripe_connect_synced_at: null });
    const byOld = await internal("GET", `/organization-by-account/${old}`, {}, "/organization-by-account/{account_id}");
    expect(byOld.status).toBe(404);
  });

  it("answers created false when the replacement already happened (a retry)", async () => {
    const { id, old } = await deauthorizedOrganization();
    const account = unique("acct_");
    await replace(id, account, old);
    const again = await replace(id, account, old);
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    expect(again.body.organization.stripe_connect_account_id).toBe(account);
  });

  it("answers 409 already_linked with the organization when it holds another account", async () => {
    const { id, old } = await deauthorizedOrganization();
    const other = unique("acct_");
    await replace(id, other, old);
    const answer = await replace(id, unique("acct_"), old);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("already_linked");
    expect(answer.body.organization).toMatchObject({ id, stripe_connect_account_id: other });
  });

  it("answers 409 not_deauthorized with the organization when its link to that account is not deauthorized", async () => {
    const id = await insertOrganization();
    const old = unique("acct_");
    await link(id, old);
    await internal("POST", "/update-organization", {
      body: { organization_id: id, updates: { stripe_connect_status: "active", onboarding_step: "complete" } },
    });
    const before = await storedOrganization(id);
    const answer = await replace(id, unique("acct_"), old);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("not_deauthorized");
    expect(answer.body.organization).toMatchObject({ id, stripe_connect_account_id: old, onboarding_step: "complete" });
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("looks at the step, not the status: disabled for another reason is not deauthorized", async () => {
    const id = await insertOrganization();
    const old = unique("acct_");
    await link(id, old);
    await internal("POST", "/update-organization", {
      body: { organization_id: id, updates: { stripe_connect_status: "disabled", onboarding_step: "rejected" } },
    });
    const answer = await replace(id, unique("acct_"), old);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("not_deauthorized");
  });

  it("answers 409 not_deauthorized when the organization holds no account at all", async () => {
    const id = await insertOrganization();
    const answer = await replace(id, unique("acct_"), unique("acct_"));
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("not_deauthorized");
    expect(answer.body.organization).toMatchObject({ id, stripe_connect_account_id: null });
    expect((await storedOrganization(id))!.stripe_connect_account_id).toBeNull();
  });

  it("answers 409 account_in_use when another organization holds the new account, changing nothing", async () => {
    const { id, old } = await deauthorizedOrganization();
    const holder = await insertOrganization();
    const taken = unique("acct_");
    await link(holder, taken);
    const before = await storedOrganization(id);
    const answer = await replace(id, taken, old);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("account_in_use");
    expect(await storedOrganization(id)).toEqual(before);
  });

  it("answers 404 not_found for an unknown organization", async () => {
    const answer = await replace(unique("org_missing"), unique("acct_"), unique("acct_"));
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("not_found");
  });

  it("changes nothing without replace_account_id: a deauthorized link still answers already_linked", async () => {
    const { id, old } = await deauthorizedOrganization();
    const answer = await link(id, unique("acct_"));
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("already_linked");
    expect(answer.body.organization).toMatchObject({ stripe_connect_account_id: old, onboarding_step: "deauthorized" });
  });

  it("lets exactly one of several concurrent replacements win; the others see already_linked", async () => {
    const { id, old } = await deauthorizedOrganization();
    const accounts = Array.from({ length: 6 }, () => unique("acct_"));
    await expectOneLinked(id, await Promise.all(accounts.map((account) => replace(id, account, old))));
  });

  it("makes concurrent retries of one replacement idempotent", async () => {
    const { id, old } = await deauthorizedOrganization();
    const account = unique("acct_");
    const answers = await Promise.all(Array.from({ length: 5 }, () => replace(id, account, old)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.body.created).length).toBe(1);
  });

  it("gives one new account to exactly one of two deauthorized organizations racing for it", async () => {
    const first = await deauthorizedOrganization();
    const second = await deauthorizedOrganization();
    const account = unique("acct_");
    const answers = await Promise.all([replace(first.id, account, first.old), replace(second.id, account, second.old)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(answers.find((a) => a.status === 409)!.body.error.code).toBe("account_in_use");
    const { results } = await env.DB.prepare("SELECT id FROM organizations WHERE stripe_connect_account_id = ?1").bind(account).all();
    expect(results).toHaveLength(1);
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
    [{ organization_id: "org_x", stripe_connect_account_id: "acct_1", replace_account_id: "cus_1" }, "replace_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: "acct_1", replace_account_id: "" }, "replace_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: "acct_1", replace_account_id: null }, "replace_account_id"],
    [{ organization_id: "org_x", stripe_connect_account_id: "acct_1", replace_account_id: "acct_1" }, "replace_account_id"],
  ])("answers 400 invalid_request naming the field (message and param) for %j", async (body, field) => {
    const answer = await internal("POST", "/create-connect-account", { body });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_request");
    expect(answer.body.error.message).toContain(`"${field}"`);
    // The same name, machine-readable, so a caller never parses the message.
    expect(answer.body.error.param).toBe(field);
  });
});

const readOrganization = (id: string) =>
  internal("GET", `/organization/${encodeURIComponent(id)}`, {}, "/organization/{id}");

describe("create-connect-account: which Stripe API the account is used through (migrations/0008)", () => {
  const linkThrough = (organization_id: string, stripe_connect_account_id: string, account_api?: string) =>
    internal("POST", "/create-connect-account", {
      body: { organization_id, stripe_connect_account_id, ...(account_api ? { account_api } : {}) },
    });

  it("records v1 for a link that names no API, and null before any link", async () => {
    const id = await insertOrganization();
    const before = await readOrganization(id);
    expect(before.body.organization.stripe_connect_account_api).toBeNull();

    const answer = await linkThrough(id, unique("acct_"));

    expect(answer.body.organization.stripe_connect_account_api).toBe("v1");
    expect((await storedOrganization(id))!.stripe_connect_account_api).toBe("v1");
  });

  it("records v2 with the link and answers it on every read", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");

    const answer = await linkThrough(id, account, "v2");

    expect(answer.status).toBe(200);
    expect(answer.body.organization.stripe_connect_account_api).toBe("v2");
    const byAccount = await internal(
      "GET",
      `/organization-by-account/${encodeURIComponent(account)}`,
      {},
      "/organization-by-account/{account_id}",
    );
    expect(byAccount.body.organization.stripe_connect_account_api).toBe("v2");
    expect((await storedOrganization(id))!.stripe_connect_account_api).toBe("v2");
  });

  it("takes the new account's API when a deauthorized v1 link is replaced by a v2 account", async () => {
    const { id, old } = await deauthorizedOrganization();
    const account = unique("acct_");

    const answer = await internal("POST", "/create-connect-account", {
      body: { organization_id: id, stripe_connect_account_id: account, replace_account_id: old, account_api: "v2" },
    });

    expect(answer.status).toBe(200);
    expect(answer.body.organization).toMatchObject({ stripe_connect_account_id: account, stripe_connect_account_api: "v2" });
  });

  it("keeps the first link's API when a retry names another (nothing is written)", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    await linkThrough(id, account, "v2");

    const again = await linkThrough(id, account, "v1");

    expect(again.body.created).toBe(false);
    expect(again.body.organization.stripe_connect_account_api).toBe("v2");
  });

  it("reads a linked row that predates the column as v1", async () => {
    const id = await insertOrganization();
    const account = unique("acct_");
    await linkThrough(id, account);
    await env.DB.prepare("UPDATE organizations SET stripe_connect_account_api = NULL WHERE id = ?1").bind(id).run();

    const read = await readOrganization(id);

    expect(read.body.organization.stripe_connect_account_api).toBe("v1");
  });

  it("refuses an API it does not know, and D1 refuses one written around it", async () => {
    const id = await insertOrganization();

    const answer = await linkThrough(id, unique("acct_"), "v3");

    expect(answer.status).toBe(400);
    expect((await storedOrganization(id))!.stripe_connect_account_id).toBeNull();
    await expect(
      env.DB.prepare("UPDATE organizations SET stripe_connect_account_api = 'v3' WHERE id = ?1").bind(id).run(),
    ).rejects.toThrow(/CHECK/);
  });
});
