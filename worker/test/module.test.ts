import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import rule from "../../contract/internal-api-key-rule.json";
import { createInternalApi, type InternalBindings, type SessionInfo } from "../src/internal";
import { assertContract } from "./contract";

// The host's bindings name no ENVIRONMENT (strict, as in production): its key must be strong.
const MODULE_KEY = rule.vectors.find((v) => v.strong)!.key;

type Bindings = InternalBindings & { OTHER_KEYS?: string };

function mounted(options: Partial<Parameters<typeof createInternalApi<Bindings>>[0]> = {}) {
  const records: Record<string, unknown>[] = [];
  const host = new Hono<{ Bindings: Bindings }>();
  host.route(
    "/api/internal",
    createInternalApi<Bindings>({
      getSession: async () => null,
      log: (record) => records.push(record),
      ...options,
    }),
  );
  return {
    records,
    async call(path: string, init: RequestInit & { bindings?: Partial<Bindings> } = {}) {
      const { bindings, ...requestInit } = init;
      const response = await host.fetch(new Request(`http://host.test/api/internal${path}`, requestInit), {
        DB: env.DB,
        INTERNAL_API_KEYS: MODULE_KEY,
        ...bindings,
      });
      return { status: response.status, body: (await response.json()) as any, headers: response.headers };
    },
  };
}

const KEYED = { headers: { "X-Internal-Api-Key": MODULE_KEY } };

describe("the module mounted in another Hono app", () => {
  it("serves under the host's mount point with the host's bindings", async () => {
    const answer = await mounted().call("/health", KEYED);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "ok", d1: "ok" });
  });

  it("refuses every request in development when no keys are configured, and says so in the log", async () => {
    const app = mounted();
    const answer = await app.call("/health", {
      headers: { "X-Internal-Api-Key": "" },
      bindings: { INTERNAL_API_KEYS: " , ", ENVIRONMENT: "development" },
    });
    expect(answer.status).toBe(401);
    expect(app.records.map((r) => r.event)).toContain("internal.auth.no_keys_configured");
  });

  it("accepts a weak key in development only", async () => {
    const dev = await mounted().call("/health", {
      headers: { "X-Internal-Api-Key": "dev-key" },
      bindings: { INTERNAL_API_KEYS: "dev-key", ENVIRONMENT: "development" },
    });
    expect(dev.status).toBe(200);
    const prod = await mounted().call("/health", {
      headers: { "X-Internal-Api-Key": "dev-key" },
      bindings: { INTERNAL_API_KEYS: "dev-key", ENVIRONMENT: "production" },
    });
    expect(prod.status).toBe(503);
    expect(prod.body.error.code).toBe("misconfigured");
  });

  it.each([
    ["no keys", " , "],
    ["a weak key", "dev-key"],
    ["a weak key next to a strong one", `${MODULE_KEY},dev-key`],
  ])("answers 503 misconfigured outside development with %s, logging it once and never a key", async (_what, keys) => {
    const app = mounted();
    for (const key of ["dev-key", MODULE_KEY, ""]) {
      const answer = await app.call("/health", { headers: { "X-Internal-Api-Key": key }, bindings: { INTERNAL_API_KEYS: keys } });
      expect(answer.status).toBe(503);
      expect(answer.body).toEqual({ error: { code: "misconfigured", message: expect.any(String) } });
    }
    const reports = app.records.filter((r) => r.event === "internal.config.weak_keys");
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ environment: null, keys: keys === " , " ? 0 : keys.split(",").length });
    expect(JSON.stringify(app.records)).not.toContain("dev-key");
    expect(JSON.stringify(app.records)).not.toContain(MODULE_KEY);
  });

  it("reads the environment from where the options say", async () => {
    const app = mounted({ environment: () => "development" });
    const answer = await app.call("/health", {
      headers: { "X-Internal-Api-Key": "dev-key" },
      bindings: { INTERNAL_API_KEYS: "dev-key", ENVIRONMENT: "production" },
    });
    expect(answer.status).toBe(200);
  });

  it("reads the keys and the database from where the options say", async () => {
    const elsewhere = rule.vectors.filter((v) => v.strong)[1]!.key;
    const app = mounted({ apiKeys: (e) => e.OTHER_KEYS, database: () => env.DB });
    const answer = await app.call("/health", {
      headers: { "X-Internal-Api-Key": elsewhere },
      bindings: { OTHER_KEYS: elsewhere, INTERNAL_API_KEYS: "" },
    });
    expect(answer.status).toBe(200);
  });

  it("logs one line per request with the caller's request id, never the key", async () => {
    const app = mounted();
    await app.call("/health", { headers: { "X-Internal-Api-Key": MODULE_KEY, "X-Request-ID": "log-me-1" } });
    expect(app.records).toContainEqual(
      expect.objectContaining({ event: "internal.request", request_id: "log-me-1", path: "/api/internal/health", status: 200 }),
    );
    expect(JSON.stringify(app.records)).not.toContain(MODULE_KEY);
  });

  it("answers 503 d1_unavailable when D1 fails", async () => {
    const broken = {
      prepare() {
        throw new Error("D1_ERROR: network connection lost");
      },
    } as unknown as D1Database;
    const answer = await mounted({ database: () => broken }).call("/health", KEYED);
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe("d1_unavailable");
    assertContract("/api/internal/health", "GET", 503, answer.body);
  });

  it("answers 500 internal_error, without details, when something unexpected fails", async () => {
    const app = mounted({
      getSession: async () => {
        throw new Error("secret detail");
      },
    });
    const answer = await app.call("/verify-user-context", {
      method: "POST",
      headers: { "X-Internal-Api-Key": MODULE_KEY },
      body: JSON.stringify({ session_token: "t" }),
    });
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: { code: "internal_error", message: "internal error" } });
    expect(app.records.map((r) => r.event)).toContain("internal.error");
  });

  it("treats a 401 thrown by the session lookup as an invalid session", async () => {
    const app = mounted({
      getSession: async () => {
        throw Object.assign(new Error("unauthorized"), { statusCode: 401 });
      },
    });
    const answer = await app.call("/verify-user-context", {
      method: "POST",
      headers: { "X-Internal-Api-Key": MODULE_KEY },
      body: JSON.stringify({ session_token: "t" }),
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("invalid_session");
  });

  it("passes the token to the session lookup as a Bearer header", async () => {
    let seen: string | null = null;
    const session: SessionInfo = {
      user: { id: "u1", email: "u@example.test", name: "U", role: null },
      session: { id: "s1", expiresAt: new Date("2030-01-01T00:00:00Z") },
    };
    const app = mounted({
      getSession: async (_env, headers) => {
        seen = headers.get("Authorization");
        return session;
      },
    });
    const answer = await app.call("/verify-user-context", {
      method: "POST",
      headers: { "X-Internal-Api-Key": MODULE_KEY },
      body: JSON.stringify({ session_token: "tok.sig" }),
    });
    expect(seen).toBe("Bearer tok.sig");
    expect(answer.body.user.role).toBe("user");
    expect(answer.body.session.expires_at).toBe("2030-01-01T00:00:00.000Z");
    assertContract("/api/internal/verify-user-context", "POST", 200, answer.body);
  });
});
