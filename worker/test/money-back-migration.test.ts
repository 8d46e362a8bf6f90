import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { insertOrganization, internal } from "./helpers";

// This file's D1 plays a database from before migrations/0006: setup.ts applied every
// migration, so 0006's columns are dropped and 0005's settlements table is put back (from
// 0005's own statement); rows are written there, then 0006's statements are run here.
const MIGRATION = "0006_money_back.sql";
const COLUMNS = [
  "stripe_payout_failure_id",
  "stripe_payout_failure_code",
  "stripe_payout_failure_message",
  "stripe_payout_failed_created",
  "stripe_payout_paid_created",
];

function queriesOf(name: string): string[] {
  const migration = env.TEST_MIGRATIONS.find((m) => m.name === name);
  if (!migration) throw new Error(`${name} is not among the migrations vitest.config.ts reads`);
  return migration.queries;
}

async function backTo0005(): Promise<void> {
  const create = queriesOf("0005_claims.sql").find((q) => /CREATE TABLE connect_claim_settlements/.test(q));
  if (!create) throw new Error("0005 has no connect_claim_settlements");
  await env.DB.batch([
    ...COLUMNS.map((column) => env.DB.prepare(`ALTER TABLE organizations DROP COLUMN ${column}`)),
    env.DB.prepare("DROP TABLE connect_claim_settlements"),
    env.DB.prepare(create),
  ]);
}

async function columnsOf(table: string): Promise<string[]> {
  const { results } = await env.DB.prepare(`SELECT name FROM pragma_table_info(?1)`).bind(table).all<{ name: string }>();
  return results.map((r) => r.name);
}

describe("migration 0006", () => {
  beforeAll(backTo0005);

  it("is among the migrations every runner applies", () => {
    expect(env.TEST_MIGRATIONS.map((m) => m.name)).toContain(MIGRATION);
  });

  it("adds the payout columns and keeps every settlement row, its order and its rowid", async () => {
    expect(await columnsOf("organizations")).not.toContain("stripe_payout_failure_id");
    const org = await insertOrganization();
    await env.DB.prepare(
      `INSERT INTO connect_claims (id, organization_id, amount, currency, settled, cause, cause_id, transfer_id, created_at)
       VALUES ('clm_m', ?1, 1000, 'usd', 600, 'refund', 're_1', 'tr_1', '2026-11-26T10:00:00.000Z')`,
    )
      .bind(org)
      .run();
    // Two settlements with the same created_at: their rowid orders them, the later key first.
    const rows = [
      ["tr_b", 100, "transfer", "2026-11-26T11:00:00.000Z"],
      ["trr_a", 200, "reversal", "2026-11-26T11:00:00.000Z"],
      ["tr_c", 300, "transfer", "2026-11-26T12:00:00.000Z"],
    ] as const;
    for (const [key, amount, kind, at] of rows) {
      await env.DB.prepare(`INSERT INTO connect_claim_settlements (claim_id, key, amount, kind, created_at) VALUES ('clm_m', ?1, ?2, ?3, ?4)`)
        .bind(key, amount, kind, at)
        .run();
    }
    // 0005's CHECK refuses 'waived'.
    await expect(
      env.DB.prepare(`INSERT INTO connect_claim_settlements (claim_id, key, amount, kind, created_at) VALUES ('clm_m', 'w', 1, 'waived', 'x')`).run(),
    ).rejects.toThrow(/CHECK constraint failed/);
    const before = await env.DB.prepare(`SELECT rowid, * FROM connect_claim_settlements ORDER BY rowid`).all();

    await env.DB.batch(queriesOf(MIGRATION).map((query) => env.DB.prepare(query)));

    for (const column of COLUMNS) expect(await columnsOf("organizations")).toContain(column);
    const after = await env.DB.prepare(`SELECT rowid, * FROM connect_claim_settlements ORDER BY rowid`).all();
    expect(after.results).toEqual(before.results);
    expect(await columnsOf("connect_claim_settlements")).toEqual(["claim_id", "key", "amount", "kind", "created_at"]);

    // The API answers the claim as before, settlements in the same order, and the organization
    // with no payout failure.
    const listed = await internal("GET", `/claims?organization_id=${org}`, {}, "/claims");
    expect(listed.body.claims[0]).toMatchObject({ id: "clm_m", settled: 600, open: 400 });
    expect(listed.body.claims[0].settlements.map((s: { key: string }) => s.key)).toEqual(["tr_b", "trr_a", "tr_c"]);
    const read = await internal("GET", `/organization/${org}`, {}, "/organization/{id}");
    expect(read.body.organization.payout_failure).toBeNull();

    // The rebuilt table: waived is allowed, the key is still unique, the claim's deletion cascades.
    const waived = await internal(
      "POST",
      "/claims/clm_m/settlements",
      { body: { key: "dp_won", amount: 400, kind: "waived" } },
      "/claims/{id}/settlements",
    );
    expect(waived.body).toMatchObject({ applied: true, claim: { settled: 1000, open: 0 } });
    await expect(
      env.DB.prepare(`INSERT INTO connect_claim_settlements (claim_id, key, amount, kind, created_at) VALUES ('clm_m', 'tr_b', 1, 'transfer', 'x')`).run(),
    ).rejects.toThrow(/UNIQUE constraint failed|PRIMARY KEY/);
    await expect(
      env.DB.prepare(`INSERT INTO connect_claim_settlements (claim_id, key, amount, kind, created_at) VALUES ('clm_none', 'k', 1, 'transfer', 'x')`).run(),
    ).rejects.toThrow(/FOREIGN KEY constraint failed/);
    await env.DB.prepare(`DELETE FROM connect_claims WHERE id = 'clm_m'`).run();
    const left = await env.DB.prepare(`SELECT COUNT(*) AS n FROM connect_claim_settlements`).first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});
