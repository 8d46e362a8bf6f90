/**
 * The service's share rule for money coming back (README "Money comes back", `money.clawback`)
 * on integers: what an organization owes back of a transfer of `net`, made from a charge of
 * `charged`, once `takenBack` of that charge was refunded or disputed, in all:
 * `round_half_up(net × takenBack / charged)`, or `min(takenBack, net)` when the platform keeps
 * its fee (`REFUND_FEE_POLICY=platform_keeps_fee`). A reversal is this less what was already
 * reversed for the same cause (`reversalFor`), so partial refunds sum exactly to `net`.
 * contract/clawback.json holds the vectors both sides are tested with.
 */
export type RefundFeePolicy = "proportional" | "platform_keeps_fee";

export interface ClawbackInput {
  net: number;
  charged: number;
  takenBack: number;
  policy: RefundFeePolicy;
}

export function clawback({ net, charged, takenBack, policy }: ClawbackInput): number {
  for (const [name, value] of [
    ["net", net],
    ["charged", charged],
    ["takenBack", takenBack],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${name} must be a non-negative integer of minor units`);
    }
  }
  if (charged === 0 || net > charged || takenBack > charged) {
    throw new RangeError("net and takenBack must be within the charge, which must be positive");
  }
  if (policy === "platform_keeps_fee") return Math.min(takenBack, net);
  // round_half_up(n / d) for n ≥ 0, d > 0: floor((2n + d) / 2d), exact in BigInt.
  const numerator = BigInt(net) * BigInt(takenBack);
  const denominator = BigInt(charged);
  return Number((2n * numerator + denominator) / (2n * denominator));
}

/**
 * The reversal one more refund (or a dispute) makes: what is owed once `takenBack` is taken
 * back in all, less `alreadyReversed` for the same cause (never below zero).
 */
export function reversalFor(input: ClawbackInput & { alreadyReversed: number }): number {
  return Math.max(0, clawback(input) - input.alreadyReversed);
}
