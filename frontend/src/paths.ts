/** Where the pages live: the settings page, the console, and which one a path shows. */

/** The path of the payments settings page; Stripe sends people back here. */
export const SETTINGS_PATH = "/settings/payments";

/** The platform admins' Connect console. */
export const CONSOLE_PATH = "/admin/connect";

/** Which page of the demo app a path shows (it has no router): the console, else the settings. */
export function pageAt(pathname: string): "console" | "settings" {
  return pathname.replace(/\/+$/, "") === CONSOLE_PATH ? "console" : "settings";
}
