/**
 * The opaque cursor of `GET /organizations`: base64url (no padding) of `{"after": "<id>"}`, the
 * id the next page starts after. Callers must not read it; the encoding may change.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The cursor of a page whose last organization is `id`. */
export function encodeCursor(id: string): string {
  const binary = String.fromCharCode(...encoder.encode(JSON.stringify({ after: id })));
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The id a cursor starts after, or null when it is not one this API gave out. */
export function decodeCursor(cursor: string): string | null {
  if (!BASE64URL.test(cursor) || cursor.length % 4 === 1) return null;
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const value: unknown = JSON.parse(decoder.decode(Uint8Array.from(binary, (ch) => ch.charCodeAt(0))));
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    const keys = Object.keys(value);
    const after = (value as { after?: unknown }).after;
    if (keys.length !== 1 || typeof after !== "string" || after.length === 0 || after.length > 255) return null;
    return after;
  } catch {
    return null;
  }
}
