/**
 * The edge's validation of bodies and query strings, answer by answer: the exact 400 every
 * endpoint gives, whatever the Content-Type (the body is read as JSON whatever it says).
 */
import { describe, expect, it } from "vitest";
import { KEY, insertOrganization, internal, send } from "./helpers";

const POSTS = [
  "/verify-user-context",
  "/update-organization",
  "/create-connect-account",
  "/idempotency-keys/claim",
  "/idempotency-keys/complete",
  "/idempotency-keys/release",
  "/claims",
  "/claims/settlements/release",
  "/payout-outcome",
];

const NOT_JSON = { error: { code: "invalid_request", message: 'invalid field "body": not valid JSON', param: "body" } };

describe("request validation: a body that is not JSON", () => {
  it.each(POSTS)("POST %s answers exactly the not-JSON 400 without a Content-Type", async (path) => {
    const answer = await internal("POST", path, { rawBody: "{nope" });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual(NOT_JSON);
  });

  it.each(POSTS)("POST %s answers exactly the not-JSON 400 with Content-Type application/json", async (path) => {
    const answer = await internal("POST", path, { rawBody: "{nope", headers: { "Content-Type": "application/json" } });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual(NOT_JSON);
  });

  it.each([
    ["application/json; charset=utf-8", "{nope"],
    ["application/vnd.api+json", "{nope"],
    ["application/json", ""],
    ["text/plain", ""],
  ])("answers the not-JSON 400 for Content-Type %s and body %j", async (contentType, rawBody) => {
    const answer = await internal("POST", "/update-organization", { rawBody, headers: { "Content-Type": contentType } });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual(NOT_JSON);
  });

  it("answers 401 before reading a JSON-typed body that is not JSON, with a wrong key", async () => {
    const answer = await internal("POST", "/update-organization", {
      key: "nope",
      rawBody: "{nope",
      headers: { "Content-Type": "application/json" },
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("unauthorized");
  });
});

describe("request validation: the body is read whatever its Content-Type", () => {
  it.each([undefined, "text/plain", "application/json"])(
    "reads a JSON body sent with Content-Type %s",
    async (contentType) => {
      const id = await insertOrganization();
      const headers: Record<string, string> = contentType === undefined ? {} : { "Content-Type": contentType };
      const answer = await internal("POST", "/update-organization", {
        rawBody: JSON.stringify({ organization_id: id, updates: { platform_fee_percent: 7 } }),
        headers,
      });
      expect(answer.status).toBe(200);
      expect(answer.body.organization.platform_fee_percent).toBe(7);
    },
  );

  it("refuses a field exactly as before whatever the Content-Type", async () => {
    const contentTypes: Record<string, string>[] = [{}, { "Content-Type": "text/plain" }, { "Content-Type": "application/json" }];
    for (const headers of contentTypes) {
      const answer = await internal("POST", "/verify-user-context", { rawBody: "{}", headers });
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        error: {
          code: "invalid_request",
          message: 'invalid field "session_token": Invalid input: expected string, received undefined',
          param: "session_token",
        },
      });
    }
  });

  it("names an unknown field exactly", async () => {
    const answer = await internal("POST", "/idempotency-keys/release", {
      body: { organization_id: "org_x", operation: "transfer", key: "k", extra: 1 },
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: "invalid_request", message: 'invalid field "extra": unknown field', param: "extra" },
    });
  });

  it("answers JSON that is not an object as a refused body", async () => {
    const answer = await internal("POST", "/create-connect-account", { body: "acct_1" });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: "invalid_request", message: 'invalid field "body": Invalid input: expected object, received string', param: "body" },
    });
  });
});

describe("request validation: the query string", () => {
  const list = (query: string) => internal("GET", `/organizations?${query}`, {}, "/organizations");

  it("refuses a parameter given twice, naming it", async () => {
    const answer = await list("status=active&limit=1&limit=1");
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: "invalid_request", message: 'invalid field "limit": given more than once', param: "limit" },
    });
  });

  it("refuses an unknown parameter, naming it", async () => {
    const answer = await list("limit=1&page=2");
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: "invalid_request", message: 'invalid field "page": unknown field', param: "page" },
    });
  });

  it("refuses a malformed parameter exactly", async () => {
    const answer = await list("limit=0");
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: "invalid_request", message: 'invalid field "limit": must be a whole number from 1 to 200', param: "limit" },
    });
  });

  it("takes a parameter without a value as empty", async () => {
    const answer = await list("linked");
    expect(answer.status).toBe(400);
    expect(answer.body.error.param).toBe("linked");
  });

  it("answers a well-formed query", async () => {
    const answer = await send("/api/internal/organizations?limit=1&linked=false", { headers: { "X-Internal-Api-Key": KEY } });
    expect(answer.status).toBe(200);
    expect(answer.body).toHaveProperty("next_cursor");
  });
});
