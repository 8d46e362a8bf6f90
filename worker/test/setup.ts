import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Each test file starts from its own D1; this applies the migrations once per file.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
