/** Where the two services are; Vite fills VITE_* from the environment (./scripts/dev sets them). */
export const config = {
  /** The Cloudflare Worker: Better Auth at /api/auth. */
  workerUrl: import.meta.env.VITE_WORKER_URL ?? "http://127.0.0.1:8787",
  /** The Connect backend. */
  backendUrl: import.meta.env.VITE_BACKEND_URL ?? "http://127.0.0.1:8000",
  /** Stripe's publishable key: with one, onboarding is embedded (Connect.js); without, hosted. */
  stripePublishableKey: import.meta.env.VITE_STRIPE_PUBLISHABLE_KEY || null,
};
