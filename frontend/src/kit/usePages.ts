import { useCallback, useEffect, useRef, useState } from "react";

/** One page of a list, as the service's history and organization routes answer. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

interface PagesState<T> {
  items: T[];
  /** The cursor of the next page; null when the last page is loaded. */
  next: string | null;
  state: "loading" | "ready" | "failed";
  error: unknown;
  /** Whether a first page has arrived (so an empty list means "none", not "not yet"). */
  loaded: boolean;
}

function start<T>(): PagesState<T> {
  return { items: [], next: null, state: "loading", error: undefined, loaded: false };
}

/**
 * A list read page by page: the first page when `key` changes (null: nothing to read) and on
 * reload(), the next one on loadMore(), and retry() of whichever failed. Items already shown
 * stay while a page loads or fails; an answer that arrives after a reload began is dropped.
 */
export function usePages<T>(key: string | null, load: (after: string | null) => Promise<Page<T>>) {
  const [pages, setPages] = useState<PagesState<T>>(start);
  const generation = useRef(0);
  const failedAfter = useRef<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;

  const fetchPage = useCallback(async (after: string | null) => {
    const mine = after === null ? ++generation.current : generation.current;
    setPages((previous) => ({ ...previous, state: "loading", error: undefined }));
    try {
      const page = await loadRef.current(after);
      if (mine !== generation.current) return;
      setPages((previous) => ({
        items: after === null ? page.data : [...previous.items, ...page.data],
        next: page.next_cursor,
        state: "ready",
        error: undefined,
        loaded: true,
      }));
    } catch (error) {
      if (mine !== generation.current) return;
      failedAfter.current = after;
      setPages((previous) => ({ ...previous, state: "failed", error }));
    }
  }, []);

  useEffect(() => {
    if (key === null) {
      generation.current += 1;
      setPages(start());
      return;
    }
    void fetchPage(null);
  }, [key, fetchPage]);

  return {
    ...pages,
    reload: () => fetchPage(null),
    loadMore: () => (pages.next ? fetchPage(pages.next) : Promise.resolve()),
    retry: () => fetchPage(failedAfter.current),
  };
}

export type Pages<T> = ReturnType<typeof usePages<T>>;
