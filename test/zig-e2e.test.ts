// The native shim end to end: the Zig binary symlinked as curl and wget first on PATH, the real
// cache-host (startServer) and a real origin on loopback, the real /usr/bin/curl and wget. For a
// set of URLs (odd names, query, trailing slash, no path, Content-Disposition) and flag sets, the
// saved file names and bytes, stdout and exit code through the shim — on a miss and on a hit —
// equal the plain tool's against the origin; hits never reach the origin. Also: origin 404 with
// -f, kill -INT mid-download, no network with the server unset, and the static binaries.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TCPSocketListener } from "bun";
import { makeTempDir, pollUntil, run, sha256Hex, startOrigin, startTestServer, type Origin, type TempDir, type TestServer, isStored } from "./helpers/index.ts";
import {
  bytesOf,
  cacheUrlOf as cacheUrlAt,
  expectInvisible,
  expectPlainLikeOn404,
  freshDir,
  interruptDownload,
  invisibilityFiles,
  invisibilityOrigin,
  observeIn,
  plainEnv,
  type Observed,
} from "./invisibility-support.ts";
import { runExact, shimPath } from "./shim-support.ts";
import { buildZigShim, ZIG_SHIM, zigShimDir, type ZigShims } from "./zig-support.ts";

let zig: ZigShims;
let origin: Origin;
let cache: TestServer;
let work: TempDir;
let releaseSlow: () => void = () => {};
const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));

/** Origin files by decoded path. */
const FILES = invisibilityFiles({ firstSeed: 11, bigSizeBytes: 200_000 });

beforeAll(async () => {
  buildZigShim();
  zig = zigShimDir();
  work = makeTempDir("withcache-zig-e2e-");
  // /slow.bin: 64 KiB at once, then nothing until the test ends: a download surely in flight.
  origin = startOrigin(invisibilityOrigin(FILES, { slowFirst: bytesOf(19, 65536), released: slowReleased, rangeResume: false }));
  cache = await startTestServer({ firstByteWaitMs: 500 }); // streams cold misses, as the default does
}, 60_000);

afterAll(async () => {
  releaseSlow();
  await cache?.stop();
  await origin?.stop();
  work?.cleanup();
  zig?.cleanup();
});

function envFor(via: "plain" | "shim", extra: Record<string, string> = {}): Record<string, string> {
  return via === "plain" ? plainEnv(work.path) : { PATH: shimPath(zig.shimDir), HOME: work.path, WITHCACHE_SERVER: cache.url, ...extra };
}

function observe(tool: "curl" | "wget", args: string[], via: "plain" | "shim"): Promise<Observed> {
  return observeIn(freshDir(work.path, "run"), [tool, ...args], envFor(via));
}

const cacheUrlOf = (url: string): string => cacheUrlAt(cache.url, url);

describe("zig shim: invisible on miss and on hit", () => {
  test("curl and wget: same file names, bytes and exit codes as the plain tool", async () => {
    await expectInvisible(origin, { observe, cacheUrlOf });
  }, 120_000);

  test("the hit really is exec'd against the cache-host: the plan names the cache URL", async () => {
    const url = `${origin.url}/pkg/a.tgz`;
    await pollUntil(async () => await isStored(fetch(cacheUrlOf(url), { method: "HEAD" })), { timeoutMs: 15_000, what: "fill" });
    const ran = await runExact([join(zig.shimDir, "curl"), "-sO", url], { env: envFor("shim", { WITHCACHE_PLAN_ONLY: "1" }) });
    expect(new TextDecoder().decode(ran.stdout).split("\0")).toEqual(["/usr/bin/curl", "-sO", cacheUrlOf(url), ""]);
  }, 30_000);

  test("origin 404 through the shim: curl -f exits 22, wget exits 8, like the plain tools", async () => {
    await expectPlainLikeOn404(origin.url, observe);
  });

  test("an unreachable cache costs at most about a second and changes nothing", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const url = `${origin.url}/pkg/c+d.tgz`;
    const plain = await observe("curl", ["-sS", "-O", url], "plain");
    const started = performance.now();
    const cwd = freshDir(work.path, "run");
    const ran = await runExact(["curl", "-sS", "-O", url], { env: envFor("shim", { WITHCACHE_SERVER: `127.0.0.1:${port}` }), cwd });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(ran.exitCode).toBe(plain.exitCode);
    expect(sha256Hex(readFileSync(join(cwd, "c+d.tgz")))).toBe(plain.files["c+d.tgz"]!);
  });
});

describe("zig shim: https cache-host (probed through the real tool)", () => {
  test("hit and miss with the cache's CA configured for the tool; an untrusted cache passes through", async () => {
    const dir = join(work.path, "tls");
    mkdirSync(dir);
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = await run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
    expect(made.exitCode).toBe(0);
    const tls = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: Bun.file(cert), key: Bun.file(key) },
      fetch: (req) => {
        const path = new URL(req.url).pathname;
        if (path.endsWith(".redir")) return new Response(null, { status: 200, headers: { "x-withcache-redirected": "1" } });
        return new Response(null, { status: path.endsWith(".hit") ? 200 : 404 });
      },
    });
    try {
      const server = `https://127.0.0.1:${tls.port}`;
      const wgetrc = join(dir, "wgetrc");
      await Bun.write(wgetrc, `ca_certificate=${cert}\n`);
      const plan = async (tool: "curl" | "wget", url: string, extra: Record<string, string>, flag = tool === "curl" ? "-s" : "-q") => {
        const ran = await runExact([join(zig.shimDir, tool), flag, url], {
          env: envFor("shim", { WITHCACHE_SERVER: server, WITHCACHE_PLAN_ONLY: "1", ...extra }),
        });
        return new TextDecoder().decode(ran.stdout).split("\0").slice(1, -1);
      };
      const hitUrl = "https://o.test/pkg/a.hit";
      const cached = `${server}/b/${Buffer.from(hitUrl).toString("base64url")}/a.hit`;
      expect(await plan("curl", hitUrl, { CURL_CA_BUNDLE: cert })).toEqual(["-s", cached]);
      expect(await plan("curl", "https://o.test/pkg/a.miss", { CURL_CA_BUNDLE: cert })).toEqual(["-s", "https://o.test/pkg/a.miss"]);
      expect(await plan("wget", hitUrl, { WGETRC: wgetrc })).toEqual(["-q", cached]);
      expect(await plan("wget", "https://o.test/pkg/a.miss", { WGETRC: wgetrc })).toEqual(["-q", "https://o.test/pkg/a.miss"]);
      // A redirected hit (read from curl's %header{} / wget's -S output): only for a tool that follows.
      const redirUrl = "https://o.test/pkg/a.redir";
      const redirCached = `${server}/b/${Buffer.from(redirUrl).toString("base64url")}/a.redir`;
      expect(await plan("curl", redirUrl, { CURL_CA_BUNDLE: cert })).toEqual(["-s", redirUrl]);
      expect(await plan("curl", redirUrl, { CURL_CA_BUNDLE: cert }, "-sL")).toEqual(["-sL", redirCached]);
      expect(await plan("wget", redirUrl, { WGETRC: wgetrc })).toEqual(["-q", redirCached]);
      expect(await plan("wget", redirUrl, { WGETRC: wgetrc }, "--max-redirect=0")).toEqual(["--max-redirect=0", redirUrl]);
      // The tool would refuse this certificate, so the probe does too: pass-through, not a hit.
      expect(await plan("curl", hitUrl, {})).toEqual(["-s", hitUrl]);
      expect(await plan("wget", hitUrl, {})).toEqual(["-q", hitUrl]);
    } finally {
      await tls.stop(true);
    }
  }, 30_000);
});

describe("zig shim: pass-through and process", () => {
  test("server unset or empty: no connection to the cache at all", async () => {
    let connections = 0;
    const recorder: TCPSocketListener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void connections++, data() {} } });
    try {
      const setting = `127.0.0.1:${recorder.port}`;
      const url = `${origin.url}/pkg/q.tgz`;
      const settings: Record<string, string>[] = [{ WITHCACHE_SERVER: "" }, { WITHCACHE_SERVER: setting, CURLWITHCACHE_SERVER: "", WGETWITHCACHE_SERVER: "" }];
      for (const extra of settings) {
        for (const tool of ["curl", "wget"] as const) {
          const ran = await runExact([tool, tool === "curl" ? "-so/dev/null" : "-qO/dev/null", url], { env: envFor("shim", extra) });
          expect(ran.exitCode).toBe(0);
        }
      }
      expect(connections).toBe(0);
      // The recorder does count: with the server set, the probe connects (and times out quickly).
      await runExact(["curl", "-so/dev/null", url], { env: envFor("shim", { WITHCACHE_SERVER: setting }) });
      expect(connections).toBeGreaterThan(0);
    } finally {
      recorder.stop(true);
    }
  }, 30_000);

  test("a copy of the shim and a wrapper that calls curl again do not loop", async () => {
    const copyDir = join(work.path, "copy");
    const wrapDir = join(work.path, "wrap");
    mkdirSync(copyDir);
    mkdirSync(wrapDir);
    copyFileSync(ZIG_SHIM, join(copyDir, "curl"));
    chmodSync(join(copyDir, "curl"), 0o755);
    writeFileSync(join(wrapDir, "curl"), '#!/bin/sh\nexec curl "$@"\n');
    chmodSync(join(wrapDir, "curl"), 0o755);
    const env = { PATH: `${zig.shimDir}:${copyDir}:${wrapDir}:/usr/bin:/bin`, HOME: work.path, WITHCACHE_SERVER: cache.url };
    const ran = await runExact([join(zig.shimDir, "curl"), "--version"], { env, timeoutMs: 10_000 });
    expect(ran.exitCode).toBe(0);
    expect(new TextDecoder().decode(ran.stdout)).toStartWith("curl ");
  });

  test("arguments that are not utf-8 reach the tool byte for byte, unplanned", async () => {
    const script = `exec "$0" -s "$(printf 'http://o.test/\\377.bin')" "$(printf -- '-H\\376x')"`;
    const expected = Buffer.concat([Buffer.from("/usr/bin/curl\0-s\0http://o.test/"), Buffer.from([0xff]), Buffer.from(".bin\0-H"), Buffer.from([0xfe]), Buffer.from("x\0")]);
    for (const server of ["", cache.url]) {
      const ran = await runExact(["bash", "-c", script, join(zig.shimDir, "curl")], { env: envFor("shim", { WITHCACHE_SERVER: server, WITHCACHE_PLAN_ONLY: "1" }) });
      expect(Buffer.from(ran.stdout).toString("hex")).toBe(expected.toString("hex"));
    }
  });

  test("kill -INT ends a shimmed download like the plain tool; the PID is the tool", async () => {
    const interrupted = (tool: "curl" | "wget", via: "plain" | "shim") =>
      interruptDownload(tool, { origin, cwd: freshDir(work.path, "sig"), env: envFor(via) });
    for (const tool of ["curl", "wget"] as const) {
      const plain = await interrupted(tool, "plain");
      const shim = await interrupted(tool, "shim");
      expect(plain.signal).toBe("SIGINT");
      expect({ signal: shim.signal, exitCode: shim.exitCode }).toEqual({ signal: plain.signal, exitCode: plain.exitCode });
      expect(shim.exe).toBe(tool); // the same PID became the real tool; argv[0] is the tool's name
      if (tool === "wget") expect(shim.sigIgn).toBe(plain.sigIgn);
    }
  }, 60_000);

  test("the release binaries are static and within 250 KB", async () => {
    const built = await run(["bash", "-c", "scripts/build-zig"], { cwd: join(import.meta.dir, ".."), timeoutMs: 120_000 });
    expect(built.exitCode).toBe(0);
    for (const arch of ["x86_64", "aarch64"]) {
      const path = join(import.meta.dir, "..", "dist", `withcache-shim-${arch}-linux-musl`);
      expect(statSync(path).size).toBeLessThanOrEqual(250_000);
      const described = await run(["file", "-L", path]);
      expect(described.stdout).toContain("statically linked");
    }
  }, 120_000);
});
