#!/usr/bin/env node
// The browser test: Debian's Chromium, driven by playwright-core, against the running local
// stack (Worker, Stripe simulator, Connect backend, and this frontend on Vite).
//
//   node e2e/run.mjs '<json>'   with {frontend, worker, backend, sim, orgId, owner, member,
//                               admin (each {email, password}), screenshots (a folder)}
//
// tests/e2e/test_browser.py starts the stack, makes the people and runs this. The journey:
// the owner signs in, sets up payouts, comes back half-way (Pending, what Stripe still needs),
// continues, comes back through a used link (?connect=refresh), completes onboarding on the simulator's hosted page, sees Active; the platform admin sends
// money (through the backend's API); the owner sees the balance, pays out and sets a schedule,
// opens the Express dashboard; a member then sees the status and no actions.
// Exits 0 when every step passed; on failure, saves failure.png and exits 1.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2] ?? "{}");
for (const key of ["frontend", "worker", "backend", "sim", "orgId", "owner", "member", "admin", "screenshots"]) {
  if (!config[key]) throw new Error(`run.mjs: missing "${key}" in the JSON argument`);
}
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 20_000;

let passed = 0;
function ok(step) {
  passed += 1;
  console.log(`ok ${passed} - ${step}`);
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A JSON request from this script (not the browser), failing on anything but 2xx. */
async function api(url, { method = "GET", body, headers = {} } = {}) {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const profile = await mkdtemp(join(tmpdir(), "connect-e2e-chromium-"));
await mkdir(config.screenshots, { recursive: true });
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1100, height: 760 },
  locale: "en-US",
  timezoneId: "UTC",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
context.setDefaultTimeout(TIMEOUT);
const page = context.pages()[0] ?? (await context.newPage());
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

const shot = (name) => page.screenshot({ path: join(config.screenshots, `${name}.png`), fullPage: true });
const settings = `${config.frontend}/settings/payments`;
const badge = page.getByTestId("connect-status");

async function signIn(person) {
  await page.getByLabel("Email").fill(person.email);
  await page.getByLabel("Password").fill(person.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("signed-in-as").filter({ hasText: person.email }).waitFor();
}

async function expectBadge(text) {
  await badge.filter({ hasText: text }).waitFor();
}

let failed = false;
try {
  // 1. Sign in as the owner.
  await page.goto(settings);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email").fill(config.owner.email);
  await shot("01-sign-in");
  await signIn(config.owner);
  await expectBadge("Not started");
  await page.getByRole("button", { name: "Set up payouts" }).waitFor();
  await shot("02-not-started");
  ok("the owner signs in and sees payouts not started, with Set up payouts");

  // 2. Set up payouts: the backend mints an Account Link and the browser follows it.
  await page.getByRole("button", { name: "Set up payouts" }).click();
  await page.waitForURL((url) => url.href.startsWith(`${config.sim}/setup/s/`));
  const firstLink = page.url();
  await page.getByRole("button", { name: "Complete onboarding" }).waitFor();
  await shot("03-stripe-onboarding");
  ok("Set up payouts leads to the hosted onboarding page");

  // 3. Back in the app before finishing: pending, what Stripe still needs, Continue onboarding.
  await page.goto(settings);
  await expectBadge("Pending");
  await page.getByTestId("requirements").waitFor();
  await shot("04-pending");
  await page.getByRole("button", { name: "Continue onboarding" }).click();
  await page.waitForURL((url) => url.href.startsWith(`${config.sim}/setup/s/`) && url.href !== firstLink);
  const secondLink = page.url();
  ok("left half-way: Pending with Stripe's requirements, and Continue onboarding mints a new link");

  // 4. A used link sends the browser to ?connect=refresh: the app mints a new one and goes.
  await page.reload();
  await page.waitForURL((url) => url.href.startsWith(`${config.sim}/setup/s/`) && url.href !== secondLink);
  await page.getByRole("button", { name: "Complete onboarding" }).waitFor();
  ok("an expired link comes back through ?connect=refresh and a fresh link is followed");

  // 5. Complete onboarding; Stripe returns to ?connect=return and the status is read live.
  await page.getByRole("button", { name: "Complete onboarding" }).click();
  await page.waitForURL((url) => url.href.startsWith(settings));
  await expectBadge("Active");
  await page.getByTestId("returned").waitFor();
  check(!page.url().includes("connect="), `the query string was not cleaned up: ${page.url()}`);
  await page.getByText("Onboarding is complete").waitFor();
  await page.getByRole("button", { name: "Open Stripe dashboard" }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: "$0.00" }).waitFor();
  await shot("05-active");
  ok("back from Stripe: Active, onboarding complete, a balance of $0.00");

  // 6. The platform sends money: fund the simulator's platform, transfer as platform admin.
  await api(`${config.sim}/_sim/platform/fund`, { method: "POST", body: { amount: 1_000_000, currency: "usd" } });
  const admin = await api(`${config.worker}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { Origin: new URL(config.frontend).origin },
    body: config.admin,
  });
  const transfer = await api(`${config.backend}/api/connect/transfer`, {
    method: "POST",
    headers: { Authorization: `Bearer ${admin.token}`, "Idempotency-Key": crypto.randomUUID() },
    body: { organization_id: config.orgId, amount: 10_000, currency: "usd" },
  });
  check(transfer.transfer_amount === 9_000, `transfer: ${JSON.stringify(transfer)}`);
  await page.getByRole("region", { name: "Balance" }).getByRole("button", { name: "Refresh" }).click();
  await page.getByTestId("available-usd").filter({ hasText: "$90.00" }).waitFor();
  await shot("06-balance");
  ok("after a $100.00 transfer less the 10 % fee, the balance shows $90.00 available");

  // 7. Pay out now; the balance empties.
  await page.getByRole("button", { name: "Pay out now" }).click();
  await page.getByTestId("payout-result").filter({ hasText: "Payout of $90.00" }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: "$0.00" }).waitFor();
  check(await page.getByRole("button", { name: "Pay out now" }).isDisabled(), "Pay out now is still enabled at $0.00");
  ok("Pay out now pays out $90.00 and the available balance drops to $0.00");

  // 8. The payout schedule.
  const schedule = page.getByRole("region", { name: "Payout schedule" });
  await schedule.getByLabel("Pay out").selectOption("weekly");
  await schedule.getByLabel("on", { exact: true }).selectOption("friday");
  await schedule.getByRole("button", { name: "Save schedule" }).click();
  await page.getByTestId("schedule-result").filter({ hasText: "weekly on Friday" }).waitFor();
  await shot("07-paid-out");
  ok("the payout schedule is set to weekly on Friday");

  // 9. The Express dashboard opens in a new tab.
  const [dashboard] = await Promise.all([
    context.waitForEvent("page"),
    page.getByRole("button", { name: "Open Stripe dashboard" }).click(),
  ]);
  await dashboard.waitForURL((url) => url.href.startsWith(`${config.sim}/express/`));
  await dashboard.close();
  ok("Open Stripe dashboard opens the Express dashboard's login link in a new tab");

  // 10. A member sees the status and no actions.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await signIn(config.member);
  await expectBadge("Active");
  await page.getByTestId("member-note").waitFor();
  for (const name of ["Set up payouts", "Continue onboarding", "Open Stripe dashboard", "Pay out now", "Save schedule"]) {
    check((await page.getByRole("button", { name }).count()) === 0, `a member sees "${name}"`);
  }
  check((await page.getByRole("region", { name: "Balance" }).count()) === 0, "a member sees the balance");
  await shot("08-member");
  ok("a member sees Active and no actions, no balance");

  check(problems.length === 0, problems.join("\n"));
  ok("no uncaught errors in the page");
} catch (error) {
  failed = true;
  console.error(`not ok ${passed + 1} - ${error instanceof Error ? error.stack : error}`);
  console.error(`page: ${page.url()}`);
  await page.screenshot({ path: join(config.screenshots, "failure.png"), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);
