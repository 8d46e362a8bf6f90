import { describe, expect, it } from "vitest";
import roles from "../../contract/member-roles.json";
import { canManagePayments } from "../src/auth/betterAuthClient";

// The Worker reads member roles by the same vectors (worker/test/roles.test.ts).
describe("canManagePayments agrees with contract/member-roles.json", () => {
  it.each(roles.vectors.map((v) => [v.stored, v.highest] as const))("%j (highest %j)", (stored, highest) => {
    expect(canManagePayments(stored)).toBe(highest !== null && roles.manage_payments.includes(highest));
  });

  it("treats no role at all as no right to manage", () => {
    expect(canManagePayments(undefined)).toBe(false);
  });
});
