import { useState } from "react";
import type { Claim, ClaimList, ClaimSettlement, ClaimTotal } from "../backend/client";
import { formatDate } from "./formatDate";
import { formatMoney } from "./money";
import { PagedCard } from "./PagedCard";
import { usePages } from "./usePages";

/** Claims a page holds. */
export const CLAIMS_PAGE_SIZE = 25;

/** What caused a claim: the reversal Stripe could not make, and why it was asked for. */
export const CLAIM_CAUSE: Record<Claim["cause"], string> = {
  refund: "Refund",
  dispute: "Dispute",
  manual: "Manual reversal",
};

const SETTLED_BY: Record<ClaimSettlement["kind"], string> = {
  transfer: "from a transfer",
  reversal: "by a reversal",
  waived: "waived (the dispute was won)",
};

interface Props {
  title: string;
  testId: string;
  /** Changing it reads the claims again from the first page. */
  version: string;
  /** One page of claims after `cursor` (null: the first). */
  load: (cursor: string | null) => Promise<ClaimList>;
  /** Draws nothing when there are no claims (the settings page); else says so. */
  hideWhenEmpty?: boolean;
  /** A column naming each claim's organization (the console's list of every claim). */
  showOrganization?: boolean;
  /** The organization's name, where known (the console's list of organizations). */
  nameOf?: (orgId: string) => string | undefined;
  empty?: string;
}

/**
 * Open claims: what could not be taken back yet because the money was already paid out, first
 * in, first out, each with its cause, date and how much of it was settled and how; above them,
 * the open total per currency (of every claim, not only the page shown).
 */
export function ClaimsCard({
  title,
  testId,
  version,
  load,
  hideWhenEmpty = false,
  showOrganization = false,
  nameOf,
  empty,
}: Props) {
  const [totals, setTotals] = useState<ClaimTotal[]>([]);
  const pages = usePages(version, async (cursor) => {
    const page = await load(cursor);
    setTotals(page.totals);
    return page;
  });
  if (hideWhenEmpty && pages.loaded && pages.state === "ready" && !pages.items.length) return null;
  if (hideWhenEmpty && !pages.loaded && pages.state === "loading") return null;
  return (
    <PagedCard title={title} pages={pages} what="claims" empty={empty ?? "No open claims."} testId={testId}>
      {(items) => (
        <>
          <ClaimTotals totals={totals} />
          <table className="history">
            <thead>
              <tr>
                {showOrganization ? <th scope="col">Organization</th> : null}
                <th scope="col">Date</th>
                <th scope="col">Cause</th>
                <th scope="col">Claimed</th>
                <th scope="col">Settled</th>
                <th scope="col">Open</th>
                <th scope="col">How it was settled</th>
              </tr>
            </thead>
            <tbody>
              {items.map((claim) => (
                <ClaimRow
                  key={claim.claim_id}
                  claim={claim}
                  organization={showOrganization ? (nameOf?.(claim.organization_id) ?? "") : null}
                />
              ))}
            </tbody>
          </table>
        </>
      )}
    </PagedCard>
  );
}

/** "Open in all: $33.75" (one per currency). */
function ClaimTotals({ totals }: { totals: ClaimTotal[] }) {
  const open = totals.filter((total) => total.open > 0);
  if (!open.length) return null;
  return (
    <p data-testid="claims-total">
      <strong>Open in all:</strong>{" "}
      {open.map((total, n) => (
        <span key={total.currency} data-currency={total.currency}>
          {n ? ", " : ""}
          {formatMoney(total.open, total.currency)}
        </span>
      ))}
    </p>
  );
}

/** One claim; `organization` is the name to show in its own column (null: no such column). */
function ClaimRow({ claim, organization }: { claim: Claim; organization: string | null }) {
  const money = (amount: number) => formatMoney(amount, claim.currency);
  return (
    <tr data-testid="claim" data-claim-id={claim.claim_id} data-cause={claim.cause}>
      {organization !== null ? (
        <td data-testid="claim-organization">
          {organization ? <span className="org-name">{organization}</span> : null}
          {organization ? <br /> : null}
          <code className="muted small">{claim.organization_id}</code>
        </td>
      ) : null}
      <td>{formatDate(claim.created_at)}</td>
      <td data-testid="claim-cause">
        {CLAIM_CAUSE[claim.cause]}
        <br />
        <code className="muted small">of {claim.transfer_id}</code>
      </td>
      <td className="amount" data-testid="claim-amount">
        {money(claim.amount)}
      </td>
      <td className="amount" data-testid="claim-settled">
        {money(claim.settled)}
      </td>
      <td className="amount" data-testid="claim-open">
        <strong>{money(claim.open)}</strong>
      </td>
      <td data-testid="claim-settlements">
        {claim.settlements.length ? (
          <ul className="settlements">
            {claim.settlements.map((settlement, n) => (
              <li key={`${settlement.kind}:${settlement.reference ?? ""}:${n}`} data-kind={settlement.kind}>
                {money(settlement.amount)} {SETTLED_BY[settlement.kind]} on {formatDate(settlement.created_at)}
              </li>
            ))}
          </ul>
        ) : (
          <span className="muted">Not settled yet: the next transfers settle it first.</span>
        )}
      </td>
    </tr>
  );
}
