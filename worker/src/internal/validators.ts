/**
 * Per-route middleware that validates the request against a zod schema (hono/validator), so a
 * handler reads `c.req.valid("json")` / `c.req.valid("query")`. A refusal is 400
 * `invalid_request` naming the first refused field in `message` and `param`.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import type { z } from "zod";
import { invalidRequest } from "./errors";
import { describeIssue } from "./schemas";

/**
 * The body, read as JSON whatever its Content-Type, validated against `schema`; a body that
 * is not JSON is refused as the field `body`.
 */
export function jsonBody<S extends z.ZodType>(schema: S) {
  // Hono hands over a body only when its Content-Type is JSON; the text is read either way
  // (Hono caches it, so a JSON-typed body is not read twice).
  const validate = validator("json", async (_typedJson, c): Promise<z.output<S> | Response> => {
    let raw: unknown;
    try {
      raw = JSON.parse(await c.req.text());
    } catch {
      return notJson(c);
    }
    return parsedOr400(c, schema.safeParse(raw));
  });
  // For a JSON Content-Type Hono parses the body before the function above and throws
  // HTTPException(400) when it is not JSON: answered like any other unreadable body. Only
  // that step is caught, never what the route does after `next()`.
  const middleware: typeof validate = async (c, next) => {
    let validated = false;
    try {
      return await validate(c, () => {
        validated = true;
        return next();
      });
    } catch (err) {
      if (!validated && err instanceof HTTPException && err.status === 400) return notJson(c);
      throw err;
    }
  };
  return middleware;
}

/**
 * The query string validated against `schema`; a parameter given more than once is refused
 * by name, as the schema refuses an unknown or malformed one.
 */
export function queryParams<S extends z.ZodType>(schema: S) {
  return validator("query", (given, c): z.output<S> | Response => {
    const single: Record<string, string> = {};
    for (const [name, value] of Object.entries(given)) {
      if (Array.isArray(value)) return invalidRequest(c, name, `invalid field "${name}": given more than once`);
      single[name] = value;
    }
    return parsedOr400(c, schema.safeParse(single));
  });
}

function notJson(c: Context): Response {
  return invalidRequest(c, "body", 'invalid field "body": not valid JSON');
}

/** The parsed value, or 400 `invalid_request` naming the first refused field (`param` too). */
function parsedOr400<T>(c: Context, parsed: z.ZodSafeParseResult<T>): T | Response {
  if (parsed.success) return parsed.data;
  const { param, message } = describeIssue(parsed.error);
  return invalidRequest(c, param, message);
}
