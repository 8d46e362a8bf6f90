import { describe, expect, it } from "vitest";
import rule from "../../contract/clawback.json";
import { clawback, reversalFor, type RefundFeePolicy } from "../src/kit/clawback";

// The service checks its rule against the same vectors (tests/unit/test_money.py): what the
// frontend computes of money coming back is what the service takes.
const policyOf = (policy: string) => policy as RefundFeePolicy;

describe("clawback agrees with contract/clawback.json", () => {
  it.each(rule.vectors.map((v) => [v.net, v.charged, v.taken_back, v.policy, v.owed] as const))(
    "net %i of a %i charge, %i taken back (%s), owes %i",
    (net, charged, takenBack, policy, owed) => {
      expect(clawback({ net, charged, takenBack, policy: policyOf(policy) })).toBe(owed);
    },
  );

  it.each(rule.steps.map((s) => [s.net, s.charged, s.policy, s.refunds, s.reversals] as const))(
    "net %i of a %i charge (%s): refunds %j reverse %j",
    (net, charged, policy, refunds, reversals) => {
      let takenBack = 0;
      let alreadyReversed = 0;
      const made = refunds.map((refund) => {
        takenBack += refund;
        const reversal = reversalFor({ net, charged, takenBack, policy: policyOf(policy), alreadyReversed });
        alreadyReversed += reversal;
        return reversal;
      });
      expect(made).toEqual(reversals);
      // At a full refund the reversals add up to exactly what is owed of the whole charge.
      expect(alreadyReversed).toBe(clawback({ net, charged, takenBack, policy: policyOf(policy) }));
    },
  );

  it.each(rule.refused.map((r) => [r.net, r.charged, r.taken_back] as const))(
    "refuses net %i of a %i charge with %i taken back",
    (net, charged, takenBack) => {
      for (const policy of ["proportional", "platform_keeps_fee"] as const) {
        expect(() => clawback({ net, charged, takenBack, policy })).toThrow(RangeError);
      }
    },
  );

  it("refuses amounts that are not integers of minor units", () => {
    expect(() => clawback({ net: 1.5, charged: 10, takenBack: 1, policy: "proportional" })).toThrow(RangeError);
    expect(() => clawback({ net: 1, charged: 10, takenBack: Number.NaN, policy: "proportional" })).toThrow(RangeError);
  });

  it("is exact where a float product would round wrongly", () => {
    // 99_999_999 × 99_999_999 is beyond 2^53: the BigInt product is exact.
    expect(clawback({ net: 99_999_999, charged: 99_999_999, takenBack: 99_999_999, policy: "proportional" })).toBe(
      99_999_999,
    );
    expect(clawback({ net: 99_999_998, charged: 99_999_999, takenBack: 50_000_000, policy: "proportional" })).toBe(
      49_999_999,
    );
  });
});
