import { betterAuth, type BetterAuthOptions } from "better-auth";
import { admin, bearer, organization } from "better-auth/plugins";
import type { Env } from "./env";

/** The Better Auth options, shared by the Worker and the migration generator. */
export function authOptions(env: Pick<Env, "DB" | "BETTER_AUTH_SECRET" | "BETTER_AUTH_URL">) {
  return {
    database: env.DB,
    secret: env.BETTER_AUTH_SECRET,
    ...(env.BETTER_AUTH_URL ? { baseURL: env.BETTER_AUTH_URL } : {}),
    basePath: "/api/auth",
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

/** Builds the Better Auth instance for one request; Workers hand out `env` per request. */
export function createAuth(env: Env) {
  return betterAuth(authOptions(env));
}

export type Auth = ReturnType<typeof createAuth>;
