/**
 * Money in minor units, as the service counts it: shown in the reader's locale, and read back
 * from what a person typed.
 */
function currencyFormat(currency: string): Intl.NumberFormat | null {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
  } catch {
    return null;
  }
}

/** How many minor units a currency's major unit has, as a power of ten (usd 2, jpy 0). */
export function minorDigits(currency: string): number | null {
  const format = currencyFormat(currency);
  return format ? (format.resolvedOptions().maximumFractionDigits ?? 2) : null;
}

/** An amount in minor units as money, e.g. (9000, "usd") → "$90.00". */
export function formatMoney(amount: number, currency: string): string {
  const format = currencyFormat(currency);
  const digits = minorDigits(currency);
  if (!format || digits === null) return `${amount} ${currency.toUpperCase()} (minor units)`;
  return format.format(amount / 10 ** digits);
}

/**
 * What a person typed as money ("100", "100.5", "100.50") in minor units (10050 for usd),
 * or null when it is not a plain amount with at most the currency's decimals.
 */
export function parseMoney(text: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (digits === null || !match) return null;
  const [, whole = "", fraction = ""] = match;
  if (fraction.length > digits) return null;
  const minor = Number(whole + fraction.padEnd(digits, "0"));
  return Number.isSafeInteger(minor) ? minor : null;
}

/** An amount in minor units as a person would type it back (10050 usd → "100.50"), no symbol. */
export function formatAmountInput(amount: number, currency: string): string {
  const digits = minorDigits(currency) ?? 0;
  const text = String(Math.abs(amount)).padStart(digits + 1, "0");
  const whole = digits ? text.slice(0, -digits) : text;
  return `${amount < 0 ? "-" : ""}${whole}${digits ? `.${text.slice(-digits)}` : ""}`;
}
