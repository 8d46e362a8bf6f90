import { describe, expect, it } from "vitest";
import { send, unique } from "./helpers";

// wrangler.jsonc's dev vars trust the local frontend's origin.
const FRONTEND = "http://localhost:5173";
const STRANGER = "http://evil.test";

/** A sign-up as a browser on `origin` sends it (fetch from another site: Origin + Sec-Fetch-*). */
function browserSignUp(origin: string) {
  return send("/api/auth/sign-up/email", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Origin: origin,
      "Sec-Fetch-Site": "cross-site",
      "Sec-Fetch-Mode": "cors",
      "Sec-Fetch-Dest": "empty",
    },
    body: JSON.stringify({
      email: `${unique("browser")}@example.test`,
      password: "correct-horse-battery",
      name: "Browser",
    }),
  });
}

describe("Better Auth from a browser frontend (TRUSTED_ORIGINS)", () => {
  it("answers the preflight of a trusted origin with credentials and the headers it needs", async () => {
    const answer = await send("/api/auth/sign-in/email", {
      method: "OPTIONS",
      headers: {
        Origin: FRONTEND,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
      },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-origin")).toBe(FRONTEND);
    expect(answer.headers.get("access-control-allow-credentials")).toBe("true");
    expect(answer.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(answer.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("signs a trusted origin's user in and exposes the bearer token header", async () => {
    const answer = await browserSignUp(FRONTEND);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe(FRONTEND);
    expect(answer.headers.get("access-control-expose-headers")).toContain("set-auth-token");
    expect(answer.headers.get("set-auth-token")).toMatch(/^.+\..+$/);
  });

  it("refuses another origin: no CORS grant, and Better Auth answers 403", async () => {
    const preflight = await send("/api/auth/sign-in/email", {
      method: "OPTIONS",
      headers: { Origin: STRANGER, "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();

    const answer = await browserSignUp(STRANGER);
    expect(answer.status).toBe(403);
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("leaves the internal API without CORS", async () => {
    const answer = await send("/api/internal/health", { headers: { Origin: FRONTEND } });
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
  });
});
