import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  addMember,
  createOrganization,
  internal,
  makePlatformAdmin,
  send,
  signUp,
  unique,
  type TestUser,
  UNLINKED,
} from "./helpers";

function verify(body: unknown) {
  return internal("POST", "/verify-user-context", { body });
}

async function expectInvalidSession(token: string) {
  const answer = await verify({ session_token: token });
  expect(answer.status).toBe(401);
  expect(answer.body.error.code).toBe("invalid_session");
}

describe("verify-user-context: the session", () => {
  it("accepts the raw token and answers the user and the session", async () => {
    const ada = await signUp("Ada");
    const answer = await verify({ session_token: ada.token });
    expect(answer.status).toBe(200);
    expect(answer.body.user).toEqual({ id: ada.id, email: ada.email, name: "Ada", role: "user" });
    expect(answer.body.session.id).toEqual(expect.any(String));
    expect(Date.parse(answer.body.session.expires_at)).toBeGreaterThan(Date.now());
    expect(answer.body.organization).toBeNull();
    expect(answer.body.member_role).toBeNull();
  });

  it("accepts the signed token.signature form", async () => {
    const ada = await signUp();
    expect(ada.signedToken).toMatch(new RegExp(`^${ada.token}\\.`));
    const answer = await verify({ session_token: ada.signedToken, organization_id: null });
    expect(answer.status).toBe(200);
    expect(answer.body.user.id).toBe(ada.id);
  });

  it("answers the session of that token when the user has several", async () => {
    const ada = await signUp();
    const second = await send("/api/auth/sign-in/email", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: ada.email, password: "correct-horse-battery" }),
    });
    const first = await verify({ session_token: ada.token });
    const other = await verify({ session_token: second.body.token });
    expect(other.status).toBe(200);
    expect(other.body.session.id).not.toBe(first.body.session.id);
  });

  it("rejects an unknown token", async () => {
    await expectInvalidSession(unique("no-such-token"));
  });

  it("rejects a signed token with a wrong signature", async () => {
    const ada = await signUp();
    await expectInvalidSession(`${ada.token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`);
  });

  it("rejects an expired session", async () => {
    const ada = await signUp();
    await env.DB.prepare(`UPDATE session SET expiresAt = ?1 WHERE token = ?2`)
      .bind("2020-01-01T00:00:00.000Z", ada.token)
      .run();
    await expectInvalidSession(ada.token);
    await expectInvalidSession(ada.signedToken);
  });

  it("rejects a session revoked by sign-out", async () => {
    const ada = await signUp();
    const out = await send("/api/auth/sign-out", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${ada.token}` },
      body: "{}",
    });
    expect(out.status).toBe(200);
    await expectInvalidSession(ada.token);
  });

  it("rejects a session whose row was deleted", async () => {
    const ada = await signUp();
    await env.DB.prepare(`DELETE FROM session WHERE token = ?1`).bind(ada.token).run();
    await expectInvalidSession(ada.signedToken);
  });
});

describe("verify-user-context: the organization", () => {
  let owner: TestUser;
  let organizationId: string;

  async function withOrganization(): Promise<void> {
    owner = await signUp("Owner");
    organizationId = await createOrganization(owner, "Acme");
  }

  it("answers an owner with the organization and member_role owner", async () => {
    await withOrganization();
    const answer = await verify({ session_token: owner.token, organization_id: organizationId });
    expect(answer.status).toBe(200);
    expect(answer.body.member_role).toBe("owner");
    expect(answer.body.organization).toMatchObject({ id: organizationId, name: "Acme", ...UNLINKED });
  });

  it("answers an invited admin and an invited member with their roles", async () => {
    await withOrganization();
    const admin = await signUp("Admin");
    const member = await signUp("Member");
    await addMember(organizationId, owner, admin, "admin");
    await addMember(organizationId, owner, member, "member");

    const asAdmin = await verify({ session_token: admin.token, organization_id: organizationId });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.member_role).toBe("admin");
    const asMember = await verify({ session_token: member.signedToken, organization_id: organizationId });
    expect(asMember.status).toBe(200);
    expect(asMember.body.member_role).toBe("member");
  });

  it("answers a non-member with 403 not_a_member", async () => {
    await withOrganization();
    const stranger = await signUp("Stranger");
    const answer = await verify({ session_token: stranger.token, organization_id: organizationId });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe("not_a_member");
  });

  it("answers an unknown organization exactly like one the user is not in", async () => {
    await withOrganization();
    const stranger = await signUp();
    const notMember = await verify({ session_token: stranger.token, organization_id: organizationId });
    const unknown = await verify({ session_token: stranger.token, organization_id: unique("org_missing") });
    expect(unknown.status).toBe(403);
    expect(unknown.body).toEqual(notMember.body);
  });

  it("checks the session before the organization", async () => {
    const answer = await verify({ session_token: unique("bad"), organization_id: unique("org_missing") });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("invalid_session");
  });

  it("lets a platform admin into any existing organization with member_role null", async () => {
    await withOrganization();
    const platform = await signUp("Platform");
    await makePlatformAdmin(platform);
    const answer = await verify({ session_token: platform.token, organization_id: organizationId });
    expect(answer.status).toBe(200);
    expect(answer.body.user.role).toBe("admin");
    expect(answer.body.organization.id).toBe(organizationId);
    expect(answer.body.member_role).toBeNull();
  });

  it("answers a platform admin 403 not_a_member for an organization that does not exist", async () => {
    const platform = await signUp("Platform");
    await makePlatformAdmin(platform);
    const answer = await verify({ session_token: platform.token, organization_id: unique("org_missing") });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe("not_a_member");
  });

  it("answers a platform admin who is also a member with their member role", async () => {
    await withOrganization();
    await makePlatformAdmin(owner);
    const answer = await verify({ session_token: owner.token, organization_id: organizationId });
    expect(answer.status).toBe(200);
    expect(answer.body.member_role).toBe("owner");
  });

  it("names the highest known role when Better Auth stores several", async () => {
    await withOrganization();
    const member = await signUp();
    await addMember(organizationId, owner, member, "member");
    await env.DB.prepare(`UPDATE member SET role = 'member,admin' WHERE userId = ?1`).bind(member.id).run();
    const answer = await verify({ session_token: member.token, organization_id: organizationId });
    expect(answer.body.member_role).toBe("admin");
  });
});

describe("verify-user-context: validation", () => {
  it.each([
    [{}, "session_token"],
    [{ session_token: "" }, "session_token"],
    [{ session_token: 42 }, "session_token"],
    [{ session_token: "t", organization_id: 7 }, "organization_id"],
    [{ session_token: "t", organization_id: "" }, "organization_id"],
    [{ session_token: "t", extra: true }, "extra"],
    [[], "body"],
  ])("answers 400 invalid_request naming the field (message and param) for %j", async (body, field) => {
    const answer = await verify(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_request");
    expect(answer.body.error.message).toContain(`"${field}"`);
    // The same name, machine-readable, so a caller never parses the message.
    expect(answer.body.error.param).toBe(field);
  });

  it("answers 400 for a body that is not JSON", async () => {
    const answer = await internal("POST", "/verify-user-context", { rawBody: "{nope" });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_request");
    expect(answer.body.error.message).toContain('"body"');
    expect(answer.body.error.param).toBe("body");
  });
});
