import type { ReactNode } from "react";
import type { BackendClient, PayoutItem, ReversalCause, TransferItem } from "../backend/client";
import { formatDate } from "./formatDate";
import { formatPercent } from "./formatPercent";
import { formatMoney } from "./money";
import { PagedCard } from "./PagedCard";
import { usePages } from "./usePages";

/** Items a history page holds. */
export const HISTORY_PAGE_SIZE = 10;

interface Props {
  backend: BackendClient;
  orgId: string;
  /** Changing it reads the list again from the first page (after money moved). */
  version?: number;
}

const PAYOUT_STATUS: Record<string, string> = {
  pending: "Pending",
  in_transit: "In transit",
  paid: "Paid",
  failed: "Failed",
  canceled: "Canceled",
};

/** The account's payouts to its bank, newest first; a failed one says why. */
export function PayoutHistory({ backend, orgId, version = 0 }: Props) {
  const pages = usePages(`${orgId}:${version}`, (after) =>
    backend.payouts(orgId, { limit: HISTORY_PAGE_SIZE, startingAfter: after }),
  );
  return (
    <PagedCard title="Payouts" pages={pages} what="payouts" empty="No payouts yet." testId="payouts">
      {(items) => (
        <table className="history">
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Amount</th>
              <th scope="col">Status</th>
              <th scope="col">Arrives</th>
            </tr>
          </thead>
          <tbody>
            {items.map((payout) => (
              <PayoutRow key={payout.payout_id} payout={payout} />
            ))}
          </tbody>
        </table>
      )}
    </PagedCard>
  );
}

function PayoutRow({ payout }: { payout: PayoutItem }) {
  const failed = payout.status === "failed";
  const settledOtherwise = failed || payout.status === "canceled";
  return (
    <tr data-testid="payout" data-status={payout.status}>
      <td>{payout.created ? formatDate(payout.created) : "—"}</td>
      <td className="amount">{formatMoney(payout.amount, payout.currency)}</td>
      <td>
        <span className={`badge badge-${payout.status}`}>{PAYOUT_STATUS[payout.status] ?? payout.status}</span>
        {failed ? (
          <p className="failure" data-testid="payout-failure">
            {payout.failure_message ?? "Stripe gave no reason."} The money is back in the balance.
          </p>
        ) : null}
      </td>
      <td>{payout.arrival_date && !settledOtherwise ? formatDate(payout.arrival_date) : "—"}</td>
    </tr>
  );
}

/** Why money was taken back of a transfer, in words. */
export const REVERSAL_CAUSE: Record<ReversalCause, string> = {
  refund: "Refund",
  dispute: "Dispute",
  manual: "Manual",
  claim: "Claim settlement",
};

interface TransferProps extends Props {
  /** A last column with an action on each transfer (the console's Reverse). */
  action?: (transfer: TransferItem) => ReactNode;
}

/**
 * The platform's transfers to the organization, newest first, with the fee as it was taken,
 * what was taken back of each (its reversals: amount, date, why) and what is left of it, the
 * claims settled from it, and money a won dispute gave back.
 */
export function TransferHistory({ backend, orgId, version = 0, action }: TransferProps) {
  const pages = usePages(`${orgId}:${version}`, (after) =>
    backend.transfers(orgId, { limit: HISTORY_PAGE_SIZE, startingAfter: after }),
  );
  const columns = action ? 7 : 6;
  return (
    <PagedCard
      title="Transfers received"
      pages={pages}
      what="transfers"
      empty="No transfers from the platform yet."
      testId="transfers"
    >
      {(items) => (
        <table className="history">
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Gross</th>
              <th scope="col">Fee %</th>
              <th scope="col">Fee</th>
              <th scope="col">Net received</th>
              <th scope="col">After reversals</th>
              {action ? <th scope="col" aria-label="Actions" /> : null}
            </tr>
          </thead>
          {items.map((transfer) => (
            <TransferRows key={transfer.transfer_id} transfer={transfer} columns={columns} action={action} />
          ))}
        </table>
      )}
    </PagedCard>
  );
}

interface RowsProps {
  transfer: TransferItem;
  columns: number;
  action: TransferProps["action"];
}

/** One transfer: its amounts, then (when there are any) its reversals and what it settled. */
function TransferRows({ transfer, columns, action }: RowsProps) {
  const money = (amount: number | null) => (amount === null ? "—" : formatMoney(amount, transfer.currency));
  const details = transfer.reversals.length > 0 || transfer.claims_settled > 0 || transfer.returns_for !== null;
  return (
    <tbody data-testid="transfer" data-transfer-id={transfer.transfer_id}>
      <tr>
        <td>{transfer.created ? formatDate(transfer.created) : "—"}</td>
        <td className="amount" data-testid="transfer-gross">
          {money(transfer.gross_amount)}
        </td>
        <td className="amount" data-testid="transfer-percent">
          {transfer.platform_fee_percent === null ? "—" : formatPercent(transfer.platform_fee_percent)}
        </td>
        <td className="amount" data-testid="transfer-fee">
          {money(transfer.fee_amount)}
        </td>
        <td className="amount" data-testid="transfer-net">
          {money(transfer.net_amount)}
        </td>
        <td className="amount" data-testid="transfer-net-after">
          {money(transfer.net_after_reversals)}
          {transfer.amount_reversed > 0 ? (
            <span className="muted small"> ({money(transfer.amount_reversed)} reversed)</span>
          ) : null}
        </td>
        {action ? <td>{action(transfer)}</td> : null}
      </tr>
      {details ? (
        <tr className="transfer-details">
          <td colSpan={columns}>
            {transfer.returns_for !== null ? (
              <p className="small" data-testid="transfer-returned">
                Money back from a won dispute (for transfer <code>{transfer.returns_for}</code>).
              </p>
            ) : null}
            {transfer.claims_settled > 0 ? (
              <p className="small" data-testid="transfer-claims-settled">
                {money(transfer.claims_settled)} of this transfer's net settled what the organization owed (its
                claims) instead of being sent.
              </p>
            ) : null}
            {transfer.reversals.length ? (
              <ul className="reversals" aria-label="Reversals">
                {transfer.reversals.map((reversal) => (
                  <li key={reversal.reversal_id} data-testid="reversal" data-cause={reversal.cause ?? "other"}>
                    <span className="amount" data-testid="reversal-amount">
                      − {money(reversal.amount)}
                    </span>{" "}
                    taken back{reversal.created ? ` on ${formatDate(reversal.created)}` : ""}:{" "}
                    <span className="badge" data-testid="reversal-cause">
                      {reversal.cause ? REVERSAL_CAUSE[reversal.cause] : "Other"}
                    </span>
                    {/* A refund's or a dispute's id says which; a manual reversal's is only its key. */}
                    {reversal.cause_id && (reversal.cause === "refund" || reversal.cause === "dispute") ? (
                      <code className="muted small"> {reversal.cause_id}</code>
                    ) : null}
                  </li>
                ))}
              </ul>
            ) : null}
          </td>
        </tr>
      ) : null}
    </tbody>
  );
}
