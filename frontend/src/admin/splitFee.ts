/**
 * The service's fee rule (README, `money.split_fee`) on integers, for the console's preview:
 * `fee = round_half_up(amount × percent / 100)`, `net = amount − fee`, in minor units.
 * The percent is read as the exact decimal it prints as (12.5, never 12.4999…), as the
 * service reads D1's float with `Decimal(str(percent))`.
 */
export interface FeeSplit {
  gross: number;
  fee: number;
  net: number;
}

export function splitFee(amount: number, percent: number): FeeSplit {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError("amount must be a non-negative integer of minor units");
  }
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new RangeError("platform fee percent must be within 0..100");
  }
  const { digits, scale } = exactDecimal(percent);
  // fee = amount × digits / (100 × 10^scale), rounded half up: floor((2n + d) / 2d) for n ≥ 0.
  const numerator = BigInt(amount) * digits;
  const denominator = 100n * 10n ** scale;
  const fee = Number((2n * numerator + denominator) / (2n * denominator));
  return { gross: amount, fee, net: amount - fee };
}

/** A non-negative finite number as digits × 10^-scale, from its shortest printed form. */
function exactDecimal(value: number): { digits: bigint; scale: bigint } {
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(String(value));
  if (!match) throw new RangeError(`not a decimal: ${value}`);
  const [, whole = "0", fraction = "", exponent = "0"] = match;
  const scale = fraction.length - Number(exponent);
  const digits = BigInt(whole + fraction);
  return scale >= 0
    ? { digits, scale: BigInt(scale) }
    : { digits: digits * 10n ** BigInt(-scale), scale: 0n };
}
