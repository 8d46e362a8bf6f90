/** Bindings of the local Worker app (wrangler.jsonc). */
export interface Env {
  DB: D1Database;
  /** Better Auth's signing secret; a dev value lives in wrangler.jsonc vars. */
  BETTER_AUTH_SECRET: string;
  /** Optional public origin of the Worker; Better Auth infers it from the request when unset. */
  BETTER_AUTH_URL?: string;
  /**
   * Comma-separated origins of browser frontends that may call /api/auth/* (CORS, and Better
   * Auth's trustedOrigins); unset = none besides the Worker's own.
   */
  TRUSTED_ORIGINS?: string;
  /** Comma-separated keys accepted in X-Internal-Api-Key (several during a rotation). */
  INTERNAL_API_KEYS: string;
  /**
   * "development" (wrangler.jsonc's top-level vars) or "production" (its production
   * environment); outside development weak or missing keys refuse /api/internal/* (503).
   */
  ENVIRONMENT?: string;
  /** Dev/benchmark only: delay every /api/internal/* request by this many ms (unset = 0). */
  INJECTED_LATENCY_MS?: string;
}
