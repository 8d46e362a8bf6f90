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
