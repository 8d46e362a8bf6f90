import type { MiddlewareHandler } from "hono";
import { errorResponse } from "./errors";

/** Variables the middleware hands to the routes. */
export interface InternalVariables {
  requestId: string;
}

/** One structured log line; never keys, tokens or bodies. */
export type Logger = (record: Record<string, unknown>) => void;

export const consoleLogger: Logger = (record) => console.log(JSON.stringify(record));

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Takes the caller's X-Request-ID (or makes one), echoes it on the response and logs one
 * line per request with its outcome.
 */
export function requestLog(log: Logger): MiddlewareHandler<{ Variables: InternalVariables }> {
  return async (c, next) => {
    const started = Date.now();
    const given = c.req.header("X-Request-ID");
    const requestId = given && SANE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    await next();
    c.res.headers.set("X-Request-ID", requestId);
    log({
      event: "internal.request",
      request_id: requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Date.now() - started,
    });
  };
}

/** Splits the comma-separated key list, ignoring blanks. */
export function parseKeys(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((key) => key.trim())
    .filter((key) => key.length > 0);
}

const encoder = new TextEncoder();

async function sha256(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

/**
 * True when `presented` equals one of `keys`. Both sides are hashed to equal length and
 * compared with the runtime's constant-time comparison, against every key without
 * stopping early, so timing tells neither the key nor which one matched.
 */
export async function matchesAnyKey(presented: string, keys: readonly string[]): Promise<boolean> {
  const presentedHash = await sha256(presented);
  let matched = false;
  for (const key of keys) {
    const equal = crypto.subtle.timingSafeEqual(presentedHash, await sha256(key));
    matched = equal || matched;
  }
  return matched && presented.length > 0;
}

/**
 * Rejects a missing or wrong X-Internal-Api-Key with 401 `unauthorized` before any route
 * runs, so the body is never read for an unauthenticated request.
 */
export function requireApiKey<E extends object>(
  keysOf: (env: E) => string | undefined,
  log: Logger,
): MiddlewareHandler<{ Bindings: E; Variables: InternalVariables }> {
  return async (c, next) => {
    const keys = parseKeys(keysOf(c.env));
    if (keys.length === 0) {
      log({ event: "internal.auth.no_keys_configured", request_id: c.get("requestId") });
    }
    const presented = c.req.header("X-Internal-Api-Key") ?? "";
    if (!(await matchesAnyKey(presented, keys))) {
      return errorResponse(c, 401, "unauthorized", "missing or invalid X-Internal-Api-Key");
    }
    await next();
  };
}
