import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import contract from "../../contract/worker-internal-api.openapi.json";
import { DEFAULT_ONBOARDING_STEP, DEFAULT_PLATFORM_FEE_PERCENT } from "../src/internal";
import { insertOrganization, storedOrganization } from "./helpers";

/** The DEFAULT a migration declares for `column` of organizations, as text. */
function migrationDefault(column: string): string | undefined {
  const pattern = new RegExp(`ADD COLUMN ${column} \\w+ DEFAULT ('[^']*'|[0-9.]+)`, "i");
  const found = env.TEST_MIGRATIONS.flatMap((m) => m.queries).map((q) => pattern.exec(q)?.[1]).filter(Boolean);
  expect(found, `one migration declares the default of ${column}`).toHaveLength(1);
  return found[0];
}

describe("the Connect columns' defaults live in one constant each", () => {
  it("the migration's DEFAULT of platform_fee_percent is DEFAULT_PLATFORM_FEE_PERCENT", () => {
    expect(Number(migrationDefault("platform_fee_percent"))).toBe(DEFAULT_PLATFORM_FEE_PERCENT);
  });

  it("the migration's DEFAULT of onboarding_step is DEFAULT_ONBOARDING_STEP", () => {
    expect(migrationDefault("onboarding_step")).toBe(`'${DEFAULT_ONBOARDING_STEP}'`);
  });

  it("a new row holds them, as D1 applied the migration", async () => {
    const row = await storedOrganization(await insertOrganization());
    expect(row).toMatchObject({ platform_fee_percent: DEFAULT_PLATFORM_FEE_PERCENT, onboarding_step: DEFAULT_ONBOARDING_STEP });
  });

  it("the contract's defaults are the same", () => {
    const properties = contract.components.schemas.Organization.properties;
    expect(properties.platform_fee_percent.default).toBe(DEFAULT_PLATFORM_FEE_PERCENT);
    expect(properties.onboarding_step.default).toBe(DEFAULT_ONBOARDING_STEP);
  });
});
