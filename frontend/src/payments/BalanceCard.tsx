import { useRef, useState } from "react";
import type { Balance, BackendClient, Payout } from "../backend/client";
import { IdempotentAction } from "../backend/idempotency";
import { ErrorNotice } from "../kit/ErrorNotice";
import { formatDate } from "../kit/formatDate";
import { formatMoney } from "../kit/money";
import { useAction } from "../kit/useAction";
import type { Resource } from "../kit/useResource";

interface Props {
  backend: BackendClient;
  orgId: string;
  balance: Resource<Balance> & { reload: () => Promise<void> };
  /** Called after a payout was made. */
  onPaidOut?: () => void;
}

/** The connected account's balance, and "Pay out now" for what is available. */
export function BalanceCard({ backend, orgId, balance, onPaidOut }: Props) {
  const payoutAction = useRef(new IdempotentAction());
  const [lastPayout, setLastPayout] = useState<Payout | null>(null);
  const payout = useAction(async (currency: string) => {
    // One user action: a retry after a lost answer reuses its key (never two payouts).
    const made = await payoutAction.current.run({ orgId, currency }, (idempotencyKey) =>
      backend.payout(orgId, { currency }, { idempotencyKey }),
    );
    setLastPayout(made);
    onPaidOut?.();
    await balance.reload();
  });

  const data = balance.data;
  const available = data?.available ?? [];
  const pending = data?.pending ?? [];
  const currencies = [...new Set([...available, ...pending].map((m) => m.currency))];
  return (
    <section className="card" aria-labelledby="balance-title" aria-busy={balance.state === "loading"}>
      <div className="card-head">
        <h2 id="balance-title">Balance</h2>
        <button
          type="button"
          className="link"
          onClick={() => void balance.reload()}
          disabled={balance.state === "loading"}
        >
          {balance.state === "loading" && data ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      {balance.state === "loading" && !data ? <p className="muted">Loading the balance…</p> : null}
      {balance.state === "failed" ? <ErrorNotice error={balance.error} onRetry={() => void balance.reload()} /> : null}
      {data ? (
        currencies.length ? (
          <table className="balance" data-testid="balance">
            <thead>
              <tr>
                <th scope="col">Currency</th>
                <th scope="col">Available</th>
                <th scope="col">Pending</th>
                <th scope="col" aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {currencies.map((currency) => {
                const now = available.find((m) => m.currency === currency)?.amount ?? 0;
                const later = pending.find((m) => m.currency === currency)?.amount ?? 0;
                return (
                  <tr key={currency} data-currency={currency}>
                    <td>{currency.toUpperCase()}</td>
                    <td className="amount" data-testid={`available-${currency}`}>
                      {formatMoney(now, currency)}
                    </td>
                    <td className="amount">{formatMoney(later, currency)}</td>
                    <td>
                      <button
                        type="button"
                        disabled={now <= 0 || payout.busy}
                        onClick={() => void payout.run(currency)}
                      >
                        {payout.busy ? "Paying out…" : "Pay out now"}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : (
          <p className="muted" data-testid="balance-empty">
            No money has arrived yet.
          </p>
        )
      ) : null}
      {payout.error ? <ErrorNotice error={payout.error} /> : null}
      {lastPayout ? (
        <p className="notice notice-ok" role="status" data-testid="payout-result">
          Payout of {formatMoney(lastPayout.amount, lastPayout.currency)} is {lastPayout.status}
          {lastPayout.arrival_date ? `; it should arrive by ${formatDate(lastPayout.arrival_date)}` : ""}.
        </p>
      ) : null}
    </section>
  );
}
