// The Tokens page in a real browser (Debian's chromium via playwright-core): create a token, see
// it once with a working copy button, use it, revoke it through the confirm dialog (dismissed
// first: nothing happens), and the API refuses it. Then the same without JavaScript: plain form
// posts and the confirmation step. Screenshots at 1280 and 390 px go to
// test-output/screenshots/tokens-*.png (look at them).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { pollUntil } from "./helpers/index.ts";
import { startUi, type UiServer } from "./ui-support.ts";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = resolve(import.meta.dir, "../test-output/screenshots");
const PASSWORD = "tokens-browser-password";
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let ui: UiServer;
let browser: Browser;
const problems: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  ui = await startUi({ password: PASSWORD });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"],
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await ui?.stop();
});

/** What a confirm dialog gets: the test says, per step. Any other dialog is a problem. */
let dialogAnswer: "accept" | "dismiss" = "dismiss";
const dialogs: string[] = [];

function watch(page: Page): void {
  page.on("dialog", (dialog) => {
    if (dialog.type() !== "confirm") problems.push(`unexpected ${dialog.type()}: ${dialog.message()}`);
    dialogs.push(dialog.message());
    void (dialogAnswer === "accept" ? dialog.accept() : dialog.dismiss());
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, animations: "disabled", timeout: 10_000 });
}

async function logIn(page: Page): Promise<void> {
  await page.goto(`${ui.base}/login`);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/admin$/);
}

async function apiStatus(token: string): Promise<number> {
  return (await fetch(`${ui.base}/api/v1/stats`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function fits(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

test("create a token, copy it, revoke it with the confirm dialog", async () => {
  expect(existsSync(CHROMIUM)).toBe(true);
  const context: BrowserContext = await browser.newContext({ viewport: WIDE });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: ui.base });
  const page = await context.newPage();
  watch(page);
  try {
    await logIn(page);
    await page.click("header.site a[href='/admin/tokens']");
    await page.waitForURL(/\/admin\/tokens$/);
    await page.locator("#tokens .empty").waitFor();
    await page.fill("#token-name", "laptop-cli");
    await page.selectOption("#token-scope", "admin");
    await page.click("#tokens button[type=submit]");
    // HTMX swaps the section: the token once, with a copy button.
    const box = page.locator("#tokens .new-token");
    await box.waitFor();
    await expect(box.textContent()).resolves.toContain("it will not be shown again");
    const token = (await page.locator("#new-token").textContent()) ?? "";
    expect(token).toMatch(/^wc_[A-Za-z0-9_-]{43}$/);
    expect(new URL(page.url()).pathname).toBe("/admin/tokens"); // never in the URL
    await expect(page.locator("#tokens-table tbody tr[data-token='laptop-cli'] .badge").textContent()).resolves.toBe("admin");
    await box.locator("button.copy").click();
    await box.locator("button.copy", { hasText: "copied" }).waitFor({ timeout: 5_000 });
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(token);
    expect(await apiStatus(token)).toBe(200);
    expect(await fits(page)).toBe(true);
    await shot(page, "tokens-created-1280");
    await page.setViewportSize(PHONE);
    expect(await fits(page)).toBe(true);
    await shot(page, "tokens-created-390");
    await page.setViewportSize(WIDE);

    // Shown once: a reload has the row, not the token.
    await page.reload();
    await page.locator("#tokens-table tbody tr[data-token='laptop-cli']").waitFor();
    await expect(page.locator("#tokens .new-token").count()).resolves.toBe(0);
    expect(await page.content()).not.toContain(token);
    await shot(page, "tokens-list-1280");

    // Revoke, but dismiss the confirm dialog: nothing is sent, the token still works.
    const revoke = page.locator("#tokens-table tbody tr[data-token='laptop-cli'] button", { hasText: "Revoke" });
    dialogAnswer = "dismiss";
    await revoke.click();
    await pollUntil(() => dialogs.length === 1, { what: "the confirm dialog", timeoutMs: 5_000 });
    expect(dialogs[0]).toBe("Revoke token laptop-cli? Scripts using it are refused at once.");
    await expect(page.locator("#tokens-table tbody tr[data-token='laptop-cli']").count()).resolves.toBe(1);
    expect(await apiStatus(token)).toBe(200);

    // Accept it: the row goes, the notice says so, the API refuses the token.
    dialogAnswer = "accept";
    await revoke.click();
    await page.locator("#tokens .notice-ok", { hasText: "revoked token laptop-cli" }).waitFor();
    await expect(page.locator("#tokens-table tbody tr[data-token='laptop-cli']").count()).resolves.toBe(0);
    expect(dialogs.length).toBe(2);
    expect(await apiStatus(token)).toBe(401);
    await shot(page, "tokens-revoked-1280");
    await page.setViewportSize(PHONE);
    await shot(page, "tokens-revoked-390");
  } finally {
    await context.close();
  }
  expect(problems).toEqual([]);
}, 60_000);

test("without JavaScript: create shows the token, revoke asks on a page of its own, then 401", async () => {
  const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false });
  const page = await context.newPage();
  watch(page);
  const dialogsBefore = dialogs.length;
  try {
    await logIn(page);
    await page.goto(`${ui.base}/admin/tokens`);
    await page.fill("#token-name", "no-js");
    await Promise.all([page.waitForURL(/\/admin\/tokens\/create$/, { timeout: 20_000 }), page.click("form.token-create button[type=submit]")]);
    await page.locator("#tokens .new-token").waitFor();
    expect(new URL(page.url()).pathname).toBe("/admin/tokens/create"); // the page answered the post itself
    const token = (await page.locator("#new-token").textContent()) ?? "";
    expect(await apiStatus(token)).toBe(200);
    await expect(page.locator("#tokens-table tbody tr[data-token='no-js'] .badge").textContent()).resolves.toBe("read");
    expect(await fits(page)).toBe(true);

    // A bad name: one line, the form keeps it.
    await page.goto(`${ui.base}/admin/tokens`);
    await page.fill("#token-name", "no js");
    // Wait for the post's own answer (under load a locator wait alone raced the navigation).
    const [refused] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/admin/tokens/create", { timeout: 20_000 }),
      page.click("form.token-create button[type=submit]"),
    ]);
    expect(refused.status()).toBe(400);
    await page.waitForLoadState("load");
    await expect(page.locator("#token-error").textContent()).resolves.toContain(`token name "no js" must be 1 to 64 letters`);
    await expect(page.locator("#token-name").inputValue()).resolves.toBe("no js");
    // The browser reports the page's 400 itself; that one is expected (bounded wait: the console
    // event may come after the page rendered).
    await pollUntil(() => problems.length > 0, { what: "the browser's 400 console message", timeoutMs: 5_000 });
    expect(problems.splice(0)).toEqual([expect.stringContaining("status of 400 (Bad Request)")]);

    await page.goto(`${ui.base}/admin/tokens`);
    await page.locator("#tokens-table tbody tr[data-token='no-js'] button", { hasText: "Revoke" }).click();
    await page.locator("#tokens article.confirm").waitFor();
    await expect(page.locator("#tokens article.confirm").textContent()).resolves.toContain("Revoke token no-js?");
    expect(await apiStatus(token)).toBe(200); // asked, not done
    expect(await fits(page)).toBe(true);
    await shot(page, "tokens-confirm-390");
    await page.locator("#tokens article.confirm button", { hasText: "Revoke no-js" }).click();
    await page.waitForURL(/\/admin\/tokens\?notice=/);
    await expect(page.locator("#tokens .notice-ok").textContent()).resolves.toContain("revoked token no-js");
    expect(await apiStatus(token)).toBe(401);
    expect(dialogs.length).toBe(dialogsBefore); // none here: no JS, no hx-confirm
  } finally {
    await context.close();
  }
  expect(problems).toEqual([]);
}, 60_000);
