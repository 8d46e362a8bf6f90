import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectConsole } from "../src/admin/ConnectConsole";
import { createBackendClient, type ConsoleOrganization } from "../src/backend/client";
import { errorBody, fakeFetch, json, type Recorded } from "./fake-fetch";

afterEach(cleanup);

function org(id: string, overrides: Partial<ConsoleOrganization> = {}): ConsoleOrganization {
  return {
    organization_id: id,
    name: `Org ${id}`,
    account_id: `acct_${id}`,
    status: "active",
    onboarding_step: "complete",
    rejection_reason: null,
    charges_enabled: null,
    payouts_enabled: null,
    details_submitted: null,
    requirements: null,
    platform_fee_percent: 10,
    synced_at: "2026-11-01T12:00:00Z",
    ...overrides,
  };
}

const EMPTY_HISTORY = (orgId: string) => ({ organization_id: orgId, account_id: `acct_${orgId}`, data: [], has_more: false, next_cursor: null });
const NO_CLAIMS = { data: [], totals: [], next_cursor: null };
const SENT = (body: { organization_id: string; amount: number; currency: string }) => ({
  transfer_id: "tr_1",
  organization_id: body.organization_id,
  account_id: `acct_${body.organization_id}`,
  currency: body.currency,
  gross_amount: body.amount,
  fee_amount: Math.round((body.amount * 10) / 100),
  transfer_amount: body.amount - Math.round((body.amount * 10) / 100),
  platform_fee_percent: 10,
  claims_settled: 0,
  settled_claims: [],
});

type Route = (request: Recorded) => Response | Error;

/** The console with a backend answering from `routes` ("METHOD /path"); history reads are empty. */
function renderConsole(routes: Record<string, Route>) {
  const fake = fakeFetch((request) => {
    const path = new URL(request.url).pathname;
    const route = routes[`${request.method} ${path}`];
    if (route) return route(request);
    const history = /^\/api\/connect\/(payouts|transfers)\/(.+)$/.exec(path);
    if (request.method === "GET" && history) return json(200, EMPTY_HISTORY(history[2]!));
    if (request.method === "GET" && /^\/api\/connect\/(open-claims|claims\/.+)$/.test(path)) return json(200, NO_CLAIMS);
    return errorBody(404, "not_found", `no route ${request.method} ${path}`);
  });
  const backend = createBackendClient({ baseUrl: "http://backend.test", getToken: () => "tok", fetch: fake.fetch, retries: 0 });
  render(<ConnectConsole backend={backend} />);
  const calls = (method: string, path: string) =>
    fake.requests.filter((r) => r.method === method && new URL(r.url).pathname === path);
  return { calls, requests: fake.requests };
}

const ONE_ORG = { "GET /api/connect/organizations": () => json(200, { data: [org("org_a")], next_cursor: null }) };

async function select(orgId: string) {
  fireEvent.click(await screen.findByRole("button", { name: `Manage Org ${orgId}` }));
  return screen.findByTestId("organization-panel");
}

async function review(panel: HTMLElement, amount: string) {
  fireEvent.change(within(panel).getByLabelText("Amount"), { target: { value: amount } });
  fireEvent.click(within(panel).getByRole("button", { name: "Review transfer" }));
  return within(panel).findByTestId("transfer-confirmation");
}

describe("the organizations", () => {
  it("lists each organization's Connect status, fee and last sync, and loads more by cursor", async () => {
    const page = renderConsole({
      "GET /api/connect/organizations": (request) =>
        new URL(request.url).searchParams.get("cursor") === "c2"
          ? json(200, { data: [org("org_c", { status: "not_started", account_id: null, synced_at: null })], next_cursor: null })
          : json(200, { data: [org("org_a"), org("org_b", { status: "pending", platform_fee_percent: 12.5 })], next_cursor: "c2" }),
    });
    const list = await screen.findByRole("region", { name: "Organizations" });
    fireEvent.click(await within(list).findByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(list).getAllByTestId("organization")).toHaveLength(3));
    const rows = within(list).getAllByTestId("organization");
    expect(rows.map((row) => row.querySelector(".org-name")?.textContent)).toEqual(["Org org_a", "Org org_b", "Org org_c"]);
    expect(rows.map((row) => within(row).getByTestId("connect-status").textContent)).toEqual(["Active", "Pending", "Not started"]);
    expect(rows.map((row) => within(row).getByTestId("organization-fee").textContent)).toEqual(["10 %", "12.5 %", "10 %"]);
    expect(within(rows[0]!).getByText("Nov 1, 2026, 12:00 PM", { exact: false })).toBeTruthy();
    expect(within(rows[2]!).getByText("never")).toBeTruthy();
    expect(within(list).queryByRole("button", { name: "Load more" })).toBeNull();
    const searches = page.calls("GET", "/api/connect/organizations").map((r) => new URL(r.url).search);
    expect(searches).toEqual(["?limit=25", "?limit=25&cursor=c2"]);
  });

  it("shows the counts per status at the top, from the first page's answer", async () => {
    const counts = { total: 10000, not_started: 1200, pending: 800, active: 7900, disabled: 100 };
    renderConsole({
      "GET /api/connect/organizations": () => json(200, { data: [org("org_a")], next_cursor: null, counts }),
    });
    const line = await screen.findByTestId("organization-counts");
    expect(within(line).getByTestId("count-total").textContent).toBe("10,000 organizations");
    expect(within(line).getByTestId("count-active").textContent).toContain("Active 7,900");
    expect(within(line).getByTestId("count-not_started").textContent).toContain("Not started 1,200");
    expect(within(line).getByTestId("count-disabled").textContent).toContain("Disabled 100");
  });

  it("searches by name, filters by status and sorts by last sync, asking the service each time", async () => {
    const page = renderConsole({
      "GET /api/connect/organizations": (request) => {
        const name = new URL(request.url).searchParams.get("name");
        const counts = name
          ? { total: 1, not_started: 0, pending: 1, active: 0, disabled: 0 }
          : { total: 2, not_started: 0, pending: 1, active: 1, disabled: 0 };
        const data = name ? [org("org_b", { name: "Acme", status: "pending" })] : [org("org_a"), org("org_b", { name: "Acme" })];
        return json(200, { data, next_cursor: null, counts });
      },
    });
    const list = await screen.findByRole("region", { name: "Organizations" });
    await waitFor(() => expect(within(list).getAllByTestId("organization")).toHaveLength(2));

    fireEvent.change(within(list).getByLabelText("Name starts with"), { target: { value: " acme " } });
    fireEvent.click(within(list).getByRole("button", { name: "Search" }));
    await waitFor(() => expect(within(list).getAllByTestId("organization")).toHaveLength(1));
    expect((await within(list).findByTestId("count-total")).textContent).toBe("1 named “acme…”");

    fireEvent.change(within(list).getByLabelText("Status"), { target: { value: "pending" } });
    fireEvent.change(within(list).getByLabelText("Sort"), { target: { value: "-last_sync" } });
    await waitFor(() => expect(page.calls("GET", "/api/connect/organizations")).toHaveLength(4));
    const searches = page.calls("GET", "/api/connect/organizations").map((r) => new URL(r.url).search);
    expect(searches).toEqual([
      "?limit=25",
      "?limit=25&name=acme",
      "?limit=25&name=acme&status=pending",
      "?limit=25&name=acme&status=pending&sort=-last_sync",
    ]);
  });

  it("says no organization matches a search that finds none", async () => {
    renderConsole({
      "GET /api/connect/organizations": (request) =>
        new URL(request.url).searchParams.get("status") === "disabled"
          ? json(200, { data: [], next_cursor: null, counts: { total: 1, not_started: 0, pending: 0, active: 1, disabled: 0 } })
          : json(200, { data: [org("org_a")], next_cursor: null }),
    });
    const list = await screen.findByRole("region", { name: "Organizations" });
    await within(list).findByTestId("organization");
    fireEvent.change(within(list).getByLabelText("Status"), { target: { value: "disabled" } });
    expect((await within(list).findByTestId("organizations-empty")).textContent).toBe("No organizations match.");
  });

  it("shows the selected organization's transfers and payouts through the /{orgId} routes", async () => {
    const page = renderConsole(ONE_ORG);
    await select("org_a");
    expect(await screen.findByRole("region", { name: "Transfers received" })).toBeTruthy();
    expect(await screen.findByTestId("payouts-empty")).toBeTruthy();
    expect(page.calls("GET", "/api/connect/transfers/org_a")).toHaveLength(1);
    expect(page.calls("GET", "/api/connect/payouts/org_a")[0]?.headers.get("X-Org-ID")).toBe("org_a");
  });

  it("sets the fee and shows the new value in the list", async () => {
    const page = renderConsole({
      ...ONE_ORG,
      // The service answers with the organization's status, which holds no name.
      "PUT /api/connect/platform-fee/org_a": (request) => {
        const { name: _name, ...status } = org("org_a", {
          platform_fee_percent: (request.body as { platform_fee_percent: number }).platform_fee_percent,
        });
        return json(200, status);
      },
    });
    const panel = await select("org_a");
    fireEvent.change(within(panel).getByLabelText("Platform fee (%)"), { target: { value: "12.5" } });
    fireEvent.click(within(panel).getByRole("button", { name: "Save fee" }));
    expect((await within(panel).findByTestId("fee-result")).textContent).toContain("12.5 %");
    expect(page.calls("PUT", "/api/connect/platform-fee/org_a")[0]?.body).toEqual({ platform_fee_percent: 12.5 });
    expect(screen.getByTestId("organization-fee").textContent).toBe("12.5 %");
    expect(screen.getByTestId("organization").querySelector(".org-name")?.textContent).toBe("Org org_a");
  });

  it("refuses a fee outside 0..100 without asking the service", async () => {
    const page = renderConsole(ONE_ORG);
    const panel = await select("org_a");
    fireEvent.change(within(panel).getByLabelText("Platform fee (%)"), { target: { value: "101" } });
    fireEvent.click(within(panel).getByRole("button", { name: "Save fee" }));
    expect((await within(panel).findByRole("alert")).textContent).toContain("from 0 to 100");
    expect(page.calls("PUT", "/api/connect/platform-fee/org_a")).toHaveLength(0);
  });
});

describe("a transfer", () => {
  it("shows gross, fee and net with the service's rule before anything is sent", async () => {
    const page = renderConsole({
      "GET /api/connect/organizations": () => json(200, { data: [org("org_a", { platform_fee_percent: 2.5 })], next_cursor: null }),
    });
    const panel = await select("org_a");
    const confirmation = await review(panel, "1.00");
    // 100 × 2.5 / 100 = 2.5, rounded half up: 3.
    expect(within(confirmation).getByTestId("preview-gross").textContent).toBe("$1.00");
    expect(within(confirmation).getByText("Platform fee (2.5 %)")).toBeTruthy();
    expect(within(confirmation).getByTestId("preview-fee").textContent).toBe("− $0.03");
    expect(within(confirmation).getByTestId("preview-net").textContent).toBe("$0.97");
    expect(page.calls("POST", "/api/connect/transfer")).toHaveLength(0);
    fireEvent.click(within(confirmation).getByRole("button", { name: "Cancel" }));
    expect(within(panel).queryByTestId("transfer-confirmation")).toBeNull();
    expect(page.calls("POST", "/api/connect/transfer")).toHaveLength(0);
  });

  it("sends one POST with an Idempotency-Key once confirmed, and shows what the service sent", async () => {
    const page = renderConsole({ ...ONE_ORG, "POST /api/connect/transfer": (request) => json(200, SENT(request.body as never)) });
    const panel = await select("org_a");
    const confirmation = await review(panel, "100");
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm transfer" }));
    const result = await within(panel).findByTestId("transfer-result");
    expect(result.textContent).toBe("Sent $90.00 to Org org_a: $100.00 less the 10 % fee of $10.00 (transfer tr_1).");
    const posts = page.calls("POST", "/api/connect/transfer");
    expect(posts).toHaveLength(1);
    expect(posts[0]?.body).toEqual({ organization_id: "org_a", amount: 10_000, currency: "usd" });
    expect(posts[0]?.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
    expect(within(panel).queryByTestId("transfer-confirmation")).toBeNull();
    // The organization's transfers are read again.
    await waitFor(() => expect(page.calls("GET", "/api/connect/transfers/org_a")).toHaveLength(2));
  });

  it.each([
    ["a 503", () => errorBody(503, "upstream_unavailable")],
    ["no answer", () => new TypeError("Failed to fetch")],
  ])("retries the same confirmed transfer after %s with the same key", async (_, firstAnswer) => {
    const answers: Route[] = [firstAnswer, (request) => json(200, SENT(request.body as never))];
    const page = renderConsole({ ...ONE_ORG, "POST /api/connect/transfer": (request) => answers.shift()!(request) });
    const panel = await select("org_a");
    const confirmation = await review(panel, "100");
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm transfer" }));
    expect(await within(confirmation).findByRole("alert")).toBeTruthy();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Try again" }));
    await within(panel).findByTestId("transfer-result");
    const keys = page.calls("POST", "/api/connect/transfer").map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
  });

  it("gives a second confirmed transfer, even of the same amount, a new key", async () => {
    const page = renderConsole({ ...ONE_ORG, "POST /api/connect/transfer": (request) => json(200, SENT(request.body as never)) });
    const panel = await select("org_a");
    for (let n = 0; n < 2; n += 1) {
      const confirmation = await review(panel, "100");
      fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm transfer" }));
      await waitFor(() => expect(within(panel).queryByTestId("transfer-confirmation")).toBeNull());
    }
    const keys = page.calls("POST", "/api/connect/transfer").map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[1]).not.toBe(keys[0]);
  });

  it("shows what of the net settles the organization's open claims, and what the service says it settled", async () => {
    const owes = { data: [], totals: [{ currency: "usd", open: 2000 }, { currency: "eur", open: 5 }], next_cursor: null };
    const page = renderConsole({
      ...ONE_ORG,
      "GET /api/connect/claims/org_a": () => json(200, owes),
      "POST /api/connect/transfer": (request) => {
        const sent = SENT(request.body as never);
        return json(200, { ...sent, transfer_amount: sent.transfer_amount - 2000, claims_settled: 2000, settled_claims: [{ claim_id: "cl_1", amount: 2000 }] });
      },
    });
    const panel = await select("org_a");
    await waitFor(() => expect(page.calls("GET", "/api/connect/claims/org_a").length).toBeGreaterThan(0));
    const confirmation = await review(panel, "100");
    expect(within(confirmation).getByTestId("preview-net").textContent).toBe("$70.00");
    expect(within(confirmation).getByTestId("preview-claims").textContent).toBe("− $20.00");
    expect(within(confirmation).getByText("Settles what Org org_a owes (open claims)")).toBeTruthy();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm transfer" }));
    expect((await within(panel).findByTestId("transfer-result")).textContent).toBe(
      "Sent $70.00 to Org org_a: $100.00 less the 10 % fee of $10.00, less $20.00 that settled what Org org_a owed (transfer tr_1).",
    );
    // What the organization owes is read again everywhere.
    await waitFor(() => expect(page.calls("GET", "/api/connect/open-claims")).toHaveLength(2));
  });

  it("says nothing was sent when the claims took the whole net", async () => {
    renderConsole({
      ...ONE_ORG,
      "GET /api/connect/claims/org_a": () => json(200, { data: [], totals: [{ currency: "usd", open: 50_000 }], next_cursor: null }),
      "POST /api/connect/transfer": (request) =>
        json(200, { ...SENT(request.body as never), transfer_id: null, transfer_amount: 0, claims_settled: 9000 }),
    });
    const panel = await select("org_a");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const confirmation = await review(panel, "100");
    expect(within(confirmation).getByTestId("preview-claims").textContent).toBe("− $90.00");
    expect(within(confirmation).getByTestId("preview-net").textContent).toBe("$0.00");
    expect(within(confirmation).getByText(/The claims take the whole net: nothing is sent/)).toBeTruthy();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm transfer" }));
    expect((await within(panel).findByTestId("transfer-result")).textContent).toBe(
      "Nothing sent to Org org_a: $100.00 less the 10 % fee of $10.00 settled $90.00 of what it owed.",
    );
  });

  it("says when what the organization owes could not be read", async () => {
    renderConsole({ ...ONE_ORG, "GET /api/connect/claims/org_a": () => errorBody(503, "upstream_unavailable") });
    const panel = await select("org_a");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const confirmation = await review(panel, "100");
    expect(within(confirmation).getByTestId("preview-claims-unknown").textContent).toContain("could not be read");
    expect(within(confirmation).getByTestId("preview-net").textContent).toBe("$90.00");
  });

  it("sends the same key again after the service's claims_changed, as it asks", async () => {
    const answers: Route[] = [() => errorBody(409, "claims_changed"), (request) => json(200, SENT(request.body as never))];
    const page = renderConsole({ ...ONE_ORG, "POST /api/connect/transfer": (request) => answers.shift()!(request) });
    const panel = await select("org_a");
    const confirmation = await review(panel, "100");
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm transfer" }));
    expect((await within(confirmation).findByRole("alert")).textContent).toContain("nothing was sent");
    fireEvent.click(within(confirmation).getByRole("button", { name: "Try again" }));
    await within(panel).findByTestId("transfer-result");
    const keys = page.calls("POST", "/api/connect/transfer").map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it("offers no transfer to an organization whose account is not active", async () => {
    renderConsole({
      "GET /api/connect/organizations": () => json(200, { data: [org("org_p", { status: "pending" })], next_cursor: null }),
    });
    const panel = await select("org_p");
    expect(within(panel).getByTestId("transfer-unavailable").textContent).toContain("pending");
    expect(within(panel).queryByRole("button", { name: "Review transfer" })).toBeNull();
  });
});

const transferItem = (id: string, overrides: Record<string, unknown> = {}) => ({
  transfer_id: id,
  created: "2026-11-02T09:30:00Z",
  currency: "usd",
  gross_amount: 5000,
  fee_amount: 625,
  platform_fee_percent: 12.5,
  net_amount: 4375,
  claims_settled: 0,
  amount_reversed: 1000,
  net_after_reversals: 3375,
  reversals: [{ reversal_id: "trr_0", amount: 1000, created: "2026-11-03T00:00:00Z", cause: "manual", cause_id: "k" }],
  returns_for: null,
  ...overrides,
});
const TRANSFERS = (data: unknown[]) => ({ ...EMPTY_HISTORY("org_a"), data });
const REVERSED = (amount: number, overrides: Record<string, unknown> = {}) => ({
  reversal_id: "trr_1",
  claim_id: null,
  transfer_id: "tr_1",
  organization_id: "org_a",
  account_id: "acct_org_a",
  currency: "usd",
  amount,
  transfer_amount: 4375,
  amount_reversed: 1000 + amount,
  remaining: 3375 - amount,
  ...overrides,
});

/** The console with org_a's transfer tr_1 ($43.75 sent, $10.00 already reversed). */
function renderWithTransfer(routes: Record<string, Route> = {}) {
  return renderConsole({
    ...ONE_ORG,
    "GET /api/connect/transfers/org_a": () => json(200, TRANSFERS([transferItem("tr_1")])),
    ...routes,
  });
}

async function openReverse(panelTransfer = "tr_1") {
  await select("org_a");
  const transfers = await screen.findByRole("region", { name: "Transfers received" });
  fireEvent.click(await within(transfers).findByRole("button", { name: `Reverse transfer ${panelTransfer}` }));
  return screen.findByTestId("reversal-confirmation");
}

describe("reversing a transfer", () => {
  it("confirms the amounts before anything moves: sent, already reversed, all that remains by default, what will remain", async () => {
    const page = renderWithTransfer();
    const confirmation = await openReverse();
    expect(within(confirmation).getByTestId("reverse-sent").textContent).toBe("$43.75");
    expect(within(confirmation).getByTestId("reverse-already").textContent).toBe("$10.00");
    expect(within(confirmation).getByLabelText("Amount to reverse")).toHaveProperty("value", "33.75");
    expect(within(confirmation).getByTestId("reverse-remains").textContent).toBe("$0.00");
    fireEvent.change(within(confirmation).getByLabelText("Amount to reverse"), { target: { value: "10" } });
    expect(within(confirmation).getByTestId("reverse-remains").textContent).toBe("$23.75");
    // More than remains, or not money: refused here, before the service is asked.
    for (const text of ["33.76", "0", "abc"]) {
      fireEvent.change(within(confirmation).getByLabelText("Amount to reverse"), { target: { value: text } });
      expect(within(confirmation).getByRole("button", { name: "Confirm reversal" })).toHaveProperty("disabled", true);
      expect(within(confirmation).getByRole("alert").textContent).toBe("Enter an amount from $0.01 to $33.75.");
    }
    fireEvent.click(within(confirmation).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByTestId("reversal-confirmation")).toBeNull();
    expect(page.requests.filter((r) => r.method === "POST")).toHaveLength(0);
  });

  it("sends one POST with an Idempotency-Key once confirmed, shows the reversal and reads the history and claims again", async () => {
    const page = renderWithTransfer({
      "POST /api/connect/transfers/tr_1/reversals": (request) =>
        json(200, REVERSED((request.body as { amount: number }).amount)),
    });
    const confirmation = await openReverse();
    fireEvent.change(within(confirmation).getByLabelText("Amount to reverse"), { target: { value: "12.5" } });
    fireEvent.change(within(confirmation).getByLabelText("Reason (optional)"), { target: { value: " goods returned " } });
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm reversal" }));
    const result = await screen.findByTestId("reversal-result");
    expect(result.getAttribute("data-outcome")).toBe("reversal");
    expect(result.textContent).toBe(
      "Reversed $12.50 of transfer tr_1 (reversal trr_1): $22.50 reversed in all, $21.25 remains.",
    );
    expect(screen.queryByTestId("reversal-confirmation")).toBeNull();
    const posts = page.calls("POST", "/api/connect/transfers/tr_1/reversals");
    expect(posts).toHaveLength(1);
    expect(posts[0]?.body).toEqual({ amount: 1250, reason: "goods returned" });
    expect(posts[0]?.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => expect(page.calls("GET", "/api/connect/transfers/org_a")).toHaveLength(2));
    const openReads = () =>
      page
        .calls("GET", "/api/connect/claims/org_a")
        .filter((r) => new URL(r.url).search === "?state=open&limit=25"); // the card's, not the transfer form's
    await waitFor(() => expect(openReads()).toHaveLength(2));
    await waitFor(() => expect(page.calls("GET", "/api/connect/open-claims")).toHaveLength(2));
  });

  it("says when the balance could not cover it and a claim was recorded instead", async () => {
    renderWithTransfer({
      "POST /api/connect/transfers/tr_1/reversals": () =>
        json(200, REVERSED(3375, { reversal_id: null, claim_id: "cl_1", amount_reversed: 1000, remaining: 3375 })),
    });
    const confirmation = await openReverse();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm reversal" }));
    const result = await screen.findByTestId("reversal-result");
    expect(result.getAttribute("data-outcome")).toBe("claim");
    expect(result.textContent).toBe(
      "Org org_a's balance could not cover $33.75: recorded as claim cl_1, which its next transfers settle first (transfer tr_1).",
    );
  });

  it.each([
    ["a 503", () => errorBody(503, "upstream_unavailable")],
    ["no answer", () => new TypeError("Failed to fetch")],
  ])("retries the same confirmed reversal after %s with the same key", async (_, firstAnswer) => {
    const answers: Route[] = [firstAnswer, () => json(200, REVERSED(3375))];
    const page = renderWithTransfer({ "POST /api/connect/transfers/tr_1/reversals": (r) => answers.shift()!(r) });
    const confirmation = await openReverse();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm reversal" }));
    expect(await within(confirmation).findByRole("alert")).toBeTruthy();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Try again" }));
    await screen.findByTestId("reversal-result");
    const keys = page.calls("POST", "/api/connect/transfers/tr_1/reversals").map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
  });

  it("gives the next confirmed reversal a new key", async () => {
    const page = renderWithTransfer({ "POST /api/connect/transfers/tr_1/reversals": () => json(200, REVERSED(100)) });
    for (let n = 0; n < 2; n += 1) {
      const confirmation = await openReverse();
      fireEvent.change(within(confirmation).getByLabelText("Amount to reverse"), { target: { value: "1" } });
      fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm reversal" }));
      await screen.findByTestId("reversal-result");
    }
    const keys = page.calls("POST", "/api/connect/transfers/tr_1/reversals").map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[1]).not.toBe(keys[0]);
  });

  it("shows the service's refusal of more than remains", async () => {
    renderWithTransfer({
      "POST /api/connect/transfers/tr_1/reversals": () => errorBody(409, "reversal_exceeds_transfer", "x", "req_9"),
    });
    const confirmation = await openReverse();
    fireEvent.click(within(confirmation).getByRole("button", { name: "Confirm reversal" }));
    const alert = await within(confirmation).findByRole("alert");
    expect(alert.textContent).toContain("That is more than remains of the transfer");
    expect(alert.textContent).toContain("req_9");
    expect(screen.queryByTestId("reversal-result")).toBeNull();
  });

  it("shows the claims earlier reversals of the transfer left, and none of other transfers", async () => {
    const page = renderWithTransfer({
      "GET /api/connect/claims/org_a": () =>
        json(200, {
          data: [
            openClaim("cl_1", "org_a"),
            openClaim("cl_2", "org_a", { transfer_id: "tr_other", amount: 999, open: 999, settled: 0 }),
          ],
          totals: [{ currency: "usd", open: 3374 }],
          next_cursor: null,
        }),
    });
    const confirmation = await openReverse();
    expect((await within(confirmation).findByTestId("reverse-claimed")).textContent).toBe("$33.75 ($23.75 still open)");
    const reads = page.calls("GET", "/api/connect/claims/org_a").map((r) => new URL(r.url).searchParams.get("state"));
    expect(reads).toContain("all");
  });

  it("says when the transfer's claims could not be read", async () => {
    renderWithTransfer({ "GET /api/connect/claims/org_a": () => errorBody(503, "upstream_unavailable") });
    const confirmation = await openReverse();
    expect((await within(confirmation).findByTestId("reverse-claims-unknown")).textContent).toContain("could not be read");
  });

  it("shows no claimed line when the transfer has none", async () => {
    const page = renderWithTransfer();
    const confirmation = await openReverse();
    await waitFor(() =>
      expect(page.calls("GET", "/api/connect/claims/org_a").some((r) => new URL(r.url).searchParams.get("state") === "all")).toBe(true),
    );
    expect(within(confirmation).queryByTestId("reverse-claimed")).toBeNull();
  });

  it("offers no Reverse of a transfer with nothing left", async () => {
    renderWithTransfer({
      "GET /api/connect/transfers/org_a": () =>
        json(200, TRANSFERS([transferItem("tr_1", { amount_reversed: 4375, net_after_reversals: 0 })])),
    });
    await select("org_a");
    const transfers = await screen.findByRole("region", { name: "Transfers received" });
    expect(await within(transfers).findByRole("button", { name: "Reverse transfer tr_1" })).toHaveProperty("disabled", true);
  });
});

const openClaim = (id: string, orgId: string, overrides: Record<string, unknown> = {}) => ({
  claim_id: id,
  organization_id: orgId,
  currency: "usd",
  amount: 3375,
  settled: 1000,
  open: 2375,
  cause: "manual",
  cause_id: "k",
  transfer_id: "tr_1",
  created_at: "2026-11-05T09:00:00Z",
  settlements: [{ amount: 1000, kind: "transfer", reference: "tr_7", created_at: "2026-11-06T00:00:00Z" }],
  ...overrides,
});

describe("claims in the console", () => {
  it("shows every organization's open claims and the totals per currency at the top", async () => {
    const page = renderConsole({
      ...ONE_ORG,
      "GET /api/connect/open-claims": () =>
        json(200, {
          data: [openClaim("cl_1", "org_a"), openClaim("cl_2", "org_z", { cause: "refund", currency: "eur", open: 500 })],
          totals: [
            { currency: "usd", open: 2375 },
            { currency: "eur", open: 500 },
          ],
          next_cursor: null,
        }),
    });
    const card = await screen.findByRole("region", { name: "Open claims" });
    const rows = await within(card).findAllByTestId("claim");
    expect(within(card).getByTestId("claims-total").textContent).toBe("Open in all: $23.75, €5.00");
    await waitFor(() => expect(within(rows[0]!).getByTestId("claim-organization").textContent).toBe("Org org_aorg_a"));
    expect(within(rows[1]!).getByTestId("claim-organization").textContent).toBe("org_z");
    expect(within(rows[0]!).getByTestId("claim-open").textContent).toBe("$23.75");
    expect(within(rows[0]!).getByRole("listitem").textContent).toBe("$10.00 from a transfer on Nov 6, 2026");
    expect(within(rows[1]!).getByTestId("claim-cause").textContent).toBe("Refundof tr_1");
    expect(new URL(page.calls("GET", "/api/connect/open-claims")[0]!.url).searchParams.get("limit")).toBe("25");
  });

  it("says when no organization owes anything", async () => {
    renderConsole(ONE_ORG);
    expect((await screen.findByTestId("open-claims-empty")).textContent).toBe("No organization owes the platform anything.");
  });

  it("shows the selected organization's open claims", async () => {
    const page = renderConsole({
      ...ONE_ORG,
      "GET /api/connect/claims/org_a": () =>
        json(200, { data: [openClaim("cl_1", "org_a")], totals: [{ currency: "usd", open: 2375 }], next_cursor: null }),
    });
    await select("org_a");
    const card = await screen.findByRole("region", { name: "Open claims of Org org_a" });
    expect(await within(card).findAllByTestId("claim")).toHaveLength(1);
    expect(within(card).queryByTestId("claim-organization")).toBeNull();
    expect(new URL(page.calls("GET", "/api/connect/claims/org_a")[0]!.url).searchParams.get("state")).toBe("open");
  });
});
