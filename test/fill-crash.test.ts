// Crash safety and restarts: kill -9 in the middle of a fill leaves no visible partial blob and
// the fill resumes (Range + If-Range) after restart; a clean restart keeps artifacts, misses and
// queued jobs, and a running fill parked at shutdown completes afterwards.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { closeSync, mkdirSync, openSync, readdirSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { openCacheStore } from "../src/store/store.ts";
import {
  blobFiles,
  blobUrl,
  cleanupsAfterEach,
  headerOf,
  makeTempDir,
  pollUntil,
  sendRestFrom,
  sha256Hex,
  spawnServer,
  startOrigin,
  startRawOrigin,
  startTestServer,
  type RawOrigin,
  type SpawnedServer,
  isStored
} from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();

/**
 * An origin of `full` under `etag`: the first connection gets `prefixBytes` and then nothing (the
 * server is killed or stopped meanwhile); later a resume whose If-Range matches gets the rest, any
 * other request the whole body.
 */
function stallThenResumeOrigin(full: Uint8Array, options: { prefixBytes: number; etag: string }): RawOrigin {
  return startRawOrigin((c) => {
    const range = /^bytes=(\d+)-$/.exec(headerOf(c.head, "range") ?? "");
    if (c.index > 0 && range && headerOf(c.head, "if-range") === options.etag) return sendRestFrom(c, full, Number(range[1]), options.etag);
    c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${full.length}\r\nETag: ${options.etag}\r\n\r\n`);
    if (c.index === 0) return c.write(full.subarray(0, options.prefixBytes));
    c.write(full);
    c.end();
  });
}

describe("kill -9 during a fill", () => {
  test("no partial blob is visible, and after restart the fill resumes and completes", async () => {
    const SIZE = 8 * 1024 * 1024;
    const PREFIX = 3 * 1024 * 1024;
    const full = new Uint8Array(SIZE).map((_, i) => (i * 7 + (i >> 12)) % 256);
    const raw = stallThenResumeOrigin(full, { prefixBytes: PREFIX, etag: '"v7"' });
    cleanups.push(() => raw.stop());
    const dir = makeTempDir("withcache-crash-");
    cleanups.push(() => dir.cleanup());
    const key = `${raw.url}/images/disk.iso`;

    const first: SpawnedServer = await spawnServer({ dataDir: dir.path, args: ["--allow-private-origins"] });
    cleanups.push(() => first.proc.kill(9));
    // The first client streams the fill as it arrives, and is cut short by the crash.
    const streamed = await fetch(blobUrl(first.url, key));
    expect({ status: streamed.status, filling: streamed.headers.get("x-withcache-filling") }).toEqual({ status: 200, filling: "1" });
    const received = (async () => {
      const parts: Uint8Array[] = [];
      const reader = streamed.body!.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return { complete: true, bytes: Buffer.concat(parts) };
          parts.push(value);
        }
      } catch {
        return { complete: false, bytes: Buffer.concat(parts) };
      }
    })();
    const tmp = join(dir.path, "tmp");
    await pollUntil(() => readdirSync(tmp).some((f) => Bun.file(join(tmp, f)).size >= PREFIX), { what: "partial temp file", timeoutMs: 15_000 });
    first.proc.kill(9);
    await first.proc.exited;
    const cut = await received;
    expect(cut.complete).toBe(false);
    expect(cut.bytes.length).toBeLessThan(SIZE);
    expect(cut.bytes.equals(Buffer.from(full.subarray(0, cut.bytes.length)))).toBe(true);

    // Dead: nothing visible as a blob or an artifact row, the job is still "running" on disk.
    expect(blobFiles(dir.path)).toEqual([]);
    const peek = openCacheStore(dir.path);
    expect(peek.metadata.getArtifact(key)).toBeNull();
    expect(peek.metadata.listJobs().map((j) => j.state)).toEqual(["running"]);
    expect(peek.metadata.getMiss(key)).toMatchObject({ count: 1 });
    await peek.close();

    const second = await spawnServer({ dataDir: dir.path, args: ["--allow-private-origins"] });
    cleanups.push(async () => {
      second.proc.kill("SIGTERM");
      await second.proc.exited;
    });
    await pollUntil(async () => await isStored(fetch(blobUrl(second.url, key), { method: "HEAD" })), { what: "resumed fill", timeoutMs: 20_000 });
    const got = new Uint8Array(await (await fetch(blobUrl(second.url, key))).arrayBuffer());
    expect(got.length).toBe(SIZE);
    expect(sha256Hex(got)).toBe(sha256Hex(full));
    expect(raw.connections.length).toBe(2);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(headerOf(raw.connections[1]!.head, "range") ?? "")?.[1]);
    expect(resumedFrom).toBeGreaterThanOrEqual(PREFIX - 256 * 1024);
    expect(blobFiles(dir.path)).toEqual([sha256Hex(full)]);
    expect(readdirSync(tmp)).toEqual([]);
    expect(second.output()).toContain("requeued=1");
  }, 60_000);
});

describe("a machine crash during a fill", () => {
  test("after a reboot a resume trusts only the fsynced prefix of the temp file", async () => {
    const SIZE = 4 * 1024 * 1024;
    const PREFIX = 3 * 1024 * 1024;
    const SYNCED = 1024 * 1024;
    const full = new Uint8Array(SIZE).map((_, i) => (i * 13 + (i >> 10)) % 256);
    const raw = stallThenResumeOrigin(full, { prefixBytes: PREFIX, etag: '"b1"' });
    cleanups.push(() => raw.stop());
    const dir = makeTempDir("withcache-reboot-");
    cleanups.push(() => dir.cleanup());
    const key = `${raw.url}/reboot.bin`;
    const a = await startTestServer({ drainTimeoutMs: 100 }, { dataDir: dir });
    // The request streams the fill (and is cut when the server stops).
    void fetch(blobUrl(a.url, key)).then((r) => r.arrayBuffer()).catch(() => null);
    const tmp = join(dir.path, "tmp");
    await pollUntil(() => readdirSync(tmp).some((f) => Bun.file(join(tmp, f)).size >= PREFIX), { what: "partial temp file" });
    await a.stop({ keepDataDir: true });

    // Pretend the machine went down: the job was written in another boot, only 1 MiB reached the
    // disk, and the rest of the temp file reads back as zeros (delayed allocation after power loss).
    const db = new Database(join(dir.path, "withcache.db"));
    // Parked at shutdown: the received prefix was fsynced and recorded as what a resume may trust.
    expect(db.query("SELECT bytes_done, synced_bytes FROM jobs").all()).toEqual([{ bytes_done: PREFIX, synced_bytes: PREFIX }]);
    db.run("UPDATE jobs SET state = 'running', boot_id = 'a-previous-boot', synced_bytes = ?", [SYNCED]);
    db.close();
    const tempFile = join(tmp, readdirSync(tmp)[0]!);
    const fd = openSync(tempFile, "r+");
    writeSync(fd, new Uint8Array(PREFIX - SYNCED), 0, PREFIX - SYNCED, SYNCED);
    closeSync(fd);

    const b = await startTestServer({}, { dataDir: dir });
    cleanups.push(() => b.stop({ keepDataDir: true }));
    await pollUntil(() => b.running.ctx.store.metadata.getArtifact(key), { what: "resumed fill", timeoutMs: 15_000 });
    expect(headerOf(raw.connections[1]!.head, "range")).toBe(`bytes=${SYNCED}-`);
    expect(b.running.ctx.store.metadata.getArtifact(key)?.sha256).toBe(sha256Hex(full));
    expect(b.logs.some((l) => l.includes(`resume_trusts_bytes=${SYNCED}`) && l.includes(`temp_bytes=${PREFIX}`))).toBe(true);
    const got = new Uint8Array(await (await fetch(blobUrl(b.url, key))).arrayBuffer());
    expect(sha256Hex(got)).toBe(sha256Hex(full));
  });
});

describe("restart", () => {
  test("artifacts, misses and queued jobs survive; a parked fill completes after restart", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const origin = startOrigin(async (req) => {
      const p = new URL(req.url).pathname;
      if (p === "/slow.bin") await gate;
      return new Response(`bytes of ${p}\n`);
    });
    cleanups.push(() => origin.stop());
    const dir = makeTempDir("withcache-restart-");
    cleanups.push(() => dir.cleanup());

    const a = await startTestServer({ curate: true, workers: 1 }, { dataDir: dir });
    const fills = a.running.ctx.fills;
    const done = await fills.enqueue(`${origin.url}/done.bin`, { source: "operator" });
    if (!done.ok) throw new Error(done.message);
    await pollUntil(() => fills.getJob(done.job.id)?.state === "completed");
    await (await fetch(blobUrl(a.url, `${origin.url}/done.bin`))).text();
    await (await fetch(blobUrl(a.url, `${origin.url}/missed.bin`))).text();
    const slow = await fills.enqueue(`${origin.url}/slow.bin`, { source: "operator" });
    const behind = await fills.enqueue(`${origin.url}/behind.bin`, { source: "operator" });
    if (!slow.ok || !behind.ok) throw new Error("enqueue failed");
    await pollUntil(() => fills.getJob(slow.job.id)?.state === "running");
    await a.stop({ keepDataDir: true });

    const b = await startTestServer({ curate: true, workers: 1 }, { dataDir: dir });
    cleanups.push(() => b.stop({ keepDataDir: true }));
    const meta = b.running.ctx.store.metadata;
    expect(meta.getArtifact(`${origin.url}/done.bin`)).toMatchObject({ hits: 1 });
    expect(meta.getMiss(`${origin.url}/missed.bin`)).toMatchObject({ count: 1 });
    expect(a.logs.some((l) => l.includes(`id=${slow.job.id} state=queued`) && l.includes("parked=true"))).toBe(true);
    release();
    await pollUntil(() => b.running.ctx.fills.getJob(behind.job.id)?.state === "completed" && b.running.ctx.fills.getJob(slow.job.id)?.state === "completed", { what: "both jobs complete after restart" });
    expect(await (await fetch(blobUrl(b.url, `${origin.url}/slow.bin`))).text()).toBe("bytes of /slow.bin\n");
  });

  test("a blob file without an artifact row is removed shortly after start, while the server already answers", async () => {
    const dir = makeTempDir("withcache-orphan-");
    cleanups.push(() => dir.cleanup());
    const first = await startTestServer({ curate: true }, { dataDir: dir });
    await first.stop({ keepDataDir: true });
    // What a crash between the rename and the row commit leaves behind.
    const orphanSha = sha256Hex("orphan bytes\n");
    const shard = join(dir.path, "blobs", orphanSha.slice(0, 2));
    mkdirSync(shard, { recursive: true });
    writeFileSync(join(shard, orphanSha), "orphan bytes\n");
    const s = await startTestServer({ curate: true }, { dataDir: dir });
    cleanups.push(() => s.stop({ keepDataDir: true }));
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    await pollUntil(() => !blobFiles(dir.path).includes(orphanSha), { what: "the orphan blob to be swept", timeoutMs: 5_000 });
    expect(s.logs.some((l) => l.includes("orphan_blobs_removed=1"))).toBe(true);
  });
});
