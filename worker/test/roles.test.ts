import { describe, expect, it } from "vitest";
import roles from "../../contract/member-roles.json";
import { highestMemberRole } from "../src/internal";
import { MEMBER_ROLES } from "../src/internal/schemas";

describe("member roles (contract/member-roles.json)", () => {
  it("ranks the contract's roles in the vectors' order", () => {
    expect([...MEMBER_ROLES]).toEqual(roles.order);
  });

  it.each(roles.vectors.map((v) => [v.stored, v.highest] as const))("reads %j as %j", (stored, highest) => {
    expect(highestMemberRole(stored)).toBe(highest);
  });
});
