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
const SENT = (body: { organization_id: string; amount: number; currency: string }) => ({
  transfer_id: "tr_1",
  organization_id: body.organization_id,
  account_id: `acct_${body.organization_id}`,
  currency: body.currency,
  gross_amount: body.amount,
  fee_amount: Math.round((body.amount * 10) / 100),
  transfer_amount: body.amount - Math.round((body.amount * 10) / 100),
  platform_fee_percent: 10,
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

  it("offers no transfer to an organization whose account is not active", async () => {
    renderConsole({
      "GET /api/connect/organizations": () => json(200, { data: [org("org_p", { status: "pending" })], next_cursor: null }),
    });
    const panel = await select("org_p");
    expect(within(panel).getByTestId("transfer-unavailable").textContent).toContain("pending");
    expect(within(panel).queryByRole("button", { name: "Review transfer" })).toBeNull();
  });
});
