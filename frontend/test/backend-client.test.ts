import { describe, expect, it, vi } from "vitest";
import { createBackendClient, type ConnectStatus } from "../src/backend/client";
import { BackendError, NETWORK_ERROR, UNEXPECTED_RESPONSE } from "../src/backend/errors";
import { IdempotentAction } from "../src/backend/idempotency";
import { errorBody, fakeFetch, json, type Reply } from "./fake-fetch";

const BASE = "http://backend.test";
const ORG = "org_123";

const STATUS: ConnectStatus = {
  organization_id: ORG,
  account_id: "acct_1",
  status: "pending",
  onboarding_step: "details_submission",
  rejection_reason: null,
  charges_enabled: null,
  payouts_enabled: null,
  details_submitted: null,
  requirements: null,
  platform_fee_percent: 10,
  synced_at: null,
};
const PAYOUT = { payout_id: "po_1", amount: 9000, currency: "usd", status: "pending", arrival_date: null };

function client(...replies: Reply[]) {
  const fake = fakeFetch(...replies);
  const backend = createBackendClient({
    baseUrl: `${BASE}/`,
    getToken: () => "session-token.sig",
    fetch: fake.fetch,
    retryDelayMs: 0,
  });
  return { backend, requests: fake.requests };
}

describe("backendClient: what it sends", () => {
  it("reverses a transfer by its id with the caller's Idempotency-Key, and reads claims by organization and in all", async () => {
    const claims = { data: [], totals: [], next_cursor: null };
    const { backend, requests } = client(json(200, { reversal_id: "trr_1" }), json(200, claims), json(200, claims));
    await backend.reverseTransfer("tr_1", { amount: 500 }, { idempotencyKey: "key-1" });
    expect(await backend.claims(ORG, { state: "open", cursor: "cl_9" })).toEqual(claims);
    await backend.openClaims({ limit: 25 });
    const [reverse, mine, all] = requests;
    expect(reverse?.method).toBe("POST");
    expect(reverse?.url).toBe(`${BASE}/api/connect/transfers/tr_1/reversals`);
    expect(reverse?.headers.get("Idempotency-Key")).toBe("key-1");
    expect(reverse?.body).toEqual({ amount: 500 });
    expect(mine?.url).toBe(`${BASE}/api/connect/claims/${ORG}?state=open&cursor=cl_9`);
    expect(mine?.headers.get("X-Org-ID")).toBe(ORG);
    expect(all?.url).toBe(`${BASE}/api/connect/open-claims?limit=25`);
  });

  it("sends the session token as a bearer token and the organization in X-Org-ID", async () => {
    const { backend, requests } = client(json(200, STATUS));
    const status = await backend.status(ORG);
    expect(status).toEqual(STATUS);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.method).toBe("GET");
    expect(request?.url).toBe(`${BASE}/api/connect/status/${ORG}`);
    expect(request?.headers.get("Authorization")).toBe("Bearer session-token.sig");
    expect(request?.headers.get("X-Org-ID")).toBe(ORG);
    expect(request?.headers.get("Idempotency-Key")).toBeNull();
  });

  it("asks for a live read with ?refresh=true", async () => {
    const { backend, requests } = client(json(200, STATUS));
    await backend.status(ORG, { refresh: true });
    expect(requests[0]?.url).toBe(`${BASE}/api/connect/status/${ORG}?refresh=true`);
  });

  it("sends no Authorization header when signed out, and X-User-ID when it knows the user", async () => {
    const fake = fakeFetch(json(200, { status: "ok", version: "1" }), json(200, STATUS));
    const anonymous = createBackendClient({ baseUrl: BASE, getToken: () => null, fetch: fake.fetch });
    await anonymous.health();
    expect(fake.requests[0]?.headers.get("Authorization")).toBeNull();

    const known = createBackendClient({
      baseUrl: BASE,
      getToken: async () => "t",
      getUserId: () => "user_9",
      fetch: fake.fetch,
    });
    await known.status(ORG);
    expect(fake.requests[1]?.headers.get("X-User-ID")).toBe("user_9");
  });

  it("names the organization in the body as well as the header for writes", async () => {
    const { backend, requests } = client(
      json(200, { url: "https://connect.test/setup", expires_at: "2026-01-01T00:00:00Z", account_id: "acct_1", status: "pending" }),
      json(200, { organization_id: ORG, account_id: "acct_1", interval: "weekly", weekly_anchor: "friday", monthly_anchor: null, delay_days: null }),
      json(200, { url: "https://connect.test/express" }),
    );
    await backend.onboard(ORG, { return_url: "http://app.test/settings/payments?connect=return" });
    await backend.setPayoutSchedule(ORG, { interval: "weekly", weekly_anchor: "friday" });
    await backend.dashboardLink(ORG);
    expect(requests.map((r) => [r.method, new URL(r.url).pathname])).toEqual([
      ["POST", "/api/connect/onboard"],
      ["PUT", "/api/connect/payout-schedule"],
      ["POST", "/api/connect/dashboard-link"],
    ]);
    expect(requests[0]?.body).toEqual({
      return_url: "http://app.test/settings/payments?connect=return",
      organization_id: ORG,
    });
    expect(requests[1]?.body).toEqual({ interval: "weekly", weekly_anchor: "friday", organization_id: ORG });
    for (const request of requests) {
      expect(request.headers.get("X-Org-ID")).toBe(ORG);
      expect(request.headers.get("Content-Type")).toBe("application/json");
    }
  });

  it("sends the caller's Idempotency-Key on payouts and transfers", async () => {
    const { backend, requests } = client(
      json(200, PAYOUT),
      json(200, {
        transfer_id: "tr_1",
        organization_id: ORG,
        account_id: "acct_1",
        currency: "usd",
        gross_amount: 10000,
        fee_amount: 1000,
        transfer_amount: 9000,
        platform_fee_percent: 10,
      }),
    );
    await backend.payout(ORG, { currency: "usd" }, { idempotencyKey: "key-payout" });
    await backend.transfer({ organization_id: ORG, amount: 10000, currency: "usd" }, { idempotencyKey: "key-transfer" });
    expect(requests[0]?.headers.get("Idempotency-Key")).toBe("key-payout");
    expect(requests[0]?.body).toEqual({ currency: "usd", organization_id: ORG });
    expect(requests[1]?.headers.get("Idempotency-Key")).toBe("key-transfer");
    expect(requests[1]?.headers.get("X-Org-ID")).toBe(ORG);
  });
});

describe("backendClient: the history and console reads", () => {
  const history = { organization_id: ORG, account_id: "acct_1", data: [], has_more: false, next_cursor: null };

  it("reads payouts and transfers of the organization in the path, a page after the cursor", async () => {
    const { backend, requests } = client(json(200, history), json(200, history), json(200, history));
    await backend.payouts(ORG, { limit: 10, startingAfter: "po_9" });
    await backend.transfers(ORG, { limit: 5 });
    await backend.transfers(ORG);
    expect(requests.map((r) => r.url)).toEqual([
      `${BASE}/api/connect/payouts/${ORG}?limit=10&starting_after=po_9`,
      `${BASE}/api/connect/transfers/${ORG}?limit=5`,
      `${BASE}/api/connect/transfers/${ORG}`,
    ]);
    for (const request of requests) {
      expect(request.method).toBe("GET");
      expect(request.headers.get("X-Org-ID")).toBe(ORG);
    }
  });

  it("reads the payout schedule Stripe holds", async () => {
    const held = { organization_id: ORG, account_id: "acct_1", interval: "daily", weekly_anchor: null, monthly_anchor: null, delay_days: 2 };
    const { backend, requests } = client(json(200, held));
    expect(await backend.payoutSchedule(ORG)).toEqual(held);
    expect(requests[0]?.url).toBe(`${BASE}/api/connect/payout-schedule/${ORG}`);
  });

  it("pages the platform's organizations by cursor and status, naming no organization", async () => {
    const { backend, requests } = client(json(200, { data: [STATUS], next_cursor: "c2" }));
    const list = await backend.organizations({ limit: 25, cursor: "c1", status: "active" });
    expect(list).toEqual({ data: [STATUS], next_cursor: "c2" });
    expect(requests[0]?.url).toBe(`${BASE}/api/connect/organizations?limit=25&cursor=c1&status=active`);
    expect(requests[0]?.headers.get("X-Org-ID")).toBeNull();
  });
});

describe("backendClient: errors", () => {
  it("turns the service's error body into a typed BackendError", async () => {
    const { backend } = client(errorBody(409, "insufficient_balance", "Nothing to pay out.", "req_42"));
    const error = await backend.payout(ORG, { currency: "usd" }, { idempotencyKey: "k" }).catch((e) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({
      status: 409,
      code: "insufficient_balance",
      message: "Nothing to pay out.",
      requestId: "req_42",
      transient: false,
    });
  });

  it("keeps validation details", async () => {
    const details = [{ loc: ["body", "interval"], msg: "Input should be 'manual', …" }];
    const { backend } = client(
      json(422, { error: { code: "validation_error", message: "Invalid request.", request_id: "r", details } }),
    );
    const error = await backend.setPayoutSchedule(ORG, { interval: "weekly" }).catch((e) => e);
    expect(error).toMatchObject({ status: 422, code: "validation_error", details });
  });

  it("names an answer that is not the service's error body, with the X-Request-ID it carried", async () => {
    const { backend } = client(
      new Response("<html>Bad gateway</html>", { status: 502, headers: { "X-Request-ID": "req_proxy" } }),
    );
    const error = await backend.balance(ORG).catch((e) => e);
    expect(error).toMatchObject({ status: 502, code: UNEXPECTED_RESPONSE, requestId: "req_proxy" });
    expect(error.message).toContain("Bad gateway");
  });

  it("reports a request that got no answer as network_error after the retries", async () => {
    const { backend, requests } = client(new TypeError("Failed to fetch"));
    const error = await backend.status(ORG).catch((e) => e);
    expect(error).toMatchObject({ status: 0, code: NETWORK_ERROR, transient: true });
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(requests).toHaveLength(3);
  });

  it("waits out a 429 that asks for a short wait, then tries again", async () => {
    vi.useFakeTimers();
    try {
      const { backend, requests } = client(
        json(429, { error: { code: "rate_limited", message: "busy", request_id: "r" } }, { "Retry-After": "1" }),
        json(200, STATUS),
      );
      const answer = backend.status(ORG, { refresh: true });
      await vi.advanceTimersByTimeAsync(999);
      expect(requests).toHaveLength(1); // not before the second the service asked for
      await vi.advanceTimersByTimeAsync(1);
      await expect(answer).resolves.toEqual(STATUS);
      expect(requests).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("leaves a 429 that asks for a long wait, or names none, to the user", async () => {
    const long = client(
      json(429, { error: { code: "rate_limited", message: "slow down", request_id: "r" } }, { "Retry-After": "37" }),
      json(200, STATUS),
    );
    await expect(long.backend.status(ORG)).rejects.toMatchObject({ status: 429, code: "rate_limited" });
    expect(long.requests).toHaveLength(1);
    const unnamed = client(errorBody(429, "rate_limited"), json(200, STATUS));
    await expect(unnamed.backend.status(ORG)).rejects.toMatchObject({ status: 429 });
    expect(unnamed.requests).toHaveLength(1);
  });

  it("does not retry a definitive refusal", async () => {
    const { backend, requests } = client(errorBody(403, "forbidden"), json(200, STATUS));
    await expect(backend.status(ORG)).rejects.toMatchObject({ code: "forbidden" });
    expect(requests).toHaveLength(1);
  });
});

describe("idempotency across retries", () => {
  it("retries a payout that got no answer with the same Idempotency-Key", async () => {
    const { backend, requests } = client(new TypeError("connection reset"), errorBody(503, "upstream_unavailable"), json(200, PAYOUT));
    const payout = await backend.payout(ORG, { currency: "usd" }, { idempotencyKey: "key-1" });
    expect(payout).toEqual(PAYOUT);
    expect(requests.map((r) => r.headers.get("Idempotency-Key"))).toEqual(["key-1", "key-1", "key-1"]);
  });

  it("keeps one key for the user's retries of the same action until it is answered", async () => {
    let n = 0;
    const action = new IdempotentAction(() => `key-${++n}`);
    const { backend, requests } = client(
      errorBody(503, "upstream_unavailable"), // first click: every automatic attempt fails
      errorBody(503, "upstream_unavailable"),
      errorBody(503, "upstream_unavailable"),
      json(200, PAYOUT), // the user clicks again
      errorBody(409, "insufficient_balance"), // a later, new payout
    );
    const pay = () => action.run({ currency: "usd" }, (idempotencyKey) => backend.payout(ORG, { currency: "usd" }, { idempotencyKey }));

    await expect(pay()).rejects.toMatchObject({ code: "upstream_unavailable", transient: true });
    await expect(pay()).resolves.toEqual(PAYOUT);
    await expect(pay()).rejects.toMatchObject({ code: "insufficient_balance" });
    expect(requests.map((r) => r.headers.get("Idempotency-Key"))).toEqual(["key-1", "key-1", "key-1", "key-1", "key-2"]);
    // A definitive refusal settles the action too: the next click is a new one.
    expect(action.keyFor({ currency: "usd" })).toBe("key-3");
  });

  it("takes a new key when the user changes what they ask for", () => {
    let n = 0;
    const action = new IdempotentAction(() => `key-${++n}`);
    expect(action.keyFor({ currency: "usd", amount: 100 })).toBe("key-1");
    expect(action.keyFor({ currency: "usd", amount: 100 })).toBe("key-1");
    expect(action.keyFor({ currency: "usd", amount: 200 })).toBe("key-2");
  });

  it("makes its keys with crypto.randomUUID by default", () => {
    const key = new IdempotentAction().keyFor({});
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
