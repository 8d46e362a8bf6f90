import { describe, expect, it } from "vitest";
import { matchesAnyKey, parseKeys } from "../src/internal";
import { KEY, NEXT_KEY, internal, send } from "./helpers";

describe("API key", () => {
  it("rejects a request without the key with 401 unauthorized", async () => {
    const answer = await internal("GET", "/health", { key: null });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
  });

  it("rejects a wrong key", async () => {
    const answer = await internal("GET", "/health", { key: "test-key-wrong" });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
  });

  it("rejects an empty key and a key list entry with a suffix", async () => {
    expect((await internal("GET", "/health", { key: "" })).status).toBe(401);
    expect((await internal("GET", "/health", { key: `${KEY},${NEXT_KEY}` })).status).toBe(401);
    expect((await internal("GET", "/health", { key: `${KEY}x` })).status).toBe(401);
  });

  it("accepts the current key", async () => {
    const answer = await internal("GET", "/health", { key: KEY });
    expect(answer.status).toBe(200);
  });

  it("accepts the second key during a rotation", async () => {
    const answer = await internal("GET", "/health", { key: NEXT_KEY });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "ok", d1: "ok" });
  });

  it("answers 401 before reading the body: invalid JSON with a wrong key", async () => {
    const answer = await internal("POST", "/update-organization", { key: "nope", rawBody: "{not json" });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
  });

  it("answers 401 before reading the body: a body that is never sent", async () => {
    // The stream never closes: a handler that read it would hang, the middleware must not.
    const { readable } = new TransformStream<Uint8Array, Uint8Array>();
    const answer = await send("/api/internal/verify-user-context", {
      method: "POST",
      headers: { "X-Internal-Api-Key": "nope", "Content-Type": "application/json" },
      body: readable,
    });
    expect(answer.status).toBe(401);
  });

  it("guards unknown paths too, then answers 404 not_found", async () => {
    const anonymous = await send("/api/internal/nope");
    expect(anonymous.status).toBe(401);
    const known = await send("/api/internal/nope", { headers: { "X-Internal-Api-Key": KEY } });
    expect(known.status).toBe(404);
    expect(known.body.error.code).toBe("not_found");
  });

  it("parses the key list, ignoring blanks and spaces", () => {
    expect(parseKeys(" a, b ,,c ")).toEqual(["a", "b", "c"]);
    expect(parseKeys(undefined)).toEqual([]);
  });

  it("matches no key when none are configured", async () => {
    expect(await matchesAnyKey("", [])).toBe(false);
    expect(await matchesAnyKey("a", [])).toBe(false);
    expect(await matchesAnyKey("a", ["b", "a"])).toBe(true);
    expect(await matchesAnyKey("", [""])).toBe(false);
  });
});

describe("health and request ids", () => {
  it("answers ok after a D1 query", async () => {
    const answer = await internal("GET", "/health");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "ok", d1: "ok" });
  });

  it("echoes the caller's X-Request-ID", async () => {
    const answer = await internal("GET", "/health", { headers: { "X-Request-ID": "req-123.abc" } });
    expect(answer.headers.get("X-Request-ID")).toBe("req-123.abc");
  });

  it("replaces an insane X-Request-ID with a fresh one", async () => {
    const answer = await internal("GET", "/health", { headers: { "X-Request-ID": "a b {c}" } });
    const id = answer.headers.get("X-Request-ID");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
