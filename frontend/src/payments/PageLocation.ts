/** The parts of the browser's location the settings page uses (a fake one in tests). */
export interface PageLocation {
  /** `window.location.origin`, the base of the return and refresh URLs sent to Stripe. */
  readonly origin: string;
  /** The current query string, e.g. "?connect=return". */
  search(): string;
  /** Replaces the query string without a reload (history.replaceState). */
  replaceSearch(search: string): void;
  /** Leaves the app for `url` (Stripe's hosted onboarding). */
  assign(url: string): void;
  /** Opens `url` in a new tab (the Express dashboard), or here if the browser blocks it. */
  open(url: string): void;
}

export const browserLocation: PageLocation = {
  get origin() {
    return window.location.origin;
  },
  search: () => window.location.search,
  replaceSearch(search) {
    const url = new URL(window.location.href);
    url.search = search;
    window.history.replaceState(window.history.state, "", url);
  },
  assign: (url) => window.location.assign(url),
  open(url) {
    const tab = window.open(url, "_blank");
    if (tab) tab.opener = null;
    else window.location.assign(url);
  },
};
