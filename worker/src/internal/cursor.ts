/**
 * The opaque page cursors: base64url (no padding) of a small JSON object naming where the next
 * page starts. `GET /organizations`: `{"after": "<id>"}`, the id the next page starts after.
 * In last-sync order (`order=synced_at` or `-synced_at`): `{"after": {"synced": "<synced_at or empty>",
 * "id": "<id>", "order": "<the order>"}}`, so a cursor of one order is refused by another.
 * In deadline order (`order=deadline`): `{"after": {"deadline": "<deadline, or ~ for none>",
 * "synced": "<synced_at or empty>", "id": "<id>", "order": "deadline"}}`.
 * `GET /claims`: `{"after": ["<created_at>", "<id>"]}`, the (created_at, id) it starts after.
 * Callers must not read them; the encoding may change.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Where a page of claims ends: the FIFO order's key of its last claim. */
export interface ClaimPosition {
  created_at: string;
  id: string;
}

/** The cursor of a page whose last organization is `id`. */
export function encodeCursor(id: string): string {
  return encode(id);
}

/** The id a cursor starts after, or null when it is not one this API gave out. */
export function decodeCursor(cursor: string): string | null {
  const after = decode(cursor);
  return isPart(after) ? after : null;
}

/** Where a page in last-sync order ended, and in which of the two orders. */
export interface SyncCursor {
  synced: string;
  id: string;
  order: "synced_at" | "-synced_at";
}

/** The cursor of a page in last-sync order whose last organization is at `last`. */
export function encodeSyncCursor(last: SyncCursor): string {
  return encode({ synced: last.synced, id: last.id, order: last.order });
}

/** The position a last-sync cursor starts after, or null when it is not one this API gave out. */
export function decodeSyncCursor(cursor: string): SyncCursor | null {
  const after = decode(cursor);
  if (typeof after !== "object" || after === null || Array.isArray(after)) return null;
  const { synced, id, order, ...rest } = after as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !isPart(id)) return null;
  if (typeof synced !== "string" || synced.length > 64) return null;
  if (order !== "synced_at" && order !== "-synced_at") return null;
  return { synced, id, order };
}

/** Where a page in deadline order ended: the sort key of its last organization. */
export interface DeadlineCursor {
  /** The stored deadline, or the key of none (it sorts last). */
  deadline: string;
  synced: string;
  id: string;
  order: "deadline";
}

/** The cursor of a page in deadline order whose last organization is at `last`. */
export function encodeDeadlineCursor(last: Omit<DeadlineCursor, "order">): string {
  return encode({ deadline: last.deadline, synced: last.synced, id: last.id, order: "deadline" });
}

/** The position a deadline cursor starts after, or null when it is not one this API gave out. */
export function decodeDeadlineCursor(cursor: string): DeadlineCursor | null {
  const after = decode(cursor);
  if (typeof after !== "object" || after === null || Array.isArray(after)) return null;
  const { deadline, synced, id, order, ...rest } = after as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !isPart(id) || order !== "deadline") return null;
  if (typeof synced !== "string" || synced.length > 64) return null;
  if (typeof deadline !== "string" || deadline.length === 0 || deadline.length > 64) return null;
  return { deadline, synced, id, order };
}

/** The cursor of a page whose last claim is `last`. */
export function encodeClaimCursor(last: ClaimPosition): string {
  return encode([last.created_at, last.id]);
}

/** The claim a cursor starts after, or null when it is not one this API gave out. */
export function decodeClaimCursor(cursor: string): ClaimPosition | null {
  const after = decode(cursor);
  if (!Array.isArray(after) || after.length !== 2 || !after.every(isPart)) return null;
  const [created_at, id] = after as [string, string];
  return { created_at, id };
}

function isPart(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 255;
}

function encode(after: unknown): string {
  const binary = String.fromCharCode(...encoder.encode(JSON.stringify({ after })));
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The `after` of a cursor this API could have given out, else undefined. */
function decode(cursor: string): unknown {
  if (!BASE64URL.test(cursor) || cursor.length % 4 === 1) return undefined;
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const value: unknown = JSON.parse(decoder.decode(Uint8Array.from(binary, (ch) => ch.charCodeAt(0))));
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    if (Object.keys(value).length !== 1) return undefined;
    return (value as { after?: unknown }).after;
  } catch {
    return undefined;
  }
}
