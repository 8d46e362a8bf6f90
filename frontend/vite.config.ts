import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// VITE_WORKER_URL (Better Auth) and VITE_BACKEND_URL (the Connect backend) come from the
// environment; ./scripts/dev and the browser test set them (src/config.ts has the defaults).
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  // Bundle the dependencies when the server starts, not on the first page load (which would
  // reload the page under a browser test).
  optimizeDeps: {
    include: [
      "react",
      "react/jsx-dev-runtime",
      "react-dom/client",
      "better-auth/react",
      "better-auth/client/plugins",
      "openapi-fetch",
    ],
  },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 5173, strictPort: true },
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
