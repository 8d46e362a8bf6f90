import type { MiddlewareHandler } from "hono";

/**
 * A dev and benchmark knob: delays every request it guards by `INJECTED_LATENCY_MS`
 * (absent, empty or not a positive number = no delay), so a local run can stand in for a
 * Worker that is a network hop away. Never set in production.
 */
export function injectedLatency(): MiddlewareHandler<{ Bindings: { INJECTED_LATENCY_MS?: string } }> {
  return async (c, next) => {
    const ms = Number(c.env.INJECTED_LATENCY_MS ?? 0);
    if (Number.isFinite(ms) && ms > 0) {
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
    await next();
  };
}
