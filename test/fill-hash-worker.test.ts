// SHA-256 on a Worker during fills: the compiled binary uses its bundled worker entrypoint and gets
// the same digest; a resumed fill re-hashes its prefix through the worker; cancel and broken
// bodies leave no worker behind; without a usable worker a fill hashes in the event loop (logged once).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FillManager } from "../src/fetch/fill-manager.ts";
import { liveHashWorkers } from "../src/fetch/sha256-sink.ts";
import { openCacheStore } from "../src/store/store.ts";
import {
  blobUrl,
  cleanupsAfterEach,
  ensureBuilt,
  fillOnMiss,
  headerOf,
  jobFinished,
  makeTempDir,
  pollUntil,
  run,
  sendRestFrom,
  sha256Hex,
  spawnServer,
  startCleanedServer,
  startOrigin,
  startRawOrigin,
  tempReaches,
  type Origin,
  type TempDir,
  isStored
} from "./helpers/index.ts";
import { memoryLogger, testConfig } from "./helpers/server.ts";

const cleanups = cleanupsAfterEach();
const MIB = 1024 * 1024;
const pattern = (bytes: number, k: number): Uint8Array<ArrayBuffer> => new Uint8Array(bytes).map((_, i) => (i * k + (i >> 12)) % 256);
const BIG = pattern(24 * MIB, 13);
const CHUNKED = pattern(6 * MIB, 7);

let work: TempDir;
let origin: Origin;

beforeAll(() => {
  work = makeTempDir("withcache-hashw-");
  origin = startOrigin((req) => {
    const p = new URL(req.url).pathname;
    if (p === "/big.bin") return new Response(BIG);
    if (p === "/chunked.bin") {
      // No content-length: the length is unknown until the end, and the worker is used.
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= CHUNKED.length) return c.close();
            c.enqueue(CHUNKED.slice(sent, sent + 300_000));
            sent += 300_000;
          },
        }),
      );
    }
    return new Response("no\n", { status: 404 });
  });
});

afterAll(async () => {
  await origin?.stop();
  work?.cleanup();
});

describe("sha-256 on a worker", () => {
  test("compiled binary: multi-MiB fills (known and unknown length) hash on the worker and match", async () => {
    const binary = join(work.path, "withcache");
    copyFileSync(await ensureBuilt(), binary);
    const s = await spawnServer({ binary, dataDir: join(work.path, "data"), args: ["--allow-private-origins"] });
    try {
      for (const [name, body] of [["big.bin", BIG], ["chunked.bin", CHUNKED]] as const) {
        const url = blobUrl(s.url, `${origin.url}/${name}`);
        await run(["/usr/bin/curl", "-sS", "-o", "/dev/null", url]);
        await pollUntil(async () => await isStored(fetch(url, { method: "HEAD" })), { what: `fill of ${name}`, timeoutMs: 30_000 });
        const out = join(work.path, name);
        expect((await run(["/usr/bin/curl", "-sS", "-f", "-o", out, url])).exitCode).toBe(0);
        const want = sha256Hex(body);
        expect(sha256Hex(readFileSync(out))).toBe(want);
        const line = s.output().split("\n").find((l) => l.includes("state=completed") && l.includes(`/${name}`));
        expect(line).toContain(`sha256=${want}`);
        expect(line).toContain("hash=worker");
      }
      expect(s.output()).not.toContain("hash_worker=unavailable");
    } finally {
      s.proc.kill("SIGTERM");
      await s.proc.exited;
    }
  }, 90_000);

  test("a resumed fill re-hashes its prefix on the worker; broken and cancelled fills leave no worker", async () => {
    const full = pattern(8 * MIB, 29);
    let dataDir = "";
    const raw = startRawOrigin((c) => {
      const head = `HTTP/1.1 200 OK\r\nContent-Length: ${full.length}\r\nETag: "w1"\r\n\r\n`;
      if (c.index === 0) {
        c.write(head);
        c.write(full.subarray(0, 3 * MIB));
        void tempReaches(() => dataDir, 3 * MIB).then(() => c.end());
        return;
      }
      const m = /^bytes=(\d+)-$/.exec(headerOf(c.head, "range") ?? "");
      if (!m) {
        c.write(head);
        c.write(full);
        return c.end();
      }
      const start = Number(m[1]);
      sendRestFrom(c, full, start, '"w1"');
    });
    cleanups.push(() => raw.stop());
    const s = await startCleanedServer(cleanups);
    dataDir = s.dataDir;
    const key = `${raw.url}/resume.bin`;
    expect(await fillOnMiss(s, key)).toMatchObject({ state: "completed" });
    expect(raw.connections.length).toBe(2);
    expect(headerOf(raw.connections[1]!.head, "range")).toBe(`bytes=${3 * MIB}-`);
    expect(s.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ sha256: sha256Hex(full), sizeBytes: full.length });
    expect(s.logs.some((l) => l.includes("state=completed") && l.includes("hash=worker"))).toBe(true);
    expect(s.logs.filter((l) => l.includes("origin body ended at") || l.includes("broke off")).length).toBeGreaterThan(0);
    expect(liveHashWorkers()).toBe(0);

    // A stalled fill (no content-length: worker path) cancelled mid-body.
    const stall = startRawOrigin((c) => {
      c.write(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n`);
      c.write(full.subarray(0, MIB));
    });
    cleanups.push(() => stall.stop());
    const stallKey = `${stall.url}/stall.bin`;
    await fetch(blobUrl(s.url, stallKey)).then((r) => r.text());
    await tempReaches(() => dataDir, MIB);
    expect(liveHashWorkers()).toBe(1);
    const job = s.running.ctx.fills.listJobs().find((j) => j.key === stallKey)!;
    expect((await s.running.ctx.fills.cancel(job.id)).ok).toBe(true);
    expect(await jobFinished(s, stallKey)).toMatchObject({ state: "cancelled" });
    await pollUntil(() => liveHashWorkers() === 0, { what: "hash worker terminated" });
  }, 30_000);

  test("without a usable worker, fills hash in the event loop with the same digest (logged once)", async () => {
    const dir = makeTempDir("withcache-hashw-fallback-");
    cleanups.push(() => dir.cleanup());
    const store = openCacheStore(dir.path);
    const logs: string[] = [];
    const fills = new FillManager({
      store,
      config: testConfig(dir.path, { workers: 1 }),
      log: memoryLogger(logs),
      nowMs: Date.now,
      version: "test",
      hashWorkerUrl: new URL("./no-such-worker.ts", import.meta.url).href,
    });
    await fills.start();
    try {
      for (const name of ["big.bin", "chunked.bin"]) {
        const queued = await fills.enqueue(`${origin.url}/${name}`, { source: "operator" });
        if (!queued.ok) throw new Error(queued.message);
        expect(await fills.waitForJob(queued.job.id, { timeoutMs: 20_000 })).toMatchObject({ state: "completed" });
      }
      expect(store.metadata.getArtifact(`${origin.url}/big.bin`)).toMatchObject({ sha256: sha256Hex(BIG) });
      expect(store.metadata.getArtifact(`${origin.url}/chunked.bin`)).toMatchObject({ sha256: sha256Hex(CHUNKED) });
      expect(logs.filter((l) => l.includes("hash_worker=unavailable")).length).toBe(1);
      expect(logs.filter((l) => l.includes("state=completed") && l.includes("hash=thread")).length).toBe(2);
      expect(liveHashWorkers()).toBe(0);
    } finally {
      await fills.stop();
      await store.close();
    }
  }, 60_000);
});
