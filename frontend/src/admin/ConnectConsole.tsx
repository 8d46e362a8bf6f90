import { useState } from "react";
import type { BackendClient, ConnectStatus, ConsoleOrganization } from "../backend/client";
import { formatDateTime } from "../kit/formatDate";
import { formatPercent } from "../kit/formatPercent";
import { PayoutHistory, TransferHistory } from "../kit/History";
import { PagedCard } from "../kit/PagedCard";
import { StatusBadge } from "../kit/StatusBadge";
import { usePages } from "../kit/usePages";
import { PlatformFeeForm } from "./PlatformFeeForm";
import { TransferForm } from "./TransferForm";

/** Organizations a page of the console's list holds. */
export const ORGANIZATIONS_PAGE_SIZE = 25;

/**
 * /admin/connect, for platform admins: every organization with its Connect status, fee and
 * last sync; for the one selected, its fee, a transfer (confirmed before anything moves) and
 * its transfers and payouts.
 */
export function ConnectConsole({ backend }: { backend: BackendClient }) {
  const organizations = usePages("organizations", (after) =>
    backend.organizations({ limit: ORGANIZATIONS_PAGE_SIZE, ...(after ? { cursor: after } : {}) }),
  );
  // What the service answered after a change here, shown instead of the row as first read.
  const [updated, setUpdated] = useState<Record<string, ConnectStatus>>({});
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const latest = (org: ConsoleOrganization): ConsoleOrganization => ({ ...org, ...updated[org.organization_id] });
  const selected = organizations.items.map(latest).find((org) => org.organization_id === selectedId) ?? null;

  return (
    <>
      <PagedCard
        title="Organizations"
        pages={organizations}
        what="organizations"
        empty="No organizations yet."
        testId="organizations"
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
        />
      ) : organizations.items.length ? (
        <p className="muted">Choose an organization to set its fee, send it money or see its history.</p>
      ) : null}
    </>
  );
}

interface PanelProps {
  backend: BackendClient;
  organization: ConsoleOrganization;
  onUpdated: (status: ConnectStatus) => void;
}

/** One organization: its fee, a transfer to it, and what it received and paid out. */
function OrganizationPanel({ backend, organization, onUpdated }: PanelProps) {
  const orgId = organization.organization_id;
  // Bumped after a transfer, so its history shows it.
  const [sent, setSent] = useState(0);
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
            onSent={() => setSent((n) => n + 1)}
          />
        ) : (
          <p className="muted small" data-testid="transfer-unavailable">
            Transfers need an active Stripe account; this organization's is {organization.status.replace("_", " ")}.
          </p>
        )}
      </section>
      {organization.account_id ? (
        <>
          <TransferHistory backend={backend} orgId={orgId} version={sent} />
          <PayoutHistory backend={backend} orgId={orgId} />
        </>
      ) : (
        <p className="muted">This organization has no Stripe account yet: no transfers or payouts.</p>
      )}
    </>
  );
}
