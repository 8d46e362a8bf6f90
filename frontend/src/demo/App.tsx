import { useEffect, useMemo, useState, type ReactNode } from "react";
import { ConnectConsole } from "../admin/ConnectConsole";
import { canManagePayments, isPlatformAdmin, localTokenStore, type BetterAuthClient } from "../auth/betterAuthClient";
import { createBackendClient, type BackendClient } from "../backend/client";
import { CONSOLE_PATH, pageAt, SETTINGS_PATH } from "../paths";
import { PaymentsSettings } from "../payments/PaymentsSettings";
import { SignInForm } from "./SignInForm";

type Page = ReturnType<typeof pageAt>;

/**
 * The demo app: sign in (Better Auth on the Worker), pick the active organization, and the
 * payments settings page at /settings/payments, which calls the Connect backend; for platform
 * admins also the Connect console at /admin/connect. There is no router: the path read at
 * load decides the page, and the links between them load the other page.
 */
export function App({
  auth,
  backendUrl,
  stripePublishableKey = null,
}: {
  auth: BetterAuthClient;
  backendUrl: string;
  /** With one, onboarding is Stripe's embedded component; without, Stripe-hosted. */
  stripePublishableKey?: string | null;
}) {
  const session = auth.useSession();
  const [page] = useState(() => pageAt(window.location.pathname));

  useEffect(() => {
    const path = page === "console" ? CONSOLE_PATH : SETTINGS_PATH;
    if (window.location.pathname !== path) {
      window.history.replaceState(null, "", `${path}${window.location.search}`);
    }
  }, [page]);

  if (session.isPending && !session.data) {
    return (
      <Shell>
        <p className="muted">Loading…</p>
      </Shell>
    );
  }
  if (!session.data) {
    return (
      <Shell>
        <SignInForm auth={auth} />
      </Shell>
    );
  }
  const { user, session: current } = session.data;
  return (
    <SignedIn
      key={user.id}
      page={page}
      auth={auth}
      backendUrl={backendUrl}
      user={user}
      sessionToken={current.token}
      activeOrgId={current.activeOrganizationId ?? null}
      stripePublishableKey={stripePublishableKey}
    />
  );
}

interface SignedInProps {
  page: Page;
  auth: BetterAuthClient;
  backendUrl: string;
  user: { id: string; email: string; role?: string | null };
  sessionToken: string;
  activeOrgId: string | null;
  stripePublishableKey: string | null;
}

/** One signed-in user's page (remounted for another user, so nothing of the last one stays). */
function SignedIn({
  page,
  auth,
  backendUrl,
  user,
  sessionToken,
  activeOrgId,
  stripePublishableKey,
}: SignedInProps) {
  const organizations = auth.useListOrganizations();
  const member = auth.useActiveMember();
  const { refetch: refetchOrganizations } = organizations;
  const { refetch: refetchMember } = member;
  // Better Auth's atoms outlive a sign-in: read this user's organizations and membership.
  useEffect(() => void refetchOrganizations(), [refetchOrganizations]);
  useEffect(() => {
    if (activeOrgId) void refetchMember();
  }, [refetchMember, activeOrgId]);

  const backend = useMemo(
    // The signed token from `set-auth-token`; the session's raw token works as well.
    () => createBackendClient({ baseUrl: backendUrl, getToken: () => localTokenStore.get() ?? sessionToken }),
    [backendUrl, sessionToken],
  );

  const orgList = organizations.data ?? [];
  // Nothing chosen yet: the first organization becomes the active one.
  const first = orgList[0]?.id;
  useEffect(() => {
    if (!activeOrgId && first) void auth.organization.setActive({ organizationId: first });
  }, [auth, activeOrgId, first]);

  const activeOrg = orgList.find((o) => o.id === activeOrgId) ?? null;
  const own = member.data && member.data.organizationId === activeOrgId && member.data.userId === user.id;
  const role = own ? (member.data?.role ?? null) : null;
  const signOut = async () => {
    await auth.signOut();
    localTokenStore.clear();
  };
  const platformAdmin = isPlatformAdmin(user);

  return (
    <Shell
      wide={page === "console"}
      nav={<PageLinks page={page} platformAdmin={platformAdmin} />}
      header={
        <div className="account">
          <label>
            Organization{" "}
            <select
              name="organization"
              value={activeOrgId ?? ""}
              onChange={(e) => void auth.organization.setActive({ organizationId: e.target.value })}
              disabled={!orgList.length}
            >
              {!activeOrgId ? <option value="">{orgList.length ? "Choose…" : "None"}</option> : null}
              {orgList.map((org) => (
                <option key={org.id} value={org.id}>
                  {org.name}
                </option>
              ))}
            </select>
          </label>
          <span className="who" data-testid="signed-in-as">
            {user.email}
            {role ? <span className="role"> · {role}</span> : null}
          </span>
          <button type="button" className="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      }
    >
      {page === "console" ? (
        <ConsolePage backend={backend} platformAdmin={platformAdmin} />
      ) : (
        <>
          <h1>Payments</h1>
          {activeOrg ? (
            <p className="muted">
              Settings of <strong>{activeOrg.name}</strong>
              {role && !canManagePayments(role) ? " (you are a member: view only)" : ""}
            </p>
          ) : null}
          {organizations.isPending ? <p className="muted">Loading your organizations…</p> : null}
          {!organizations.isPending && !orgList.length ? <p>You are not a member of any organization.</p> : null}
          {activeOrgId && role !== null ? (
            <PaymentsSettings
              key={activeOrgId}
              backend={backend}
              orgId={activeOrgId}
              role={role}
              embedded={stripePublishableKey ? { publishableKey: stripePublishableKey } : null}
            />
          ) : activeOrgId ? (
            <p className="muted">Loading your membership…</p>
          ) : null}
        </>
      )}
    </Shell>
  );
}

/** The Connect console for platform admins; anyone else is told plainly it is not for them. */
function ConsolePage({ backend, platformAdmin }: { backend: BackendClient; platformAdmin: boolean }) {
  return (
    <>
      <h1>Connect console</h1>
      {platformAdmin ? (
        <>
          <p className="muted">Every organization's Stripe Connect status, platform fee and last sync.</p>
          <ConnectConsole backend={backend} />
        </>
      ) : (
        <p className="notice notice-info" data-testid="console-unavailable">
          The Connect console is not available: it is for platform admins only.
        </p>
      )}
    </>
  );
}

/** Links between the pages; the console's only for platform admins. */
function PageLinks({ page, platformAdmin }: { page: Page; platformAdmin: boolean }) {
  return (
    <nav className="pages" aria-label="Pages">
      <a href={SETTINGS_PATH} aria-current={page === "settings" ? "page" : undefined}>
        Payments
      </a>
      {platformAdmin ? (
        <a href={CONSOLE_PATH} aria-current={page === "console" ? "page" : undefined}>
          Connect console
        </a>
      ) : null}
    </nav>
  );
}

function Shell({ header, nav, wide = false, children }: { header?: ReactNode; nav?: ReactNode; wide?: boolean; children: ReactNode }) {
  return (
    <div className="page">
      <header className="topbar">
        <span className="brand">Platform · Settings</span>
        {nav}
        {header}
      </header>
      <main className={wide ? "wide" : undefined}>{children}</main>
    </div>
  );
}
