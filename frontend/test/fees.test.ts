import { describe, expect, it } from "vitest";
import { splitFee } from "../src/admin/splitFee";
import { formatMoney, parseMoney } from "../src/kit/money";

const MAX_AMOUNT = 99_999_999;

// The same vectors as the service's rule (tests/unit/test_money.py): the console's preview
// must show exactly what the service will take.
describe("splitFee: fee = round_half_up(amount × percent / 100), net = amount − fee", () => {
  it.each([
    [1000, 0, 0],
    [1000, 100, 1000],
    [1000, 10, 100],
    [1000, 2.9, 29],
    [1234, 2.9, 36], // 35.786
    [10_000, 12.345, 1235], // 1234.5 rounds up
    [1000, 12.345, 123], // 123.45 rounds down
    [999, 12.5, 125], // 124.875
    [1, 10, 0], // 0.1
    [1, 50, 1], // 0.5 rounds up
    [1, 49.99, 0],
    [1, 100, 1],
    [MAX_AMOUNT, 10, 10_000_000], // 9,999,999.9
    [MAX_AMOUNT, 0.01, 10_000], // 9,999.9999
    [MAX_AMOUNT, 100, MAX_AMOUNT],
  ])("%i at %s %% takes %i", (amount, percent, fee) => {
    expect(splitFee(amount, percent)).toEqual({ gross: amount, fee, net: amount - fee });
  });

  it.each([
    [5, 10, 1],
    [15, 10, 2],
    [25, 10, 3],
    [100, 2.5, 3],
    [100, 0.5, 1],
    [300, 0.5, 2],
  ])("rounds an exact half up, never to even: %i at %s %%", (amount, percent, fee) => {
    expect(splitFee(amount, percent).fee).toBe(fee);
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
