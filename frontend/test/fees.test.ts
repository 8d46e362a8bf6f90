import { describe, expect, it } from "vitest";
import feeRule from "../../contract/fee-rule.json";
import { splitFee } from "../src/admin/splitFee";
import { formatMoney, parseMoney } from "../src/kit/money";

const MAX_AMOUNT = 99_999_999;

// The service checks its rule against the same vectors (tests/unit/test_money.py): the console's
// preview must show exactly what the service will take.
describe("splitFee agrees with contract/fee-rule.json", () => {
  it.each(feeRule.vectors.map((v) => [v.amount, v.percent, v.fee] as const))(
    "%i at %s %% takes %i",
    (amount, percent, fee) => {
      expect(splitFee(amount, percent)).toEqual({ gross: amount, fee, net: amount - fee });
    },
  );

  it("has the service's largest amount", () => {
    expect(feeRule.max_amount).toBe(MAX_AMOUNT);
  });

  it.each(feeRule.refused_percents)("refuses %s %%", (percent) => {
    expect(() => splitFee(100, percent)).toThrow(RangeError);
  });

  it("reads a float percent by its shortest form, not its binary value", () => {
    expect(splitFee(50_000_000, 0.1 + 0.2).fee).toBe(150_000);
    expect(splitFee(100_000_000, 5e-7).fee).toBe(1); // printed "5e-7": exactly 0.5, rounded up
  });

  it("refuses what the service refuses", () => {
    expect(() => splitFee(100, -0.01)).toThrow(RangeError);
    expect(() => splitFee(100, 100.01)).toThrow(RangeError);
    expect(() => splitFee(100, Number.NaN)).toThrow(RangeError);
    expect(() => splitFee(1.5, 10)).toThrow(RangeError);
  });
});

describe("parseMoney: what an admin types, in minor units", () => {
  it.each([
    ["100", "usd", 10_000],
    ["100.5", "usd", 10_050],
    [" 0.99 ", "usd", 99],
    ["100.", "usd", 10_000],
    ["500", "jpy", 500],
  ])("%j %s → %i", (text, currency, minor) => {
    expect(parseMoney(text, currency)).toBe(minor);
  });

  it.each([["1.005"], ["-1"], ["1,00"], ["abc"], [""], ["1e3"]])("refuses %j", (text) => {
    expect(parseMoney(text, "usd")).toBeNull();
  });

  it("refuses decimals a currency does not have", () => {
    expect(parseMoney("5.5", "jpy")).toBeNull();
    expect(formatMoney(500, "jpy")).toBe("¥500");
  });
});
