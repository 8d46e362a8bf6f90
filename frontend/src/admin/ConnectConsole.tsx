import { useState, type FormEvent } from "react";
import type {
  BackendClient,
  ConnectStatus,
  ConsoleOrganization,
  OrganizationsQuery,
  ReversalMade,
  StatusCounts,
  StatusName,
  TransferItem,
} from "../backend/client";
import { CLAIMS_PAGE_SIZE, ClaimsCard } from "../kit/Claims";
import { formatDateTime } from "../kit/formatDate";
import { formatPercent } from "../kit/formatPercent";
import { PayoutHistory, TransferHistory } from "../kit/History";
import { PagedCard } from "../kit/PagedCard";
import { STATUS_LABELS, StatusBadge } from "../kit/StatusBadge";
import { usePages } from "../kit/usePages";
import { PlatformFeeForm } from "./PlatformFeeForm";
import { remainingOf, ReversalResult, ReverseTransfer } from "./ReverseTransfer";
import { TransferForm } from "./TransferForm";

/** Organizations a page of the console's list holds. */
export const ORGANIZATIONS_PAGE_SIZE = 25;

type Sort = NonNullable<OrganizationsQuery["sort"]>;
const SORTS: Record<Sort, string> = {
  id: "Stable (by id)",
  last_sync: "Last sync, oldest first",
  "-last_sync": "Last sync, newest first",
};

/** What the list shows: the name searched for, the status kept, the order. */
interface View {
  name: string;
  status: StatusName | "";
  sort: Sort;
}

/** The service's query for a view: only what differs from the defaults is sent. */
function queryOf(view: View, after: string | null): OrganizationsQuery {
  return {
    limit: ORGANIZATIONS_PAGE_SIZE,
    ...(view.name ? { name: view.name } : {}),
    ...(view.status ? { status: view.status } : {}),
    ...(view.sort !== "id" ? { sort: view.sort } : {}),
    ...(after ? { cursor: after } : {}),
  };
}

/**
 * /admin/connect, for platform admins: every organization's open claims with the totals per
 * currency; every organization with its Connect status, fee and last sync, searched by name,
 * filtered by status and sorted by last sync, with the counts per status at the top (the
 * service counts them in one Worker call, never by paging); for the one selected, its fee, a
 * transfer (confirmed before anything moves), its transfers (each with Reverse, confirmed
 * before anything moves), its open claims and its payouts.
 */
export function ConnectConsole({ backend }: { backend: BackendClient }) {
  const [view, setView] = useState<View>({ name: "", status: "", sort: "id" });
  const [typed, setTyped] = useState("");
  const key = `organizations:${JSON.stringify(view)}`;
  // The counts of the first page of the view shown (a late answer of another view is not).
  const [counts, setCounts] = useState<{ key: string; counts: StatusCounts } | null>(null);
  const organizations = usePages(key, async (after) => {
    const page = await backend.organizations(queryOf(view, after));
    if (page.counts) setCounts({ key, counts: page.counts });
    return page;
  });
  const search = (event: FormEvent) => {
    event.preventDefault();
    setView((now) => ({ ...now, name: typed.trim() }));
  };
  // What the service answered after a change here, shown instead of the row as first read.
  const [updated, setUpdated] = useState<Record<string, ConnectStatus>>({});
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const latest = (org: ConsoleOrganization): ConsoleOrganization => ({ ...org, ...updated[org.organization_id] });
  const selected = organizations.items.map(latest).find((org) => org.organization_id === selectedId) ?? null;
  // Bumped after a reversal or a transfer (which settles claims first), so every list of
  // claims is read again.
  const [claimsChanged, setClaimsChanged] = useState(0);
  const nameOf = (orgId: string) => organizations.items.find((org) => org.organization_id === orgId)?.name;

  return (
    <>
      <ClaimsCard
        title="Open claims"
        testId="open-claims"
        version={`open:${claimsChanged}`}
        showOrganization
        nameOf={nameOf}
        empty="No organization owes the platform anything."
        load={(cursor) => backend.openClaims({ limit: CLAIMS_PAGE_SIZE, ...(cursor ? { cursor } : {}) })}
      />
      <PagedCard
        title="Organizations"
        pages={organizations}
        what="organizations"
        empty={view.name || view.status ? "No organizations match." : "No organizations yet."}
        testId="organizations"
        controls={
          <>
            <StatusCountsLine counts={counts?.key === key ? counts.counts : null} searched={view.name} />
            <form className="filters" role="search" aria-label="Organizations" onSubmit={search}>
              <label>
                Name starts with
                <input type="search" value={typed} maxLength={200} onChange={(e) => setTyped(e.target.value)} />
              </label>
              <button type="submit">Search</button>
              <label>
                Status
                <select
                  value={view.status}
                  onChange={(e) => setView((now) => ({ ...now, status: e.target.value as View["status"] }))}
                >
                  <option value="">All statuses</option>
                  <Options labels={STATUS_LABELS} />
                </select>
              </label>
              <label>
                Sort
                <select value={view.sort} onChange={(e) => setView((now) => ({ ...now, sort: e.target.value as Sort }))}>
                  <Options labels={SORTS} />
                </select>
              </label>
            </form>
          </>
        }
      >
        {(items) => (
          <table className="history">
            <thead>
              <tr>
                <th scope="col">Organization</th>
                <th scope="col">Connect status</th>
                <th scope="col">Fee</th>
                <th scope="col">Last sync</th>
                <th scope="col" aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {items.map(latest).map((org) => {
                const isSelected = org.organization_id === selectedId;
                return (
                  <tr
                    key={org.organization_id}
                    data-testid="organization"
                    data-org-id={org.organization_id}
                    className={isSelected ? "selected" : undefined}
                  >
                    <td>
                      <span className="org-name">{org.name}</span>
                      <br />
                      <code className="muted small">{org.organization_id}</code>
                    </td>
                    <td>
                      <StatusBadge status={org.status} />
                    </td>
                    <td className="amount" data-testid="organization-fee">
                      {formatPercent(org.platform_fee_percent)}
                    </td>
                    <td>{org.synced_at ? formatDateTime(org.synced_at) : "never"}</td>
                    <td>
                      <button
                        type="button"
                        aria-pressed={isSelected}
                        aria-label={`Manage ${org.name}`}
                        onClick={() => setSelectedId(org.organization_id)}
                      >
                        {isSelected ? "Selected" : "Manage"}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </PagedCard>
      {selected ? (
        <OrganizationPanel
          key={selected.organization_id}
          backend={backend}
          organization={selected}
          onUpdated={(now) => setUpdated((all) => ({ ...all, [now.organization_id]: now }))}
          claimsVersion={claimsChanged}
          onClaimsChanged={() => setClaimsChanged((n) => n + 1)}
        />
      ) : organizations.items.length ? (
        <p className="muted">Choose an organization to set its fee, send it money or see its history.</p>
      ) : null}
    </>
  );
}

/** A select's options: each value with its label. */
function Options({ labels }: { labels: Record<string, string> }) {
  return Object.entries(labels).map(([value, label]) => (
    <option key={value} value={value}>
      {label}
    </option>
  ));
}

/** How many organizations there are per status (those the search passes, when searching). */
function StatusCountsLine({ counts, searched }: { counts: StatusCounts | null; searched: string }) {
  if (!counts) return null;
  const number = new Intl.NumberFormat("en-US");
  return (
    <p className="counts" data-testid="organization-counts">
      <span data-testid="count-total">
        {number.format(counts.total)} {searched ? `named “${searched}…”` : "organizations"}
      </span>
      {(Object.keys(STATUS_LABELS) as StatusName[]).map((status) => (
        <span key={status} data-testid={`count-${status}`}>
          {" · "}
          {STATUS_LABELS[status]} {number.format(counts[status])}
        </span>
      ))}
    </p>
  );
}

interface PanelProps {
  backend: BackendClient;
  organization: ConsoleOrganization;
  onUpdated: (status: ConnectStatus) => void;
  /** Changes when claims may have changed (a reversal or a transfer here). */
  claimsVersion: number;
  onClaimsChanged: () => void;
}

/**
 * One organization: its fee, a transfer to it, what it received (with Reverse on each
 * transfer) and paid out, and what it still owes.
 */
function OrganizationPanel({ backend, organization, onUpdated, claimsVersion, onClaimsChanged }: PanelProps) {
  const orgId = organization.organization_id;
  // Bumped after a transfer or a reversal, so its history shows it.
  const [sent, setSent] = useState(0);
  const [reversing, setReversing] = useState<TransferItem | null>(null);
  const [reversal, setReversal] = useState<ReversalMade | null>(null);
  const reversed = (made: ReversalMade) => {
    setReversal(made);
    setReversing(null);
    setSent((n) => n + 1);
    onClaimsChanged();
  };
  const reverseButton = (transfer: TransferItem) => (
    <button
      type="button"
      aria-label={`Reverse transfer ${transfer.transfer_id}`}
      disabled={remainingOf(transfer) <= 0 || reversing !== null}
      onClick={() => {
        setReversal(null);
        setReversing(transfer);
      }}
    >
      Reverse
    </button>
  );
  return (
    <>
      <section className="card" aria-labelledby="organization-title" data-testid="organization-panel">
        <h2 id="organization-title">
          {organization.name} <code className="muted small">{orgId}</code>
        </h2>
        <PlatformFeeForm backend={backend} organization={organization} onUpdated={onUpdated} />
        {organization.status === "active" ? (
          <TransferForm
            backend={backend}
            organization={organization}
            name={organization.name}
            claimsVersion={claimsVersion}
            onSent={() => {
              setSent((n) => n + 1);
              onClaimsChanged();
            }}
          />
        ) : (
          <p className="muted small" data-testid="transfer-unavailable">
            Transfers need an active Stripe account; this organization's is {organization.status.replace("_", " ")}.
          </p>
        )}
      </section>
      {organization.account_id ? (
        <>
          {reversing || reversal ? (
            <section className="card" aria-label="Reverse a transfer" data-testid="reversal-panel">
              {reversing ? (
                <ReverseTransfer
                  key={reversing.transfer_id}
                  backend={backend}
                  orgId={orgId}
                  transfer={reversing}
                  name={organization.name}
                  onReversed={reversed}
                  onCancel={() => setReversing(null)}
                />
              ) : null}
              {reversal ? <ReversalResult made={reversal} name={organization.name} /> : null}
            </section>
          ) : null}
          <TransferHistory backend={backend} orgId={orgId} version={sent} action={reverseButton} />
          <ClaimsCard
            title={`Open claims of ${organization.name}`}
            testId="organization-claims"
            version={`${orgId}:${claimsVersion}`}
            empty={`${organization.name} owes the platform nothing.`}
            load={(cursor) =>
              backend.claims(orgId, { state: "open", limit: CLAIMS_PAGE_SIZE, ...(cursor ? { cursor } : {}) })
            }
          />
          <PayoutHistory backend={backend} orgId={orgId} />
        </>
      ) : (
        <p className="muted">This organization has no Stripe account yet: no transfers or payouts.</p>
      )}
    </>
  );
}
