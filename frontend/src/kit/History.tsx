import type { BackendClient, PayoutItem, TransferItem } from "../backend/client";
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

/** The platform's transfers to the organization, newest first, with the fee as it was taken. */
export function TransferHistory({ backend, orgId, version = 0 }: Props) {
  const pages = usePages(`${orgId}:${version}`, (after) =>
    backend.transfers(orgId, { limit: HISTORY_PAGE_SIZE, startingAfter: after }),
  );
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
            </tr>
          </thead>
          <tbody>
            {items.map((transfer) => (
              <TransferRow key={transfer.transfer_id} transfer={transfer} />
            ))}
          </tbody>
        </table>
      )}
    </PagedCard>
  );
}

function TransferRow({ transfer }: { transfer: TransferItem }) {
  const money = (amount: number | null) => (amount === null ? "—" : formatMoney(amount, transfer.currency));
  return (
    <tr data-testid="transfer">
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
        {transfer.amount_reversed > 0 ? (
          <span className="muted small"> ({money(transfer.amount_reversed)} reversed)</span>
        ) : null}
      </td>
    </tr>
  );
}
