import { cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { BetterAuthClient } from "../src/auth/betterAuthClient";
import { App } from "../src/demo/App";
import { json } from "./fake-fetch";

const BACKEND = "http://backend.test";

/** The parts of Better Auth's client the demo app uses, signed in as a user with `role`. */
function fakeAuth(role: string | null) {
  const refetch = vi.fn(async () => {});
  const auth = {
    useSession: () => ({
      isPending: false,
      data: {
        user: { id: "user_1", email: "someone@example.com", role },
        session: { token: "tok", activeOrganizationId: null },
      },
    }),
    useListOrganizations: () => ({ data: [], isPending: false, refetch }),
    useActiveMember: () => ({ data: null, refetch }),
    organization: { setActive: vi.fn() },
    signOut: vi.fn(),
  };
  return auth as unknown as BetterAuthClient;
}

let backendCalls: string[];

beforeEach(() => {
  backendCalls = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      backendCalls.push(new URL(request.url).pathname);
      return json(200, { data: [], next_cursor: null });
    }),
  );
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.history.replaceState(null, "", "/");
});

function open(path: string, role: string | null) {
  window.history.replaceState(null, "", path);
  render(<App auth={fakeAuth(role)} backendUrl={BACKEND} />);
}

describe("the Connect console is for platform admins", () => {
  it.each([["user"], [null], ["owner"]])("shows a user with role %j no console link", (role) => {
    open("/settings/payments", role);
    expect(screen.getByRole("link", { name: "Payments" })).toBeTruthy();
    expect(screen.queryByRole("link", { name: "Connect console" })).toBeNull();
  });

  it("tells anyone else at /admin/connect that it is not available, and asks the service nothing", async () => {
    open("/admin/connect", "user");
    expect(screen.getByTestId("console-unavailable").textContent).toContain("not available");
    expect(screen.queryByRole("region", { name: "Organizations" })).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backendCalls).toEqual([]);
  });

  it("gives a platform admin the link and, at /admin/connect, the open claims and the organizations", async () => {
    open("/admin/connect", "admin");
    expect(screen.getByRole("link", { name: "Connect console" }).getAttribute("href")).toBe("/admin/connect");
    expect(await screen.findByRole("region", { name: "Organizations" })).toBeTruthy();
    await waitFor(() => expect([...backendCalls].sort()).toEqual(["/api/connect/open-claims", "/api/connect/organizations"]));
    expect(window.location.pathname).toBe("/admin/connect");
  });

  it("sends any other path to the settings page", () => {
    open("/somewhere", "admin");
    expect(window.location.pathname).toBe("/settings/payments");
    expect(screen.getByRole("heading", { name: "Payments" })).toBeTruthy();
  });
});
