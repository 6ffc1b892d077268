// A user's review of both shims, as a lab admin's shell and a CI script use them: pipes into sh,
// `| head`, --create-dirs, -O -O with a hit and a miss, --parallel, -w, wget -i/-P/-nc/-O -, a
// fragment, an upper-case scheme, an IPv6 literal host, long query strings near the cache URL
// limit, and headers that select a representation. Each command runs through bash three times
// (plain tools, the compiled TypeScript shim, the Zig shim, each first on PATH as curl/wget) in a
// fresh directory; the saved files (names, sha256), stdout and exit status must be the plain
// tool's, and URLs the cache holds must not reach the origin through either shim.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import toolOptions from "../src/core/tool-options.json" with { type: "json" };
import { makeTempDir, pollUntil, sha256Hex, startOrigin, startTestServer, type Origin, type TempDir, type TestServer, isStored } from "./helpers/index.ts";
import { bytesOf, cacheUrlOf as cacheUrlAt } from "./invisibility-support.ts";
import { compileShim, runExact, type ShimBin } from "./shim-support.ts";
import { buildZigShim, zigShimDir, type ZigShims } from "./zig-support.ts";

type Via = "plain" | "ts" | "zig";
const VIAS: readonly Via[] = ["plain", "ts", "zig"];

let ts: ShimBin;
let zig: ZigShims;
let origin: Origin;
let origin6: Server<undefined> | undefined;
let cache: TestServer;
let work: TempDir;

const SCRIPT = "echo hello from the install script\n";
const BIG = bytesOf(1, 1_000_000);
const SMALL = bytesOf(2, 20_000);
const ASSET = bytesOf(3, 5_000);
const ASSET_JSON = '{"id":1,"name":"tool.tgz","browser_download_url":"…"}\n';

/** The origin's answer by path (the query is ignored, as the cache keys without it by default). */
function originAnswer(req: Request): Response {
  const url = new URL(req.url);
  const path = decodeURIComponent(url.pathname);
  if (path === "/install.sh") return new Response(SCRIPT, { headers: { "content-type": "text/x-shellscript" } });
  if (path === "/big.bin") return new Response(BIG);
  // GitHub's release-asset API: metadata as JSON unless the client asks for the bytes.
  if (path === "/api/asset") {
    const wantsBytes = req.headers.get("accept") === "application/octet-stream";
    return wantsBytes ? new Response(ASSET) : new Response(ASSET_JSON, { headers: { "content-type": "application/json" } });
  }
  if (path === "/cookie.bin") return new Response(SMALL, { headers: { "set-cookie": "session=abc123; Path=/; Expires=Wed, 01 Jan 2031 00:00:00 GMT" /* a fixed date: with Max-Age the jars would hold now+N and differ across a second boundary */ } });
  if (path.startsWith("/f/")) return new Response(SMALL);
  return new Response("not here\n", { status: 404 });
}

beforeAll(async () => {
  buildZigShim();
  zig = zigShimDir();
  ts = await compileShim();
  work = makeTempDir("withcache-review-");
  origin = startOrigin(originAnswer);
  try {
    // Loopback over IPv6, for http://[::1]:port/ URLs (skipped where the box has no ::1).
    origin6 = Bun.serve({ hostname: "::1", port: 0, fetch: originAnswer });
  } catch {
    origin6 = undefined;
  }
  cache = await startTestServer();
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await origin?.stop();
  await origin6?.stop(true);
  work?.cleanup();
  ts?.cleanup();
  zig?.cleanup();
});

const cacheUrlOf = (url: string): string => cacheUrlAt(cache.url, url);

/** Put `url` in the cache (the server fills it on a miss) and wait until it is a hit. */
async function warm(url: string): Promise<void> {
  await fetch(`${cache.url}/blob?url=${encodeURIComponent(url)}`, { method: "HEAD" });
  await pollUntil(async () => await isStored(fetch(cacheUrlOf(url), { method: "HEAD" })), { timeoutMs: 15_000, what: `fill of ${url}` });
}

type Observed = { status: number; stdout: string; files: Record<string, string>; stderr?: string };

let runCounter = 0;
async function observe(via: Via, script: string, options: { vars?: Record<string, string>; stderr?: boolean } = {}): Promise<Observed> {
  const cwd = join(work.path, `run-${++runCounter}-${via}`);
  mkdirSync(cwd);
  const shimDir = via === "ts" ? ts.shimDir : via === "zig" ? zig.shimDir : undefined;
  const env: Record<string, string> = {
    PATH: shimDir === undefined ? "/usr/bin:/bin" : `${shimDir}:/usr/bin:/bin`,
    HOME: work.path,
    O: origin.url,
    ...(shimDir === undefined ? {} : { WITHCACHE_SERVER: cache.url }),
    ...options.vars,
  };
  const ran = await runExact(["/bin/bash", "-c", script], { env, cwd, timeoutMs: 30_000 });
  const files: Record<string, string> = {};
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
      else files[`${prefix}${name}`] = sha256Hex(readFileSync(path)).slice(0, 16);
    }
  };
  walk(cwd, "");
  const stdout = new TextDecoder().decode(ran.stdout);
  return { status: ran.exitCode, stdout, files, ...(options.stderr ? { stderr: ran.stderr } : {}) };
}

/**
 * Runs `script` plainly and through both shims; all three must be observed alike. `cached` are
 * origin paths the cache holds: neither shim may reach the origin for them.
 */
async function sameEverywhere(script: string, cached: string[], options: { vars?: Record<string, string>; stderr?: boolean } = {}): Promise<Observed> {
  const plain = await observe("plain", script, options);
  for (const via of ["ts", "zig"] as const) {
    const before = cached.map((path) => origin.hits.get(path) ?? 0);
    const shimmed = await observe(via, script, options);
    expect({ via, script, ...shimmed }).toEqual({ via, script, ...plain });
    expect({ via, script, originRequests: cached.map((path) => (origin.hits.get(path) ?? 0)) }).toEqual({ via, script, originRequests: before });
  }
  return plain;
}

describe("a lab admin's and a CI script's commands, through both shims", () => {
  test("curl: pipes, --create-dirs, --retry, -w, -o /dev/null, several URLs with a hit and a miss, --parallel", async () => {
    for (const path of ["/install.sh", "/big.bin", "/f/a.bin", "/f/b.bin"]) await warm(`${origin.url}${path}`);
    const cached = ["/install.sh", "/big.bin", "/f/a.bin", "/f/b.bin"];
    const piped = await sameEverywhere('curl -fsSL "$O/install.sh" | sh', cached);
    expect(piped.stdout).toBe("hello from the install script\n");
    // curl handles EPIPE itself (exit 23): the status through the shim must be curl's own.
    const headed = await sameEverywhere('curl -s "$O/big.bin" | head -c 10 | wc -c; echo "curl=${PIPESTATUS[0]}"', cached);
    expect(headed.stdout).toMatch(/^10\ncurl=23\n$/);
    await sameEverywhere('curl -fL -o dir/sub/file --create-dirs "$O/f/a.bin"', cached);
    await sameEverywhere('curl -fsS --retry 3 -O "$O/f/a.bin"; echo "exit=$?"', cached);
    const written = await sameEverywhere('curl -s -w "%{http_code} %{size_download}\\n" -o out.bin "$O/f/a.bin"', cached);
    expect(written.stdout).toBe(`200 ${SMALL.length}\n`);
    await sameEverywhere('curl -s -o /dev/null -w "%{http_code}\\n" "$O/big.bin"', cached);
    await sameEverywhere('curl -s -O -O "$O/f/a.bin" "$O/f/mixed-miss.bin"; echo "exit=$?"; ls', cached);
    await sameEverywhere('curl -fsS --remote-name-all "$O/f/a.bin" "$O/f/b.bin" "$O/f/not-here"; echo "exit=$?"', cached);
    await sameEverywhere('curl -sS --parallel --remote-name-all "$O/f/a.bin" "$O/f/b.bin" "$O/f/p-miss.bin"; echo "exit=$?"', cached);
    await sameEverywhere('curl -s -# -O "$O/f/a.bin"; echo "exit=$?"', cached);
    await sameEverywhere('curl -s -O "$O/f/a.bin#section"; echo "exit=$?"', cached);
    await sameEverywhere('curl -s -O "${O/http/HTTP}/f/b.bin"; echo "exit=$?"', cached);
    await sameEverywhere('curl -s -O "$O/nothere.bin"; echo "exit=$?"; curl -sf -O "$O/nothere.bin"; echo "exit=$?"', cached);
  }, 120_000);

  test("wget: -i, -P, -nc, -O -, --output-document=-, -q --show-progress, -t 3, --no-check-certificate", async () => {
    for (const path of ["/f/a.bin", "/f/b.bin", "/big.bin"]) await warm(`${origin.url}${path}`);
    const cached = ["/f/a.bin", "/f/b.bin", "/big.bin"];
    await sameEverywhere('printf "%s\\n" "$O/f/a.bin" "$O/f/b.bin" > urls.txt; wget -q -i urls.txt; echo "exit=$?"', []);
    await sameEverywhere('wget -q -P dl/x "$O/f/a.bin"; echo "exit=$?"', cached);
    await sameEverywhere('wget -q "$O/f/a.bin"; wget -q -nc "$O/f/a.bin"; echo "exit=$?"', cached);
    const dashed = await sameEverywhere('wget -q -O - "$O/big.bin" | sha256sum; wget -q --output-document=- "$O/f/b.bin" | wc -c', cached);
    expect(dashed.stdout).toBe(`${sha256Hex(BIG)}  -\n${SMALL.length}\n`);
    await sameEverywhere('wget -q --show-progress "$O/f/a.bin" 2>/dev/null; echo "exit=$?"', cached);
    await sameEverywhere('wget -q -t 3 --no-check-certificate "$O/f/b.bin"; echo "exit=$?"', cached);
    await sameEverywhere('wget -q -O - "$O/big.bin" | head -c 10 | wc -c; echo "wget=${PIPESTATUS[0]}"', cached);
    await sameEverywhere('wget -q "$O/f/a.bin#frag" "$O/nothere.bin"; echo "exit=$?"', cached);
    // --spider checks the origin: through the shims too (a hit would only say the cache has it).
    const spiderHeads = () => origin.requests.filter((r) => r.method === "HEAD" && r.path === "/f/a.bin").length;
    const headsBefore = spiderHeads();
    await sameEverywhere('wget -q --spider "$O/f/a.bin"; echo "exit=$?"; wget -q --spider "$O/nothere.bin"; echo "exit=$?"', []);
    expect(spiderHeads() - headsBefore).toBe(3);
  }, 120_000);

  test("wget's own messages name it as the user typed it (the shim keeps argv[0])", async () => {
    const plain = await sameEverywhere("wget --bogus-option 2>&1 | head -1", [], { stderr: true });
    expect(plain.stdout).toStartWith("wget: unrecognized option");
  }, 30_000);

  test("descriptors the caller passed reach the tool (Bun marks them close-on-exec; curl -o /dev/fd/3, -o >(cmd))", async () => {
    await warm(`${origin.url}/f/a.bin`);
    const cached = ["/f/a.bin"];
    const viaFd = await sameEverywhere('curl -s -o /dev/fd/3 "$O/f/a.bin" 3>out3.bin; echo "curl=$?"; wget -q -O /dev/fd/4 "$O/f/a.bin" 4>out4.bin; echo "wget=$?"', cached);
    expect(viaFd.stdout).toBe("curl=0\nwget=0\n");
    expect(viaFd.files).toEqual({ "out3.bin": sha256Hex(SMALL).slice(0, 16), "out4.bin": sha256Hex(SMALL).slice(0, 16) });
    // Pass-through (no candidate URL) hands over the same way.
    await sameEverywhere('curl -s -o /dev/fd/3 "ftp://127.0.0.1:1/x" 3>out3.bin; echo "curl=$?"', []);
    const substituted = await sameEverywhere('curl -s -o >(wc -c > count.txt) "$O/f/a.bin"; echo "curl=$?"; for i in $(seq 500); do [ -s count.txt ] && break; sleep 0.01; done; cat count.txt', cached);
    expect(substituted.stdout).toBe(`curl=0\n${SMALL.length}\n`);
  }, 60_000);

  test("the tool starts with the caller's resource limits (the Zig start-up used to raise RLIMIT_STACK to 16 MiB)", async () => {
    const probe = join(work.path, "limits.sh");
    writeFileSync(probe, '#!/bin/sh\ngrep -E "^Max (stack|open files)" /proc/self/limits\n', { mode: 0o755 });
    const plain = await observe("plain", probe);
    expect(plain.stdout).toContain("Max stack size");
    for (const via of ["ts", "zig"] as const) {
      const shimmed = await observe(via, `curl -s ${origin.url}/f/a.bin`, { vars: { REAL_CURL: probe } });
      expect({ via, limits: shimmed.stdout }).toEqual({ via, limits: plain.stdout });
    }
  }, 30_000);

  test("an IPv6 literal host is not a curl glob: it hits through both shims", async () => {
    if (origin6 === undefined) return; // no IPv6 loopback on this box
    const url = `http://[::1]:${origin6.port}/f/six.bin`;
    await warm(url);
    const before = cache.logs.filter((line) => line.includes("result=hit") && line.includes("method=GET")).length;
    await sameEverywhere(`curl -fsS -O "${url}"; echo "exit=$?"; wget -q -O w.bin "${url}"; echo "exit=$?"`, []);
    const after = cache.logs.filter((line) => line.includes("result=hit") && line.includes("method=GET")).length;
    expect(after - before).toBe(4); // curl's and wget's GET went to the cache, through each shim
  }, 60_000);

  test("long query strings: a cache URL within cache_url_bytes_max hits; a longer one is never probed", async () => {
    const limit = toolOptions.limits.cache_url_bytes_max;
    const withQuery = (n: number) => `${origin.url}/f/long.bin?q=${"x".repeat(n)}`;
    let fits = 1;
    while (cacheUrlOf(withQuery(fits + 1)).length <= limit) fits++;
    const fitting = withQuery(fits);
    const tooLong = withQuery(fits + 1);
    expect(cacheUrlOf(tooLong).length).toBeGreaterThan(limit);
    await warm(`${origin.url}/f/long.bin`); // the default cache key drops the query
    await sameEverywhere(`curl -fsS -o out.bin "${fitting}"; echo "exit=$?"; wget -q -O w.bin "${fitting}"`, ["/f/long.bin"]);
    // Too long: no probe (the cache-host sees no request), and the tool goes to the origin.
    const probesBefore = cache.logs.filter((line) => line.includes("method=HEAD")).length;
    const originBefore = origin.hits.get("/f/long.bin") ?? 0;
    await sameEverywhere(`curl -fsS -o out.bin "${tooLong}"; echo "exit=$?"`, []);
    expect(cache.logs.filter((line) => line.includes("method=HEAD")).length).toBe(probesBefore);
    expect(origin.hits.get("/f/long.bin")).toBe(originBefore + 3);
  }, 60_000);

  test("a Set-Cookie answer is never stored: every run reaches the origin and writes the jar (curl -c, wget --save-cookies)", async () => {
    const url = `${origin.url}/cookie.bin`;
    // A miss would queue a fill; the fill sees Set-Cookie and stores nothing.
    await fetch(cacheUrlOf(url), { method: "HEAD" });
    await pollUntil(() => cache.running.ctx.store.metadata.uncacheableMark(url), { what: "cookie.bin marked uncacheable" });
    const before = origin.hits.get("/cookie.bin") ?? 0;
    const jars = await sameEverywhere(
      'curl -s -c jar.txt -o out.bin "$O/cookie.bin"; grep -c abc123 jar.txt; wget -q --save-cookies wjar.txt -O w.bin "$O/cookie.bin"; grep -c abc123 wjar.txt',
      [],
    );
    expect(jars.stdout).toBe("1\n1\n");
    // plain, TypeScript shim, Zig shim: curl and wget each went to the origin.
    expect((origin.hits.get("/cookie.bin") ?? 0) - before).toBe(6);
    expect(cache.running.ctx.store.metadata.getArtifact(url)).toBeNull();
  }, 30_000);

  test("a header that selects the representation passes through (the cache holds another one)", async () => {
    const url = `${origin.url}/api/asset`;
    await warm(url); // filled without Accept: the JSON metadata
    expect(await (await fetch(cacheUrlOf(url))).text()).toBe(ASSET_JSON);
    const asBytes = await sameEverywhere(`curl -fsSL -H "Accept: application/octet-stream" -o tool.tgz "${url}"; wget -q --header="Accept: application/octet-stream" -O w.tgz "${url}"`, []);
    expect(asBytes.files).toEqual({ "tool.tgz": sha256Hex(ASSET).slice(0, 16), "w.tgz": sha256Hex(ASSET).slice(0, 16) });
    // Without the header the cached JSON is exactly what the origin gives: that one may hit.
    await sameEverywhere(`curl -fsSL -o meta.json "${url}"`, ["/api/asset"]);
  }, 60_000);
});
