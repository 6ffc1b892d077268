// The shim's shell with the compiled binary: env, real-tool search, probe outcomes against a small
// fake of the cache's HEAD /b/ endpoint, bounded probing, proxies, and zero network when off.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server, TCPSocketListener } from "bun";
import { VERSION } from "../src/version.ts";
import { compileShim, parsePlanOutput, runExact, shimPath, type ShimBin } from "./shim-support.ts";

let bin: ShimBin;
/** Fake cache: HEAD /b/<token>/… → status from this map by decoded origin URL (default 404). */
const fakeStatus = new Map<string, number>();
const fakeRequests: Array<{ method: string; target: string }> = [];
let fake: Server<undefined>;
let fakeUrl: string;

beforeAll(async () => {
  bin = await compileShim();
  fake = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      fakeRequests.push({ method: req.method, target: url.pathname + url.search });
      const token = url.pathname.split("/")[2] ?? "";
      const origin = Buffer.from(token, "base64url").toString("utf8");
      return new Response(null, { status: fakeStatus.get(origin) ?? 404 });
    },
  });
  fakeUrl = `http://127.0.0.1:${fake.port}`;
});

afterAll(async () => {
  await fake.stop(true);
  bin.cleanup();
});

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: shimPath(bin.shimDir), HOME: bin.dir.path, ...extra };
}

async function plan(tool: "curl" | "wget", args: string[], env: Record<string, string>): Promise<string[]> {
  const ran = await runExact([join(bin.shimDir, tool), ...args], { env: baseEnv({ WITHCACHE_PLAN_ONLY: "1", ...env }) });
  expect(ran.stderr).toBe("");
  expect(ran.exitCode).toBe(0);
  return parsePlanOutput(ran.stdout);
}

const cacheUrl = (base: string, origin: string, name: string) => `${base}/b/${Buffer.from(origin).toString("base64url")}/${name}`;

describe("identity", () => {
  test("--withcache-version prints the bare version for every name", async () => {
    for (const name of ["curl", "wget", "curlwithcache", "wgetwithcache"]) {
      const ran = await runExact([join(bin.shimDir, name), "--withcache-version"], { env: baseEnv() });
      expect(new TextDecoder().decode(ran.stdout)).toBe(`${VERSION}\n`);
      expect(ran.exitCode).toBe(0);
    }
    const cli = await runExact([bin.binary, "--version"], { env: baseEnv() });
    expect(new TextDecoder().decode(cli.stdout)).toBe(`${VERSION}\n`);
  });
  test("--withcache-version with other arguments is passed to the tool", async () => {
    expect(await plan("curl", ["--withcache-version", "x"], {})).toEqual(["/usr/bin/curl", "--withcache-version", "x"]);
  });
});

describe("real tool", () => {
  test("first on PATH, the symlink to itself is skipped", async () => {
    expect(await plan("curl", ["-s"], {})).toEqual(["/usr/bin/curl", "-s"]);
    expect(await plan("wget", ["-q"], {})).toEqual(["/usr/bin/wget", "-q"]);
    expect(await plan("curl", [], { WITHCACHE_SERVER: fakeUrl })).toEqual(["/usr/bin/curl"]);
  });
  test("REAL_CURL / REAL_WGET win", async () => {
    const dir = join(bin.dir.path, "alt");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "mycurl"), "#!/bin/sh\nexit 0\n");
    chmodSync(join(dir, "mycurl"), 0o755);
    expect(await plan("curl", ["x"], { REAL_CURL: join(dir, "mycurl") })).toEqual([join(dir, "mycurl"), "x"]);
    expect(await plan("wget", ["x"], { REAL_WGET: "/usr/bin/wget" })).toEqual(["/usr/bin/wget", "x"]);
  });
  test("none found → exit 127 with one line", async () => {
    for (const tool of ["curl", "wget"] as const) {
      const ran = await runExact([join(bin.shimDir, tool), "-s"], { env: { PATH: bin.shimDir } });
      expect(ran.exitCode).toBe(127);
      expect(ran.stderr).toBe(`${tool}: withcache: no real ${tool} found on PATH (set REAL_${tool.toUpperCase()})\n`);
    }
    const bad = await runExact([join(bin.shimDir, "curl")], { env: { PATH: bin.shimDir, REAL_CURL: join(bin.shimDir, "curl") } });
    expect(bad.exitCode).toBe(127);
    expect(bad.stderr.split("\n").length).toBe(2);
  });
  test("a copy of the shim and a wrapper that calls curl again do not loop", async () => {
    const copyDir = join(bin.dir.path, "copy");
    const wrapDir = join(bin.dir.path, "wrap");
    mkdirSync(copyDir, { recursive: true });
    mkdirSync(wrapDir, { recursive: true });
    copyFileSync(bin.binary, join(copyDir, "curl"));
    chmodSync(join(copyDir, "curl"), 0o755);
    writeFileSync(join(wrapDir, "curl"), '#!/bin/sh\nexec curl "$@"\n');
    chmodSync(join(wrapDir, "curl"), 0o755);
    const env = { PATH: `${bin.shimDir}:${copyDir}:${wrapDir}:/usr/bin:/bin`, HOME: bin.dir.path };
    const ran = await runExact([join(bin.shimDir, "curl"), "--version"], { env, timeoutMs: 10_000 });
    expect(ran.exitCode).toBe(0);
    expect(new TextDecoder().decode(ran.stdout)).toStartWith("curl ");
  });
});

describe("server setting", () => {
  test("unset or empty: no connection at all, argv untouched", async () => {
    let connections = 0;
    const recorder: TCPSocketListener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: () => void connections++, data() {} },
    });
    try {
      const args = ["-s", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${recorder.port}/x.tgz`];
      // The URL itself points at the recorder, so count connections with the cache off vs on.
      const off1 = await runExact([join(bin.shimDir, "curl"), ...args.slice(0, -1), "http://127.0.0.1:9/x.tgz"], { env: baseEnv() });
      const off2 = await runExact([join(bin.shimDir, "curl"), ...args.slice(0, -1), "http://127.0.0.1:9/x.tgz"], { env: baseEnv({ WITHCACHE_SERVER: "" }) });
      const off3 = await runExact([join(bin.shimDir, "curl"), ...args.slice(0, -1), "http://127.0.0.1:9/x.tgz"], {
        env: baseEnv({ WITHCACHE_SERVER: `127.0.0.1:${recorder.port}`, CURLWITHCACHE_SERVER: "" }),
      });
      expect([off1.exitCode, off2.exitCode, off3.exitCode]).toEqual([7, 7, 7]);
      expect(connections).toBe(0);
      const on = await runExact([join(bin.shimDir, "curl"), ...args.slice(0, -1), "http://127.0.0.1:9/x.tgz"], {
        env: baseEnv({ WITHCACHE_SERVER: `127.0.0.1:${recorder.port}` }),
      });
      expect(on.exitCode).toBe(7);
      expect(connections).toBeGreaterThan(0); // the same command does probe when the server is set
    } finally {
      recorder.stop(true);
    }
  });
  test("unset: the shim makes no socket call before it execs the tool (strace)", async () => {
    const shimSyscalls = async (env: Record<string, string>): Promise<string[]> => {
      const trace = join(bin.dir.path, `strace-${Math.random().toString(36).slice(2)}.txt`);
      await runExact(["/usr/bin/strace", "-f", "-qq", "-e", "trace=socket,connect,execve", "-o", trace, join(bin.shimDir, "curl"), "-s", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:9/x.tgz"], {
        env: baseEnv(env),
      });
      const lines = readFileSync(trace, "utf8").split("\n");
      const execs = lines.map((l, k) => (l.includes("execve(") && !l.includes("unfinished") ? k : -1)).filter((k) => k >= 0);
      expect(execs.length).toBeGreaterThanOrEqual(2); // the shim itself, then the hand-over
      return lines.slice(execs[0]! + 1, execs[1]!).filter((l) => /socket\(AF_INET|connect\(.*AF_INET/.test(l));
    };
    expect(await shimSyscalls({})).toEqual([]);
    expect(await shimSyscalls({ WITHCACHE_SERVER: "" })).toEqual([]);
    // Control: with a server set, the same command does open a socket before the hand-over.
    expect((await shimSyscalls({ WITHCACHE_SERVER: "127.0.0.1:9" })).length).toBeGreaterThan(0);
  });
  test("tool-specific variable beats WITHCACHE_SERVER", async () => {
    const origin = "http://origin.test/pkg.tgz";
    fakeStatus.set(origin, 200);
    const env = { WITHCACHE_SERVER: "127.0.0.1:9", CURLWITHCACHE_SERVER: fakeUrl, WGETWITHCACHE_SERVER: fakeUrl };
    expect(await plan("curl", ["-O", origin], env)).toEqual(["/usr/bin/curl", "-O", cacheUrl(fakeUrl, origin, "pkg.tgz")]);
    expect(await plan("wget", [origin], env)).toEqual(["/usr/bin/wget", cacheUrl(fakeUrl, origin, "pkg.tgz")]);
    expect(await plan("wget", [origin], { WITHCACHE_SERVER: fakeUrl, WGETWITHCACHE_SERVER: "" })).toEqual(["/usr/bin/wget", origin]);
  });
});

describe("probe outcomes", () => {
  test("200 hit, 404 miss, 500 unreachable; each URL on its own; HEAD to the exact cache URL", async () => {
    const hit = "http://o.test/a%20b.tgz?v=1";
    const miss = "http://o.test/miss.tgz";
    const broken = "http://o.test/500.tgz";
    fakeStatus.set(hit, 200);
    fakeStatus.set(broken, 500);
    fakeRequests.length = 0;
    const out = await plan("curl", ["-fsSL", "-O", hit, "-O", miss, "-O", broken], { WITHCACHE_SERVER: fakeUrl });
    expect(out).toEqual(["/usr/bin/curl", "-fsSL", "-O", `${cacheUrl(fakeUrl, hit, "a%20b.tgz")}?v=1`, "-O", miss, "-O", broken]);
    expect(fakeRequests.map((r) => r.method)).toEqual(["HEAD", "HEAD", "HEAD"]);
    const path = (u: string) => new URL(u).pathname;
    expect(fakeRequests.map((r) => r.target).sort()).toEqual(
      [`${path(cacheUrl(fakeUrl, hit, "a%20b.tgz"))}?v=1`, path(cacheUrl(fakeUrl, miss, "miss.tgz")), path(cacheUrl(fakeUrl, broken, "500.tgz"))].sort(),
    );
  });
  test("a refused port costs nothing and passes through", async () => {
    const ran = await runExact([join(bin.shimDir, "curl"), "-O", "http://o.test/x"], { env: baseEnv({ WITHCACHE_PLAN_ONLY: "1", WITHCACHE_SERVER: "127.0.0.1:9" }) });
    expect(parsePlanOutput(ran.stdout)).toEqual(["/usr/bin/curl", "-O", "http://o.test/x"]);
    expect(ran.ms).toBeLessThan(1000);
  });
  test("a cache that accepts and never answers costs at most about a second", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const ran = await runExact([join(bin.shimDir, "wget"), "http://o.test/x", "http://o.test/y"], {
        env: baseEnv({ WITHCACHE_PLAN_ONLY: "1", WITHCACHE_SERVER: `http://127.0.0.1:${silent.port}` }),
      });
      expect(parsePlanOutput(ran.stdout)).toEqual(["/usr/bin/wget", "http://o.test/x", "http://o.test/y"]);
      expect(ran.ms).toBeGreaterThan(900);
      expect(ran.ms).toBeLessThan(2000);
    } finally {
      silent.stop(true);
    }
  });
  test("no candidate URL → no probe", async () => {
    fakeRequests.length = 0;
    await plan("curl", ["-K", "cfg", "http://o.test/x"], { WITHCACHE_SERVER: fakeUrl });
    await plan("curl", ["ftp://o.test/x", "http://o.test/[1-2]"], { WITHCACHE_SERVER: fakeUrl });
    await plan("wget", ["-r", "http://o.test/x"], { WITHCACHE_SERVER: fakeUrl });
    expect(fakeRequests.length).toBe(0);
  });
});

describe("https cache", () => {
  test("probed with the real tool, trusting what the tool trusts", async () => {
    const dir = join(bin.dir.path, "tls");
    mkdirSync(dir, { recursive: true });
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = await runExact(
      ["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      { env: { PATH: "/usr/bin:/bin" } },
    );
    expect(made.exitCode).toBe(0);
    const seen: string[] = [];
    const tls = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: Bun.file(cert), key: Bun.file(key) },
      fetch(req) {
        seen.push(req.method);
        const redirected = new URL(req.url).pathname.includes("redir");
        return new Response(null, { status: 200, headers: redirected ? { "x-withcache-redirected": "1" } : {} });
      },
    });
    try {
      const base = `https://127.0.0.1:${tls.port}`;
      const origin = "http://o.test/tls.tgz";
      const hit = cacheUrl(base, origin, "tls.tgz");
      // Untrusted certificate: the tool's own probe fails, the command passes through.
      expect(await plan("curl", ["-O", origin], { WITHCACHE_SERVER: base })).toEqual(["/usr/bin/curl", "-O", origin]);
      expect(await plan("wget", [origin], { WITHCACHE_SERVER: base })).toEqual(["/usr/bin/wget", origin]);
      // Trusted the way each tool is told to trust it: hit.
      expect(await plan("curl", ["-O", origin], { WITHCACHE_SERVER: base, CURL_CA_BUNDLE: cert })).toEqual(["/usr/bin/curl", "-O", hit]);
      const wgetrc = join(dir, "wgetrc");
      writeFileSync(wgetrc, `ca_certificate = ${cert}\n`);
      expect(await plan("wget", [origin], { WITHCACHE_SERVER: base, WGETRC: wgetrc })).toEqual(["/usr/bin/wget", hit]);
      // A redirected hit (curl's %header{}, wget's -S output): used only by a tool that follows.
      const redir = "http://o.test/redir.tgz";
      const redirHit = cacheUrl(base, redir, "redir.tgz");
      expect(await plan("curl", ["-O", redir], { WITHCACHE_SERVER: base, CURL_CA_BUNDLE: cert })).toEqual(["/usr/bin/curl", "-O", redir]);
      expect(await plan("curl", ["-LO", redir], { WITHCACHE_SERVER: base, CURL_CA_BUNDLE: cert })).toEqual(["/usr/bin/curl", "-LO", redirHit]);
      expect(await plan("wget", [redir], { WITHCACHE_SERVER: base, WGETRC: wgetrc })).toEqual(["/usr/bin/wget", redirHit]);
      expect(await plan("wget", ["--max-redirect=0", redir], { WITHCACHE_SERVER: base, WGETRC: wgetrc })).toEqual(["/usr/bin/wget", "--max-redirect=0", redir]);
      expect(seen).toContain("HEAD");
    } finally {
      await tls.stop(true);
    }
  });
});

describe("argv that is not utf-8", () => {
  test("reaches the tool byte for byte, and is never planned", async () => {
    const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hello\n") });
    try {
      const url = `http://127.0.0.1:${origin.port}/f.txt`;
      fakeStatus.set(url, 200);
      const dir = join(bin.dir.path, `latin1-${Math.random().toString(36).slice(2)}`);
      mkdirSync(dir);
      // bash's $'\xe9' puts the raw byte in argv; Bun.spawn itself could only pass UTF-8.
      const script = `curl -s -o $'caf\\xe9.txt' '${url}' && wget -q -O $'na\\xefve.txt' '${url}'`;
      const ran = await runExact(["/bin/bash", "-c", script], { env: baseEnv(), cwd: dir });
      expect(ran.exitCode).toBe(0);
      const names = readdirSync(dir, { encoding: "buffer" }).map((n) => n.toString("latin1")).sort();
      expect(names).toEqual(["caf\xe9.txt", "na\xefve.txt"]);
      // With a server that would say hit, the command still passes through untouched.
      const planned = await runExact(["/bin/bash", "-c", `curl -o $'caf\\xe9' '${url}'`], {
        env: baseEnv({ WITHCACHE_SERVER: fakeUrl, WITHCACHE_PLAN_ONLY: "1" }),
      });
      expect(Buffer.from(planned.stdout).toString("latin1")).toBe(`/usr/bin/curl\0-o\0caf\xe9\0${url}\0`);
    } finally {
      await origin.stop(true);
    }
  });
});

describe("proxy environment", () => {
  test("curl and wget honour http_proxy for the probe, and no_proxy", async () => {
    const seen: string[] = [];
    const proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        seen.push(`${req.method} ${req.url}`);
        return new Response(null, { status: 200 });
      },
    });
    try {
      const origin = "http://o.test/via-proxy.tgz";
      const cacheBase = "http://cache.invalid:3000";
      const env = { WITHCACHE_SERVER: cacheBase, http_proxy: `http://127.0.0.1:${proxy.port}` };
      expect(await plan("curl", [origin], env)).toEqual(["/usr/bin/curl", cacheUrl(cacheBase, origin, "via-proxy.tgz")]);
      expect(await plan("wget", [origin], env)).toEqual(["/usr/bin/wget", cacheUrl(cacheBase, origin, "via-proxy.tgz")]);
      expect(seen).toEqual([`HEAD ${cacheUrl(cacheBase, origin, "via-proxy.tgz")}`, `HEAD ${cacheUrl(cacheBase, origin, "via-proxy.tgz")}`]);
      // Exempted: the probe goes direct to cache.invalid, which does not resolve → unreachable.
      expect(await plan("curl", [origin], { ...env, no_proxy: "invalid" })).toEqual(["/usr/bin/curl", origin]);
      // curl ignores upper-case HTTP_PROXY for http; so does the probe.
      expect(await plan("curl", [origin], { WITHCACHE_SERVER: cacheBase, HTTP_PROXY: `http://127.0.0.1:${proxy.port}` })).toEqual(["/usr/bin/curl", origin]);
      expect(seen.length).toBe(2);
    } finally {
      await proxy.stop(true);
    }
  });

  test("proxy credentials with malformed escapes are sent as typed, never a crash", async () => {
    const auths: Array<string | null> = [];
    const proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        auths.push(req.headers.get("proxy-authorization"));
        return new Response(null, { status: 200 });
      },
    });
    try {
      const origin = "http://o.test/odd-proxy.tgz";
      const cacheBase = "http://cache.invalid:3000";
      const env = { WITHCACHE_SERVER: cacheBase, http_proxy: `http://u%zz%41:p%@127.0.0.1:${proxy.port}` };
      expect(await plan("curl", [origin], env)).toEqual(["/usr/bin/curl", cacheUrl(cacheBase, origin, "odd-proxy.tgz")]);
      expect(auths).toEqual([`Basic ${Buffer.from("u%zzA:p%").toString("base64")}`]);
    } finally {
      await proxy.stop(true);
    }
  });
});
