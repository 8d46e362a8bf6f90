import { useEffect, useRef, useState } from "react";
import { canManagePayments } from "../auth/betterAuthClient";
import type { BackendClient, ConnectStatus } from "../backend/client";
import { BackendError } from "../backend/errors";
import { ClaimsCard } from "../kit/Claims";
import { ErrorNotice } from "../kit/ErrorNotice";
import { PayoutHistory, TransferHistory } from "../kit/History";
import { useAction } from "../kit/useAction";
import { useResource } from "../kit/useResource";
import { SETTINGS_PATH } from "../paths";
import { BalanceCard } from "./BalanceCard";
import { ConnectStatusDetails } from "./ConnectStatusDetails";
import {
  EmbeddedAccount,
  EmbeddedOnboarding,
  onboardingFlow,
  useConnectInstance,
  type EmbeddedConnect,
} from "./EmbeddedOnboarding";
import { browserLocation, type PageLocation } from "./PageLocation";
import { PayoutFailureBanner } from "./PayoutFailureBanner";
import { PayoutScheduleForm } from "./PayoutScheduleForm";

export interface PaymentsSettingsProps {
  backend: BackendClient;
  orgId: string;
  /** The caller's role in the organization (Better Auth membership); null while unknown. */
  role: string | null;
  location?: PageLocation;
  /** Stripe's embedded onboarding (Connect.js), when the platform has a publishable key; without
   * it (null, the default) onboarding goes through Stripe-hosted Account Links. */
  embedded?: EmbeddedConnect | null;
}

/** What the onboarding button says, or null when there is nothing to do at Stripe. */
function onboardingLabel(status: ConnectStatus): string | null {
  if (status.status === "not_started") return "Set up payouts";
  if (status.status === "pending") return "Continue onboarding";
  if (status.status === "active" && status.onboarding_step === "action_required") return "Continue onboarding";
  // Disconnected from the platform at Stripe: onboarding again makes a new account.
  if (status.onboarding_step === "deauthorized") return "Connect Stripe again";
  return null;
}

/**
 * /settings/payments: the organization's Stripe Connect status for every member; for owners
 * and admins also onboarding, the Express dashboard, the balance, payouts and their schedule,
 * the payout history, the transfers received from the platform (with what was taken back of
 * them) and the open claims; every member sees the banner of a failed payout.
 * Handles Stripe's redirects back: `?connect=return` reads the status live, `?connect=refresh`
 * (an expired or reused link) mints a fresh link and goes straight back to Stripe. With
 * `embedded` (a publishable key), onboarding is Stripe's embedded component on this page instead,
 * and an onboarded account also gets Stripe's account management and payouts components.
 */
export function PaymentsSettings({
  backend,
  orgId,
  role,
  location = browserLocation,
  embedded = null,
}: PaymentsSettingsProps) {
  const manage = canManagePayments(role);
  const [arrival] = useState(() => new URLSearchParams(location.search()).get("connect"));
  const resuming = arrival === "refresh" && manage;

  // Always a live read: it says what Stripe still needs, and syncs D1 after a return.
  const status = useResource(resuming ? null : orgId, () => backend.status(orgId, { refresh: true }));
  const accountId = status.data?.account_id ?? null;
  const balance = useResource(manage && accountId ? `${orgId}:${accountId}` : null, () => backend.balance(orgId));
  // Bumped after "Pay out now", so the payout history shows the new payout.
  const [paidOut, setPaidOut] = useState(0);

  const redirect = (connect: string) => `${location.origin}${SETTINGS_PATH}?connect=${connect}`;
  const onboardingLink = async () =>
    backend.onboard(orgId, { return_url: redirect("return"), refresh_url: redirect("refresh") });
  const flow = onboardingFlow(embedded);
  const [embeddedOpen, setEmbeddedOpen] = useState(false);
  // Once onboarded, owners and admins also get Stripe's account management and payouts
  // components (with a publishable key only; one Connect.js instance serves every component).
  const embeddedAccount = flow === "embedded" && manage && !!accountId && status.data?.status === "active";
  const connect = useConnectInstance(backend, orgId, embedded, manage && (embeddedOpen || embeddedAccount));
  const onboard = useAction(async () => {
    const needsAccount = !accountId || status.data?.onboarding_step === "deauthorized";
    if (flow === "embedded" && !resuming) {
      // The account is made (or replaced) by the same call as for hosted onboarding; its
      // Account Link is left unused (single use, it expires within minutes).
      if (needsAccount) {
        await onboardingLink();
        await status.reload();
      }
      setEmbeddedOpen(true);
      return;
    }
    location.assign((await onboardingLink()).url);
  });
  // With embedded onboarding, Stripe's hosted pages stay on offer beside it.
  const hosted = useAction(async () => location.assign((await onboardingLink()).url));
  const dashboard = useAction(async () => location.open((await backend.dashboardLink(orgId)).url));
  // After a failed payout: the Express dashboard, where the owner fixes the bank account; an
  // account without one (the service answers not_supported) gets an Account Link instead.
  const fixBank = useAction(async () => {
    try {
      location.open((await backend.dashboardLink(orgId)).url);
    } catch (error) {
      if (!(error instanceof BackendError && error.code === "not_supported")) throw error;
      location.assign((await onboardingLink()).url);
    }
  });

  // Stripe's redirect is handled once; the query string is then cleaned up.
  const handled = useRef(false);
  useEffect(() => {
    if (handled.current || arrival === null) return;
    handled.current = true;
    location.replaceSearch("");
    if (resuming) void onboard.run();
  }, [arrival, resuming, location, onboard]);

  if (resuming) {
    return (
      <section className="card" aria-busy={!onboard.error}>
        <h2>Stripe onboarding</h2>
        {onboard.error ? (
          <ErrorNotice error={onboard.error} onRetry={() => void onboard.run()} />
        ) : (
          <p className="muted">The onboarding link expired; taking you back to Stripe with a fresh one…</p>
        )}
      </section>
    );
  }

  const data = status.data;
  const label = data ? onboardingLabel(data) : null;
  return (
    <>
      <section className="card" aria-labelledby="connect-title" aria-busy={status.state === "loading"}>
        <div className="card-head">
          <h2 id="connect-title">Stripe payouts</h2>
          <button
            type="button"
            className="link"
            onClick={() => void status.reload()}
            disabled={status.state === "loading"}
          >
            {status.state === "loading" && data ? "Refreshing…" : "Refresh"}
          </button>
        </div>
        {arrival === "return" && data ? (
          <p className="notice notice-info" role="status" data-testid="returned">
            Welcome back from Stripe. Here is where your onboarding stands now.
          </p>
        ) : null}
        {status.state === "loading" && !data ? <p className="muted">Loading the payout status…</p> : null}
        {status.state === "failed" ? <ErrorNotice error={status.error} onRetry={() => void status.reload()} /> : null}
        {data?.payout_failure ? (
          <PayoutFailureBanner
            failure={data.payout_failure}
            busy={fixBank.busy}
            {...(manage ? { onFix: () => void fixBank.run() } : {})}
          />
        ) : null}
        {fixBank.error ? <ErrorNotice error={fixBank.error} /> : null}
        {data ? <ConnectStatusDetails status={data} /> : null}
        {data && manage ? (
          <div className="actions">
            {label && !embeddedOpen ? (
              <button type="button" className="primary" disabled={onboard.busy} onClick={() => void onboard.run()}>
                {onboard.busy ? "Opening Stripe…" : label}
              </button>
            ) : null}
            {label && !embeddedOpen && flow === "embedded" ? (
              <button type="button" disabled={hosted.busy || onboard.busy} onClick={() => void hosted.run()}>
                {hosted.busy ? "Opening Stripe…" : "Continue on Stripe's site"}
              </button>
            ) : null}
            {data.status === "active" ? (
              <button type="button" disabled={dashboard.busy} onClick={() => void dashboard.run()}>
                {dashboard.busy ? "Opening…" : "Open Stripe dashboard"}
              </button>
            ) : null}
          </div>
        ) : null}
        {onboard.error ? <ErrorNotice error={onboard.error} /> : null}
        {hosted.error ? <ErrorNotice error={hosted.error} /> : null}
        {connect && embeddedOpen ? (
          <EmbeddedOnboarding
            instance={connect}
            onExit={() => {
              setEmbeddedOpen(false);
              void status.reload();
            }}
          />
        ) : null}
        {dashboard.error ? <ErrorNotice error={dashboard.error} /> : null}
        {data && !manage ? (
          <p className="muted small" data-testid="member-note">
            Only the organization's owners and admins can manage payouts.
          </p>
        ) : null}
      </section>
      {connect && embeddedAccount ? <EmbeddedAccount instance={connect} /> : null}
      {manage && accountId ? (
        <>
          <BalanceCard backend={backend} orgId={orgId} balance={balance} onPaidOut={() => setPaidOut((n) => n + 1)} />
          <PayoutScheduleForm backend={backend} orgId={orgId} />
          <PayoutHistory backend={backend} orgId={orgId} version={paidOut} />
          <TransferHistory backend={backend} orgId={orgId} />
          <ClaimsCard
            title="What you owe the platform"
            testId="claims"
            version={orgId}
            hideWhenEmpty
            load={(cursor) => backend.claims(orgId, { state: "open", ...(cursor ? { cursor } : {}) })}
          />
        </>
      ) : null}
    </>
  );
}
