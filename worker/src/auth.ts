import { betterAuth, type BetterAuthOptions } from "better-auth";
import { admin, bearer, organization } from "better-auth/plugins";
import type { Env } from "./env";

/** The Better Auth options, shared by the Worker and the migration generator. */
export function authOptions(
  env: Pick<Env, "DB" | "BETTER_AUTH_SECRET" | "BETTER_AUTH_URL" | "TRUSTED_ORIGINS">,
) {
  return {
    database: env.DB,
    secret: env.BETTER_AUTH_SECRET,
    ...(env.BETTER_AUTH_URL ? { baseURL: env.BETTER_AUTH_URL } : {}),
    basePath: "/api/auth",
    // Browser frontends on other origins (their requests carry Origin and Sec-Fetch-* headers).
    trustedOrigins: trustedOrigins(env),
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    plugins: [
      // Members carry the roles owner / admin / member (the plugin's defaults).
      organization({ schema: { organization: { modelName: "organizations" } } }),
      // Platform admins: user.role == "admin".
      admin(),
      // Session tokens in `Authorization: Bearer …` (raw token or token.signature).
      bearer(),
    ],
  } satisfies BetterAuthOptions;
}

/** The frontend origins of TRUSTED_ORIGINS (comma-separated; blanks ignored). */
export function trustedOrigins(env: Pick<Env, "TRUSTED_ORIGINS">): string[] {
  return (env.TRUSTED_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
}

/** Builds the Better Auth instance for one request; Workers hand out `env` per request. */
export function createAuth(env: Env) {
  return betterAuth(authOptions(env));
}

export type Auth = ReturnType<typeof createAuth>;
