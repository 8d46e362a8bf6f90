import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Workers types leave out Node's import.meta.url; this file runs in Node.
declare global {
  interface ImportMeta {
    readonly url: string;
  }
}

export default defineConfig(async () => {
  // Read in Node, applied inside the Workers runtime by test/setup.ts.
  const migrations = await readD1Migrations(new URL("./migrations", import.meta.url).pathname);
  return {
    plugins: [
      cloudflareTest({
        main: "./src/index.ts",
        wrangler: { configPath: "./wrangler.jsonc" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            // Two keys: the second stands for the one a rotation adds.
            INTERNAL_API_KEYS: "test-key-current, test-key-next",
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      // The Worker logs a JSON line per request; show them only for failing tests.
      silent: "passed-only" as const,
    },
  };
});
