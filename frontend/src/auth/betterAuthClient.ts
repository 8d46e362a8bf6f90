/**
 * betterAuthClient: Better Auth's own React client (same version as the Worker, 1.7.25),
 * pointed at the Worker, with the organization plugin (organizations, the active one, the
 * caller's role in it) and the admin plugin (platform admins: `user.role == "admin"`).
 *
 * The frontend runs on another origin than the Worker, so it does not rely on cookies: the
 * bearer plugin answers sign-in with a `set-auth-token` header, which is kept in a TokenStore
 * and sent back as `Authorization: Bearer …` — to Better Auth, and by backendClient to the
 * Connect backend.
 */
import { adminClient, organizationClient } from "better-auth/client/plugins";
import { createAuthClient } from "better-auth/react";

/** Where the session token is kept between page loads. */
export interface TokenStore {
  get(): string | null;
  set(token: string): void;
  clear(): void;
}

const KEY = "connect.session-token";

/** The token in localStorage (the browser's, or none where there is no localStorage). */
export const localTokenStore: TokenStore = {
  get: () => globalThis.localStorage?.getItem(KEY) ?? null,
  set: (token) => globalThis.localStorage?.setItem(KEY, token),
  clear: () => globalThis.localStorage?.removeItem(KEY),
};

/** Creates the client for the Worker at `workerUrl` (Better Auth under /api/auth). */
export function createBetterAuthClient(workerUrl: string, tokens: TokenStore = localTokenStore) {
  return createAuthClient({
    baseURL: workerUrl,
    basePath: "/api/auth",
    plugins: [organizationClient(), adminClient()],
    fetchOptions: {
      auth: { type: "Bearer", token: () => tokens.get() ?? undefined },
      onSuccess: ({ response }) => {
        const token = response.headers.get("set-auth-token");
        if (token) tokens.set(token);
      },
    },
  });
}

export type BetterAuthClient = ReturnType<typeof createBetterAuthClient>;

/** Whether an organization role (Better Auth may join several with commas) may manage payments. */
export function canManagePayments(role: string | null | undefined): boolean {
  return (role ?? "")
    .split(",")
    .map((r) => r.trim())
    .some((r) => r === "owner" || r === "admin");
}

/**
 * Whether a user is a platform admin: Better Auth's admin plugin gives them `user.role`
 * "admin", the exact rule the Connect backend applies (anything else is refused with 403).
 */
export function isPlatformAdmin(user: { role?: string | null } | null | undefined): boolean {
  return user?.role === "admin";
}
