import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import rule from "../../contract/internal-api-key-rule.json";
import app from "../src/index";
import { assertContract } from "./contract";
import { KEY, NEXT_KEY } from "./helpers";

const STRONG = rule.vectors.filter((v) => v.strong).map((v) => v.key);

/** A request to the Worker app itself, with `bindings` over the suite's own. */
async function call(path: string, bindings: Record<string, string | undefined>, init: RequestInit = {}) {
  const response = await app.fetch(new Request(`http://worker.test${path}`, init), { ...env, ...bindings });
  return { status: response.status, body: (await response.json()) as any };
}

describe("the Worker outside local development", () => {
  it("runs this suite in development, as wrangler.jsonc's top-level vars say", () => {
    expect(env.ENVIRONMENT).toBe("development");
  });

  it.each([
    ["production", "production"],
    ["an unknown environment", "staging"],
    ["no ENVIRONMENT at all", undefined],
  ])("answers every internal request 503 misconfigured with the suite's weak keys in %s", async (_what, environment) => {
    for (const [path, init] of [
      ["/api/internal/health", { headers: { "X-Internal-Api-Key": KEY } }],
      ["/api/internal/health", {}],
      ["/api/internal/organizations?limit=1", { headers: { "X-Internal-Api-Key": NEXT_KEY } }],
      ["/api/internal/create-connect-account", { method: "POST", headers: { "X-Internal-Api-Key": KEY }, body: "{}" }],
      ["/api/internal/no-such-path", { headers: { "X-Internal-Api-Key": KEY } }],
    ] as const) {
      const answer = await call(path, { ENVIRONMENT: environment }, init);
      expect(answer.status, path).toBe(503);
      expect(answer.body.error.code).toBe("misconfigured");
    }
    const health = await call("/api/internal/health", { ENVIRONMENT: environment });
    assertContract("/api/internal/health", "GET", 503, health.body);
  });

  it("serves with strong keys in production, and still checks them", async () => {
    const keys = { ENVIRONMENT: "production", INTERNAL_API_KEYS: `${STRONG[0]},${STRONG[1]}` };
    const ok = await call("/api/internal/health", keys, { headers: { "X-Internal-Api-Key": STRONG[1]! } });
    expect(ok.status).toBe(200);
    const wrong = await call("/api/internal/health", keys, { headers: { "X-Internal-Api-Key": STRONG[2]! } });
    expect(wrong.status).toBe(401);
  });

  it("refuses a rotation that adds a weak key next to a strong one", async () => {
    const answer = await call(
      "/api/internal/health",
      { ENVIRONMENT: "production", INTERNAL_API_KEYS: `${STRONG[0]},short-key` },
      { headers: { "X-Internal-Api-Key": STRONG[0]! } },
    );
    expect(answer.status).toBe(503);
  });

  it("leaves Better Auth's routes alone", async () => {
    const answer = await app.fetch(new Request("http://worker.test/api/auth/ok"), { ...env, ENVIRONMENT: "production" });
    expect(answer.status).toBe(200);
  });
});
