// The operator UI over HTTP against the real server and a real origin: every page and action
// with and without a session, with and without HX-Request; CSRF, cross-site, tampered and
// expired cookies, password change, the login rate limit, escaping, static assets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeToken } from "../src/core/token.ts";
import { SESSION_LIFETIME_MS } from "../src/server/auth.ts";
import { pollUntil, run } from "./helpers/index.ts";
import { FormClient, csrfOf, fileBytes, startOrigin, startUi, type Origin, type UiServer } from "./ui-support.ts";

const PASSWORD = "correct horse battery staple";
const XSS = `https://x/<script>alert(1)</script>"'><img src=x onerror=alert(2)>`;

let origin: Origin;
let ui: UiServer;
let clock = Date.now();

beforeAll(async () => {
  origin = await startOrigin();
  ui = await startUi({ password: PASSWORD, nowMs: () => clock });
});
afterAll(async () => {
  await ui.stop();
  origin.stop();
});

async function loggedIn(): Promise<FormClient> {
  const c = new FormClient(ui.base);
  const res = await c.login(PASSWORD);
  expect(res.status).toBe(303);
  return c;
}

function jobs() {
  return ui.running.ctx.store.metadata.listJobs({ limit: 100 });
}

describe("without a session", () => {
  test("pages redirect to the login form, HTMX gets 401 with HX-Redirect", async () => {
    const c = new FormClient(ui.base);
    for (const path of ["/", "/admin/misses", "/admin/downloads", "/admin/artifacts?sort=size", "/admin/add"]) {
      const res = await c.get(path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toStartWith("/login");
    }
    expect((await c.get("/admin/artifacts?sort=size")).headers.get("location")).toBe("/login?next=%2Fadmin%2Fartifacts%3Fsort%3Dsize");
    const hx = await c.get("/admin/downloads", { hx: true });
    expect(hx.status).toBe(401);
    expect(hx.headers.get("hx-redirect")).toBe("/login?next=%2Fadmin%2Fdownloads");
  });
  test("actions are refused and change nothing", async () => {
    ui.running.ctx.store.metadata.recordMiss({ key: "https://h/nosession", url: "https://h/nosession", nowMs: clock });
    const c = new FormClient(ui.base);
    const res = await c.request("POST", "/admin/misses/dismiss", { form: { _csrf: "x", key: "https://h/nosession" } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toStartWith("/login");
    const hx = await c.request("POST", "/admin/misses/dismiss", { form: { _csrf: "x", key: "https://h/nosession" }, hx: true });
    expect(hx.status).toBe(401);
    expect(ui.running.ctx.store.metadata.getMiss("https://h/nosession")).not.toBeNull();
  });
  test("every action path wants a session, plain and HTMX", async () => {
    const c = new FormClient(ui.base);
    const paths = ["/admin/misses/download", "/admin/misses/dismiss", "/admin/downloads/1/cancel", "/admin/downloads/1/retry", "/admin/downloads/clear", "/admin/artifacts/delete", "/admin/add"];
    for (const path of paths) {
      const plain = await c.request("POST", path, { form: { _csrf: "x", url: "https://h/x", key: "k", urls: "https://h/x" } });
      expect([path, plain.status, plain.headers.get("location")?.startsWith("/login")]).toEqual([path, 303, true]);
      const hx = await c.request("POST", path, { form: { _csrf: "x" }, hx: true });
      expect([path, hx.status]).toEqual([path, 401]);
    }
    expect(jobs().filter((j) => j.url === "https://h/x")).toEqual([]);
  });
  test("the read path and static assets stay open", async () => {
    const health = await fetch(`${ui.base}/healthz`);
    expect(health.status).toBe(200);
    const htmx = await fetch(`${ui.base}/static/htmx.min.js`);
    expect(htmx.status).toBe(200);
    expect(htmx.headers.get("content-type")).toStartWith("text/javascript");
    expect(new Uint8Array(await htmx.arrayBuffer())).toEqual(new Uint8Array(readFileSync(require.resolve("htmx.org/dist/htmx.min.js"))));
    const pico = await fetch(`${ui.base}/static/pico.min.css`);
    expect(pico.status).toBe(200);
    expect(await pico.text()).toContain("--pico-");
    expect((await fetch(`${ui.base}/static/app.css`)).status).toBe(200);
    expect((await fetch(`${ui.base}/static/session-secret`)).status).toBe(404);
    expect((await fetch(`${ui.base}/static/../session-secret`)).status).toBe(404);
    for (const name of ["__proto__", "constructor", "toString", "", "app.css/"]) expect([name, (await fetch(`${ui.base}/static/${name}`)).status]).toEqual([name, 404]);
  });
});

describe("login", () => {
  test("login page renders with a csrf field and no cache data", async () => {
    const res = await new FormClient(ui.base).get("/login");
    expect(res.status).toBe(200);
    expect(res.text).toContain('type="password"');
    expect(res.text).not.toContain("Misses");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  });
  test("wrong password: 401, logged without the password", async () => {
    const c = new FormClient(ui.base);
    const page = await c.get("/login");
    const res = await c.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password: "not-it-xyzzy" }, headers: {} });
    expect(res.status).toBe(401);
    expect(res.text).toContain("wrong password");
    expect(c.cookie).toBeNull();
    expect(ui.logText()).toContain("admin.login-failed");
    expect(ui.logText()).not.toContain("not-it-xyzzy");
  });
  test("right password: HttpOnly SameSite=Strict cookie for a week, 303 to next; the password is not logged", async () => {
    const c = new FormClient(ui.base);
    const page = await c.get("/login?next=%2Fadmin%2Fartifacts");
    const res = await c.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password: PASSWORD, next: "/admin/artifacts" } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/artifacts");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Max-Age=604800");
    expect(cookie).not.toContain("Secure");
    expect((await c.get("/admin/misses")).status).toBe(200);
    expect(ui.logText()).not.toContain(PASSWORD);
    expect(ui.logText()).not.toContain(c.cookie!);
  });
  test("next cannot send the browser elsewhere", async () => {
    const c = new FormClient(ui.base);
    const page = await c.get("/login");
    const res = await c.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password: PASSWORD, next: "//evil.example/x" } });
    expect(res.headers.get("location")).toBe("/admin");
  });
  test("login without the form's csrf token or from another origin is refused", async () => {
    const c = new FormClient(ui.base);
    expect((await c.request("POST", "/login", { form: { _csrf: "forged", password: PASSWORD } })).status).toBe(403);
    const page = await c.get("/login");
    const res = await c.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password: PASSWORD }, origin: "http://evil.example" });
    expect(res.status).toBe(403);
    expect(c.cookie).toBeNull();
  });
});

describe("sessions", () => {
  test("a tampered cookie is rejected, cleared and logged", async () => {
    const c = await loggedIn();
    const [v, iat, id, mac] = c.cookie!.split(".");
    for (const forged of [`${v}.${Number(iat) + 1000}.${id}.${mac}`, `${v}.${iat}.${id}.${mac!.slice(0, -2)}AA`, "v1.1.2.3", "garbage"]) {
      const f = new FormClient(ui.base);
      f.cookie = forged;
      const res = await f.get("/admin/misses");
      expect(res.status).toBe(303);
      expect(res.headers.get("set-cookie")).toContain("Max-Age=0");
    }
    expect(ui.logText()).toContain("admin.session-rejected");
  });
  test("a cookie expires after seven days", async () => {
    const c = await loggedIn();
    clock += SESSION_LIFETIME_MS - 60_000;
    expect((await c.get("/admin/misses")).status).toBe(200);
    clock += 60_000;
    const res = await c.get("/admin/misses");
    expect(res.status).toBe(303);
    expect(ui.logText()).toContain("session cookie has expired");
    clock = Date.now();
  });
  test("log out clears the cookie and the old cookie stops working", async () => {
    const c = await loggedIn();
    const old = c.cookie!;
    const page = await c.get("/admin/misses");
    const res = await c.request("POST", "/logout", { form: { _csrf: csrfOf(page.text) } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login");
    expect(res.headers.get("set-cookie")).toContain("Max-Age=0");
    expect(c.cookie).toBeNull();
    const replay = new FormClient(ui.base);
    replay.cookie = old;
    expect((await replay.get("/admin/misses")).status).toBe(303);
  });
  test("a csrf token of another session does not work", async () => {
    const a = await loggedIn();
    const b = await loggedIn();
    const tokenA = csrfOf((await a.get("/admin/misses")).text);
    const res = await b.request("POST", "/admin/downloads/clear", { form: { _csrf: tokenA } });
    expect(res.status).toBe(403);
    expect(res.text).toContain("csrf token");
  });
});

describe("pages with a session", () => {
  test("each page: full document normally, a fragment for HTMX", async () => {
    const c = await loggedIn();
    for (const [path, id] of [["/admin", "dashboard"], ["/admin/misses", "misses"], ["/admin/downloads", "downloads"], ["/admin/artifacts", "artifacts"], ["/admin/add", "add"]] as const) {
      const full = await c.get(path);
      expect(full.status).toBe(200);
      expect(full.text).toStartWith("<!doctype html>");
      expect(full.text).toContain('action="/logout"');
      expect(full.text).not.toContain("No password set");
      expect(full.headers.get("cache-control")).toBe("no-store");
      const frag = await c.get(path, { hx: true });
      expect(frag.status).toBe(200);
      expect(frag.text).toStartWith(`<section id="${id}"`);
      expect(frag.text).not.toContain("<html");
      expect(frag.text).toContain('<header class="site container" id="site-header" hx-swap-oob="true">'); // counts stay current
    }
    expect((await c.get("/admin/nope")).status).toBe(404);
    const root = await c.get("/");
    expect(root.status).toBe(200); // the landing page is the overview
    expect(root.text).toContain('<section id="dashboard"');
  });
  test("a recorded miss full of markup renders as text", async () => {
    ui.running.ctx.store.metadata.recordMiss({ key: XSS, url: XSS, nowMs: clock });
    const c = await loggedIn();
    for (const hx of [false, true]) {
      const res = await c.get("/admin/misses", { hx });
      expect(res.text).not.toContain("<script>alert");
      expect(res.text).not.toContain("<img src=x");
      expect(res.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;");
    }
    const res = await c.post("/admin/misses/dismiss", { key: XSS }, { hx: true });
    expect(res.text).not.toContain("<script>alert");
    expect(ui.running.ctx.store.metadata.getMiss(XSS)).toBeNull();
  });
});

describe("signed URLs", () => {
  test("a query token is never shown on any page; Download still fetches with it", async () => {
    const secret = "SIGNATURE-d41d8cd98f00b204";
    const originUrl = `${origin.base}/file/signed.bin?size=64&token=${secret}`;
    const curl = await run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `${ui.base}/b/${encodeToken(originUrl)}/signed.bin`]);
    expect(curl.stdout).toBe("404");
    const c = await loggedIn();
    const misses = await c.get("/admin/misses");
    expect(misses.text).toContain(`${origin.base}/file/signed.bin?…`);
    // Only the Download form carries the whole URL (hidden), never the visible text.
    const shown = misses.text.replace(/<input type="hidden" name="url" value="[^"]*"/g, "");
    expect(shown).not.toContain(secret);
    const res = await c.post("/admin/misses/download", { url: originUrl });
    expect(res.status).toBe(303);
    expect((await c.get(res.headers.get("location")!)).text).not.toContain(secret);
    const key = `${origin.base}/file/signed.bin`;
    await pollUntil(async () => ui.running.ctx.store.metadata.getArtifact(key), { what: "the signed fill to complete" });
    for (const page of ["/admin/downloads", "/admin/artifacts"]) {
      const text = (await c.get(page)).text;
      expect(text).toContain("signed.bin?…");
      expect(text).not.toContain(secret);
    }
  });
});

describe("actions", () => {
  test("a client miss → Download (plain post, 303 with notice) → cached → Delete frees the blob", async () => {
    const originUrl = `${origin.base}/file/tool-1.0.tgz?size=5000`;
    // A real client miss: curl asks the cache-host for the URL (curate mode: 404, recorded).
    const curl = await run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `${ui.base}/b/${encodeToken(originUrl)}/tool-1.0.tgz`]);
    expect(curl.stdout).toBe("404");
    const c = await loggedIn();
    const page = await c.get("/admin/misses");
    expect(page.text).toContain("tool-1.0.tgz");
    const res = await c.post("/admin/misses/download", { url: originUrl });
    expect(res.status).toBe(303);
    const location = res.headers.get("location")!;
    expect(location).toStartWith("/admin/misses?notice=");
    // The query of a recorded URL is not shown (signed URLs carry their token there).
    expect((await c.get(location)).text).toContain(`queued ${origin.base}/file/tool-1.0.tgz?…`);
    const key = `${origin.base}/file/tool-1.0.tgz`;
    const artifact = await pollUntil(async () => ui.running.ctx.store.metadata.getArtifact(key), { what: "the fill to complete" });
    expect(artifact.sizeBytes).toBe(5000);
    const sha = new Bun.CryptoHasher("sha256").update(fileBytes(5000)).digest("hex");
    expect(artifact.sha256).toBe(sha);

    const list = await c.get("/admin/artifacts?sort=size");
    expect(list.text).toContain(`value="${sha}"`);
    expect(list.text).toContain("4.88 KiB");
    const filtered = await c.get("/admin/artifacts?q=nothing-matches-this", { hx: true });
    expect(filtered.text).toContain("Nothing matches");
    const listOnly = await c.get("/admin/artifacts?q=tool-1.0", { hx: true, headers: { "hx-target": "artifacts-list" } });
    expect(listOnly.text).toStartWith('<div id="artifacts-list">');
    expect(listOnly.text).toContain(`value="${sha}"`);
    const blobPath = join(ui.dataDir, "blobs", sha.slice(0, 2), sha);
    expect(existsSync(blobPath)).toBe(true);
    const del = await c.post("/admin/artifacts/delete", { key, q: "", sort: "size" }, { csrfFrom: "/admin/artifacts" });
    expect(del.status).toBe(303);
    expect(del.headers.get("location")).toStartWith("/admin/artifacts?sort=size&notice=");
    expect(ui.running.ctx.store.metadata.getArtifact(key)).toBeNull();
    expect(existsSync(blobPath)).toBe(false);
  });

  test("HTMX Download swaps the misses fragment; Dismiss removes the miss", async () => {
    const url = `${origin.base}/file/hx.bin?size=10`;
    ui.running.ctx.store.metadata.recordMiss({ key: `${origin.base}/file/hx.bin`, url, nowMs: clock });
    ui.running.ctx.store.metadata.recordMiss({ key: "https://h/dismiss-me", url: "https://h/dismiss-me", nowMs: clock });
    const c = await loggedIn();
    const res = await c.post("/admin/misses/download", { url }, { hx: true });
    expect(res.status).toBe(200);
    expect(res.text).toStartWith('<section id="misses"');
    expect(res.text).toContain(`queued ${origin.base}/file/hx.bin?…`);
    const plain = await c.post("/admin/misses/dismiss", { key: "https://h/dismiss-me" });
    expect(plain.status).toBe(303);
    expect(ui.running.ctx.store.metadata.getMiss("https://h/dismiss-me")).toBeNull();
    const again = await c.post("/admin/misses/dismiss", { key: "https://h/dismiss-me" }, { hx: true });
    expect(again.text).toContain("no miss recorded");
  });

  test("cancel a running download, retry it, clear finished", async () => {
    const slow = origin.slow("cancel-me.iso", { chunks: 16, chunkBytes: 64 * 1024 });
    slow.allow(1);
    const c = await loggedIn();
    const url = `${origin.base}/slow/cancel-me.iso`;
    await c.post("/admin/add", { urls: url }, { hx: true });
    await slow.started;
    const job = await pollUntil(async () => jobs().find((j) => j.url === url && j.state === "running" && j.totalBytes !== null), { what: "the job to run" });
    const running = await c.get("/admin/downloads", { hx: true });
    expect(running.text).toContain('hx-trigger="every 1s"');
    expect(running.text).toContain("of 1.00 MiB");
    const res = await c.post(`/admin/downloads/${job.id}/cancel`, {}, { hx: true, csrfFrom: "/admin/downloads" });
    expect(res.status).toBe(200);
    await pollUntil(async () => ui.running.ctx.store.metadata.getJob(job.id)?.state === "cancelled", { what: "the job to be cancelled" });
    const retry = await c.post(`/admin/downloads/${job.id}/retry`, {}, { csrfFrom: "/admin/downloads" });
    expect(retry.status).toBe(303);
    expect((await c.get(retry.headers.get("location")!)).text).toContain(`download ${job.id} queued again`);
    slow.allowAll();
    await pollUntil(async () => ui.running.ctx.store.metadata.getJob(job.id)?.state === "completed", { what: "the retried job to complete" });
    const idle = await c.get("/admin/downloads", { hx: true });
    expect(idle.text).not.toContain("hx-trigger");
    const cleared = await c.post("/admin/downloads/clear", {}, { hx: true });
    expect(cleared.text).toMatch(/cleared \d+ finished download/);
    expect(jobs().filter((j) => j.state === "completed")).toEqual([]);
  }, 20_000);

  test("a failed download shows the origin's answer and can be retried", async () => {
    const c = await loggedIn();
    const url = `${origin.base}/missing/thing.tgz`;
    await c.post("/admin/add", { urls: url });
    const job = await pollUntil(async () => jobs().find((j) => j.url === url && j.state === "failed"), { what: "the job to fail" });
    const page = await c.get("/admin/downloads");
    expect(page.text).toContain("state-failed");
    expect(page.text).toContain(job.error!.replaceAll('"', "&quot;"));
    expect(page.text).toContain(`/admin/downloads/${job.id}/retry`);
    const missing = await c.post("/admin/downloads/999999/cancel", {}, { hx: true });
    expect(missing.text).toContain("job 999999 does not exist");
  });

  test("Add: bad lines are named, good lines queue; plain and HTMX", async () => {
    const c = await loggedIn();
    const text = [`${origin.base}/file/a.bin?size=3`, "", "# a comment", "ftp://x/y", "not a url", `${origin.base}/file/b.bin?size=4`].join("\n");
    const hx = await c.post("/admin/add", { urls: text }, { hx: true });
    expect(hx.status).toBe(200);
    expect(hx.text).toContain("Queued 2 downloads");
    expect(hx.text).toContain("line 4");
    expect(hx.text).toContain("url scheme &quot;ftp&quot; is not allowed");
    expect(hx.text).toContain("line 5");
    expect(hx.text).toContain("is not an absolute url");
    expect(hx.text).toMatch(/<textarea[^>]*>ftp:\/\/x\/y\nnot a url<\/textarea>/);
    const plainBad = await c.post("/admin/add", { urls: "javascript:alert(1)" });
    expect(plainBad.status).toBe(400);
    expect(plainBad.text).toStartWith("<!doctype html>");
    expect(plainBad.text).toContain("line 1");
    const plainGood = await c.post("/admin/add", { urls: `${origin.base}/file/c.bin?size=5` });
    expect(plainGood.status).toBe(303);
    expect(plainGood.headers.get("location")).toStartWith("/admin/downloads?notice=");
    const empty = await c.post("/admin/add", { urls: "  \n" }, { hx: true });
    expect(empty.text).toContain("no urls given");
  });

  test("cross-site posts and missing tokens are refused", async () => {
    ui.running.ctx.store.metadata.recordMiss({ key: "https://h/keep", url: "https://h/keep", nowMs: clock });
    const c = await loggedIn();
    const token = csrfOf((await c.get("/admin/misses")).text);
    const evil = await c.request("POST", "/admin/misses/dismiss", { form: { _csrf: token, key: "https://h/keep" }, origin: "http://evil.example" });
    expect(evil.status).toBe(403);
    expect(evil.text).toContain("cross-site request refused");
    const fetchSite = await c.request("POST", "/admin/misses/dismiss", { form: { _csrf: token, key: "https://h/keep" }, origin: null, headers: { "sec-fetch-site": "cross-site" } });
    expect(fetchSite.status).toBe(403);
    const noToken = await c.request("POST", "/admin/misses/dismiss", { form: { key: "https://h/keep" } });
    expect(noToken.status).toBe(403);
    expect(ui.running.ctx.store.metadata.getMiss("https://h/keep")).not.toBeNull();
    // Without Origin/Referer (a script), the token alone is enough.
    const script = await c.request("POST", "/admin/misses/dismiss", { form: { _csrf: token, key: "https://h/keep" }, origin: null });
    expect(script.status).toBe(303);
    expect(ui.running.ctx.store.metadata.getMiss("https://h/keep")).toBeNull();
  });

  test("a forged notice in the query is not shown", async () => {
    const c = await loggedIn();
    const forged = Buffer.from(JSON.stringify(["error", "your session expired, log in at evil.example"])).toString("base64url");
    const res = await c.get(`/admin/misses?notice=${forged}.AAAAAAAAAAAAAAAAAAAAAA`);
    expect(res.text).not.toContain("evil.example");
  });

  test("curl without JavaScript: login with a cookie jar, add a URL, follow the redirect", async () => {
    const jar = join(ui.dataDir, "curl-jar.txt");
    const loginPage = (await run(["/usr/bin/curl", "-s", "-c", jar, `${ui.base}/login`])).stdout;
    const login = await run(["/usr/bin/curl", "-s", "-b", jar, "-c", jar, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--data-urlencode", `_csrf=${csrfOf(loginPage)}`, "--data-urlencode", `password=${PASSWORD}`, `${ui.base}/login`]);
    expect(login.stdout).toBe(`303 ${ui.base}/admin`);
    const addPage = (await run(["/usr/bin/curl", "-s", "-b", jar, `${ui.base}/admin/add`])).stdout;
    const url = `${origin.base}/file/curl.bin?size=7`;
    const add = await run(["/usr/bin/curl", "-s", "-L", "-b", jar, "--data-urlencode", `_csrf=${csrfOf(addPage)}`, "--data-urlencode", `urls=${url}`, `${ui.base}/admin/add`]);
    const out = add.stdout;
    expect(out).toContain("<h2>Downloads</h2>");
    expect(out).toContain("queued 1 download");
    expect(out).toContain(`${origin.base}/file/curl.bin`);
  });
});

describe("password change and secret persistence", () => {
  test("sessions survive a restart with the same password and die with a new one", async () => {
    const first = await startUi({ password: "one" });
    const dataDir = first.dataDir;
    const c = new FormClient(first.base);
    expect((await c.login("one")).status).toBe(303);
    const cookie = c.cookie!;
    await first.running.stop({ drainTimeoutMs: 500 });
    const same = await startUi({ password: "one", dataDir });
    const s = new FormClient(same.base);
    s.cookie = cookie;
    expect((await s.get("/admin/misses")).status).toBe(200);
    await same.running.stop({ drainTimeoutMs: 500 });
    const changed = await startUi({ password: "two", dataDir });
    const t = new FormClient(changed.base);
    t.cookie = cookie;
    expect((await t.get("/admin/misses")).status).toBe(303);
    await changed.stop();
    await first.stop();
  });
  test("a logged-out cookie stays refused after a restart on the same data dir", async () => {
    const first = await startUi({ password: "pw" });
    const dataDir = first.dataDir;
    const c = new FormClient(first.base);
    expect((await c.login("pw")).status).toBe(303);
    const old = c.cookie!;
    const page = await c.get("/admin/misses");
    expect((await c.request("POST", "/logout", { form: { _csrf: csrfOf(page.text) } })).status).toBe(303);
    await first.running.stop({ drainTimeoutMs: 500 });
    const again = await startUi({ password: "pw", dataDir });
    try {
      const replay = new FormClient(again.base);
      replay.cookie = old;
      const res = await replay.get("/admin/misses");
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toStartWith("/login");
      expect(res.headers.get("set-cookie")).toContain("Max-Age=0");
      expect(again.events.some((e) => e.name === "admin.session-rejected" && e.fields.reason === "session was logged out")).toBe(true);
      // Another session of the same password is unaffected.
      const fresh = new FormClient(again.base);
      expect((await fresh.login("pw")).status).toBe(303);
      expect((await fresh.get("/admin/misses")).status).toBe(200);
    } finally {
      await again.stop();
      await first.stop();
    }
  });
  test("WITHCACHE_SESSION_SECRET signs instead of the file; blank is ignored", async () => {
    const a = await startUi({ password: "pw", sessionSecret: "a-long-operator-chosen-secret" });
    const c = new FormClient(a.base);
    await c.login("pw");
    expect(existsSync(join(a.dataDir, "session-secret"))).toBe(false);
    const b = await startUi({ password: "pw", sessionSecret: "another-secret-entirely" });
    const d = new FormClient(b.base);
    d.cookie = c.cookie;
    expect((await d.get("/admin/misses")).status).toBe(303);
    await a.stop();
    await b.stop();
  });
});

describe("secure cookies and the rate limit behind a proxy", () => {
  let proxied: UiServer;
  beforeAll(async () => {
    proxied = await startUi({ password: PASSWORD, trustProxy: true });
  });
  afterAll(async () => {
    await proxied.stop();
  });
  test("X-Forwarded-Proto: https with --trust-proxy makes the cookie Secure", async () => {
    const c = new FormClient(proxied.base);
    const headers = { "x-forwarded-proto": "https", "x-forwarded-for": "10.9.9.9" };
    const page = await c.get("/login", { headers });
    const res = await c.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password: PASSWORD }, headers, origin: proxied.base.replace("http:", "https:") });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toContain("; Secure");
  });
  test("five failed logins lock that address out, with Retry-After; others still log in", async () => {
    const attacker = new FormClient(proxied.base);
    const headers = { "x-forwarded-for": "203.0.113.7" };
    const token = csrfOf((await attacker.get("/login", { headers })).text);
    for (let i = 0; i < 5; i++) {
      const res = await attacker.request("POST", "/login", { form: { _csrf: token, password: `guess-${i}` }, headers });
      expect(res.status).toBe(401);
    }
    const locked = await attacker.request("POST", "/login", { form: { _csrf: token, password: PASSWORD }, headers });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(locked.text).toContain("too many failed attempts");
    expect(attacker.cookie).toBeNull();
    const spoofed = await attacker.request("POST", "/login", { form: { _csrf: token, password: PASSWORD }, headers: { "x-forwarded-for": "1.2.3.4, 203.0.113.7" } });
    expect(spoofed.status).toBe(429); // a client-written first hop does not escape the limit
    const other = new FormClient(proxied.base);
    expect((await other.login(PASSWORD, { headers: { "x-forwarded-for": "198.51.100.1" } })).status).toBe(303);
    expect(proxied.logText()).toContain("admin.login-rate-limited");
    expect(proxied.logText()).not.toContain("guess-");
  });
  test("an ipv6 client cannot escape the limit by taking a new address in its /64", async () => {
    const attacker = new FormClient(proxied.base);
    const token = csrfOf((await attacker.get("/login")).text);
    const from = (i: number) => ({ "x-forwarded-for": `2001:db8:77:1::${(i + 1).toString(16)}` });
    for (let i = 0; i < 5; i++) expect((await attacker.request("POST", "/login", { form: { _csrf: token, password: `v6-guess-${i}` }, headers: from(i) })).status).toBe(401);
    expect((await attacker.request("POST", "/login", { form: { _csrf: token, password: PASSWORD }, headers: from(5) })).status).toBe(429);
    const neighbour = new FormClient(proxied.base);
    expect((await neighbour.login(PASSWORD, { headers: { "x-forwarded-for": "2001:db8:77:2::1" } })).status).toBe(303);
  });
  test("thirty guesses whose bodies arrive late, all at once, still get only five tries", async () => {
    const headers = { "x-forwarded-for": "203.0.113.77" };
    const token = csrfOf((await new FormClient(proxied.base).get("/login", { headers })).text);
    const { port } = new URL(proxied.base);
    // Each request's head goes out first, its body only once every head is in: the handlers
    // all start (and pass the rate-limit check at the door) before any guess is judged.
    const guesses = 30;
    const clients: Array<{ sendBody(): void; status: Promise<number> }> = [];
    for (let i = 0; i < guesses; i += 1) {
      const body = new URLSearchParams({ _csrf: token, password: `parallel-guess-${i}` }).toString();
      let text = "";
      let resolveStatus!: (n: number) => void;
      const status = new Promise<number>((r) => (resolveStatus = r));
      const socket = await Bun.connect({
        hostname: "127.0.0.1",
        port: Number(port),
        socket: {
          data: (_s, chunk) => {
            text += chunk.toString("latin1");
            const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
            if (m) resolveStatus(Number(m[1]));
          },
          close: () => resolveStatus(0),
        },
      });
      socket.write(
        `POST /login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${proxied.base}\r\nX-Forwarded-For: ${headers["x-forwarded-for"]}\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      clients.push({ sendBody: () => void socket.write(body), status });
    }
    await pollUntil(() => proxied.running.server.pendingRequests >= guesses, { what: `${guesses} requests waiting for their bodies` });
    for (const c of clients) c.sendBody();
    const statuses = await Promise.race([
      Promise.all(clients.map((c) => c.status)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answers within 10 s")), 10_000)),
    ]);
    expect(statuses.filter((st) => st === 401).length).toBe(5);
    expect(statuses.filter((st) => st === 429).length).toBe(guesses - 5);
  });
});

describe("the rate limit without --trust-proxy", () => {
  test("a client that varies X-Forwarded-For is still one address: the sixth guess is refused", async () => {
    const direct = await startUi({ password: PASSWORD });
    try {
      const attacker = new FormClient(direct.base);
      const token = csrfOf((await attacker.get("/login")).text);
      for (let i = 0; i < 5; i++) {
        const res = await attacker.request("POST", "/login", { form: { _csrf: token, password: `xff-guess-${i}` }, headers: { "x-forwarded-for": `198.51.100.${i + 1}` } });
        expect(res.status).toBe(401);
      }
      const sixth = await attacker.request("POST", "/login", { form: { _csrf: token, password: PASSWORD }, headers: { "x-forwarded-for": "198.51.100.99" } });
      expect(sixth.status).toBe(429);
      expect(direct.events.filter((e) => e.name === "admin.login-failed").map((e) => e.fields.client)).toEqual(new Array(5).fill("127.0.0.1"));
    } finally {
      await direct.stop();
    }
  });
});

describe("without a password", () => {
  let open: UiServer;
  beforeAll(async () => {
    open = await startUi({ curate: false });
  });
  afterAll(async () => {
    await open.stop();
  });
  test("pages are open and carry the banner; no log out; /login goes home", async () => {
    const c = new FormClient(open.base);
    const res = await c.get("/admin/misses");
    expect(res.status).toBe(200);
    expect(res.text).toContain("No password set");
    expect(res.text).not.toContain('action="/logout"');
    expect(res.text).toContain("mode-auto");
    expect((await c.get("/login")).status).toBe(303);
  });
  test("auto mode: a client miss shows with its fill, refreshing while it runs", async () => {
    const slow = origin.slow("auto.bin", { chunks: 4, chunkBytes: 1024 });
    const url = `${origin.base}/slow/auto.bin`;
    expect((await run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `${open.base}/b/${encodeToken(url)}/auto.bin`])).stdout).toBe("404");
    await slow.started;
    const c = new FormClient(open.base);
    const page = await pollUntil(
      async () => {
        const res = await c.get("/admin/misses", { hx: true });
        return res.text.includes("state-running") ? res.text : null;
      },
      { what: "the miss to show its running fill" },
    );
    expect(page).toContain("auto.bin");
    expect(page).toContain('hx-trigger="every 2s"');
    slow.allowAll();
    await pollUntil(async () => open.running.ctx.store.metadata.getArtifact(url) !== null, { what: "the fill to complete" });
    expect((await c.get("/admin/misses", { hx: true })).text).not.toContain("hx-trigger=");
  });
    test("actions still need the token and a same-site origin", async () => {
    const c = new FormClient(open.base);
    expect((await c.request("POST", "/admin/downloads/clear", { form: {} })).status).toBe(403);
    const token = csrfOf((await c.get("/admin/add")).text);
    expect((await c.request("POST", "/admin/downloads/clear", { form: { _csrf: token }, origin: "http://evil.example" })).status).toBe(403);
    expect((await c.request("POST", "/admin/downloads/clear", { form: { _csrf: token } })).status).toBe(303);
  });
});
