import { loadConnectAndInitialize, type StripeConnectInstance } from "@stripe/connect-js/pure";
import { ConnectAccountOnboarding, ConnectComponentsProvider, ConnectNotificationBanner } from "@stripe/react-connect-js";
import { useState } from "react";
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

export interface EmbeddedOnboardingProps {
  backend: BackendClient;
  orgId: string;
  embedded: EmbeddedConnect;
  /** The user left the onboarding component (done or not): the page reads the status again. */
  onExit: () => void;
}

/**
 * Stripe's onboarding component (and its notification banner) for the organization's account.
 * Connect.js asks for a client secret whenever it needs one; each comes fresh from the service
 * (`POST /account-session`) and is handed straight to Connect.js, never kept.
 */
export function EmbeddedOnboarding({ backend, orgId, embedded, onExit }: EmbeddedOnboardingProps) {
  const [instance] = useState<StripeConnectInstance>(() =>
    (embedded.load ?? loadConnectAndInitialize)({
      publishableKey: embedded.publishableKey,
      fetchClientSecret: async () => (await backend.accountSession(orgId)).client_secret,
    }),
  );
  return (
    <section className="card" aria-label="Stripe onboarding" data-testid="embedded-onboarding">
      <ConnectComponentsProvider connectInstance={instance}>
        <ConnectNotificationBanner />
        <ConnectAccountOnboarding onExit={onExit} />
      </ConnectComponentsProvider>
    </section>
  );
}
