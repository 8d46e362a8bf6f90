import { describe, expect, it } from "vitest";
import rule from "../../contract/internal-api-key-rule.json";
import { KEY_RULE, isStrongKey } from "../src/internal";

describe("the internal API key rule (contract/internal-api-key-rule.json)", () => {
  it("has the contract's numbers", () => {
    expect(KEY_RULE).toEqual({ minLength: rule.min_length, minDistinctCharacters: rule.min_distinct_characters });
  });

  it.each(rule.vectors.map((v) => [v.why, v.key, v.strong] as const))("%s", (_why, key, strong) => {
    expect(isStrongKey(key)).toBe(strong);
  });
});
