// The operator UI fits the screen: every page at phone width (390), 1280×800 and 1920×1080 in
// Chromium, with 200 artifacts, 200 misses and 200 downloads whose URLs are long, has no
// horizontal page scroll, and its controls (header links, row buttons, the last column) lie
// inside the viewport. Long URLs show host … file name and keep the full URL for hover and copy.
// Screenshots (full width, the top 2400 px) go to test-output/screenshots/fit-<page>-<width>.png:
// look at them.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { cacheKey } from "../src/core/cache-key.ts";
import { openCacheStore } from "../src/store/store.ts";
import { startOrigin, startUi, type Origin, type UiServer } from "./ui-support.ts";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = resolve(import.meta.dir, "../test-output/screenshots");
const PASSWORD = "fit-test-password";
const ROWS = 200;
/** Jobs that stay queued or running (held by a loopback origin that never sends a byte): they
 *  carry the Cancel buttons. The other jobs are finished, with long hosts that are never fetched. */
const LIVE_JOBS = 6;
const SHOT_HEIGHT_PX = 2400;

const WIDTHS = [
  { name: "390", width: 390, height: 844 },
  { name: "1280", width: 1280, height: 800 },
  { name: "1920", width: 1920, height: 1080 },
] as const;

/** One entry per page: where it is, what must be on it (so the fit check is never vacuous), and
 *  an optional step that brings it into the state to check. New pages go here. */
type PageCase = {
  name: string;
  path: string;
  /** CSS selector → at least this many visible matches. */
  present: Record<string, number>;
  prepare?: (page: Page) => Promise<void>;
};

const HEADER = { "header.site a[href='/admin/add']": 1, "header.site .logout button": 1 };

function pages(origin: Origin): PageCase[] {
  return [
    { name: "overview", path: "/", present: { ...HEADER, "#dashboard .chart": 1 } },
    { name: "events", path: "/admin/events", present: { ...HEADER } },
    {
      name: "misses",
      path: "/admin/misses",
      present: { ...HEADER, "#misses tbody tr": ROWS, "form[action='/admin/misses/dismiss'] button": ROWS, "form[action='/admin/misses/download'] button": 1 },
    },
    {
      name: "downloads",
      path: "/admin/downloads",
      present: { ...HEADER, "#downloads tbody tr": ROWS, "#downloads button": LIVE_JOBS, "form[action$='/retry'] button": 1, "#downloads .error": 1 },
    },
    {
      name: "artifacts",
      path: "/admin/artifacts",
      present: { ...HEADER, "#artifacts tbody tr": ROWS, "form[action='/admin/artifacts/delete'] button": ROWS, "#artifact-filter": 1 },
    },
    {
      name: "tokens",
      path: "/admin/tokens",
      present: { ...HEADER, "header.site a[href='/admin/tokens']": 1, "#tokens-table tbody tr": TOKENS + 1, "form[action='/admin/tokens/revoke'] button": TOKENS + 1, "#token-name": 1, "#tokens .new-token #new-token": 1 },
      // The page after a create: the new token shown once, above the list.
      prepare: async (page) => {
        await page.fill("#token-name", `shown-once-${++created}`);
        await page.click("#tokens button[type=submit]");
        await page.locator("#tokens .new-token").waitFor();
      },
    },
    {
      name: "add",
      path: "/admin/add",
      present: { ...HEADER, "#add textarea": 1, "#add button[type=submit]": 1, "#add .good li .url": 1, "#add .bad li": 2 },
      // The page after a post: one good line (held by the loopback origin), two bad long lines.
      prepare: async (page) => {
        const lines = [`${origin.base}/slow/hold/${longPath(900)}`, `ftp://${longHost(900)}/${longPath(901)}`, `not a url ${"x".repeat(200)}`];
        await page.fill("textarea[name=urls]", lines.join("\n"));
        await page.click("#add button[type=submit]");
        await page.locator("#add .results").waitFor();
      },
    },
  ];
}

/** Tokens with the longest names allowed (64 characters). */
const TOKENS = 20;
let created = 0;

function longHost(i: number): string {
  return `very-long-subdomain-${i}.downloads.vendor.example.com`;
}

/** A 180-character path ending in a recognisable file name. */
function longPath(i: number): string {
  const file = `tool-${i}.2.3-x86_64-linux-gnu.tar.gz`;
  const dirs = `releases/2026/stable/${"nightly-build-artifacts/".repeat(8)}`;
  return `${(dirs + "x".repeat(180)).slice(0, 180 - file.length - 1)}/${file}`;
}

const CUDA_URL = "https://developer.download.nvidia.com/compute/cuda/12.6.2/local_installers/cuda-repo-ubuntu2204-12-6-local_12.6.2-560.35.03-1_amd64.deb";

function longUrl(i: number): string {
  return `https://${longHost(i)}/${longPath(i)}`;
}

/** 200 artifacts, 200 misses and 200 jobs, written with the store directly before the server starts. */
async function seed(dataDir: string, origin: Origin): Promise<void> {
  const store = openCacheStore(dataDir);
  try {
    const now = Date.now();
    const meta = store.metadata;
    for (let i = 0; i < ROWS; i++) {
      const url = longUrl(i);
      await meta.commitArtifact({
        key: cacheKey(new URL(url), { keepQuery: false }),
        url,
        sha256: i.toString(16).padStart(64, "a"),
        sizeBytes: 1024 * 1024 * (i + 1) * 37,
        contentType: "application/x-gtar-compressed-with-a-long-type-name",
        contentDisposition: null,
        fetchedAtMs: now - i * 3_600_000,
      });
      if (i % 3 === 0) meta.recordHit(cacheKey(new URL(url), { keepQuery: false }), now - i * 60_000);
    }
    for (let i = 0; i < ROWS; i++) {
      const url = `${longUrl(1000 + i)}?X-Amz-Signature=${"f".repeat(64)}`;
      const key = cacheKey(new URL(url), { keepQuery: false });
      for (let n = 0; n <= i % 4; n++) meta.recordMiss({ key, url, nowMs: now - (ROWS - i) * 3_600_000 + n * 1000 });
      if (i % 5 === 0) await meta.setMissInfo(key, { knownSizeBytes: 123_456_789 * (i + 1) });
      if (i === 1) await meta.markUncacheable({ key, url, reason: `origin sent Cache-Control: no-store for ${url}`, untilMs: now + 3_600_000, nowMs: now });
      if (i === 2) {
        const { job } = await meta.insertJob({ key, url, source: "operator", nowMs: now - 5000 });
        await meta.updateJob(job.id, { state: "failed", error: `origin answered 403 for ${url}`, startedAtMs: now - 4000, finishedAtMs: now - 3000 });
      }
    }
    for (let i = 0; i < ROWS - LIVE_JOBS; i++) {
      const url = longUrl(2000 + i);
      const { job } = await meta.insertJob({ key: cacheKey(new URL(url), { keepQuery: false }), url, source: "operator", nowMs: now - 86_400_000 + i * 1000 });
      const total = 987_654_321 + i;
      const state = i % 3 === 0 ? "failed" : i % 3 === 1 ? "cancelled" : "completed";
      await meta.updateJob(job.id, {
        state,
        bytesDone: state === "completed" ? total : Math.floor(total / 3),
        totalBytes: total,
        error: state === "failed" ? `origin answered 503 for ${url} after 3 attempts` : null,
        startedAtMs: now - 86_000_000 + i * 1000,
        finishedAtMs: now - 80_000_000 + i * 1000,
      });
    }
    // A long vendor file name (61 characters with its "/"), as an artifact and a finished download.
    await meta.commitArtifact({ key: cacheKey(new URL(CUDA_URL), { keepQuery: false }), url: CUDA_URL, sha256: "c".repeat(64), sizeBytes: 3_221_225_472, contentType: "application/vnd.debian.binary-package", contentDisposition: null, fetchedAtMs: now });
    {
      const { job } = await meta.insertJob({ key: cacheKey(new URL(CUDA_URL), { keepQuery: false }), url: CUDA_URL, source: "operator", nowMs: now });
      await meta.updateJob(job.id, { state: "completed", bytesDone: 3_221_225_472, totalBytes: 3_221_225_472, startedAtMs: now - 200, finishedAtMs: now - 100 });
    }
    // Live jobs: the loopback origin sends headers and then nothing, so they stay running/queued.
    for (let i = 0; i < LIVE_JOBS; i++) {
      const url = `${origin.base}/slow/hold/${longPath(3000 + i)}`;
      await meta.insertJob({ key: cacheKey(new URL(url), { keepQuery: false }), url, source: "operator", nowMs: now - 1000 + i });
    }
  } finally {
    await store.close();
  }
}

let origin: Origin;
let ui: UiServer;
let context: BrowserContext;
let userDataDir: string;
let dataDir: string;
const problems: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  origin = await startOrigin();
  origin.slow("hold", { chunks: 4, chunkBytes: 1024 }); // gated: never allowed a chunk
  dataDir = mkdtempSync(join(tmpdir(), "withcache-ui-fit-"));
  await seed(dataDir, origin);
  ui = await startUi({ password: PASSWORD, curate: true, dataDir });
  for (let i = 0; i < TOKENS; i++) {
    const made = await ui.running.ctx.tokens.create(`${String(i).padStart(2, "0")}-${"long-token-name-".repeat(4)}`.slice(0, 64), i % 2 === 0 ? "read" : "admin");
    if (!made.ok) throw new Error(made.message);
  }
  userDataDir = mkdtempSync(join(tmpdir(), "withcache-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"],
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(15_000);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: ui.base });
}, 30_000);

afterAll(async () => {
  await context?.close();
  await ui?.stop();
  origin?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

type Fit = { scrollWidth: number; innerWidth: number; checked: number; outside: string[]; missing: string[] };

/** Measured in the page: the page's scroll width, and every visible control, URL and last column
 *  whose box leaves the viewport sideways; plus the selectors with fewer visible matches than required. */
async function measure(page: Page, present: Record<string, number>): Promise<Fit> {
  return page.evaluate((present) => {
    const vw = window.innerWidth;
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
    };
    const describe = (el: Element) => {
      const r = el.getBoundingClientRect();
      const text = (el.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 40);
      return `<${el.tagName.toLowerCase()}${el.className ? ` class="${el.className}"` : ""}> "${text}" at ${Math.round(r.left)}..${Math.round(r.right)}`;
    };
    const selector = ["header.site a", "header.site button", "main a", "main button", "main input", "main select", "main textarea", "main .url", "table.rows th:last-child", "table.rows td:last-child", "main h2"].join(", ");
    const outside: string[] = [];
    let checked = 0;
    for (const el of Array.from(document.querySelectorAll(selector))) {
      if (!visible(el) || el.closest(".visually-hidden")) continue;
      checked++;
      const r = el.getBoundingClientRect();
      if (r.left < -0.5 || r.right > vw + 0.5) outside.push(describe(el));
    }
    const missing: string[] = [];
    for (const [sel, min] of Object.entries(present)) {
      const n = Array.from(document.querySelectorAll(sel)).filter(visible).length;
      if (n < min) missing.push(`${sel}: ${n} visible, expected at least ${min}`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, checked, outside: outside.slice(0, 8).concat(outside.length > 8 ? [`… ${outside.length - 8} more`] : []), missing };
  }, present);
}

function watch(page: Page): void {
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
}

async function checkFit(page: Page, label: string, present: Record<string, number>, failures: string[]): Promise<void> {
  const fit = await measure(page, present);
  if (fit.scrollWidth > fit.innerWidth) failures.push(`${label}: page scrolls sideways: scrollWidth ${fit.scrollWidth} > innerWidth ${fit.innerWidth}`);
  for (const o of fit.outside) failures.push(`${label}: outside the viewport: ${o}`);
  for (const m of fit.missing) failures.push(`${label}: missing: ${m}`);
  if (fit.checked < 2) failures.push(`${label}: only ${fit.checked} elements checked`);
  const t0 = Date.now();
  // The whole width, and the page's top SHOT_HEIGHT_PX (the header and the first few dozen rows):
  // a shot of all 200 rows took ~5 s each. The measurement above covers every row.
  const height = Math.min(SHOT_HEIGHT_PX, await page.evaluate(() => document.documentElement.scrollHeight));
  await page.screenshot({ path: join(SHOTS, `fit-${label}.png`), fullPage: true, clip: { x: 0, y: 0, width: fit.innerWidth, height }, animations: "disabled", timeout: 15_000 });
  if (process.env.FIT_TIMING) console.log(`${label}: measured, screenshot ${Date.now() - t0} ms`);
}

/** A new watched page (at this viewport), logged in unless the context's session already is. */
async function loggedInPage(viewport?: { width: number; height: number }): Promise<Page> {
  const page = await context.newPage();
  watch(page);
  if (viewport) await page.setViewportSize(viewport);
  await page.goto(`${ui.base}/login`);
  if (new URL(page.url()).pathname === "/login") {
    await page.fill("input[name=password]", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForURL(/\/admin(\/misses)?$/);
  }
  return page;
}

test("every page fits at 390, 1280 and 1920 px with 200 long-URL rows", async () => {
  const failures: string[] = [];
  const page = await context.newPage();
  watch(page);
  // The login page, before logging in.
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w.width, height: w.height });
    await page.goto(`${ui.base}/login`);
    await checkFit(page, `login-${w.name}`, { "main.login input[type=password]": 1, "main.login button[type=submit]": 1 }, failures);
  }
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/admin(\/misses)?$/);
  for (const p of pages(origin)) {
    for (const w of WIDTHS) {
      await page.setViewportSize({ width: w.width, height: w.height });
      await page.goto(ui.base + p.path);
      if (p.prepare) await p.prepare(page);
      await checkFit(page, `${p.name}-${w.name}`, p.present, failures);
    }
  }
  await page.close();
  expect(failures).toEqual([]);
  expect(problems).toEqual([]);
}, 60_000);

test("a long URL shows host … file name, with the full URL on hover and copied by its button", async () => {
  const page = await loggedInPage({ width: 1920, height: 1080 });
  // Misses at 1920 (not live, so nothing re-renders meanwhile): its URL column is wide enough for
  // the whole file name (where a column is narrower than the name, the name is cut as well). Misses show the URL with its query replaced by "?…".
  await page.goto(`${ui.base}/admin/misses`);
  const full = `${longUrl(1005)}?…`;
  const row = page.locator("#misses tbody tr", { hasText: "/tool-1005.2.3-x86_64" });
  const cell = row.locator(".url");
  await expect(cell.getAttribute("title")).resolves.toBe(full);
  // The whole URL is in the DOM (selectable, found by the browser's find); the visible part is
  // the host's start, an ellipsis, and the file name.
  await expect(cell.textContent()).resolves.toBe(full);
  const shown = await cell.evaluate((el) => {
    const head = el.querySelector(".url-head")!;
    const tail = el.querySelector(".url-tail")!;
    return { headClipped: head.scrollWidth > head.clientWidth, headOverflow: getComputedStyle(head).textOverflow, tail: tail.textContent, tailFits: tail.scrollWidth <= tail.clientWidth + 1 };
  });
  expect(shown).toEqual({ headClipped: true, headOverflow: "ellipsis", tail: "/tool-1005.2.3-x86_64-linux-gnu.tar.gz?…", tailFits: true });
  await row.locator("button.copy-url").click();
  // The label says "copied" for 1.5 s: wait for it first (a slow machine may take longer than that
  // to read the clipboard back), then check what was copied.
  await row.locator("button.copy-url", { hasText: "copied" }).waitFor({ timeout: 5_000 });
  await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(full);
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);

test("the overview's empty chart says so in readable text at 390 px", async () => {
  const page = await loggedInPage({ width: 390, height: 844 });
  await page.goto(`${ui.base}/admin`);
  // The seeded store has no traffic: the chart is in its empty state. Its text, as rendered
  // (an SVG <text> scaled down with the viewBox was ~5 px tall), is at least 12 px.
  const text = page.locator("#dashboard [data-empty='true']", { hasText: "No requests in the last 24 hours" });
  const heightPx = await text.evaluate((el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node = walker.nextNode();
    // The visible words (an SVG's <title>/<desc> carry them too, but are never drawn).
    while (node !== null && (!(node.textContent ?? "").includes("No requests") || node.parentElement?.closest("title, desc"))) node = walker.nextNode();
    if (node === null) return 0;
    const range = document.createRange();
    range.selectNodeContents(node);
    return range.getBoundingClientRect().height;
  });
  expect(heightPx).toBeGreaterThanOrEqual(12);
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);

test("Cached artifacts at 1280 and 1920 px: every row shows its whole file name", async () => {
  const page = await loggedInPage();
  for (const width of [1280, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    await page.goto(`${ui.base}/admin/artifacts`);
    const cut = await page.evaluate(() =>
      // The seeded tool-N names (the one longer vendor name, cut at 1280, has its own test below).
      Array.from(document.querySelectorAll("#artifacts tbody .url-tail, #artifacts tbody .url-stem"))
        .filter((t) => !(t.closest(".url")?.getAttribute("title") ?? "").includes("cuda-repo-"))
        // Strict: Chromium draws an ellipsis for a name cut by any fraction of a pixel.
        .filter((t) => t.scrollWidth > t.clientWidth)
        .map((t) => `${t.textContent} shows ${t.clientWidth} of ${t.scrollWidth} px`),
    );
    expect([width, cut.length, cut.slice(0, 3)]).toEqual([width, 0, []]);
    await page.locator("#artifacts tbody tr").first().screenshot({ path: join(SHOTS, `fit-artifacts-row-${width}.png`), timeout: 15_000 });
    const rows = await page.locator("#artifacts tbody .url-tail", { hasText: "/tool-105.2.3-x86_64-linux-gnu.tar.gz" }).count();
    expect(rows).toBe(1);
  }
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);

test("a file name wider than its column is cut with an ellipsis, never clipped bare", async () => {
  const page = await loggedInPage({ width: 390, height: 844 });
  // Misses at 390 px: a card's URL line is narrower than "/tool-1005.2.3-x86_64-linux-gnu.tar.gz?…".
  // The head gives way to its first letters, then the file name itself must shrink and draw its
  // ellipsis (its stem does; the extension stays); a tail that does not shrink is clipped by the URL box with no sign that it was cut
  // (".tar.gz" shown as ".t").
  await page.goto(`${ui.base}/admin/misses`);
  const shown = await page.evaluate(() =>
    Array.from(document.querySelectorAll("#misses tbody .url")).map((u) => {
      const stem = u.querySelector(".url-tail .url-stem")!;
      return { clipped: u.scrollWidth > u.clientWidth + 1, tailCut: stem.scrollWidth > stem.clientWidth };
    }),
  );
  expect(shown.length).toBe(ROWS);
  expect(shown.filter((s) => s.tailCut).length).toBeGreaterThan(0); // the case is really exercised
  expect(shown.filter((s) => s.clipped).length).toBe(0);
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);

/** Each element's text, title and how many lines (of its own line height) it takes. */
function linesOf(page: Page, selector: string): Promise<Array<{ text: string; title: string; lines: number }>> {
  return page.evaluate((sel) =>
    Array.from(document.querySelectorAll(sel)).map((el) => {
      const style = getComputedStyle(el);
      const lineHeightPx = style.lineHeight === "normal" ? parseFloat(style.fontSize) * 1.2 : parseFloat(style.lineHeight);
      return { text: (el.textContent ?? "").trim(), title: el.getAttribute("title") ?? "", lines: Math.round(el.getBoundingClientRect().height / lineHeightPx) };
    }), selector);
}

test("Downloads at 1280 px: a finished job's When cell takes at most two lines", async () => {
  const page = await loggedInPage({ width: 1280, height: 800 });
  await page.goto(`${ui.base}/admin/downloads`);
  const cells = await linesOf(page, "#downloads tbody tr td[data-label='When'] small");
  // The reviewer's row ("finished just now, took 0s") is there, and every finished row was measured.
  expect(cells.some((c) => /^finished just now, took \d+s$/.test(c.text))).toBe(true);
  expect(cells.filter((c) => c.text.startsWith("finished")).length).toBeGreaterThan(ROWS / 2);
  expect(cells.filter((c) => c.lines > 2)).toEqual([]);
  await page.locator("#downloads tbody tr", { hasText: "finished just now" }).first().screenshot({ path: join(SHOTS, "fit-downloads-when-1280.png"), timeout: 15_000 });
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);

test("Cached artifacts at 1280 px: a freshness policy takes at most two lines, the whole text in its title", async () => {
  const page = await loggedInPage({ width: 1280, height: 800 });
  await page.goto(`${ui.base}/admin/artifacts`);
  const cells = await linesOf(page, "#artifacts tbody tr td.freshness small.policy");
  // The long policy of rows filled before freshness was tracked is among them.
  expect(cells.some((c) => c.text.length > 50)).toBe(true);
  expect(cells.filter((c) => c.lines > 2)).toEqual([]);
  expect(cells.filter((c) => c.title !== c.text)).toEqual([]);
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);

test("a long file name cut to fit still shows its extension, at 390 and 1280 px", async () => {
  const page = await loggedInPage();
  // Widths at which the name really was cut somewhere (else the check proves nothing): at 1280
  // Downloads has room for the whole name, Cached artifacts does not.
  const cutAt = new Set<number>();
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    for (const [path, table] of [["/admin/artifacts", "#artifacts"], ["/admin/downloads", "#downloads"]] as const) {
      await page.goto(ui.base + path);
      const row = page.locator(`${table} tbody tr`, { hasText: "cuda-repo-ubuntu2204" });
      const shown = await row.locator(".url").evaluate((url) => {
        // The last four characters of the URL (".deb") as drawn: inside every box that clips them?
        const walker = document.createTreeWalker(url, NodeFilter.SHOW_TEXT);
        let last: Text | null = null;
        for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) if ((n.textContent ?? "") !== "") last = n as Text;
        const range = document.createRange();
        range.setStart(last!, last!.length - 4);
        range.setEnd(last!, last!.length);
        const r = range.getBoundingClientRect();
        const clippedBy: string[] = [];
        for (let el: Element | null = last!.parentElement; el !== null && url.contains(el); el = el.parentElement) {
          const box = el.getBoundingClientRect();
          if (getComputedStyle(el).overflowX !== "visible" && (r.left < box.left - 0.5 || r.right > box.right + 0.5)) clippedBy.push(el.className);
        }
        // Something in the name really is cut (else the check proves nothing).
        const cut = Array.from(url.querySelectorAll("*")).some((el) => el !== url.firstElementChild && el.scrollWidth > el.clientWidth);
        return { end: range.toString(), clippedBy, cut };
      });
      expect([width, path, shown.end, shown.clippedBy]).toEqual([width, path, ".deb", []]);
      if (shown.cut) cutAt.add(width);
      await row.screenshot({ path: join(SHOTS, `fit-ext-${path.split("/").pop()}-${width}.png`), timeout: 15_000 });
    }
  }
  expect([...cutAt].sort()).toEqual([1280, 390]);
  await page.close();
  expect(problems).toEqual([]);
}, 30_000);
