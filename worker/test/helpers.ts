/** Calls into the Worker under test (its real fetch handler) and sets up users and organizations. */
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { DEFAULT_ONBOARDING_STEP, DEFAULT_PLATFORM_FEE_PERCENT } from "../src/internal";
import { assertContract } from "./contract";

export const KEY = "test-key-current";
export const NEXT_KEY = "test-key-next";

/** The Connect fields of an organization that was never linked, as the contract answers them. */
export const UNLINKED = {
  stripe_connect_account_id: null,
  stripe_connect_status: null,
  platform_fee_percent: DEFAULT_PLATFORM_FEE_PERCENT,
  onboarding_step: DEFAULT_ONBOARDING_STEP,
  onboarding_rejection_reason: null,
  stripe_connect_synced_at: null,
  payout_failure: null,
  stripe_connect_account_api: null,
  stripe_connect_requirements_deadline: null,
} as const;

let counter = 0;
/** A value unique within the test run (D1 keeps its rows between the tests of a file). */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}${Math.random().toString(36).slice(2, 6)}`;
}

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

const worker = (exports as unknown as { default: Fetcher }).default;

/** A raw request to the Worker. */
export async function send(path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await worker.fetch(`http://worker.test${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

export interface InternalCall {
  body?: unknown;
  rawBody?: string;
  key?: string | null;
  headers?: Record<string, string>;
}

/**
 * Calls /api/internal/<path> with the API key and checks the answer against the contract
 * (pass the path template, e.g. "/organization/{id}", when the path carries an id).
 */
export async function internal(
  method: "GET" | "POST",
  path: string,
  call: InternalCall = {},
  template = path,
): Promise<Answer> {
  const headers: Record<string, string> = { ...call.headers };
  const key = call.key === undefined ? KEY : call.key;
  if (key !== null) headers["X-Internal-Api-Key"] = key;
  let body: string | undefined = call.rawBody;
  if (body === undefined && call.body !== undefined) {
    body = JSON.stringify(call.body);
    headers["Content-Type"] = "application/json";
  }
  const answer = await send(`/api/internal${path}`, { method, headers, body });
  assertContract(`/api/internal${template}`, method, answer.status, answer.body);
  return answer;
}

/** A POST to Better Auth's own HTTP API under /api/auth. */
export async function authPost(path: string, body: unknown, token?: string): Promise<Answer> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const answer = await send(`/api/auth${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  if (answer.status !== 200) throw new Error(`POST /api/auth${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

export interface TestUser {
  id: string;
  email: string;
  name: string;
  /** The raw session token (the body's `token`). */
  token: string;
  /** The signed form `token.signature` (the `set-auth-token` header). */
  signedToken: string;
}

/** Signs a new user up through Better Auth; the answer carries a session. */
export async function signUp(name = "Ada"): Promise<TestUser> {
  const email = `${unique("user")}@example.test`;
  const answer = await authPost("/sign-up/email", { email, password: "correct-horse-battery", name });
  return {
    id: answer.body.user.id,
    email,
    name,
    token: answer.body.token,
    signedToken: answer.headers.get("set-auth-token") ?? "",
  };
}

/** Creates an organization through Better Auth; the creator becomes its owner. */
export async function createOrganization(owner: TestUser, name = "Acme"): Promise<string> {
  const answer = await authPost("/organization/create", { name, slug: unique("org-") }, owner.token);
  return answer.body.id as string;
}

/** Invites `user` with `role` and has them accept, as Better Auth's organization plugin does it. */
export async function addMember(
  organizationId: string,
  inviter: TestUser,
  user: TestUser,
  role: "admin" | "member",
): Promise<void> {
  const invitation = await authPost(
    "/organization/invite-member",
    { email: user.email, role, organizationId },
    inviter.token,
  );
  await authPost("/organization/accept-invitation", { invitationId: invitation.body.id }, user.token);
}

/** Makes a platform admin (Better Auth admin plugin: user.role = 'admin'). */
export async function makePlatformAdmin(user: TestUser): Promise<void> {
  await env.DB.prepare(`UPDATE "user" SET role = 'admin' WHERE id = ?1`).bind(user.id).run();
}

/** Inserts a bare organization straight into D1 (no users needed), returning its id. */
export async function insertOrganization(): Promise<string> {
  const id = unique("org_");
  await env.DB.prepare(
    `INSERT INTO organizations (id, name, slug, createdAt) VALUES (?1, ?2, ?3, ?4)`,
  )
    .bind(id, `Org ${id}`, id.toLowerCase().replaceAll("_", "-"), new Date().toISOString())
    .run();
  return id;
}

/** The organization's row as D1 holds it. */
export async function storedOrganization(id: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare(`SELECT * FROM organizations WHERE id = ?1`).bind(id).first();
}

/**
 * Every item of a paged list, page after page: `fetchPage` answers the page a cursor names
 * (null: the first), whose `items` field holds objects with an id. Also the number of pages.
 */
export async function walkPages(
  fetchPage: (cursor: string | null) => Promise<Answer>,
  items: string,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const answer = await fetchPage(cursor);
    expect(answer.status).toBe(200);
    pages += 1;
    ids.push(...answer.body[items].map((o: { id: string }) => o.id));
    cursor = answer.body.next_cursor;
  } while (cursor !== null && pages < 100);
  return { ids, pages };
}

/** The answer is 400 `invalid_request` naming `field` in its message and its `param`. */
export function expectInvalid(answer: Answer, field: string): void {
  expect(answer.status).toBe(400);
  expect(answer.body.error.code).toBe("invalid_request");
  expect(answer.body.error.message).toContain(`"${field}"`);
  // The same name, machine-readable, so a caller never parses the message.
  expect(answer.body.error.param).toBe(field);
}
