import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createBackendClient, type ConnectStatus } from "../src/backend/client";
import type { PageLocation } from "../src/payments/PageLocation";
import type { IStripeConnectInitParams, StripeConnectInstance } from "@stripe/connect-js/pure";
import { onboardingFlow, type EmbeddedConnect } from "../src/payments/EmbeddedOnboarding";
import { PaymentsSettings } from "../src/payments/PaymentsSettings";
import { errorBody, fakeFetch, json, type Recorded } from "./fake-fetch";

const ORG = "org_1";
const APP = "http://app.test";

afterEach(cleanup);

function statusOf(overrides: Partial<ConnectStatus>): ConnectStatus {
  return {
    organization_id: ORG,
    account_id: "acct_1",
    status: "active",
    onboarding_step: "complete",
    rejection_reason: null,
    charges_enabled: true,
    payouts_enabled: true,
    details_submitted: true,
    requirements: {
      currently_due: [],
      past_due: [],
      eventually_due: [],
      pending_verification: [],
      disabled_reason: null,
      current_deadline: null,
    },
    platform_fee_percent: 10,
    synced_at: "2026-11-01T12:00:00Z",
    ...overrides,
  };
}

const NOT_STARTED = statusOf({
  account_id: null,
  status: "not_started",
  onboarding_step: "account_creation",
  charges_enabled: null,
  payouts_enabled: null,
  details_submitted: null,
  requirements: null,
  synced_at: null,
});
const BALANCE = { organization_id: ORG, account_id: "acct_1", available: [{ amount: 9000, currency: "usd" }], pending: [] };
const LINK = { url: "https://connect.test/setup/s/acct_1/tok", expires_at: "2026-11-01T12:05:00Z", account_id: "acct_1", status: "pending" };

type Routes = Record<string, (request: Recorded) => Response>;

const MANUAL = { organization_id: ORG, account_id: "acct_1", interval: "manual", weekly_anchor: null, monthly_anchor: null, delay_days: null };
const NO_PAYOUTS = { organization_id: ORG, account_id: "acct_1", data: [], has_more: false, next_cursor: null };
const NO_TRANSFERS = NO_PAYOUTS;
const NO_CLAIMS = { data: [], totals: [], next_cursor: null };

/** What an owner's page reads besides the status and balance, answered "nothing yet". */
const QUIET_READS: Routes = {
  [`GET /api/connect/payout-schedule/${ORG}`]: () => json(200, MANUAL),
  [`GET /api/connect/payouts/${ORG}`]: () => json(200, NO_PAYOUTS),
  [`GET /api/connect/transfers/${ORG}`]: () => json(200, NO_TRANSFERS),
  [`GET /api/connect/claims/${ORG}`]: () => json(200, NO_CLAIMS),
};

/** The page with a backend whose answers come from `routes` ("METHOD /path"). */
function renderPage({
  role,
  routes,
  search = "",
  embedded = null,
}: {
  role: string;
  routes: Routes;
  search?: string;
  embedded?: EmbeddedConnect | null;
}) {
  const answers = { ...QUIET_READS, ...routes };
  const fake = fakeFetch((request) => {
    const key = `${request.method} ${new URL(request.url).pathname}`;
    const route = answers[key];
    return route ? route(request) : errorBody(404, "not_found", `no route ${key}`);
  });
  const backend = createBackendClient({ baseUrl: "http://backend.test", getToken: () => "tok", fetch: fake.fetch, retries: 0 });
  let query = search;
  const location: PageLocation = {
    origin: APP,
    search: () => query,
    replaceSearch: vi.fn((next: string) => {
      query = next;
    }),
    assign: vi.fn(),
    open: vi.fn(),
  };
  render(<PaymentsSettings backend={backend} orgId={ORG} role={role} location={location} embedded={embedded} />);
  const calls = (method: string, path: string) =>
    fake.requests.filter((r) => r.method === method && new URL(r.url).pathname === path);
  return { location, requests: fake.requests, calls, query: () => query };
}

const statusRoute = (status: ConnectStatus): Routes => ({ [`GET /api/connect/status/${ORG}`]: () => json(200, status) });

describe("what each role sees", () => {
  it("shows a member the status and no actions, and never asks for the balance", async () => {
    const page = renderPage({ role: "member", routes: statusRoute(statusOf({})) });
    expect(await screen.findByTestId("connect-status")).toHaveProperty("textContent", "Active");
    expect(screen.getByTestId("member-note")).toBeTruthy();
    expect(screen.queryAllByRole("button").map((b) => b.textContent)).toEqual(["Refresh"]);
    expect(screen.queryByRole("region", { name: "Balance" })).toBeNull();
    expect(page.calls("GET", `/api/connect/balance/${ORG}`)).toHaveLength(0);
    for (const path of ["payouts", "transfers", "payout-schedule"]) {
      expect(page.calls("GET", `/api/connect/${path}/${ORG}`)).toHaveLength(0);
    }
    expect(screen.queryByRole("region", { name: "Payouts" })).toBeNull();
    expect(screen.queryByRole("region", { name: "Transfers received" })).toBeNull();
  });

  it("shows an owner the balance, the dashboard and the schedule of an active account", async () => {
    renderPage({
      role: "owner",
      routes: { ...statusRoute(statusOf({})), [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE) },
    });
    expect((await screen.findByTestId("available-usd")).textContent).toBe("$90.00");
    expect(screen.getByRole("button", { name: "Open Stripe dashboard" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Pay out now" })).toHaveProperty("disabled", false);
    expect(screen.getByRole("region", { name: "Payout schedule" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: /onboarding|Set up payouts/ })).toBeNull();
  });

  it("treats a role list containing admin as an admin", async () => {
    renderPage({ role: "member,admin", routes: statusRoute(NOT_STARTED) });
    expect(await screen.findByRole("button", { name: "Set up payouts" })).toBeTruthy();
  });
});

describe("onboarding", () => {
  it("reads the status live and offers Set up payouts, which follows the new link", async () => {
    const page = renderPage({
      role: "owner",
      routes: { ...statusRoute(NOT_STARTED), "POST /api/connect/onboard": () => json(200, LINK) },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Set up payouts" }));
    await waitFor(() => expect(page.location.assign).toHaveBeenCalledWith(LINK.url));
    expect(new URL(page.requests[0]!.url).searchParams.get("refresh")).toBe("true");
    expect(page.calls("POST", "/api/connect/onboard")[0]?.body).toEqual({
      organization_id: ORG,
      return_url: `${APP}/settings/payments?connect=return`,
      refresh_url: `${APP}/settings/payments?connect=refresh`,
    });
  });

  it("says what Stripe still needs and by when, and offers Continue onboarding", async () => {
    renderPage({
      role: "admin",
      routes: statusRoute(
        statusOf({
          status: "pending",
          onboarding_step: "action_required",
          payouts_enabled: false,
          requirements: {
            currently_due: ["external_account", "individual.dob.day", "individual.dob.month"],
            past_due: [],
            eventually_due: ["company.tax_id"],
            pending_verification: [],
            disabled_reason: null,
            current_deadline: "2026-12-01T00:00:00Z",
          },
        }),
      ),
    });
    expect((await screen.findByTestId("connect-status")).textContent).toBe("Pending");
    expect(screen.getByTestId("onboarding-step").textContent).toBe("Stripe needs more information before payouts can start.");
    const needs = screen.getByTestId("requirements");
    expect(within(needs).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "Bank account for payouts",
      "Date of birth",
    ]);
    expect(needs.querySelector("time")?.getAttribute("dateTime")).toBe("2026-12-01T00:00:00Z");
    expect(screen.getByText(/Later, Stripe will also ask for: Company tax ID/)).toBeTruthy();
    expect(screen.getByRole("button", { name: "Continue onboarding" })).toBeTruthy();
  });

  it("says why a rejected account is disabled and offers nothing to do", async () => {
    renderPage({
      role: "owner",
      routes: {
        ...statusRoute(statusOf({ status: "disabled", onboarding_step: "rejected", rejection_reason: "rejected.fraud" })),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
      },
    });
    expect((await screen.findByTestId("connect-status")).textContent).toBe("Disabled");
    expect(screen.getByTestId("onboarding-step").textContent).toBe("Stripe could not accept the account (rejected: fraud).");
    expect(screen.queryByRole("button", { name: /onboarding|Set up payouts|dashboard/ })).toBeNull();
  });

  it("offers a deauthorized organization to connect Stripe again, with a new link", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...statusRoute(
          statusOf({ status: "disabled", onboarding_step: "deauthorized", rejection_reason: "deauthorized" }),
        ),
        [`GET /api/connect/balance/${ORG}`]: () => json(409, { error: { code: "account_inaccessible", message: "x" } }),
        "POST /api/connect/onboard": () => json(200, LINK),
      },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Connect Stripe again" }));
    await waitFor(() => expect(page.location.assign).toHaveBeenCalledWith(LINK.url));
    expect(page.calls("POST", "/api/connect/onboard")).toHaveLength(1);
  });

  it("on ?connect=refresh mints a fresh link and goes straight back to Stripe", async () => {
    const page = renderPage({
      role: "owner",
      search: "?connect=refresh",
      routes: { ...statusRoute(NOT_STARTED), "POST /api/connect/onboard": () => json(200, LINK) },
    });
    await waitFor(() => expect(page.location.assign).toHaveBeenCalledWith(LINK.url));
    expect(page.calls("POST", "/api/connect/onboard")).toHaveLength(1);
    expect(page.calls("GET", `/api/connect/status/${ORG}`)).toHaveLength(0);
    expect(page.query()).toBe("");
  });

  it("on ?connect=return reads the status live, welcomes the user back and cleans the URL", async () => {
    const page = renderPage({ role: "owner", search: "?connect=return", routes: statusRoute(statusOf({})) });
    expect(await screen.findByTestId("returned")).toBeTruthy();
    expect(new URL(page.calls("GET", `/api/connect/status/${ORG}`)[0]!.url).search).toBe("?refresh=true");
    expect(page.query()).toBe("");
  });

  it("opens the Express dashboard's link in a new tab", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...statusRoute(statusOf({})),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
        "POST /api/connect/dashboard-link": () => json(200, { url: "https://connect.test/express/acct_1" }),
      },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Open Stripe dashboard" }));
    await waitFor(() => expect(page.location.open).toHaveBeenCalledWith("https://connect.test/express/acct_1"));
  });
});

describe("loading and errors", () => {
  it("shows loading, then the service's error with its request id, and tries again", async () => {
    let fail = true;
    const page = renderPage({
      role: "member",
      routes: {
        [`GET /api/connect/status/${ORG}`]: () =>
          fail ? errorBody(503, "upstream_unavailable", "Worker down", "req_7") : json(200, statusOf({})),
      },
    });
    expect(screen.getByText("Loading the payout status…")).toBeTruthy();
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Payments are briefly unavailable");
    expect(alert.textContent).toContain("req_7");
    fail = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect((await screen.findByTestId("connect-status")).textContent).toBe("Active");
    expect(page.calls("GET", `/api/connect/status/${ORG}`)).toHaveLength(2);
  });

  it("tells an owner in words when the platform's Stripe key cannot use Accounts v2", async () => {
    renderPage({
      role: "owner",
      routes: {
        ...statusRoute(NOT_STARTED),
        "POST /api/connect/onboard": () => errorBody(409, "accounts_v2_not_enabled", "set CONNECT_ACCOUNTS_API=v1"),
      },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Set up payouts" }));
    const alert = await screen.findByRole("alert");
    expect(alert.getAttribute("data-code")).toBe("accounts_v2_not_enabled");
    expect(alert.textContent).toContain("the platform's Stripe settings do not allow it yet");
    expect(alert.textContent).not.toContain("CONNECT_ACCOUNTS_API");
  });

  it("shows a failed onboarding call next to its button", async () => {
    renderPage({
      role: "owner",
      routes: { ...statusRoute(NOT_STARTED), "POST /api/connect/onboard": () => errorBody(403, "forbidden") },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Set up payouts" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Only the organization's owners and admins");
  });
});

describe("Pay out now", () => {
  it("pays out what is available and keeps the Idempotency-Key when the user retries a lost answer", async () => {
    const answers = [errorBody(503, "upstream_unavailable"), json(200, { payout_id: "po_1", amount: 9000, currency: "usd", status: "pending", arrival_date: "2026-11-03T00:00:00Z" })];
    let balance = BALANCE;
    const page = renderPage({
      role: "owner",
      routes: {
        ...statusRoute(statusOf({})),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, balance),
        "POST /api/connect/payout": () => {
          const answer = answers.shift()!;
          if (answer.ok) balance = { ...BALANCE, available: [{ amount: 0, currency: "usd" }] };
          return answer;
        },
      },
    });
    const button = await screen.findByRole("button", { name: "Pay out now" });
    fireEvent.click(button);
    expect((await screen.findByRole("alert")).textContent).toContain("briefly unavailable");
    fireEvent.click(screen.getByRole("button", { name: "Pay out now" }));
    expect((await screen.findByTestId("payout-result")).textContent).toContain("Payout of $90.00 is pending");
    await waitFor(() => expect(screen.getByTestId("available-usd").textContent).toBe("$0.00"));
    expect(screen.getByRole("button", { name: "Pay out now" })).toHaveProperty("disabled", true);
    // The payout history is read again once the payout is made.
    await waitFor(() => expect(page.calls("GET", `/api/connect/payouts/${ORG}`)).toHaveLength(2));

    const payouts = page.calls("POST", "/api/connect/payout");
    expect(payouts).toHaveLength(2);
    expect(payouts[0]?.body).toEqual({ currency: "usd", organization_id: ORG });
    const [first, second] = payouts.map((r) => r.headers.get("Idempotency-Key"));
    expect(first).toBeTruthy();
    expect(second).toBe(first);
  });
});

const ACTIVE_OWNER: Routes = {
  ...statusRoute(statusOf({})),
  [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
};

describe("the payout schedule", () => {
  it("starts at the schedule Stripe holds, not at manual", async () => {
    renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/payout-schedule/${ORG}`]: () =>
          json(200, { ...MANUAL, interval: "weekly", weekly_anchor: "friday", delay_days: 2 }),
      },
    });
    expect((await screen.findByTestId("schedule-current")).textContent).toBe("Stripe pays out weekly on Friday.");
    const schedule = screen.getByRole("region", { name: "Payout schedule" });
    expect(within(schedule).getByLabelText("Pay out")).toHaveProperty("value", "weekly");
    expect(within(schedule).getByLabelText("on")).toHaveProperty("value", "friday");
  });

  it("shows what Stripe answered after a save", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        "PUT /api/connect/payout-schedule": () =>
          json(200, { ...MANUAL, interval: "monthly", weekly_anchor: null, monthly_anchor: 15, delay_days: 2 }),
      },
    });
    const schedule = await screen.findByRole("region", { name: "Payout schedule" });
    fireEvent.change(await within(schedule).findByLabelText("Pay out"), { target: { value: "monthly" } });
    fireEvent.change(within(schedule).getByLabelText("on day"), { target: { value: "15" } });
    fireEvent.click(within(schedule).getByRole("button", { name: "Save schedule" }));
    expect((await screen.findByTestId("schedule-result")).textContent).toBe("Saved: Stripe now pays out monthly on day 15.");
    expect(within(schedule).getByLabelText("Pay out")).toHaveProperty("value", "monthly");
    expect(within(schedule).getByLabelText("on day")).toHaveProperty("value", "15");
    expect(page.calls("PUT", "/api/connect/payout-schedule")[0]?.body).toEqual({
      interval: "monthly",
      monthly_anchor: 15,
      organization_id: ORG,
    });
  });

  it("says when the schedule could not be read, and reads it again on Try again", async () => {
    let fail = true;
    renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/payout-schedule/${ORG}`]: () =>
          fail ? errorBody(503, "upstream_unavailable") : json(200, { ...MANUAL, interval: "daily" }),
      },
    });
    const schedule = await screen.findByRole("region", { name: "Payout schedule" });
    const alert = await within(schedule).findByRole("alert");
    expect(within(schedule).queryByRole("button", { name: "Save schedule" })).toBeNull();
    fail = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await within(schedule).findByLabelText("Pay out")).toHaveProperty("value", "daily");
  });
});

const payoutItem = (id: string, overrides: Record<string, unknown> = {}) => ({
  payout_id: id,
  amount: 9000,
  currency: "usd",
  status: "paid",
  arrival_date: "2026-11-03T00:00:00Z",
  created: "2026-11-01T12:00:00Z",
  failure_code: null,
  failure_message: null,
  ...overrides,
});

const payoutPage = (data: unknown[], next: string | null) => ({
  ...NO_PAYOUTS,
  data,
  has_more: next !== null,
  next_cursor: next,
});

describe("payout history", () => {
  it("lists the payouts with amount, status and arrival date, a failed one with its reason", async () => {
    renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/payouts/${ORG}`]: () =>
          json(
            200,
            payoutPage(
              [
                payoutItem("po_2", {
                  amount: 2550,
                  status: "failed",
                  failure_code: "account_closed",
                  failure_message: "The bank account has been closed.",
                }),
                payoutItem("po_1"),
              ],
              null,
            ),
          ),
      },
    });
    const payouts = await screen.findByRole("region", { name: "Payouts" });
    const rows = await within(payouts).findAllByTestId("payout");
    expect(rows.map((row) => row.getAttribute("data-status"))).toEqual(["failed", "paid"]);
    expect(within(rows[0]!).getByText("$25.50")).toBeTruthy();
    expect(within(rows[0]!).getByText("Failed")).toBeTruthy();
    expect(within(rows[0]!).getByTestId("payout-failure").textContent).toContain("The bank account has been closed.");
    expect(within(rows[1]!).getByText("$90.00")).toBeTruthy();
    expect(within(rows[1]!).getByText("Paid")).toBeTruthy();
    expect(within(rows[1]!).getByText("Nov 3, 2026")).toBeTruthy();
    expect(within(payouts).queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("loads more with the last page's next_cursor as starting_after", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/payouts/${ORG}`]: (request) =>
          new URL(request.url).searchParams.get("starting_after") === "po_2"
            ? json(200, payoutPage([payoutItem("po_1", { amount: 100 })], null))
            : json(200, payoutPage([payoutItem("po_3", { amount: 300 }), payoutItem("po_2", { amount: 200 })], "po_2")),
      },
    });
    const payouts = await screen.findByRole("region", { name: "Payouts" });
    fireEvent.click(await within(payouts).findByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(payouts).getAllByTestId("payout")).toHaveLength(3));
    expect(within(payouts).getAllByTestId("payout").map((row) => row.children[1]?.textContent)).toEqual([
      "$3.00",
      "$2.00",
      "$1.00",
    ]);
    expect(within(payouts).queryByRole("button", { name: "Load more" })).toBeNull();
    const queries = page.calls("GET", `/api/connect/payouts/${ORG}`).map((r) => new URL(r.url).search);
    expect(queries).toEqual(["?limit=10", "?limit=10&starting_after=po_2"]);
  });

  it("says when there are no payouts yet", async () => {
    renderPage({ role: "owner", routes: ACTIVE_OWNER });
    const payouts = await screen.findByRole("region", { name: "Payouts" });
    expect((await within(payouts).findByTestId("payouts-empty")).textContent).toBe("No payouts yet.");
  });

  it("shows a failed read with Try again, which reads it again", async () => {
    let fail = true;
    renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/payouts/${ORG}`]: () =>
          fail ? errorBody(503, "upstream_unavailable") : json(200, payoutPage([payoutItem("po_1")], null)),
      },
    });
    const payouts = await screen.findByRole("region", { name: "Payouts" });
    const alert = await within(payouts).findByRole("alert");
    expect(alert.textContent).toContain("briefly unavailable");
    fail = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await within(payouts).findAllByTestId("payout")).toHaveLength(1);
    expect(within(payouts).queryByRole("alert")).toBeNull();
  });

  it("keeps the loaded payouts when Load more fails, and Try again loads that page", async () => {
    let failMore = true;
    renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/payouts/${ORG}`]: (request) => {
          if (!new URL(request.url).searchParams.has("starting_after")) {
            return json(200, payoutPage([payoutItem("po_2")], "po_2"));
          }
          return failMore ? errorBody(502, "stripe_error", "Stripe said no") : json(200, payoutPage([payoutItem("po_1")], null));
        },
      },
    });
    const payouts = await screen.findByRole("region", { name: "Payouts" });
    fireEvent.click(await within(payouts).findByRole("button", { name: "Load more" }));
    const alert = await within(payouts).findByRole("alert");
    expect(within(payouts).getAllByTestId("payout")).toHaveLength(1);
    failMore = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(within(payouts).getAllByTestId("payout")).toHaveLength(2));
  });
});

const transferItem = (id: string, overrides: Record<string, unknown> = {}) => ({
  transfer_id: id,
  created: "2026-11-02T09:30:00Z",
  currency: "usd",
  gross_amount: 10000,
  fee_amount: 1250,
  platform_fee_percent: 12.5,
  net_amount: 8750,
  claims_settled: 0,
  amount_reversed: 0,
  net_after_reversals: 8750,
  reversals: [],
  returns_for: null,
  ...overrides,
});

/** The owner's page whose transfer history is one page of `items`. */
const withTransfers = (items: unknown[]): Routes => ({
  ...ACTIVE_OWNER,
  [`GET /api/connect/transfers/${ORG}`]: () => json(200, payoutPage(items, null)),
});

describe("transfers received", () => {
  it("shows gross, fee percent, fee and net of each transfer, and dashes where the service made none", async () => {
    renderPage({
      role: "admin",
      routes: withTransfers([
        transferItem("tr_2"),
        transferItem("tr_1", { gross_amount: null, fee_amount: null, platform_fee_percent: null, net_amount: 500 }),
      ]),
    });
    const transfers = await screen.findByRole("region", { name: "Transfers received" });
    const [ours, other] = await within(transfers).findAllByTestId("transfer");
    const cells = (row: HTMLElement | undefined) =>
      ["gross", "percent", "fee", "net"].map((name) => within(row!).getByTestId(`transfer-${name}`).textContent);
    expect(cells(ours)).toEqual(["$100.00", "12.5 %", "$12.50", "$87.50"]);
    expect(cells(other)).toEqual(["—", "—", "—", "$5.00"]);
    expect(within(ours!).getByText("Nov 2, 2026")).toBeTruthy();
  });

  it("loads more, and says when none arrived yet or the read failed", async () => {
    let answer: "page" | "empty" | "fail" = "page";
    const page = renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/transfers/${ORG}`]: (request) => {
          if (answer === "empty") return json(200, NO_TRANSFERS);
          if (answer === "fail") return errorBody(503, "upstream_unavailable");
          return new URL(request.url).searchParams.get("starting_after") === "tr_2"
            ? json(200, payoutPage([transferItem("tr_1")], null))
            : json(200, payoutPage([transferItem("tr_2")], "tr_2"));
        },
      },
    });
    const transfers = await screen.findByRole("region", { name: "Transfers received" });
    fireEvent.click(await within(transfers).findByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(transfers).getAllByTestId("transfer")).toHaveLength(2));
    expect(new URL(page.calls("GET", `/api/connect/transfers/${ORG}`)[1]!.url).searchParams.get("starting_after")).toBe("tr_2");

    answer = "fail";
    fireEvent.click(within(transfers).getByRole("button", { name: "Refresh" }));
    expect((await within(transfers).findByRole("alert")).textContent).toContain("briefly unavailable");

    answer = "empty";
    fireEvent.click(within(transfers).getByRole("button", { name: "Try again" }));
    expect((await within(transfers).findByTestId("transfers-empty")).textContent).toBe("No transfers from the platform yet.");
    expect(within(transfers).queryAllByTestId("transfer")).toHaveLength(0);
  });
});

const reversal = (id: string, amount: number, cause: string | null, overrides: Record<string, unknown> = {}) => ({
  reversal_id: id,
  amount,
  created: "2026-11-04T10:00:00Z",
  cause,
  cause_id: cause === "refund" ? "re_1" : cause === "dispute" ? "dp_1" : cause === null ? null : "key_1",
  ...overrides,
});

describe("money taken back of the transfers", () => {
  it("shows each transfer's reversals with amount, date and why, its net after them, claims settled and money returned", async () => {
    renderPage({
      role: "owner",
      routes: withTransfers([
        transferItem("tr_back", {
          gross_amount: null,
          fee_amount: null,
          platform_fee_percent: null,
          net_amount: 500,
          net_after_reversals: 500,
          returns_for: "tr_2",
        }),
        transferItem("tr_3", { net_amount: 6750, claims_settled: 2000, net_after_reversals: 6750 }),
        transferItem("tr_2", {
          amount_reversed: 3500,
          net_after_reversals: 5250,
          reversals: [
            reversal("trr_3", 500, "claim"),
            reversal("trr_2", 1000, "dispute"),
            reversal("trr_1", 2000, "refund", { created: "2026-11-03T08:00:00Z" }),
          ],
        }),
        transferItem("tr_1", {
          amount_reversed: 8750,
          net_after_reversals: 0,
          reversals: [reversal("trr_0", 8750, "manual"), reversal("trr_x", 0, null, { created: null })],
        }),
      ]),
    });
    const transfers = await screen.findByRole("region", { name: "Transfers received" });
    const [back, settled, reversed, whole] = await within(transfers).findAllByTestId("transfer");

    expect(within(back!).getByTestId("transfer-returned").textContent).toBe(
      "Money back from a won dispute (for transfer tr_2).",
    );
    expect(within(back!).queryAllByTestId("reversal")).toHaveLength(0);

    expect(within(settled!).getByTestId("transfer-net").textContent).toBe("$67.50");
    expect(within(settled!).getByTestId("transfer-claims-settled").textContent).toContain(
      "$20.00 of this transfer's net settled what the organization owed",
    );

    expect(within(reversed!).getByTestId("transfer-net").textContent).toBe("$87.50");
    expect(within(reversed!).getByTestId("transfer-net-after").textContent).toBe("$52.50 ($35.00 reversed)");
    const lines = within(reversed!).getAllByTestId("reversal");
    expect(lines.map((line) => line.getAttribute("data-cause"))).toEqual(["claim", "dispute", "refund"]);
    expect(lines.map((line) => within(line).getByTestId("reversal-cause").textContent)).toEqual([
      "Claim settlement",
      "Dispute",
      "Refund",
    ]);
    expect(lines[2]!.textContent).toBe("− $20.00 taken back on Nov 3, 2026: Refund re_1");
    expect(lines[1]!.textContent).toBe("− $10.00 taken back on Nov 4, 2026: Dispute dp_1");
    // A manual reversal's cause id is only its key: not shown.
    const manual = within(whole!).getAllByTestId("reversal");
    expect(manual[0]!.textContent).toBe("− $87.50 taken back on Nov 4, 2026: Manual");
    expect(manual[1]!.textContent).toBe("− $0.00 taken back: Other");
    expect(within(whole!).getByTestId("transfer-net-after").textContent).toBe("$0.00 ($87.50 reversed)");
  });
});

const claim = (id: string, overrides: Record<string, unknown> = {}) => ({
  claim_id: id,
  organization_id: ORG,
  currency: "usd",
  amount: 3375,
  settled: 0,
  open: 3375,
  cause: "manual",
  cause_id: "key_1",
  transfer_id: "tr_9",
  created_at: "2026-11-05T09:00:00Z",
  settlements: [],
  ...overrides,
});

describe("what the organization owes the platform", () => {
  it("is hidden when there are no open claims, and asks for the open ones only", async () => {
    const page = renderPage({ role: "owner", routes: ACTIVE_OWNER });
    await screen.findByRole("region", { name: "Transfers received" });
    await waitFor(() => expect(page.calls("GET", `/api/connect/claims/${ORG}`)).toHaveLength(1));
    expect(new URL(page.calls("GET", `/api/connect/claims/${ORG}`)[0]!.url).searchParams.get("state")).toBe("open");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(screen.queryByRole("region", { name: "What you owe the platform" })).toBeNull();
    expect(screen.queryByTestId("claims")).toBeNull();
  });

  it("lists open claims with amount, cause, date and how each was settled, and the open total per currency", async () => {
    renderPage({
      role: "admin",
      routes: {
        ...ACTIVE_OWNER,
        [`GET /api/connect/claims/${ORG}`]: () =>
          json(200, {
            data: [
              claim("cl_1", {
                cause: "refund",
                amount: 5000,
                settled: 3000,
                open: 2000,
                settlements: [
                  { amount: 2000, kind: "transfer", reference: "tr_5", created_at: "2026-11-06T00:00:00Z" },
                  { amount: 1000, kind: "reversal", reference: "trr_5", created_at: "2026-11-07T00:00:00Z" },
                ],
              }),
              claim("cl_2", {
                cause: "dispute",
                amount: 1000,
                settled: 400,
                open: 600,
                settlements: [{ amount: 400, kind: "waived", reference: "dp_1", created_at: "2026-11-08T00:00:00Z" }],
              }),
              claim("cl_3"),
              claim("cl_4", { currency: "eur", amount: 700, open: 700 }),
            ],
            totals: [
              { currency: "usd", open: 5975 },
              { currency: "eur", open: 700 },
            ],
            next_cursor: null,
          }),
      },
    });
    const card = await screen.findByRole("region", { name: "What you owe the platform" });
    const rows = await within(card).findAllByTestId("claim");
    expect(rows.map((row) => within(row).getByTestId("claim-cause").textContent)).toEqual([
      "Refundof tr_9",
      "Disputeof tr_9",
      "Manual reversalof tr_9",
      "Manual reversalof tr_9",
    ]);
    const cells = (row: HTMLElement) =>
      ["amount", "settled", "open"].map((name) => within(row).getByTestId(`claim-${name}`).textContent);
    expect(cells(rows[0]!)).toEqual(["$50.00", "$30.00", "$20.00"]);
    expect(within(rows[0]!).getByText("Nov 5, 2026")).toBeTruthy();
    expect(within(rows[0]!).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "$20.00 from a transfer on Nov 6, 2026",
      "$10.00 by a reversal on Nov 7, 2026",
    ]);
    expect(within(rows[1]!).getByRole("listitem").textContent).toBe("$4.00 waived (the dispute was won) on Nov 8, 2026");
    expect(within(rows[2]!).getByTestId("claim-settlements").textContent).toContain("Not settled yet");
    expect(cells(rows[3]!)).toEqual(["€7.00", "€0.00", "€7.00"]);
    expect(within(card).getByTestId("claims-total").textContent).toBe("Open in all: $59.75, €7.00");
  });

  it("is not read for a member", async () => {
    const page = renderPage({ role: "member", routes: statusRoute(statusOf({})) });
    await screen.findByTestId("member-note");
    expect(page.calls("GET", `/api/connect/claims/${ORG}`)).toHaveLength(0);
  });
});

const FAILURE = {
  payout_id: "po_9",
  failure_code: "account_closed",
  message: "The bank account has been closed.",
  payout_created: "2026-11-02T00:00:00Z",
};

describe("a failed payout", () => {
  it("shows the banner with the reason, and Update bank details opens the Express dashboard", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        ...statusRoute(statusOf({ payout_failure: FAILURE })),
        "POST /api/connect/dashboard-link": () => json(200, { url: "https://connect.test/express/acct_1" }),
      },
    });
    const banner = await screen.findByTestId("payout-failure-banner");
    expect(banner.querySelector("strong")?.textContent).toBe(
      "Your last payout failed: The bank account has been closed. Check your bank details.",
    );
    expect(banner.getAttribute("data-code")).toBe("account_closed");
    fireEvent.click(within(banner).getByRole("button", { name: "Update bank details" }));
    await waitFor(() => expect(page.location.open).toHaveBeenCalledWith("https://connect.test/express/acct_1"));
    expect(page.calls("POST", "/api/connect/onboard")).toHaveLength(0);
    expect(page.location.assign).not.toHaveBeenCalled();
  });

  it("follows an Account Link when the account has no Express dashboard", async () => {
    const page = renderPage({
      role: "admin",
      routes: {
        ...ACTIVE_OWNER,
        ...statusRoute(statusOf({ payout_failure: FAILURE })),
        "POST /api/connect/dashboard-link": () => errorBody(409, "not_supported"),
        "POST /api/connect/onboard": () => json(200, LINK),
      },
    });
    const banner = await screen.findByTestId("payout-failure-banner");
    fireEvent.click(within(banner).getByRole("button", { name: "Update bank details" }));
    await waitFor(() => expect(page.location.assign).toHaveBeenCalledWith(LINK.url));
    expect(page.location.open).not.toHaveBeenCalled();
    expect(page.calls("POST", "/api/connect/onboard")[0]?.body).toEqual({
      organization_id: ORG,
      return_url: `${APP}/settings/payments?connect=return`,
      refresh_url: `${APP}/settings/payments?connect=refresh`,
    });
  });

  it("says any other failure to open Stripe, and follows no link", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...ACTIVE_OWNER,
        ...statusRoute(statusOf({ payout_failure: FAILURE })),
        "POST /api/connect/dashboard-link": () => errorBody(503, "upstream_unavailable"),
      },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Update bank details" }));
    await waitFor(() =>
      expect(screen.getAllByRole("alert").some((alert) => alert.textContent?.includes("briefly unavailable"))).toBe(true),
    );
    expect(page.calls("POST", "/api/connect/onboard")).toHaveLength(0);
    expect(page.location.assign).not.toHaveBeenCalled();
  });

  it("shows a member why, without the button", async () => {
    renderPage({ role: "member", routes: statusRoute(statusOf({ payout_failure: FAILURE })) });
    const banner = await screen.findByTestId("payout-failure-banner");
    expect(banner.textContent).toContain("Your last payout failed: The bank account has been closed.");
    expect(within(banner).queryByRole("button")).toBeNull();
  });

  it("shows no banner once the failure is cleared", async () => {
    renderPage({ role: "owner", routes: { ...ACTIVE_OWNER, ...statusRoute(statusOf({ payout_failure: null })) } });
    await screen.findByTestId("connect-status");
    expect(screen.queryByTestId("payout-failure-banner")).toBeNull();
  });
});

/** The setters @stripe/react-connect-js calls on the elements of the components the page uses. */
const STUB_SETTERS = [
  "setOnLoadError",
  "setOnLoaderStart",
  "setCollectionOptions",
  "setOnSectionOpen",
  "setOnStepChange",
  "setOnNotificationsChange",
  "setFullTermsOfServiceUrl",
  "setRecipientTermsOfServiceUrl",
  "setPrivacyPolicyUrl",
  "setSkipTermsOfServiceCollection",
];

/**
 * Connect.js stands in for itself: its loader always fetches Stripe's script from Stripe's CDN,
 * which these machines cannot reach. The stand-in records how it was initialized and hands the
 * React components plain elements that keep the callbacks they are given.
 */
function stubConnect() {
  const inits: IStripeConnectInitParams[] = [];
  const created = new Map<string, HTMLElement & { onExit?: () => void }>();
  const load = vi.fn((params: IStripeConnectInitParams) => {
    inits.push(params);
    const instance = {
      create: (tag: string) => {
        const element = Object.assign(document.createElement(`stub-${tag}`), {
          setOnExit(listener: () => void) {
            element.onExit = listener;
          },
          ...Object.fromEntries(STUB_SETTERS.map((name) => [name, () => undefined])),
        }) as HTMLElement & { onExit?: () => void };
        created.set(tag, element);
        return element;
      },
      update: vi.fn(),
      logout: vi.fn(),
    };
    return instance as unknown as StripeConnectInstance;
  });
  return { embedded: { publishableKey: "pk_test_embedded", load }, load, inits, created };
}

const SESSION = { client_secret: "accs_secret__one", expires_at: "2026-11-01T12:30:00Z", account_id: "acct_1" };

describe("embedded onboarding (a publishable key is set)", () => {
  it("chooses the flow by the publishable key", () => {
    expect(onboardingFlow(null)).toBe("hosted");
    expect(onboardingFlow({ publishableKey: "" })).toBe("hosted");
    expect(onboardingFlow({ publishableKey: "pk_test_x" })).toBe("embedded");
  });

  it("opens Stripe's onboarding component on the page, each client secret fresh from the service", async () => {
    const connect = stubConnect();
    let secrets = 0;
    const page = renderPage({
      role: "owner",
      embedded: connect.embedded,
      routes: {
        ...statusRoute(statusOf({ status: "pending", onboarding_step: "details_submission", payouts_enabled: false })),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
        "POST /api/connect/account-session": () => json(200, { ...SESSION, client_secret: `accs_secret__${++secrets}` }),
      },
    });

    fireEvent.click(await screen.findByRole("button", { name: "Continue onboarding" }));

    expect(await screen.findByTestId("embedded-onboarding")).toBeTruthy();
    expect(connect.load).toHaveBeenCalledTimes(1);
    expect(connect.inits[0]?.publishableKey).toBe("pk_test_embedded");
    expect([...connect.created.keys()].sort()).toEqual(["account-onboarding", "notification-banner"]);
    expect(page.location.assign).not.toHaveBeenCalled();
    expect(page.calls("POST", "/api/connect/onboard")).toHaveLength(0); // the account exists
    expect(page.calls("POST", "/api/connect/account-session")).toHaveLength(0); // only when asked

    const fetchSecret = connect.inits[0]!.fetchClientSecret;
    expect(await fetchSecret()).toBe("accs_secret__1");
    expect(await fetchSecret()).toBe("accs_secret__2");
    const asked = page.calls("POST", "/api/connect/account-session");
    expect(asked).toHaveLength(2);
    expect(asked[0]!.body).toEqual({ organization_id: ORG });
  });

  it("makes the account first for an organization that has none, without leaving the page", async () => {
    const connect = stubConnect();
    let made = false;
    const page = renderPage({
      role: "admin",
      embedded: connect.embedded,
      routes: {
        [`GET /api/connect/status/${ORG}`]: () =>
          json(200, made ? statusOf({ status: "pending", onboarding_step: "details_submission" }) : NOT_STARTED),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
        "POST /api/connect/onboard": () => {
          made = true;
          return json(200, LINK);
        },
      },
    });

    fireEvent.click(await screen.findByRole("button", { name: "Set up payouts" }));

    expect(await screen.findByTestId("embedded-onboarding")).toBeTruthy();
    expect(page.calls("POST", "/api/connect/onboard")).toHaveLength(1);
    expect(page.location.assign).not.toHaveBeenCalled(); // the hosted link is left unused
  });

  it("reads the status again when the user leaves the component", async () => {
    const connect = stubConnect();
    const page = renderPage({
      role: "owner",
      embedded: connect.embedded,
      routes: {
        ...statusRoute(statusOf({ status: "pending", onboarding_step: "details_submission", payouts_enabled: false })),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
      },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Continue onboarding" }));
    await screen.findByTestId("embedded-onboarding");
    const reads = page.calls("GET", `/api/connect/status/${ORG}`).length;

    await waitFor(() => expect(connect.created.get("account-onboarding")?.onExit).toBeTypeOf("function"));
    connect.created.get("account-onboarding")!.onExit!();

    await waitFor(() => expect(screen.queryByTestId("embedded-onboarding")).toBeNull());
    await waitFor(() => expect(page.calls("GET", `/api/connect/status/${ORG}`).length).toBe(reads + 1));
  });

  it("offers Stripe's hosted pages beside the embedded component", async () => {
    const connect = stubConnect();
    const page = renderPage({
      role: "owner",
      embedded: connect.embedded,
      routes: {
        ...statusRoute(statusOf({ status: "pending", onboarding_step: "details_submission", payouts_enabled: false })),
        [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
        "POST /api/connect/onboard": () => json(200, LINK),
      },
    });

    fireEvent.click(await screen.findByRole("button", { name: "Continue on Stripe's site" }));

    await waitFor(() => expect(page.location.assign).toHaveBeenCalledWith(LINK.url));
    expect(page.calls("POST", "/api/connect/account-session")).toHaveLength(0);
    expect(screen.queryByTestId("embedded-onboarding")).toBeNull();
  });

  it("keeps the hosted link without a publishable key", async () => {
    const page = renderPage({
      role: "owner",
      routes: {
        ...statusRoute(NOT_STARTED),
        "POST /api/connect/onboard": () => json(200, LINK),
      },
    });

    fireEvent.click(await screen.findByRole("button", { name: "Set up payouts" }));

    await waitFor(() => expect(page.location.assign).toHaveBeenCalledWith(LINK.url));
    expect(screen.queryByTestId("embedded-onboarding")).toBeNull();
    expect(page.calls("POST", "/api/connect/account-session")).toHaveLength(0);
    expect(screen.queryByRole("button", { name: "Continue on Stripe's site" })).toBeNull();
  });
});

describe("Stripe's account management and payouts components (a publishable key is set)", () => {
  const ACTIVE_READS: Routes = {
    [`GET /api/connect/balance/${ORG}`]: () => json(200, BALANCE),
    "POST /api/connect/account-session": () => json(200, SESSION),
  };

  for (const role of ["owner", "admin"]) {
    it(`renders both for an onboarded account's ${role}, on one Connect.js instance asking the service for sessions`, async () => {
      const connect = stubConnect();
      const page = renderPage({ role, embedded: connect.embedded, routes: { ...ACTIVE_READS, ...statusRoute(statusOf({})) } });

      const card = await screen.findByTestId("embedded-account");
      expect(card.querySelector("stub-account-management")).toBeTruthy();
      expect(card.querySelector("stub-payouts")).toBeTruthy();
      expect([...connect.created.keys()].sort()).toEqual(["account-management", "payouts"]);
      expect(connect.load).toHaveBeenCalledTimes(1);
      expect(connect.inits[0]?.publishableKey).toBe("pk_test_embedded");
      // The page's own cards stay beside Stripe's.
      expect(await screen.findByTestId("available-usd")).toBeTruthy();
      expect(screen.getByRole("button", { name: "Open Stripe dashboard" })).toBeTruthy();
      expect(page.calls("POST", "/api/connect/account-session")).toHaveLength(0); // only when asked

      expect(await connect.inits[0]!.fetchClientSecret()).toBe(SESSION.client_secret);
      const asked = page.calls("POST", "/api/connect/account-session");
      expect(asked.map((r) => r.body)).toEqual([{ organization_id: ORG }]);
    });
  }

  it("renders neither for a member, and loads nothing from Stripe", async () => {
    const connect = stubConnect();
    const page = renderPage({ role: "member", embedded: connect.embedded, routes: statusRoute(statusOf({})) });
    await screen.findByTestId("member-note");
    expect(screen.queryByTestId("embedded-account")).toBeNull();
    expect(connect.load).not.toHaveBeenCalled();
    expect(page.calls("POST", "/api/connect/account-session")).toHaveLength(0);
  });

  const notYet: [string, ConnectStatus][] = [
    ["not started", NOT_STARTED],
    ["pending", statusOf({ status: "pending", onboarding_step: "details_submission", payouts_enabled: false })],
    ["rejected", statusOf({ status: "disabled", onboarding_step: "rejected", rejection_reason: "rejected.fraud" })],
    ["deauthorized", statusOf({ status: "disabled", onboarding_step: "deauthorized", rejection_reason: "deauthorized" })],
  ];
  for (const [name, status] of notYet) {
    it(`renders neither for an owner whose account is ${name}`, async () => {
      const connect = stubConnect();
      renderPage({ role: "owner", embedded: connect.embedded, routes: { ...ACTIVE_READS, ...statusRoute(status) } });
      await screen.findByTestId("connect-status");
      expect(screen.queryByTestId("embedded-account")).toBeNull();
      expect(connect.load).not.toHaveBeenCalled();
    });
  }

  it("renders neither without a publishable key: the page stays as it was", async () => {
    renderPage({ role: "owner", routes: { ...ACTIVE_READS, ...statusRoute(statusOf({})) } });
    expect(await screen.findByTestId("available-usd")).toBeTruthy();
    expect(screen.queryByTestId("embedded-account")).toBeNull();
    expect(document.querySelector("[data-testid^='embedded']")).toBeNull();
  });

  it("shares the instance with onboarding when an active account has something due", async () => {
    const connect = stubConnect();
    renderPage({
      role: "owner",
      embedded: connect.embedded,
      routes: { ...ACTIVE_READS, ...statusRoute(statusOf({ onboarding_step: "action_required" })) },
    });
    await screen.findByTestId("embedded-account");
    fireEvent.click(screen.getByRole("button", { name: "Continue onboarding" }));

    expect(await screen.findByTestId("embedded-onboarding")).toBeTruthy();
    expect(connect.load).toHaveBeenCalledTimes(1);
    expect([...connect.created.keys()].sort()).toEqual([
      "account-management",
      "account-onboarding",
      "notification-banner",
      "payouts",
    ]);
  });
});
