// The compiled binary end to end: `dist/withcache serve` (rebuilt when stale), miss → fill → hit
// with real curl, flag errors, the withcache-server name, and SIGTERM draining a slow download.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, copyFileSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { blobUrl, ensureBuilt, makeTempDir, pollUntil, REPO_ROOT, run, sha256Hex, spawnServer, startOrigin, type Origin, type TempDir, isStored } from "./helpers/index.ts";

let work: TempDir;
let binary: string;
let origin: Origin;
const BIG_BYTES = 256 * 1024 * 1024;
const BODY = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 11 + (i >> 10)) % 256);


beforeAll(async () => {
  work = makeTempDir("withcache-bin-");
  const dist = await ensureBuilt();
  // Run a private copy: another test or engineer may rebuild dist/ while this runs.
  binary = join(work.path, "withcache");
  copyFileSync(dist, binary);
  // 256 MiB, sparse: more than loopback socket buffers can swallow, so a throttled client is
  // still downloading from the server's point of view when SIGTERM arrives.
  const big = join(work.path, "big.img");
  const fd = openSync(big, "w");
  ftruncateSync(fd, BIG_BYTES);
  closeSync(fd);
  origin = startOrigin((req) => {
    const p = new URL(req.url).pathname;
    if (p === "/release/big.img") return new Response(Bun.file(big));
    if (p === "/release/app.tar.gz") return new Response(BODY as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/gzip" } });
    return new Response("no\n", { status: 404 });
  });
}, 180_000);

afterAll(async () => {
  await origin?.stop();
  work?.cleanup();
});

describe("compiled withcache", () => {
  test("--version, serve --help, and flag errors in the house style", async () => {
    const v = await run([binary, "--version"]);
    expect(v.exitCode).toBe(0);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version);
    const h = await run([binary, "serve", "--help"]);
    expect(h.exitCode).toBe(0);
    for (const flag of ["--data-dir", "--port", "--workers", "--curate", "--keep-query", "--allow-private-origins", "--allow-host", "--trust-proxy", "--config"]) {
      expect(h.stdout).toContain(flag);
    }
    const bad = await run([binary, "serve", "--workers", "x", "--data-dir", join(work.path, "never")]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toBe('withcache: error: --workers: "x" is not a positive integer\n');
    const badEnv = await run([binary, "serve", "--data-dir", join(work.path, "never")], { env: { WITHCACHE_PORT: "http" } });
    expect(badEnv.exitCode).not.toBe(0);
    expect(badEnv.stderr).toBe('withcache: error: WITHCACHE_PORT: "http" is not a port; expected 0-65535\n');
  });

  test("a second cache-host on a port already taken refuses to start (no silent SO_REUSEPORT sharing)", async () => {
    const first = await spawnServer({ binary, dataDir: join(work.path, "port-a") });
    try {
      const second = await run([binary, "serve", "--data-dir", join(work.path, "port-b"), "--host", "127.0.0.1", "--port", String(first.port)], { timeoutMs: 15_000 });
      expect(second.stderr).toBe(`withcache: error: --port: 127.0.0.1:${first.port} is already in use\n`);
      expect(second.exitCode).toBe(1);
    } finally {
      first.proc.kill("SIGTERM");
      await first.proc.exited;
    }
  });

  test("serve: miss → fill streamed through → hit with curl; SIGTERM lets a slow download finish, then exits 0", async () => {
    const data = join(work.path, "data");
    const s = await spawnServer({ binary, dataDir: data, args: ["--allow-private-origins"] });
    try {
      expect(s.output()).toContain(`data dir ${data}, mode auto, workers 2`);
      const url = blobUrl(s.url, `${origin.url}/release/app.tar.gz?sig=abc`);
      // The first (cold) request starts the fill and streams it: the origin's bytes, not a 404.
      const miss = await run(["/usr/bin/curl", "-sS", "-w", "%{http_code}", "-o", join(work.path, "miss.bin"), url]);
      expect(miss.stdout).toBe("200");
      expect(sha256Hex(readFileSync(join(work.path, "miss.bin")))).toBe(sha256Hex(BODY));
      expect(s.output()).toContain("result=miss-stream");
      await pollUntil(async () => await isStored(fetch(url, { method: "HEAD" })), { what: "fill" });
      const out = join(work.path, "app.tar.gz");
      const hit = await run(["/usr/bin/curl", "-sS", "-f", "-o", out, url]);
      expect(hit.exitCode).toBe(0);
      expect(sha256Hex(readFileSync(out))).toBe(sha256Hex(BODY));
      expect(s.output()).toMatch(/job id=1 state=completed key=http:\/\/127\.0\.0\.1:\d+\/release\/app\.tar\.gz source=auto/);
      expect(s.output()).not.toContain("sig=abc");

      // A slow client (~2 s at 2 MiB/s) is mid-download when SIGTERM arrives.
      const slowOut = join(work.path, "slow.tar.gz");
      const slow = run(["/usr/bin/curl", "-sS", "-f", "--limit-rate", "2M", "-o", slowOut, url]);
      await pollUntil(() => {
        try {
          return statSync(slowOut).size > 0;
        } catch {
          return false;
        }
      }, { what: "slow download started" });
      s.proc.kill("SIGTERM");
      const [slowResult, exitCode] = await Promise.all([slow, s.proc.exited]);
      expect(slowResult.exitCode).toBe(0);
      expect(sha256Hex(readFileSync(slowOut))).toBe(sha256Hex(BODY));
      expect(exitCode).toBe(0);
      expect(s.output()).toContain("SIGTERM: draining");
      expect(s.output()).toContain("stopped drained=true");
      const after = await run(["/usr/bin/curl", "-sS", "-o", "/dev/null", url]);
      expect(after.exitCode).toBe(7); // connection refused: the port is closed
    } finally {
      s.proc.kill(9);
    }
  }, 60_000);

  test("SIGTERM's drain is bounded: a download slower than --drain-timeout is cut", async () => {
    const data = join(work.path, "data-drain");
    const s = await spawnServer({ binary, dataDir: data, args: ["--allow-private-origins", "--drain-timeout", "300ms"] });
    try {
      const url = blobUrl(s.url, `${origin.url}/release/big.img`);
      await (await fetch(url)).text();
      await pollUntil(async () => await isStored(fetch(url, { method: "HEAD" })), { what: "fill", timeoutMs: 30_000 });
      const out = join(work.path, "cut.img");
      const slow = run(["/usr/bin/curl", "-sS", "-f", "--limit-rate", "1M", "-o", out, url]);
      await pollUntil(() => {
        try {
          return statSync(out).size > 0;
        } catch {
          return false;
        }
      }, { what: "slow download started" });
      const t0 = Date.now();
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(s.output()).toContain("stopped drained=false");
      const result = await slow;
      expect(result.exitCode).not.toBe(0); // cut short (curl 18: partial file)
      expect(statSync(out).size).toBeLessThan(BIG_BYTES);
    } finally {
      s.proc.kill(9);
    }
  }, 30_000);

  test("the withcache-server name starts the cache-host; --config fills in what flags do not say", async () => {
    const link = join(work.path, "withcache-server");
    symlinkSync(binary, link);
    const configFile = join(work.path, "withcache.json");
    await Bun.write(configFile, JSON.stringify({ curate: true, workers: 3, allowHosts: ["*.vendor.example"] }));
    const s = await spawnServer({ binary: link, serveSubcommand: false, dataDir: join(work.path, "data2"), args: ["--config", configFile, "--workers", "4"] });
    try {
      // --config supplies curate and allowHosts; the flag wins for workers.
      expect(s.output()).toContain("mode curate, workers 4, auto-fetch only from *.vendor.example");
      const r = await fetch(`${s.url}/healthz`);
      expect(await r.text()).toStartWith("ok ");
    } finally {
      s.proc.kill("SIGTERM");
      await s.proc.exited;
    }
  });
});
