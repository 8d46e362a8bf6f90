import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The error codes this API answers with; each goes with one HTTP status. */
export type ErrorCode =
  | "unauthorized"
  | "invalid_request"
  | "invalid_session"
  | "not_a_member"
  | "not_found"
  | "already_linked"
  | "not_deauthorized"
  | "account_in_use"
  | "idempotency_mismatch"
  | "claim_exceeded"
  | "d1_unavailable"
  | "misconfigured"
  | "internal_error";

/** Answers `{"error": {"code", "message"}, ...extra}` with the given status. */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): Response {
  return c.json({ error: { code, message }, ...extra }, status);
}

/**
 * 400 `invalid_request` for one refused body field or query parameter. `param` names it as a
 * machine-readable path (`updates.onboarding_step`, `cursor`, `body` for unreadable JSON), so a
 * caller never parses the prose `message` to learn which field it was.
 */
export function invalidRequest(c: Context, param: string, message: string): Response {
  return c.json({ error: { code: "invalid_request" satisfies ErrorCode, message, param } }, 400);
}
