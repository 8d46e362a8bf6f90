import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createOrganization, internal, signUp, unique, type TestUser } from "./helpers";

// This file's D1 plays a database from before migrations/0003: setup.ts applied every
// migration, so the unique index is dropped first and the migration's statements are run here.
const MIGRATION = "0003_member_unique.sql";

async function dropUniqueIndex(): Promise<void> {
  await env.DB.prepare("DROP INDEX IF EXISTS member_organization_user").run();
}

async function runMigration(): Promise<void> {
  const migration = env.TEST_MIGRATIONS.find((m) => m.name === MIGRATION);
  if (!migration) throw new Error(`${MIGRATION} is not among the migrations vitest.config.ts reads`);
  await env.DB.batch(migration.queries.map((query) => env.DB.prepare(query)));
}

async function insertMember(organizationId: string, userId: string, role: string, createdAt: string, id = unique("mem_")) {
  await env.DB.prepare(`INSERT INTO member (id, organizationId, userId, role, createdAt) VALUES (?1, ?2, ?3, ?4, ?5)`)
    .bind(id, organizationId, userId, role, createdAt)
    .run();
  return id;
}

async function memberRows(organizationId: string, userId: string) {
  const { results } = await env.DB.prepare(`SELECT id, role FROM member WHERE organizationId = ?1 AND userId = ?2`)
    .bind(organizationId, userId)
    .all<{ id: string; role: string }>();
  return results;
}

const roleOf = async (user: TestUser, organization_id: string) =>
  (await internal("POST", "/verify-user-context", { body: { session_token: user.token, organization_id } })).body.member_role;

describe("the member table's unique (organizationId, userId)", () => {
  beforeAll(dropUniqueIndex);

  it("is among the migrations every runner applies (wrangler's migrations_dir, readD1Migrations)", () => {
    expect(env.TEST_MIGRATIONS.map((m) => m.name)).toContain(MIGRATION);
  });

  it("answers the earliest row's role every time while duplicates exist, whatever the insertion order", async () => {
    const owner = await signUp("Owner");
    const organizationId = await createOrganization(owner);
    const [bauth] = await memberRows(organizationId, owner.id);
    // Inserted after Better Auth's owner row but created earlier, so a scan meets it second.
    await insertMember(organizationId, owner.id, "member", "2000-01-01T00:00:00.000Z");
    for (let i = 0; i < 3; i++) expect(await roleOf(owner, organizationId)).toBe("member");
    expect(bauth?.role).toBe("owner");
  });

  it("breaks a createdAt tie by id", async () => {
    const owner = await signUp("Owner");
    const organizationId = await createOrganization(owner);
    await env.DB.prepare(`DELETE FROM member WHERE organizationId = ?1`).bind(organizationId).run();
    await insertMember(organizationId, owner.id, "admin", "2001-01-01T00:00:00.000Z", `mem_b_${organizationId}`);
    await insertMember(organizationId, owner.id, "member", "2001-01-01T00:00:00.000Z", `mem_a_${organizationId}`);
    expect(await roleOf(owner, organizationId)).toBe("member");
  });

  it("the migration keeps only the earliest row per pair, leaves others alone, then refuses a duplicate", async () => {
    const owner = await signUp("Owner");
    const other = await signUp("Other");
    const organizationId = await createOrganization(owner);
    const earliest = await insertMember(organizationId, owner.id, "member", "1999-01-01T00:00:00.000Z", `mem_z_${organizationId}`);
    await insertMember(organizationId, owner.id, "admin", "1999-01-01T00:00:00.000Z", `mem_zz_${organizationId}`);
    await insertMember(organizationId, owner.id, "admin", "2030-01-01T00:00:00.000Z");
    const single = await insertMember(organizationId, other.id, "member", "2030-01-01T00:00:00.000Z");
    const before = await roleOf(owner, organizationId);

    await runMigration();

    expect(await memberRows(organizationId, owner.id)).toEqual([{ id: earliest, role: "member" }]);
    expect(await memberRows(organizationId, other.id)).toEqual([{ id: single, role: "member" }]);
    // The role answered before the migration is the one kept.
    expect(await roleOf(owner, organizationId)).toBe(before);
    await expect(insertMember(organizationId, owner.id, "owner", "2031-01-01T00:00:00.000Z")).rejects.toThrow(/UNIQUE/);
  });
});
