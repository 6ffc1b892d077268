// DNS rebinding against an operator UI without a password: a page on evil.example whose name is
// made to resolve to the cache-host sends Host (and Origin) evil.example, so the same-origin
// check alone lets it read the CSRF token and act. The real server, on 127.0.0.1, is asked with
// crafted Host headers (fetch and real curl), open and with a password, direct and behind a
// trusted proxy.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { encodeToken } from "../src/core/token.ts";
import { run, startTestServer, type TestServer } from "./helpers/index.ts";
import { csrfOf } from "./ui-support.ts";

const EVIL = "evil.example";

/** The one line an operator gets for a refused name. */
function refusal(path: string, host: string): string {
  return (
    `${path}: host "${host}" refused: without a password the operator ui answers only by ip address, localhost, ` +
    `this machine's hostname or a --ui-host name (dns rebinding guard); open it by address, add the name with --ui-host ${host} ` +
    `(env WITHCACHE_UI_HOSTS), or set WITHCACHE_ADMIN_PASSWORD\n`
  );
}

type Answer = { status: number; text: string; headers: Headers };

/** A request to the server on 127.0.0.1 that says it is for `host` (as a rebound browser would). */
async function ask(server: TestServer, path: string, host: string, init: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { host, ...init.headers };
  let body: string | undefined;
  if (init.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(init.form).toString();
  }
  const res = await fetch(server.url + path, { method: init.method ?? "GET", headers, body, redirect: "manual", signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe("an operator UI without a password", () => {
  let open: TestServer;
  let port = "";
  beforeAll(async () => {
    open = await startTestServer({ curate: true, uiHosts: ["cache.lab.example", "*.ops.example"] });
    port = new URL(open.url).port;
  });
  afterAll(async () => {
    await open.stop();
  });

  test("a rebinding page gets a 403 line on every page, /login and /logout included", async () => {
    for (const path of ["/", "/admin/misses", "/admin/downloads", "/admin/artifacts?sort=size", "/admin/add", "/login", "/logout"]) {
      const res = await ask(open, path, `${EVIL}:${port}`);
      expect(res.status, path).toBe(403);
      expect(res.text).toBe(refusal(path.split("?")[0]!, EVIL));
      expect(res.text).not.toContain("_csrf");
      expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    }
    expect(open.logs.join("\n")).toContain("admin.host-refused");
  });

  test("nor can it act with a token it got elsewhere: the miss stays and nothing is queued", async () => {
    const meta = open.running.ctx.store.metadata;
    meta.recordMiss({ key: "https://h.example/rebind.bin", url: "https://h.example/rebind.bin", nowMs: Date.now() });
    const token = csrfOf((await ask(open, "/admin/add", `127.0.0.1:${port}`)).text);
    const rebound = { host: `${EVIL}:${port}`, origin: `http://${EVIL}:${port}` };
    for (const [path, form] of [
      ["/admin/misses/dismiss", { _csrf: token, key: "https://h.example/rebind.bin" }],
      ["/admin/misses/download", { _csrf: token, url: "https://h.example/rebind.bin" }],
      ["/admin/add", { _csrf: token, urls: "https://h.example/rebind.bin" }],
    ] as const) {
      const res = await ask(open, path, rebound.host, { method: "POST", headers: { origin: rebound.origin }, form });
      expect(res.status, path).toBe(403);
      expect(res.text).toBe(refusal(path, EVIL));
    }
    expect(meta.getMiss("https://h.example/rebind.bin")).not.toBeNull();
    expect(meta.listJobs({ limit: 10 })).toEqual([]);
    // The same post by address goes through: the 403 above was the guard, not the token.
    const byAddress = await ask(open, "/admin/misses/dismiss", `127.0.0.1:${port}`, {
      method: "POST",
      headers: { origin: `http://127.0.0.1:${port}` },
      form: { _csrf: token, key: "https://h.example/rebind.bin" },
    });
    expect(byAddress.status).toBe(303);
    expect(meta.getMiss("https://h.example/rebind.bin")).toBeNull();
  });

  test("real curl with -H 'Host: evil.example' gets the line", async () => {
    const r = await run(["/usr/bin/curl", "-s", "-H", `Host: ${EVIL}`, "-w", "%{http_code}", `${open.url}/admin/misses`], { timeoutMs: 10_000 });
    expect(r.stdout).toBe(`${refusal("/admin/misses", EVIL)}403`);
  });

  test("the read path, /healthz and /static/ answer any host", async () => {
    const host = `${EVIL}:${port}`;
    expect((await ask(open, "/healthz", host)).status).toBe(200);
    const css = await ask(open, "/static/app.css", host);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
    // Curate mode: a miss is 404 (recorded), not the guard's 403.
    const viaToken = await ask(open, `/b/${encodeToken("https://h.example/read.bin")}/read.bin`, host);
    expect(viaToken.status).toBe(404);
    const viaBlob = await ask(open, `/blob?url=${encodeURIComponent("https://h.example/read2.bin")}`, host);
    expect(viaBlob.status).toBe(404);
  });

  test("by address, localhost, this machine's hostname or a --ui-host name the UI opens", async () => {
    const machine = hostname();
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, "LOCALHOST.", `[::1]:${port}`, machine, `${machine.toUpperCase()}.:${port}`, `cache.lab.example:${port}`, "Cache.Lab.Example.", `a.ops.example:${port}`];
    for (const host of hosts) {
      const res = await ask(open, "/admin/misses", host);
      expect(res.status, host).toBe(200);
      expect(res.text).toContain("No password set");
    }
    // A listed name's subdomain, or the pattern's apex, is not the name.
    expect((await ask(open, "/admin/misses", "x.cache.lab.example")).status).toBe(403);
    expect((await ask(open, "/admin/misses", "ops.example")).status).toBe(403);
  });
});

describe("behind a trusted proxy (--trust-proxy)", () => {
  let proxied: TestServer;
  let direct: TestServer;
  beforeAll(async () => {
    proxied = await startTestServer({ trustProxy: true, uiHosts: ["cache.lab.example"] });
    direct = await startTestServer({ uiHosts: ["cache.lab.example"] });
  });
  afterAll(async () => {
    await proxied.stop();
    await direct.stop();
  });
  test("X-Forwarded-Host is the name judged, as for the same-origin check", async () => {
    const local = new URL(proxied.url).host;
    const rebound = await ask(proxied, "/admin/add", local, { headers: { "x-forwarded-host": EVIL } });
    expect(rebound.status).toBe(403);
    expect(rebound.text).toBe(refusal("/admin/add", EVIL));
    expect((await ask(proxied, "/admin/add", local, { headers: { "x-forwarded-host": "cache.lab.example" } })).status).toBe(200);
    expect((await ask(proxied, "/admin/add", EVIL, { headers: { "x-forwarded-host": "cache.lab.example" } })).status).toBe(200);
  });
  test("a rebinding page's own X-Forwarded-Host in front of the proxy's entry does not pass", async () => {
    // The page sends `X-Forwarded-Host: cache.lab.example`; a proxy that appends adds the Host the
    // browser used (the page's name) after it.
    const local = new URL(proxied.url).host;
    const forged = await ask(proxied, "/admin/misses", local, { headers: { "x-forwarded-host": `cache.lab.example, ${EVIL}` } });
    expect(forged.status).toBe(403);
    expect(forged.text).toBe(refusal("/admin/misses", EVIL));
    const api = await ask(proxied, "/api/v1/misses", local, { headers: { "x-forwarded-host": `cache.lab.example, ${EVIL}` } });
    expect(api.status).toBe(403);
  });
  test("without --trust-proxy the header is ignored: Host decides", async () => {
    const local = new URL(direct.url).host;
    expect((await ask(direct, "/admin/add", local, { headers: { "x-forwarded-host": EVIL } })).status).toBe(200);
    expect((await ask(direct, "/admin/add", EVIL, { headers: { "x-forwarded-host": "cache.lab.example" } })).status).toBe(403);
  });
});

describe("with WITHCACHE_ADMIN_PASSWORD", () => {
  let locked: TestServer;
  beforeAll(async () => {
    locked = await startTestServer({ adminPassword: "correct horse battery staple" });
  });
  afterAll(async () => {
    await locked.stop();
  });
  test("any name gets the login (no guard): a rebinding page never holds the session cookie", async () => {
    const page = await ask(locked, "/admin/misses", EVIL);
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/login?next=%2Fadmin%2Fmisses");
    const login = await ask(locked, "/login", EVIL);
    expect(login.status).toBe(200);
    expect(login.text).toContain('name="password"');
  });
});
