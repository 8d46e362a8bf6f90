import type { components } from "./schema.gen";

export type ErrorBody = components["schemas"]["ErrorBody"];

/** `code` of a request that never got an HTTP answer (offline, DNS, CORS refused, aborted). */
export const NETWORK_ERROR = "network_error";
/** `code` of an error answer that was not the service's `{"error": {...}}` body. */
export const UNEXPECTED_RESPONSE = "unexpected_response";

/**
 * A failed call to the Connect backend. `code` is the service's stable snake_case code
 * (`not_onboarded`, `insufficient_balance`, `forbidden`, …), or NETWORK_ERROR /
 * UNEXPECTED_RESPONSE; `status` is 0 when no answer arrived.
 */
export class BackendError extends Error {
  override readonly name = "BackendError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null = null,
    readonly details: Record<string, unknown>[] | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /**
   * Whether trying the same call again (with the same Idempotency-Key) may succeed:
   * no answer, the service or an upstream unavailable, a key still in use, or a transfer's
   * claims settled meanwhile by another (`claims_changed`: nothing was sent, and the service
   * asks for the same key again).
   */
  get transient(): boolean {
    return (
      this.status === 0 ||
      this.status === 429 ||
      this.status >= 500 ||
      this.code === "idempotency_key_in_use" ||
      this.code === "claims_changed"
    );
  }

  /** Builds the error from an HTTP error answer whose body was parsed (JSON) or left as text. */
  static fromResponse(response: Response, body: unknown): BackendError {
    const requestId = response.headers.get("X-Request-ID");
    if (isErrorBody(body)) {
      const { code, message, request_id, details } = body.error;
      return new BackendError(response.status, code, message, request_id ?? requestId, details ?? null);
    }
    const text = typeof body === "string" && body ? `: ${body.slice(0, 200)}` : "";
    return new BackendError(
      response.status,
      UNEXPECTED_RESPONSE,
      `HTTP ${response.status}${text}`,
      requestId,
    );
  }

  /** A call that got no answer at all. */
  static fromNetwork(cause: unknown): BackendError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new BackendError(
      0,
      NETWORK_ERROR,
      `The payments service could not be reached (${reason}).`,
      null,
      null,
      { cause },
    );
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const error = (body as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    typeof (error as { message?: unknown }).message === "string"
  );
}
