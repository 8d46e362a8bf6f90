#!/usr/bin/env node
// The browser test: Debian's Chromium, driven by playwright-core, against the running local
// stack (Worker, Stripe simulator, Connect backend, and this frontend on Vite).
//
//   node e2e/run.mjs '<json>'   with {frontend, worker, backend, sim, stripeKey (the simulator's),
//                               orgId, owner, member, admin (each {email, password}),
//                               screenshots (a folder)}
//
// tests/e2e/test_browser.py starts the stack, makes the people and runs this. The journey:
// the owner signs in, sets up payouts, comes back half-way (Pending, what Stripe still needs),
// continues, comes back through a used link (?connect=refresh), completes onboarding on the simulator's hosted page, sees Active; the platform admin sends
// money (through the backend's API); the owner sees the balance, pays out, sees the payout and
// the transfer (gross, fee, net) in the history, sets a weekly schedule and reads it back after
// a reload, opens the Express dashboard; the simulator fails the payout and the owner sees why;
// the owner sees the failed-payout banner, whose button opens the Express dashboard; the platform
// admin opens the Connect console, changes the fee and sends a transfer through its
// confirmation; the owner sees it arrive. Money comes back: the platform charges a customer,
// transfers from the charge and refunds half of it, and the owner sees the refund's reversal;
// the customer disputes the other half, the platform wins, and the owner sees the dispute's
// reversal and the money coming back;
// the admin reverses part of a transfer through the console's confirmation and sees the
// reversal; the owner's balance is paid out, and the admin's reversal of the rest becomes a
// claim, shown in the console's open claims; the next transfer settles part of it, and the owner
// sees the reversal and the claim with its settlement on its page. A member then sees the
// status, no actions and no console.
// Exits 0 when every step passed; on failure, saves failure.png and exits 1.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2] ?? "{}");
for (const key of ["frontend", "worker", "backend", "sim", "stripeKey", "orgId", "owner", "member", "admin", "screenshots"]) {
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

/**
 * A JSON request from this script (not the browser), failing on anything but 2xx. A 429 with a
 * short Retry-After is waited out and tried again, at most three times, as the frontend's own
 * client does (src/backend/client.ts, LONGEST_RETRY_AFTER_S): the platform's Stripe budget
 * refuses reads beyond its share for a second, and the page and the webhooks of this journey
 * share it with this script.
 */
async function api(url, { method = "GET", body, headers = {} } = {}) {
  let response;
  for (let attempt = 0; ; attempt += 1) {
    response = await fetch(url, {
      method,
      headers: { ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const wait = Number(response.headers.get("Retry-After") ?? "");
    if (response.status !== 429 || attempt === 3 || !(wait > 0 && wait <= 5)) break;
    await response.text();
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A POST to the simulator's Stripe API as the platform (form-encoded, keyed), failing on anything but 2xx. */
async function stripe(path, params) {
  const response = await fetch(`${config.sim}${path}`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${config.stripeKey}`,
      "Content-Type": "application/x-www-form-urlencoded",
      "Idempotency-Key": crypto.randomUUID(),
    },
    body: new URLSearchParams(params),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/**
 * Waits until `probe()` returns something truthy (the service works on webhooks as they come),
 * asking once a second: the platform's Stripe read budget answers 429 to faster polling, and a
 * failed probe is asked again until the deadline (then its error is part of the message).
 */
async function eventually(what, probe, timeoutMs = TIMEOUT) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    try {
      const found = await probe();
      if (found) return found;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last: ${last.message})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
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
const consolePath = `${config.frontend}/admin/connect`;
const badge = page.getByTestId("connect-status");
const money = (cents) => `$${(cents / 100).toFixed(2)}`;

async function signIn(person) {
  await page.getByLabel("Email").fill(person.email);
  await page.getByLabel("Password").fill(person.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("signed-in-as").filter({ hasText: person.email }).waitFor();
}

async function expectBadge(text) {
  await badge.filter({ hasText: text }).waitFor();
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
}

/** Waits for the first row of the transfers list to read gross, fee percent, fee and net. */
async function expectLatestTransfer(region, { gross, percent, fee, net }) {
  const row = region.getByTestId("transfer").first();
  for (const [cell, text] of [["gross", money(gross)], ["percent", percent], ["fee", money(fee)], ["net", money(net)]]) {
    await row.getByTestId(`transfer-${cell}`).filter({ hasText: text }).waitFor();
  }
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

  // 7. Pay out now; the balance empties; the payout and the transfer are in the history.
  await page.getByRole("button", { name: "Pay out now" }).click();
  await page.getByTestId("payout-result").filter({ hasText: "Payout of $90.00" }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: "$0.00" }).waitFor();
  check(await page.getByRole("button", { name: "Pay out now" }).isDisabled(), "Pay out now is still enabled at $0.00");
  const payouts = page.getByRole("region", { name: "Payouts", exact: true });
  const transfers = page.getByRole("region", { name: "Transfers received" });
  await payouts.getByTestId("payout").filter({ hasText: "$90.00" }).filter({ hasText: "Pending" }).waitFor();
  await transfers.getByRole("button", { name: "Refresh" }).click();
  await expectLatestTransfer(transfers, { gross: 10_000, percent: "10 %", fee: 1_000, net: 9_000 });
  check((await page.getByRole("link", { name: "Connect console" }).count()) === 0, "the owner sees the console link");
  await shot("09-history");
  ok("Pay out now pays out $90.00; the history shows the payout and the $100.00 transfer less its $10.00 fee");

  // 8. The payout schedule: it starts at what Stripe holds, and reads back after a reload.
  const schedule = page.getByRole("region", { name: "Payout schedule" });
  await schedule.getByTestId("schedule-current").filter({ hasText: "manual" }).waitFor();
  check((await schedule.getByLabel("Pay out").inputValue()) === "manual", "a new account's schedule is not manual");
  await schedule.getByLabel("Pay out").selectOption("weekly");
  await schedule.getByLabel("on", { exact: true }).selectOption("friday");
  await schedule.getByRole("button", { name: "Save schedule" }).click();
  await page.getByTestId("schedule-result").filter({ hasText: "weekly on Friday" }).waitFor();
  await shot("07-paid-out");
  await page.reload();
  await schedule.getByTestId("schedule-current").filter({ hasText: "weekly on Friday" }).waitFor();
  check((await schedule.getByLabel("Pay out").inputValue()) === "weekly", "the schedule did not read back as weekly");
  check((await schedule.getByLabel("on", { exact: true }).inputValue()) === "friday", "the weekly anchor did not read back");
  await schedule.scrollIntoViewIfNeeded();
  await shot("10-schedule-read-back");
  ok("the payout schedule is set to weekly on Friday and still shows it after a reload");

  // 9. The Express dashboard opens in a new tab.
  const [dashboard] = await Promise.all([
    context.waitForEvent("page"),
    page.getByRole("button", { name: "Open Stripe dashboard" }).click(),
  ]);
  await dashboard.waitForURL((url) => url.href.startsWith(`${config.sim}/express/`));
  await dashboard.close();
  ok("Open Stripe dashboard opens the Express dashboard's login link in a new tab");

  // 10. The bank refuses the payout (at the simulator): the owner sees it failed, and why.
  const adminHeaders = { Authorization: `Bearer ${admin.token}` };
  const history = await api(`${config.backend}/api/connect/payouts/${config.orgId}`, { headers: adminHeaders });
  const payoutId = history.data[0]?.payout_id;
  check(payoutId, `no payout to fail: ${JSON.stringify(history)}`);
  await api(`${config.sim}/_sim/payouts/${payoutId}/failed`, { method: "POST", body: { failure_code: "account_closed" } });
  await page.reload();
  const failedPayout = payouts.locator('[data-testid="payout"][data-status="failed"]');
  await failedPayout.filter({ hasText: "$90.00" }).getByText("Failed", { exact: true }).waitFor();
  await failedPayout.getByTestId("payout-failure").filter({ hasText: "The bank account has been closed." }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: "$90.00" }).waitFor();
  await payouts.scrollIntoViewIfNeeded();
  await shot("11-failed-payout");
  ok("a payout the bank refused shows as Failed with its reason, and the money is back in the balance");

  // The payout.failed webhook puts the organization's status in the failed-payout state.
  await api(`${config.sim}/_sim/webhooks/flush?timeout=10`, { method: "POST" });
  await page.reload();
  const banner = page.getByTestId("payout-failure-banner");
  await banner
    .filter({ hasText: "Your last payout failed: The bank account has been closed. Check your bank details." })
    .waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot("17-payout-failure-banner");
  const [bankDetails] = await Promise.all([
    context.waitForEvent("page"),
    banner.getByRole("button", { name: "Update bank details" }).click(),
  ]);
  await bankDetails.waitForURL((url) => url.href.startsWith(`${config.sim}/express/`));
  await bankDetails.close();
  ok("the failed payout's banner says why and to check the bank details; its button opens the Express dashboard");

  // 11. The platform admin: the console, a new fee, a transfer through its confirmation.
  await signOut();
  await signIn(config.admin);
  await page.getByRole("link", { name: "Connect console" }).click();
  await page.waitForURL(consolePath);
  await page.getByRole("heading", { name: "Connect console" }).waitFor();
  const row = page.locator(`[data-testid="organization"][data-org-id="${config.orgId}"]`);
  await row.locator(".org-name").filter({ hasText: "Acme" }).waitFor();
  await row.getByTestId("connect-status").filter({ hasText: "Active" }).waitFor();
  await row.getByTestId("organization-fee").filter({ hasText: "10 %" }).waitFor();
  await shot("12-console");
  ok("a platform admin opens the Connect console: Acme by name, Active, 10 % fee, last sync");

  await row.getByRole("button", { name: "Manage Acme" }).click();
  const panel = page.getByTestId("organization-panel");
  await panel.getByLabel("Platform fee (%)").fill("12.5");
  await panel.getByRole("button", { name: "Save fee" }).click();
  await panel.getByTestId("fee-result").filter({ hasText: "12.5 %" }).waitFor();
  await row.getByTestId("organization-fee").filter({ hasText: "12.5 %" }).waitFor();
  ok("the admin sets the fee to 12.5 % and the list shows it");

  await panel.getByLabel("Amount").fill("50.00");
  await panel.getByRole("button", { name: "Review transfer" }).click();
  const confirmation = panel.getByTestId("transfer-confirmation");
  await confirmation.getByTestId("preview-gross").filter({ hasText: "$50.00" }).waitFor();
  await confirmation.getByTestId("preview-fee").filter({ hasText: "$6.25" }).waitFor();
  await confirmation.getByTestId("preview-net").filter({ hasText: "$43.75" }).waitFor();
  await shot("13-transfer-confirmation");
  await confirmation.getByRole("button", { name: "Confirm transfer" }).click();
  await panel.getByTestId("transfer-result").filter({ hasText: "Sent $43.75 to Acme" }).waitFor();
  await expectLatestTransfer(page.getByRole("region", { name: "Transfers received" }), {
    gross: 5_000,
    percent: "12.5 %",
    fee: 625,
    net: 4_375,
  });
  await shot("14-transfer-sent");
  ok("the confirmation shows $50.00 less 12.5 % ($6.25) = $43.75 before it is sent; once confirmed, the console shows it");

  // 12. The owner sees the transfer arrive.
  await signOut();
  await page.goto(settings);
  await signIn(config.owner);
  await expectLatestTransfer(page.getByRole("region", { name: "Transfers received" }), {
    gross: 5_000,
    percent: "12.5 %",
    fee: 625,
    net: 4_375,
  });
  await page.getByTestId("available-usd").filter({ hasText: money(9_000 + 4_375) }).waitFor();
  await page.getByRole("region", { name: "Transfers received" }).scrollIntoViewIfNeeded();
  await shot("15-transfer-arrived");
  ok("the owner sees the $50.00 transfer arrive: 12.5 % fee, $6.25, $43.75 net, and the balance at $133.75");

  // 13. Money comes back for a refund: the platform charges a customer $20.00, transfers from the
  // charge ($20.00 less 12.5 %: $17.50) and refunds $10.00 of it; the service reverses the
  // refunded share of the transfer, round_half_up(1750 × 1000 / 2000) = $8.75.
  const ownerSession = await api(`${config.worker}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { Origin: new URL(config.frontend).origin },
    body: config.owner,
  });
  const transfersOf = () =>
    api(`${config.backend}/api/connect/transfers/${config.orgId}`, { headers: adminHeaders }).then((h) => h.data);
  const charge = await api(`${config.sim}/_sim/charges`, { method: "POST", body: { amount: 2_000, currency: "usd" } });
  const fromCharge = await api(`${config.backend}/api/connect/transfer`, {
    method: "POST",
    headers: { ...adminHeaders, "Idempotency-Key": crypto.randomUUID() },
    body: { organization_id: config.orgId, amount: 2_000, currency: "usd", source_transaction: charge.id },
  });
  check(fromCharge.transfer_amount === 1_750, `transfer from the charge: ${JSON.stringify(fromCharge)}`);
  await stripe("/v1/refunds", { charge: charge.id, amount: "1000" });
  await eventually("the refund's reversal", async () =>
    (await transfersOf()).find((t) => t.transfer_id === fromCharge.transfer_id && t.amount_reversed === 875),
  );
  await page.reload();
  const ownerTransfers = page.getByRole("region", { name: "Transfers received" });
  const refunded = ownerTransfers.locator(`[data-testid="transfer"][data-transfer-id="${fromCharge.transfer_id}"]`);
  await refunded.getByTestId("transfer-net").filter({ hasText: "$17.50" }).waitFor();
  await refunded.getByTestId("transfer-net-after").filter({ hasText: "$8.75 ($8.75 reversed)" }).waitFor();
  const refundLine = refunded.locator('[data-testid="reversal"][data-cause="refund"]');
  await refundLine.filter({ hasText: "− $8.75 taken back on" }).getByTestId("reversal-cause").filter({ hasText: "Refund" }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: money(13_375 + 1_750 - 875) }).waitFor();
  ok("after a $10.00 refund of a $20.00 charge, the owner sees $8.75 of its $17.50 transfer taken back for the refund");

  // The customer disputes the other $10.00: its share ($8.75) is taken back for the dispute;
  // the platform wins it, and the service sends the $8.75 back as a new transfer.
  const dispute = await api(`${config.sim}/_sim/charges/${charge.id}/dispute`, { method: "POST", body: {} });
  await eventually("the dispute's reversal", async () =>
    (await transfersOf()).find((t) => t.transfer_id === fromCharge.transfer_id && t.amount_reversed === 1_750),
  );
  await api(`${config.sim}/_sim/disputes/${dispute.id}/close`, { method: "POST", body: { outcome: "won" } });
  const returned = await eventually("the won dispute's money back", async () =>
    (await transfersOf()).find((t) => t.returns_for === fromCharge.transfer_id),
  );
  check(returned.net_amount === 875, `money back: ${JSON.stringify(returned)}`);
  await page.reload();
  await refunded.getByTestId("transfer-net-after").filter({ hasText: "$0.00 ($17.50 reversed)" }).waitFor();
  await refunded
    .locator('[data-testid="reversal"][data-cause="dispute"]')
    .filter({ hasText: "− $8.75 taken back on" })
    .filter({ hasText: dispute.id })
    .waitFor();
  const back = ownerTransfers.locator(`[data-testid="transfer"][data-transfer-id="${returned.transfer_id}"]`);
  await back
    .getByTestId("transfer-returned")
    .filter({ hasText: `Money back from a won dispute (for transfer ${fromCharge.transfer_id}).` })
    .waitFor();
  await back.getByTestId("transfer-net").filter({ hasText: "$8.75" }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: money(13_375 + 1_750 - 875) }).waitFor();
  await ownerTransfers.scrollIntoViewIfNeeded();
  await shot("18-refund-and-dispute");
  ok("a dispute of the other $10.00 takes $8.75 back for the dispute; once won, the $8.75 comes back, labelled as a won dispute's");

  // 14. The console's Reverse: the admin takes $10.00 back of the $43.75 console transfer.
  const consoleTransfer = (await transfersOf()).find((t) => t.gross_amount === 5_000);
  check(consoleTransfer, "the console's $50.00 transfer is not in the history");
  await signOut();
  await signIn(config.admin);
  await page.goto(consolePath);
  await row.getByRole("button", { name: "Manage Acme" }).click();
  const adminTransfers = page.getByRole("region", { name: "Transfers received" });
  const reverseButton = adminTransfers.getByRole("button", { name: `Reverse transfer ${consoleTransfer.transfer_id}` });
  await reverseButton.click();
  const reverse = page.getByTestId("reversal-confirmation");
  await reverse.getByTestId("reverse-sent").filter({ hasText: "$43.75" }).waitFor();
  await reverse.getByTestId("reverse-already").filter({ hasText: "$0.00" }).waitFor();
  check((await reverse.getByLabel("Amount to reverse").inputValue()) === "43.75", "the reversal does not default to all that remains");
  await reverse.getByLabel("Amount to reverse").fill("10.00");
  await reverse.getByTestId("reverse-remains").filter({ hasText: "$33.75" }).waitFor();
  await reverse.getByLabel("Reason (optional)").fill("Goods returned");
  await reverse.scrollIntoViewIfNeeded();
  await shot("19-console-reverse-confirmation");
  await reverse.getByRole("button", { name: "Confirm reversal" }).click();
  await page
    .locator('[data-testid="reversal-result"][data-outcome="reversal"]')
    .filter({ hasText: `Reversed $10.00 of transfer ${consoleTransfer.transfer_id}` })
    .filter({ hasText: "$33.75 remains" })
    .waitFor();
  const reversedRow = adminTransfers.locator(`[data-testid="transfer"][data-transfer-id="${consoleTransfer.transfer_id}"]`);
  await reversedRow.getByTestId("transfer-net-after").filter({ hasText: "$33.75 ($10.00 reversed)" }).waitFor();
  await reversedRow.locator('[data-testid="reversal"][data-cause="manual"]').filter({ hasText: "− $10.00" }).waitFor();
  await shot("20-console-reversed");
  ok("the console's Reverse confirms $43.75 sent, $0.00 reversed, $10.00 to take back and $33.75 left; confirmed, the reversal shows");

  // 15. The owner's balance is paid out (by hand: the schedule goes to manual for it, then back
  // to weekly on Friday); the admin's reversal of the rest becomes a claim.
  const ownerHeaders = { Authorization: `Bearer ${ownerSession.token}` };
  const setSchedule = (schedule) =>
    api(`${config.backend}/api/connect/payout-schedule`, {
      method: "PUT",
      headers: ownerHeaders,
      body: { organization_id: config.orgId, ...schedule },
    });
  await setSchedule({ interval: "manual" });
  const paidOut = await api(`${config.backend}/api/connect/payout`, {
    method: "POST",
    headers: { ...ownerHeaders, "Idempotency-Key": crypto.randomUUID() },
    body: { organization_id: config.orgId, currency: "usd" },
  });
  check(paidOut.amount === 13_375 + 1_750 - 875 - 1_000, `payout: ${JSON.stringify(paidOut)}`);
  await setSchedule({ interval: "weekly", weekly_anchor: "friday" });
  await adminTransfers.getByRole("button", { name: "Refresh" }).click();
  await reverseButton.click();
  await reverse.getByTestId("reverse-already").filter({ hasText: "$10.00" }).waitFor();
  check((await reverse.getByLabel("Amount to reverse").inputValue()) === "33.75", "the second reversal does not default to what remains");
  await reverse.getByTestId("reverse-remains").filter({ hasText: "$0.00" }).waitFor();
  await reverse.getByRole("button", { name: "Confirm reversal" }).click();
  await page
    .locator('[data-testid="reversal-result"][data-outcome="claim"]')
    .filter({ hasText: "Acme's balance could not cover $33.75: recorded as claim" })
    .waitFor();
  const openClaims = page.getByRole("region", { name: "Open claims", exact: true });
  const openClaim = openClaims.getByTestId("claim").filter({ hasText: "Acme" });
  await openClaim.getByTestId("claim-open").filter({ hasText: "$33.75" }).waitFor();
  await openClaim.getByTestId("claim-cause").filter({ hasText: "Manual reversal" }).waitFor();
  await openClaims.getByTestId("claims-total").filter({ hasText: "Open in all: $33.75" }).waitFor();
  const acmeClaims = page.getByRole("region", { name: "Open claims of Acme" });
  await acmeClaims.getByTestId("claim").getByTestId("claim-open").filter({ hasText: "$33.75" }).waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot("21-console-claim");
  // Reverse again: the confirmation shows the claim already held on the transfer; cancelled, nothing moves.
  await reverseButton.click();
  await reverse.getByTestId("reverse-claimed").filter({ hasText: "$33.75 ($33.75 still open)" }).waitFor();
  await reverse.getByRole("button", { name: "Cancel" }).click();
  await reverse.waitFor({ state: "detached" });
  ok("with the balance paid out, reversing the remaining $33.75 records a claim: the console shows it per organization, in total and on the transfer");

  // The next transfer settles the claim first: $20.00 less 12.5 % is $17.50, all of it owed.
  await panel.getByLabel("Amount").fill("20.00");
  await panel.getByRole("button", { name: "Review transfer" }).click();
  await confirmation.getByTestId("preview-claims").filter({ hasText: "$17.50" }).waitFor();
  await confirmation.getByTestId("preview-net").filter({ hasText: "$0.00" }).waitFor();
  await confirmation.getByText("The claims take the whole net: nothing is sent").waitFor();
  await confirmation.scrollIntoViewIfNeeded();
  await shot("23-console-transfer-settles-claim");
  await confirmation.getByRole("button", { name: "Confirm transfer" }).click();
  await panel
    .getByTestId("transfer-result")
    .filter({ hasText: "Nothing sent to Acme: $20.00 less the 12.5 % fee of $2.50 settled $17.50 of what it owed." })
    .waitFor();
  await openClaim.getByTestId("claim-open").filter({ hasText: "$16.25" }).waitFor();
  await openClaims.getByTestId("claims-total").filter({ hasText: "Open in all: $16.25" }).waitFor();
  ok("the next transfer's preview shows the claim taking its whole $17.50 net; confirmed, nothing is sent and $16.25 stays open");

  // 16. The owner sees the manual reversal in the history and the claim in its claims card.
  await signOut();
  await page.goto(settings);
  await signIn(config.owner);
  const ownerRow = page
    .getByRole("region", { name: "Transfers received" })
    .locator(`[data-testid="transfer"][data-transfer-id="${consoleTransfer.transfer_id}"]`);
  await ownerRow.getByTestId("transfer-net-after").filter({ hasText: "$33.75 ($10.00 reversed)" }).waitFor();
  await ownerRow.locator('[data-testid="reversal"][data-cause="manual"]').getByTestId("reversal-cause").filter({ hasText: "Manual" }).waitFor();
  const owed = page.getByRole("region", { name: "What you owe the platform" });
  const owedClaim = owed.getByTestId("claim");
  await owedClaim.getByTestId("claim-amount").filter({ hasText: "$33.75" }).waitFor();
  await owedClaim.getByTestId("claim-settled").filter({ hasText: "$17.50" }).waitFor();
  await owedClaim.getByTestId("claim-open").filter({ hasText: "$16.25" }).waitFor();
  await owedClaim.getByTestId("claim-cause").filter({ hasText: "Manual reversal" }).waitFor();
  await owedClaim.getByTestId("claim-settlements").filter({ hasText: "$17.50 from a transfer on" }).waitFor();
  await owed.getByTestId("claims-total").filter({ hasText: "Open in all: $16.25" }).waitFor();
  await page.getByTestId("available-usd").filter({ hasText: "$0.00" }).waitFor();
  await ownerRow.scrollIntoViewIfNeeded();
  await shot("22-owner-reversal-and-claim");
  ok("the owner sees $10.00 taken back of the $43.75 transfer, and a $33.75 claim of which a transfer settled $17.50: $16.25 open");

  // 17. A member sees the status and no actions, and no console.
  await signOut();
  await signIn(config.member);
  await expectBadge("Active");
  await page.getByTestId("member-note").waitFor();
  for (const name of ["Set up payouts", "Continue onboarding", "Open Stripe dashboard", "Pay out now", "Save schedule", "Update bank details"]) {
    check((await page.getByRole("button", { name }).count()) === 0, `a member sees "${name}"`);
  }
  for (const name of ["Balance", "Payouts", "Transfers received", "What you owe the platform"]) {
    check((await page.getByRole("region", { name, exact: true }).count()) === 0, `a member sees the region "${name}"`);
  }
  check((await page.getByRole("link", { name: "Connect console" }).count()) === 0, "a member sees the console link");
  await shot("08-member");
  ok("a member sees Active and no actions, no balance, no history, no console link");

  await page.goto(consolePath);
  await page.getByTestId("console-unavailable").waitFor();
  check((await page.getByRole("region", { name: "Organizations" }).count()) === 0, "a member sees the organizations");
  await shot("16-console-not-available");
  ok("a member at /admin/connect is told the console is not available");

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
