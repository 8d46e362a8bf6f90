import type { MiddlewareHandler } from "hono";
import { errorResponse } from "./errors";
import { isStrongKey } from "./key-rule";

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
 * Outside local development (`environment` other than "development", or missing), answers
 * every request 503 `misconfigured` while the key list is empty or holds a key weaker than
 * `isStrongKey` allows. A Worker cannot refuse to start, so this is the closest: nothing is
 * served with a guessable key. Logged once per middleware (one per isolate when the app is
 * built at module scope), with counts only, never a key.
 */
export function refuseWeakKeys<E extends object>(
  keysOf: (env: E) => string | undefined,
  environmentOf: (env: E) => string | undefined,
  log: Logger,
): MiddlewareHandler<{ Bindings: E; Variables: InternalVariables }> {
  let logged = false;
  return async (c, next) => {
    const environment = environmentOf(c.env);
    if (environment !== "development") {
      const keys = parseKeys(keysOf(c.env));
      const weak = keys.filter((key) => !isStrongKey(key)).length;
      if (keys.length === 0 || weak > 0) {
        if (!logged) {
          logged = true;
          log({
            event: "internal.config.weak_keys",
            request_id: c.get("requestId"),
            environment: environment ?? null,
            keys: keys.length,
            weak_keys: weak,
          });
        }
        return errorResponse(c, 503, "misconfigured", "the internal API keys are missing or too weak for this environment");
      }
    }
    await next();
  };
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
