import { useId, type ReactNode } from "react";
import { ErrorNotice } from "./ErrorNotice";
import type { Pages } from "./usePages";

interface Props<T> {
  title: string;
  pages: Pages<T>;
  /** What is loading, e.g. "payouts" ("Loading payouts…"). */
  what: string;
  /** The empty state, e.g. "No payouts yet." */
  empty: string;
  testId: string;
  /** Drawn under the title, above the list: e.g. its search and filters. */
  controls?: ReactNode;
  /** The loaded items, drawn once there is at least one. */
  children: (items: T[]) => ReactNode;
}

/** A card holding a paged list: loading, empty and error states, Refresh and Load more. */
export function PagedCard<T>({ title, pages, what, empty, testId, controls, children }: Props<T>) {
  const titleId = useId();
  const loading = pages.state === "loading";
  return (
    <section className="card" aria-labelledby={titleId} aria-busy={loading} data-testid={testId}>
      <div className="card-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="link" onClick={() => void pages.reload()} disabled={loading}>
          {loading && pages.loaded ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      {controls}
      {loading && !pages.loaded ? <p className="muted">Loading {what}…</p> : null}
      {pages.loaded && !pages.items.length && pages.state === "ready" ? (
        <p className="muted" data-testid={`${testId}-empty`}>
          {empty}
        </p>
      ) : null}
      {pages.items.length ? children(pages.items) : null}
      {pages.state === "failed" ? <ErrorNotice error={pages.error} onRetry={() => void pages.retry()} /> : null}
      {pages.next && pages.state !== "failed" ? (
        <div className="actions">
          <button type="button" onClick={() => void pages.loadMore()} disabled={loading}>
            {loading ? "Loading…" : "Load more"}
          </button>
        </div>
      ) : null}
    </section>
  );
}
