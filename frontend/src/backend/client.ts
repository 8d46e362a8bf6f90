/**
 * backendClient: the Connect backend's routes, typed from its own OpenAPI document
 * (schema.gen.ts, generated; see scripts/generate-types.mjs) and called with openapi-fetch.
 *
 * Every call sends `Authorization: Bearer <Better Auth session token>` and names the
 * organization in `X-Org-ID`; money-moving calls take the caller's Idempotency-Key (see
 * IdempotentAction). Failures throw BackendError. Calls that got no answer, or a 503/504,
 * are tried again (same request, same key) a bounded number of times; so is a 429 that asks
 * for a short wait (`Retry-After` of at most LONGEST_RETRY_AFTER_S), after that wait.
 */
import createClient, { type Client } from "openapi-fetch";
import { BackendError } from "./errors";
import type { components, paths } from "./schema.gen";

type Schemas = components["schemas"];
export type ConnectStatus = Schemas["Status"];
export type StatusName = ConnectStatus["status"];
export type OnboardingStep = ConnectStatus["onboarding_step"];
export type Requirements = Schemas["Requirements"];
export type OnboardLink = Schemas["Onboard"];
export type OnboardRequest = Omit<Schemas["OnboardCreate"], "organization_id">;
export type Balance = Schemas["BalanceView"];
export type MoneyAmount = Schemas["MoneyAmount"];
export type PayoutRequest = Omit<Schemas["PayoutCreate"], "organization_id">;
export type Payout = Schemas["PayoutView"];
export type PayoutScheduleRequest = Omit<Schemas["PayoutScheduleUpdate"], "organization_id">;
export type PayoutSchedule = Schemas["PayoutScheduleView"];
export type PayoutInterval = PayoutScheduleRequest["interval"];
export type WeeklyAnchor = NonNullable<PayoutScheduleRequest["weekly_anchor"]>;
export type DashboardLink = Schemas["DashboardLink"];
export type AccountSession = Schemas["AccountSessionCreated"];
export type TransferRequest = Schemas["TransferCreate"];
export type Transfer = Schemas["TransferView"];
export type PayoutHistory = Schemas["PayoutHistory"];
export type PayoutItem = Schemas["PayoutItem"];
export type TransferHistory = Schemas["TransferHistory"];
export type TransferItem = Schemas["TransferItem"];
export type OrganizationList = Schemas["OrganizationList"];
export type Reversal = Schemas["ReversalItem"];
export type ReversalCause = NonNullable<Reversal["cause"]>;
export type ReversalRequest = Schemas["ReversalCreate"];
export type ReversalMade = Schemas["ReversalView"];
export type ClaimList = Schemas["ClaimList"];
export type Claim = Schemas["ClaimItem"];
export type ClaimSettlement = Schemas["ClaimSettlementItem"];
export type ClaimTotal = Schemas["ClaimTotalView"];
export type PayoutFailure = Schemas["PayoutFailureView"];
export type ConsoleOrganization = Schemas["ConsoleOrganization"];
export type StatusCounts = Schemas["StatusCounts"];
export type OrganizationsQuery = NonNullable<
  paths["/api/connect/organizations"]["get"]["parameters"]["query"]
>;
export type ClaimsQuery = NonNullable<paths["/api/connect/claims/{org_id}"]["get"]["parameters"]["query"]>;
export type OpenClaimsQuery = NonNullable<paths["/api/connect/open-claims"]["get"]["parameters"]["query"]>;
export type Health = Schemas["Health"];
export type Ready = Schemas["Ready"];

export interface BackendClientOptions {
  /** The service's origin, e.g. http://127.0.0.1:8000. */
  baseUrl: string;
  /** The Better Auth session token, sent as a bearer token; null when signed out. */
  getToken: () => string | null | undefined | Promise<string | null | undefined>;
  /** The signed-in user's id, sent as X-User-ID (the service checks it against the session). */
  getUserId?: () => string | null | undefined;
  /** Defaults to the global fetch (looked up at call time). */
  fetch?: (request: Request) => Promise<Response>;
  /** Further attempts after a call that got no answer or a 503/504; default 2. */
  retries?: number;
  /** Wait before attempt n+1 is retryDelayMs × 3^(n-1); default 300. */
  retryDelayMs?: number;
}

/** Which page of a history: at most `limit` items, after the previous page's `next_cursor`. */
export interface PageQuery {
  limit?: number;
  startingAfter?: string | null;
}

/** What every money-moving call needs: the key of the user action it belongs to. */
export interface Idempotent {
  idempotencyKey: string;
}

export type BackendClient = ReturnType<typeof createBackendClient>;

/** The answer of one openapi-fetch call, as far as `call` needs it. */
type Answer<T> = { data?: T; error?: unknown; response: Response };

const RETRIED_STATUSES = new Set([503, 504]);

/**
 * A 429 asking for at most this many seconds is waited out and tried again: the platform's
 * Stripe budget refuses reads beyond its share for a second (a settings page that loads five
 * reads at once may meet it). The service refuses a 429 before doing anything, so trying
 * again, with the same Idempotency-Key, is safe. A longer wait (a user's own rate limit) is
 * the user's to make.
 */
export const LONGEST_RETRY_AFTER_S = 5;

/** How long a 429 asks to wait, in ms, when it is short enough to wait out; else null. */
function shortRetryAfter(response: Response): number | null {
  if (response.status !== 429) return null;
  const seconds = Number(response.headers.get("Retry-After") ?? "");
  return Number.isFinite(seconds) && seconds > 0 && seconds <= LONGEST_RETRY_AFTER_S ? seconds * 1000 : null;
}

/** Creates the client; see BackendClientOptions. */
export function createBackendClient(options: BackendClientOptions) {
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 300;
  const http: Client<paths> = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: (request) => (options.fetch ?? globalThis.fetch)(request),
  });
  http.use({
    async onRequest({ request }) {
      const token = await options.getToken();
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      const userId = options.getUserId?.();
      if (userId) request.headers.set("X-User-ID", userId);
      return request;
    },
  });

  /** One logical call: attempts `send` until it answers or the retries are spent. */
  async function call<T>(send: () => Promise<Answer<T>>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      let failure: BackendError;
      let wait = retryDelayMs * 3 ** attempt;
      try {
        const { data, error, response } = await send();
        if (response.ok && error === undefined) return data as T;
        failure = BackendError.fromResponse(response, error);
        const asked = shortRetryAfter(response);
        if (asked !== null) wait = asked;
        else if (!RETRIED_STATUSES.has(response.status)) throw failure;
      } catch (caught) {
        if (caught instanceof BackendError) throw caught;
        failure = BackendError.fromNetwork(caught);
      }
      if (attempt >= retries) throw failure;
      await sleep(wait);
    }
  }

  const org = (orgId: string) => ({ "X-Org-ID": orgId });
  const page = ({ limit, startingAfter }: PageQuery) => ({
    ...(limit === undefined ? {} : { limit }),
    ...(startingAfter ? { starting_after: startingAfter } : {}),
  });

  return {
    /** GET /health — liveness, no session needed. */
    health: () => call<Health>(() => http.GET("/health")),

    /** GET /ready — whether the service reaches the Worker. */
    ready: () => call<Ready>(() => http.GET("/ready")),

    /**
     * GET /api/connect/status/{orgId} — any member. With `refresh`, Stripe is read first and the
     * answer holds charges/payouts flags and `requirements` (what Stripe still needs, by when).
     */
    status: (orgId: string, query: { refresh?: boolean } = {}) =>
      call<ConnectStatus>(() =>
        http.GET("/api/connect/status/{org_id}", {
          params: {
            path: { org_id: orgId },
            query: query.refresh ? { refresh: true } : {},
            header: org(orgId),
          },
        }),
      ),

    /** POST /api/connect/onboard — owners/admins: the account if needed and a fresh onboarding link. */
    onboard: (orgId: string, body: OnboardRequest = {}) =>
      call<OnboardLink>(() =>
        http.POST("/api/connect/onboard", {
          params: { header: org(orgId) },
          body: { ...body, organization_id: orgId },
        }),
      ),

    /** GET /api/connect/balance/{orgId} — owners/admins (409 not_onboarded without an account). */
    balance: (orgId: string) =>
      call<Balance>(() =>
        http.GET("/api/connect/balance/{org_id}", {
          params: { path: { org_id: orgId }, header: org(orgId) },
        }),
      ),

    /** POST /api/connect/payout — owners/admins: `amount`, or all that is available, to the bank. */
    payout: (orgId: string, body: PayoutRequest, { idempotencyKey }: Idempotent) =>
      call<Payout>(() =>
        http.POST("/api/connect/payout", {
          params: { header: { ...org(orgId), "Idempotency-Key": idempotencyKey } },
          body: { ...body, organization_id: orgId },
        }),
      ),

    /** PUT /api/connect/payout-schedule — owners/admins; returns the schedule Stripe now holds. */
    setPayoutSchedule: (orgId: string, body: PayoutScheduleRequest) =>
      call<PayoutSchedule>(() =>
        http.PUT("/api/connect/payout-schedule", {
          params: { header: org(orgId) },
          body: { ...body, organization_id: orgId },
        }),
      ),

    /** POST /api/connect/dashboard-link — owners/admins: a single-use Express dashboard login link. */
    dashboardLink: (orgId: string) =>
      call<DashboardLink>(() =>
        http.POST("/api/connect/dashboard-link", {
          params: { header: org(orgId) },
          body: { organization_id: orgId },
        }),
      ),

    /**
     * POST /api/connect/account-session — owners/admins: a fresh Account Session for Stripe's
     * embedded components (409 not_onboarded without an account). Its `client_secret` is for
     * Connect.js only: single use, never kept.
     */
    accountSession: (orgId: string) =>
      call<AccountSession>(() =>
        http.POST("/api/connect/account-session", {
          params: { header: org(orgId) },
          body: { organization_id: orgId },
        }),
      ),

    /** POST /api/connect/transfer — platform admins: `amount` less the fee to the organization. */
    transfer: (body: TransferRequest, { idempotencyKey }: Idempotent) =>
      call<Transfer>(() =>
        http.POST("/api/connect/transfer", {
          params: {
            header: { ...org(body.organization_id), "Idempotency-Key": idempotencyKey },
          },
          body,
        }),
      ),

    /** PUT /api/connect/platform-fee/{orgId} — platform admins; returns the status view. */
    setPlatformFee: (orgId: string, platformFeePercent: number) =>
      call<ConnectStatus>(() =>
        http.PUT("/api/connect/platform-fee/{org_id}", {
          params: { path: { org_id: orgId }, header: org(orgId) },
          body: { platform_fee_percent: platformFeePercent },
        }),
      ),

    /** GET /api/connect/payouts/{orgId} — owners/admins, platform admins: payouts, newest first. */
    payouts: (orgId: string, query: PageQuery = {}) =>
      call<PayoutHistory>(() =>
        http.GET("/api/connect/payouts/{org_id}", {
          params: { path: { org_id: orgId }, query: page(query), header: org(orgId) },
        }),
      ),

    /**
     * GET /api/connect/transfers/{orgId} — owners/admins, platform admins: the platform's
     * transfers to the organization, newest first, with gross, fee and net as made.
     */
    transfers: (orgId: string, query: PageQuery = {}) =>
      call<TransferHistory>(() =>
        http.GET("/api/connect/transfers/{org_id}", {
          params: { path: { org_id: orgId }, query: page(query), header: org(orgId) },
        }),
      ),

    /** GET /api/connect/payout-schedule/{orgId} — owners/admins, platform admins: the schedule Stripe holds. */
    payoutSchedule: (orgId: string) =>
      call<PayoutSchedule>(() =>
        http.GET("/api/connect/payout-schedule/{org_id}", {
          params: { path: { org_id: orgId }, header: org(orgId) },
        }),
      ),

    /** GET /api/connect/organizations — platform admins: organizations with their Connect status. */
    organizations: (query: OrganizationsQuery = {}) =>
      call<OrganizationList>(() => http.GET("/api/connect/organizations", { params: { query } })),

    /**
     * GET /api/connect/claims/{orgId} — owners/admins, platform admins: what the organization
     * still owes the platform (reversals its balance could not cover), first in, first out,
     * with each claim's settlements and the open totals per currency.
     */
    claims: (orgId: string, query: ClaimsQuery = {}) =>
      call<ClaimList>(() =>
        http.GET("/api/connect/claims/{org_id}", {
          params: { path: { org_id: orgId }, query, header: org(orgId) },
        }),
      ),

    /** GET /api/connect/open-claims — platform admins: every organization's open claims and totals. */
    openClaims: (query: OpenClaimsQuery = {}) =>
      call<ClaimList>(() => http.GET("/api/connect/open-claims", { params: { query } })),

    /**
     * POST /api/connect/transfers/{transferId}/reversals — platform admins: take back `amount`
     * of a transfer (all that remains without one). When the organization's balance cannot
     * cover it, the answer names the claim recorded instead (`reversal_id` null).
     */
    reverseTransfer: (transferId: string, body: ReversalRequest, { idempotencyKey }: Idempotent) =>
      call<ReversalMade>(() =>
        http.POST("/api/connect/transfers/{transfer_id}/reversals", {
          params: { path: { transfer_id: transferId }, header: { "Idempotency-Key": idempotencyKey } },
          body,
        }),
      ),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
