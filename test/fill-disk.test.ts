// The disk never fills by surprise: --min-free-disk (checked before a fill starts and while it
// writes), a real ENOSPC on a small tmpfs (the job fails with one line, no temp file, no blob),
// and --max-cache-size (LRU eviction after each fill, shared blobs freed only with their last key).
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  blobUrl,
  cleanupsAfterEach,
  fillOnMiss,
  jobFinished,
  makeTempDir,
  sha256Hex,
  startOrigin,
  startRawOrigin,
  startTestServer,
  tempReaches,
  type Origin,
  type TestServer,
} from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();

const MiB = 1024 * 1024;

/** A tmpfs of `sizeBytes` (needs root); null with the reason when mounting is not permitted. */
function mountTmpfs(sizeBytes: number): { path: string; cleanup(): void } | { path: null; reason: string } {
  const path = mkdtempSync(join(tmpdir(), "withcache-tmpfs-"));
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", path], { stderr: "pipe" });
  if (r.exitCode !== 0) {
    rmSync(path, { recursive: true, force: true });
    return { path: null, reason: r.stderr.toString().trim() || `mount exited ${r.exitCode}` };
  }
  return {
    path,
    cleanup() {
      Bun.spawnSync(["umount", path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** A tmpfs of `sizeBytes` for this test, unmounted after it; its path. */
function testTmpfs(sizeBytes: number): string {
  const fs = mountTmpfs(sizeBytes);
  if (fs.path === null) throw new Error(fs.reason);
  cleanups.push(() => fs.cleanup());
  return fs.path;
}

const probe = mountTmpfs(MiB);
const tmpfsReason = probe.path === null ? probe.reason : null;
if (probe.path !== null) probe.cleanup();
if (tmpfsReason) console.warn(`fill-disk: tmpfs tests skipped: cannot mount a tmpfs (${tmpfsReason})`);

/** Chunks of a deterministic pattern: `total` bytes, streamed without Content-Length. */
function streamed(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).map((_, i) => (i * 7) % 251);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk.byteLength, total - sent);
      controller.enqueue(chunk.slice(0, n));
      sent += n;
    },
  });
}

function patterned(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed) % 256);
}

/** The origin of these tests, stopped after the test: /stream-<n>.bin, /sized-<n>.bin, /lru-<name>[-copy].bin. */
function diskOrigin(): Origin {
  const origin = startOrigin((req) => {
    const p = new URL(req.url).pathname;
    const m = /^\/stream-(\d+)\.bin$/.exec(p);
    if (m) return new Response(streamed(Number(m[1])));
    const k = /^\/sized-(\d+)\.bin$/.exec(p);
    if (k) return new Response(patterned(Number(k[1]), 1) as Uint8Array<ArrayBuffer>);
    const e = /^\/lru-([a-z]+)(?:-copy)?\.bin$/.exec(p);
    if (e) return new Response(patterned(e[1] === "huge" ? 20_000 : 4000, e[1]!.charCodeAt(0)) as Uint8Array<ArrayBuffer>);
    return new Response("nope\n", { status: 404 });
  });
  cleanups.push(() => origin.stop());
  return origin;
}

async function server(overrides: Parameters<typeof startTestServer>[0], dataDir?: string): Promise<TestServer> {
  const dir = dataDir ? { path: join(dataDir, "data"), cleanup: () => {} } : makeTempDir("withcache-disk-");
  const s = await startTestServer({ fillAttempts: 1, ...overrides }, { dataDir: dir });
  cleanups.push(() => s.stop());
  return s;
}

const fillOutcome = (s: TestServer, originUrl: string) => fillOnMiss(s, originUrl, { timeoutMs: 20_000 });

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true }).map(String).filter((n) => !/^[0-9a-f]{2}$/.test(n));
  } catch {
    return [];
  }
}

describe("--min-free-disk", () => {
  test("a fill that would leave less than the minimum does not start; nothing is written", async () => {
    const origin = diskOrigin();
    const s = await server({ minFreeDisk: "100%" });
    const job = await fillOutcome(s, `${origin.url}/sized-5000.bin`);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(
      new RegExp(`^fill not started: only [0-9.]+ [KMGT]?i?B free on ${s.dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} and 4\\.9 KiB still to write \\(minimum [0-9.]+ [KMGT]?i?B free, --min-free-disk\\)$`),
    );
    expect(s.logs.some((l) => / job id=\d+ state=failed /.test(l) && l.includes("fill not started"))).toBe(true);
    expect(filesUnder(join(s.dataDir, "tmp"))).toEqual([]);
    expect(filesUnder(join(s.dataDir, "blobs"))).toEqual([]);
    expect((await fetch(blobUrl(s.url, `${origin.url}/sized-5000.bin`), { method: "HEAD" })).status).toBe(404);
  });

  test.skipIf(tmpfsReason !== null)("on an 8 MiB tmpfs: a fill is stopped when free space falls below the minimum, or not started by Content-Length", async () => {
    const tmpfs = testTmpfs(8 * MiB);
    const origin = diskOrigin();
    const s = await server({ minFreeDisk: "4MiB" }, tmpfs);
    const stopped = await fillOutcome(s, `${origin.url}/stream-${6 * MiB}.bin`);
    expect(stopped.state).toBe("failed");
    expect(stopped.error).toMatch(new RegExp(`^fill stopped: only [0-9.]+ MiB free on ${tmpfs}/data \\(minimum 4\\.0 MiB free, --min-free-disk\\)$`));
    expect(filesUnder(join(s.dataDir, "tmp"))).toEqual([]);
    expect(filesUnder(join(s.dataDir, "blobs"))).toEqual([]);
    const notStarted = await fillOutcome(s, `${origin.url}/sized-${6 * MiB}.bin`);
    expect(notStarted.error).toMatch(/^fill not started: only [0-9.]+ MiB free on .* and 6\.0 MiB still to write \(minimum 4\.0 MiB free, --min-free-disk\)$/);
    // Small artifacts still fit.
    expect(await fillOutcome(s, `${origin.url}/sized-100000.bin`)).toMatchObject({ state: "completed" });
  });
});

describe("fills at the same time", () => {
  test.skipIf(tmpfsReason !== null)("on a 12 MiB tmpfs: a second 5 MiB fill does not start while the first still has its 5 MiB to write", async () => {
    const tmpfs = testTmpfs(12 * MiB);
    const size = 5 * MiB;
    const body = patterned(size, 3);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // /gated-<name>.bin: Content-Length and the first 64 KiB at once, the rest once the gate opens.
    const origin = startRawOrigin((c) => {
      c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
      c.write(body.subarray(0, 64 * 1024));
      void gate.then(() => {
        c.write(body.subarray(64 * 1024));
        c.end();
      });
    });
    cleanups.push(() => origin.stop());
    const s = await server({ minFreeDisk: "3MiB", workers: 2 }, tmpfs);
    const readers = new AbortController();
    cleanups.push(() => readers.abort());
    const first = `${origin.url}/gated-a.bin`;
    const second = `${origin.url}/gated-b.bin`;
    void fetch(blobUrl(s.url, first), { signal: readers.signal }).then((r) => r.arrayBuffer()).catch(() => null);
    await tempReaches(() => s.dataDir, 64 * 1024);
    // Alone it fits (about 11 MiB free, 5 MiB to write, 3 MiB minimum); with the first's 5 MiB
    // still to come it does not: refused before a byte is written, rather than both failing halfway.
    void fetch(blobUrl(s.url, second), { signal: readers.signal }).then((r) => r.arrayBuffer()).catch(() => null);
    const refused = await jobFinished(s, second, { timeoutMs: 10_000 });
    expect(refused.state).toBe("failed");
    expect(refused.error).toMatch(/^fill not started: only [0-9.]+ MiB free on .*, [0-9.]+ MiB of it still to be written by other fills, and 5\.0 MiB still to write \(minimum 3\.0 MiB free, --min-free-disk\)$/);
    open();
    expect(await jobFinished(s, first, { timeoutMs: 20_000 })).toMatchObject({ state: "completed" });
    const hit = await fetch(blobUrl(s.url, first));
    expect(sha256Hex(new Uint8Array(await hit.arrayBuffer()))).toBe(sha256Hex(body));
    expect(s.running.ctx.store.blobs.diskSpace().promisedBytes).toBe(0);
  }, 30_000);
});

describe("disk full", () => {
  test.skipIf(tmpfsReason !== null)("ENOSPC on an 8 MiB tmpfs fails the job with one line, removes the temp file, leaves no blob", async () => {
    const tmpfs = testTmpfs(8 * MiB);
    const origin = diskOrigin();
    const s = await server({ minFreeDisk: "0", fillAttempts: 3 }, tmpfs);
    const freeBefore = statfsSync(tmpfs).bavail * statfsSync(tmpfs).bsize;
    const job = await fillOutcome(s, `${origin.url}/stream-${16 * MiB}.bin`);
    expect(job.state).toBe("failed");
    expect(job.attempts).toBe(1); // a full disk is not retried by itself
    expect(job.error).toBe(`fill stopped: the disk is full (no space left in ${tmpfs}/data)`);
    expect(filesUnder(join(s.dataDir, "tmp"))).toEqual([]);
    expect(filesUnder(join(s.dataDir, "blobs"))).toEqual([]);
    const freeAfter = statfsSync(tmpfs).bavail * statfsSync(tmpfs).bsize;
    expect(freeAfter).toBeGreaterThan(freeBefore - MiB);
    // The cache-host carries on: the next fill that fits completes and is served.
    expect(await fillOutcome(s, `${origin.url}/sized-200000.bin`)).toMatchObject({ state: "completed" });
    const hit = await fetch(blobUrl(s.url, `${origin.url}/sized-200000.bin`));
    expect(sha256Hex(new Uint8Array(await hit.arrayBuffer()))).toBe(sha256Hex(patterned(200_000, 1)));
  });
});

describe("a disk filled by something else", () => {
  test.skipIf(tmpfsReason !== null)("hits are still served and misses still answered when the database cannot grow", async () => {
    const tmpfs = testTmpfs(4 * MiB);
    const origin = diskOrigin();
    const s = await server({ minFreeDisk: "0" }, tmpfs);
    const u = `${origin.url}/sized-100000.bin`;
    expect(await fillOutcome(s, u)).toMatchObject({ state: "completed" });
    // Fill the filesystem to the last block.
    const filler = Bun.spawnSync(["dd", "if=/dev/zero", `of=${tmpfs}/filler`, "bs=64k"], { stderr: "pipe" });
    expect(filler.stderr.toString()).toContain("No space left on device");
    for (let i = 0; i < 50; i += 1) {
      const hit = await fetch(blobUrl(s.url, u));
      expect(hit.status).toBe(200);
      expect(sha256Hex(new Uint8Array(await hit.arrayBuffer()))).toBe(sha256Hex(patterned(100_000, 1)));
      const miss = await fetch(blobUrl(s.url, `${origin.url}/sized-${i + 1}.bin`), { method: "HEAD" });
      expect(miss.status).toBe(404);
    }
    // Logged, but not once per request.
    const complaints = s.logs.filter((l) => l.includes(" counter-error "));
    expect(complaints.length).toBe(1);
    expect(complaints[0]).toMatch(/counter=(hit|miss) error=/);
  });
});

describe("unwritable data dirs", () => {
  test("a missing data dir is created (with its parents)", async () => {
    const base = makeTempDir("withcache-newdir-");
    cleanups.push(() => base.cleanup());
    const path = join(base.path, "a", "b", "data");
    const s = await startTestServer({}, { dataDir: { path, cleanup: () => {} } });
    cleanups.push(() => s.stop());
    expect(readdirSync(path)).toEqual(expect.arrayContaining(["blobs", "tmp", "withcache.db", "lock", "lock.db"]));
  });

  test.skipIf(tmpfsReason !== null)("a read-only filesystem stops the start with one line naming the data dir", async () => {
    const tmpfs = testTmpfs(MiB);
    mkdirSync(join(tmpfs, "existing"));
    expect(Bun.spawnSync(["mount", "-o", "remount,ro", tmpfs]).exitCode).toBe(0);
    const { startServer } = await import("../src/server/server.ts");
    const { testConfig, memoryLogger } = await import("./helpers/index.ts");
    await expect(startServer(testConfig(join(tmpfs, "new")), { log: memoryLogger([]) })).rejects.toThrow(`--data-dir: cannot create ${tmpfs}/new: read-only file system`);
    await expect(startServer(testConfig(join(tmpfs, "existing")), { log: memoryLogger([]) })).rejects.toThrow(`--data-dir: cannot write in ${tmpfs}/existing: read-only file system`);
  });
});

describe("--max-cache-size", () => {
  test("after each fill the least recently used artifacts go until the total fits; shared blobs stay while referenced", async () => {
    const origin = diskOrigin();
    let clock = 1_000_000;
    const s = await startTestServer({ maxCacheBytes: 10_000, fillAttempts: 1 }, { start: { nowMs: () => (clock += 1000) } });
    cleanups.push(() => s.stop());
    const u = (name: string): string => `${origin.url}/${name}.bin`;
    expect(await fillOutcome(s, u("lru-a"))).toMatchObject({ state: "completed" });
    expect(await fillOutcome(s, u("lru-a-copy"))).toMatchObject({ state: "completed" }); // same bytes as a
    expect(await fillOutcome(s, u("lru-b"))).toMatchObject({ state: "completed" });
    const meta = s.running.ctx.store.metadata;
    expect(meta.totals().bytes).toBe(8000);
    await (await fetch(blobUrl(s.url, u("lru-a")))).arrayBuffer(); // a is now the most recently used
    expect(await fillOutcome(s, u("lru-c"))).toMatchObject({ state: "completed" });
    // 12000 > 10000: a-copy (fetched first, never hit; frees nothing, a shares its blob), then b.
    expect(meta.getArtifact(u("lru-a-copy"))).toBeNull();
    expect(meta.getArtifact(u("lru-b"))).toBeNull();
    expect(meta.getArtifact(u("lru-a"))).not.toBeNull();
    expect(meta.getArtifact(u("lru-c"))).not.toBeNull();
    expect(meta.totals().bytes).toBe(8000);
    const evicted = s.logs.filter((l) => l.includes(" evicted "));
    expect(evicted.length).toBe(2);
    expect(evicted[0]).toContain(`key=${u("lru-a-copy")} freed_bytes=0 reason=max-cache-size`);
    expect(evicted[1]).toContain(`key=${u("lru-b")} freed_bytes=4000 reason=max-cache-size`);
    const a = await fetch(blobUrl(s.url, u("lru-a")));
    expect(sha256Hex(new Uint8Array(await a.arrayBuffer()))).toBe(sha256Hex(patterned(4000, "a".charCodeAt(0))));
    expect(filesUnder(join(s.dataDir, "blobs")).length).toBe(2);
    // Bigger than the whole cache: refused, nothing evicted for it.
    const huge = await fillOutcome(s, u("lru-huge"));
    expect(huge).toMatchObject({ state: "failed", error: "origin artifact is 20000 bytes, over --max-cache-size 10000" });
    expect(meta.getArtifact(u("lru-a"))).not.toBeNull();

    // A lower cap at the next start applies at once: a (hit last) stays, c goes.
    await s.running.stop();
    const again = await startTestServer({ maxCacheBytes: 5000 }, { dataDir: { path: s.dataDir, cleanup: () => {} } });
    cleanups.push(() => again.stop());
    expect(again.running.ctx.store.metadata.getArtifact(u("lru-c"))).toBeNull();
    expect(again.running.ctx.store.metadata.getArtifact(u("lru-a"))).not.toBeNull();
    expect(again.logs.some((l) => l.includes(" evicted ") && l.includes(u("lru-c")))).toBe(true);
  });

  test("counted while streaming when the origin sends no Content-Length", async () => {
    const origin = diskOrigin();
    const s = await server({ maxCacheBytes: 100_000 });
    const job = await fillOutcome(s, `${origin.url}/stream-300000.bin`);
    expect(job).toMatchObject({ state: "failed", error: "origin artifact exceeds --max-cache-size 100000" });
    expect(filesUnder(join(s.dataDir, "tmp"))).toEqual([]);
  });
});
