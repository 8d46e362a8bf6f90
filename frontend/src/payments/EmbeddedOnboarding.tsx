import { loadConnectAndInitialize, type StripeConnectInstance } from "@stripe/connect-js/pure";
import {
  ConnectAccountManagement,
  ConnectAccountOnboarding,
  ConnectComponentsProvider,
  ConnectNotificationBanner,
  ConnectPayouts,
} from "@stripe/react-connect-js";
import { useRef } from "react";
import type { BackendClient } from "../backend/client";

/** Connect.js' loader: Stripe's own, or a stand-in where Stripe's CDN cannot be reached (tests). */
export type LoadConnect = typeof loadConnectAndInitialize;

/** Embedded onboarding is on when the platform has a publishable key. */
export interface EmbeddedConnect {
  publishableKey: string;
  load?: LoadConnect;
}

/** Which onboarding the page offers: embedded with a publishable key, else Stripe-hosted. */
export function onboardingFlow(embedded: EmbeddedConnect | null): "embedded" | "hosted" {
  return embedded && embedded.publishableKey ? "embedded" : "hosted";
}

/**
 * The page's one Connect.js instance for the organization's account, made the first time
 * `wanted` is true (never without a publishable key, so nothing loads from Stripe until an
 * embedded component is shown) and kept for the page's life: Stripe's components share it.
 * Connect.js asks for a client secret whenever it needs one; each comes fresh from the service
 * (`POST /account-session`, whose session enables every component shown here) and is handed
 * straight to Connect.js, never kept.
 */
export function useConnectInstance(
  backend: BackendClient,
  orgId: string,
  embedded: EmbeddedConnect | null,
  wanted: boolean,
): StripeConnectInstance | null {
  const made = useRef<{ orgId: string; instance: StripeConnectInstance } | null>(null);
  if (!wanted || !embedded || onboardingFlow(embedded) !== "embedded") return null;
  if (made.current === null || made.current.orgId !== orgId) {
    const instance = (embedded.load ?? loadConnectAndInitialize)({
      publishableKey: embedded.publishableKey,
      fetchClientSecret: async () => (await backend.accountSession(orgId)).client_secret,
    });
    made.current = { orgId, instance };
  }
  return made.current.instance;
}

export interface EmbeddedOnboardingProps {
  instance: StripeConnectInstance;
  /** The user left the onboarding component (done or not): the page reads the status again. */
  onExit: () => void;
}

/** Stripe's onboarding component (and its notification banner) for the organization's account. */
export function EmbeddedOnboarding({ instance, onExit }: EmbeddedOnboardingProps) {
  return (
    <section className="card" aria-label="Stripe onboarding" data-testid="embedded-onboarding">
      <ConnectComponentsProvider connectInstance={instance}>
        <ConnectNotificationBanner />
        <ConnectAccountOnboarding onExit={onExit} />
      </ConnectComponentsProvider>
    </section>
  );
}

/**
 * Stripe's account management and payouts components for an onboarded account: the account's
 * details and bank account, and its balance, payouts and schedule as Stripe shows them. The
 * features each allows follow the caller's role (the service chooses them per session).
 */
export function EmbeddedAccount({ instance }: { instance: StripeConnectInstance }) {
  return (
    <section className="card" aria-labelledby="embedded-account-title" data-testid="embedded-account">
      <h2 id="embedded-account-title">Your Stripe account</h2>
      <ConnectComponentsProvider connectInstance={instance}>
        <ConnectAccountManagement />
        <ConnectPayouts />
      </ConnectComponentsProvider>
    </section>
  );
}
