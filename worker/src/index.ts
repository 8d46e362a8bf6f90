/**
 * A small Worker app: Better Auth at /api/auth/* and the internal API at /api/internal/*.
 * The platform's existing Worker mounts the same two pieces (see README).
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { createAuth, trustedOrigins } from "./auth";
import type { Env } from "./env";
import { createInternalApi } from "./internal";
import { injectedLatency } from "./latency";

const app = new Hono<{ Bindings: Env }>();

// Frontends on TRUSTED_ORIGINS call Better Auth from the browser with a bearer token, which
// they read from the `set-auth-token` header.
app.use(
  "/api/auth/*",
  cors({
    origin: (origin, c) => (trustedOrigins(c.env).includes(origin) ? origin : null),
    credentials: true,
    allowMethods: ["GET", "POST", "OPTIONS"],
    allowHeaders: ["Content-Type", "Authorization"],
    exposeHeaders: ["set-auth-token"],
    maxAge: 600,
  }),
);

app.on(["GET", "POST"], "/api/auth/*", (c) => createAuth(c.env).handler(c.req.raw));

// A dev/benchmark knob (INJECTED_LATENCY_MS); unset in production.
app.use("/api/internal/*", injectedLatency());

app.route(
  "/api/internal",
  createInternalApi<Env>({
    getSession: (env, headers) => createAuth(env).api.getSession({ headers }),
  }),
);

export default app;
