// The read path's in-memory artifact rows and the batched miss counts: every write must be seen
// by the next read, and every buffered miss must reach the database in time.
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MISS_BUFFER_MAX, MISS_FLUSH_DELAY_MS } from "./sqlite-metadata.ts";
import { openCacheStore, type CacheStore } from "./store.ts";

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);
let dir = "";
let store: CacheStore | null = null;

function fresh(): CacheStore {
  dir = mkdtempSync(join(tmpdir(), "withcache-metacache-"));
  store = openCacheStore(dir);
  return store;
}

afterEach(async () => {
  await store?.close();
  store = null;
  rmSync(dir, { recursive: true, force: true });
});

const artifact = (key: string, sha256: string, sizeBytes = 3) => ({ key, url: key, sha256, sizeBytes, contentType: "x", contentDisposition: null, fetchedAtMs: 1 });

/** What another connection (the UI of a second process, a crash survivor) sees in the misses table. */
function missesOnDisk(): Array<{ key: string; count: number }> {
  const db = new Database(join(dir, "withcache.db"), { readonly: true });
  try {
    return db.query("SELECT key, count FROM misses ORDER BY key").all() as Array<{ key: string; count: number }>;
  } finally {
    db.close();
  }
}

async function until<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

describe("cached artifact rows", () => {
  test("a delete is seen at once; so is a commit after a cached 'no row'", async () => {
    const s = fresh();
    expect(s.metadata.getArtifact("https://h/x")).toBeNull(); // cached as absent
    await s.metadata.commitArtifact(artifact("https://h/x", SHA_A));
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ sha256: SHA_A });
    expect((await s.deleteArtifact("https://h/x")).deleted).toBe(true);
    expect(s.metadata.getArtifact("https://h/x")).toBeNull();
  });

  test("a refill under the same key reads back its new sha256 and size", async () => {
    const s = fresh();
    await s.metadata.commitArtifact(artifact("https://h/x", SHA_A, 3));
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ sha256: SHA_A, sizeBytes: 3 });
    expect(await s.metadata.commitArtifact(artifact("https://h/x", SHA_B, 5))).toEqual({ replacedSha256: SHA_A });
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ sha256: SHA_B, sizeBytes: 5 });
  });

  test("hit counters of a cached row match the database; handed-out rows are snapshots", async () => {
    const s = fresh();
    await s.metadata.commitArtifact(artifact("https://h/x", SHA_A));
    const before = s.metadata.getArtifact("https://h/x")!;
    s.metadata.recordHit("https://h/x", 40);
    s.metadata.recordHit("https://h/x", 50);
    expect(before).toMatchObject({ hits: 0, lastHitMs: null });
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ hits: 2, lastHitMs: 50 });
    expect(s.metadata.listArtifacts()[0]).toMatchObject({ hits: 2, lastHitMs: 50 });
    // A hit on a key with no row must not invent one.
    expect(s.metadata.getArtifact("https://h/none")).toBeNull();
    s.metadata.recordHit("https://h/none", 60);
    expect(s.metadata.getArtifact("https://h/none")).toBeNull();
  });

  test("eviction drops the cached row", async () => {
    const s = fresh();
    for (const [key, sha] of [["https://h/old", SHA_A], ["https://h/new", SHA_B]] as const) {
      const t = await s.blobs.openTemp(`t-${sha.slice(0, 4)}`, { truncate: true });
      await t.write(new TextEncoder().encode("abc"));
      await t.sync();
      await t.close();
      await s.blobs.commitTemp(t.name, sha, () => s.metadata.commitArtifact({ ...artifact(key, sha), fetchedAtMs: key.endsWith("old") ? 1 : 2 }));
    }
    expect(s.metadata.getArtifact("https://h/old")).not.toBeNull();
    expect(await s.evictToFit(3, new Set())).toEqual([{ key: "https://h/old", freedBytes: 3 }]);
    expect(s.metadata.getArtifact("https://h/old")).toBeNull();
    expect(s.metadata.getArtifact("https://h/new")).not.toBeNull();
  });
});

describe("batched miss counts", () => {
  test("misses are buffered, then written together within the flush delay", async () => {
    const s = fresh();
    for (let i = 0; i < 3; i += 1) s.metadata.recordMiss({ key: "https://h/m", url: "https://h/m", nowMs: i });
    s.metadata.recordMiss({ key: "https://h/n", url: "https://h/n", nowMs: 5 });
    expect(missesOnDisk()).toEqual([]); // not one write per miss
    const started = Date.now();
    const rows = await until("the buffered misses on disk", () => (missesOnDisk().length === 2 ? missesOnDisk() : null));
    expect(Date.now() - started).toBeLessThan(MISS_FLUSH_DELAY_MS + 2000);
    expect(rows).toEqual([{ key: "https://h/m", count: 3 }, { key: "https://h/n", count: 1 }]);
  });

  test("the buffered count moves into the artifact on commit, with earlier written ones", async () => {
    const s = fresh();
    s.metadata.recordMiss({ key: "https://h/x", url: "https://h/x?t=1", nowMs: 10 });
    expect(s.metadata.getMiss("https://h/x")).toMatchObject({ count: 1 }); // written by the read
    s.metadata.recordMiss({ key: "https://h/x", url: "https://h/x?t=2", nowMs: 20 });
    s.metadata.recordMiss({ key: "https://h/x", url: "https://h/x?t=3", nowMs: 30 });
    s.metadata.recordMiss({ key: "https://h/other", url: "https://h/other", nowMs: 30 });
    await s.metadata.commitArtifact(artifact("https://h/x", SHA_A));
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ misses: 3 });
    expect(s.metadata.getMiss("https://h/x")).toBeNull();
    expect(missesOnDisk()).toEqual([{ key: "https://h/other", count: 1 }]);
  });

  test("reads of misses and totals see buffered counts; dismiss and miss info apply to them", async () => {
    const s = fresh();
    s.metadata.recordMiss({ key: "https://h/a", url: "https://h/a", nowMs: 1 });
    s.metadata.recordMiss({ key: "https://h/a", url: "https://h/a", nowMs: 2 });
    expect(s.metadata.listMisses()).toMatchObject([{ key: "https://h/a", count: 2, firstSeenMs: 1, lastSeenMs: 2 }]);
    s.metadata.recordMiss({ key: "https://h/b", url: "https://h/b", nowMs: 3 });
    expect(s.metadata.totals().missCount).toBe(2);
    s.metadata.recordMiss({ key: "https://h/c", url: "https://h/c", nowMs: 4 });
    await s.metadata.setMissInfo("https://h/c", { refusal: "private address", knownSizeBytes: 7 });
    expect(s.metadata.getMiss("https://h/c")).toMatchObject({ count: 1, refusal: "private address", knownSizeBytes: 7 });
    s.metadata.recordMiss({ key: "https://h/d", url: "https://h/d", nowMs: 5 });
    expect(await s.metadata.dismissMiss("https://h/d")).toBe(true);
    expect(s.metadata.getMiss("https://h/d")).toBeNull();
    expect(s.metadata.listMisses().map((m) => m.key)).toEqual(["https://h/c", "https://h/b", "https://h/a"]);
  });

  test("close writes the buffer; a full buffer is written at once", async () => {
    const s = fresh();
    s.metadata.recordMiss({ key: "https://h/k", url: "https://h/k", nowMs: 1 });
    await s.close();
    store = openCacheStore(dir);
    expect(store.metadata.getMiss("https://h/k")).toMatchObject({ count: 1 });
    for (let i = 0; i <= MISS_BUFFER_MAX; i += 1) store.metadata.recordMiss({ key: `https://h/f-${i}`, url: `https://h/f-${i}`, nowMs: 2 });
    // The key past the cap flushed the first MISS_BUFFER_MAX keys before it was buffered.
    expect(missesOnDisk().length).toBe(MISS_BUFFER_MAX + 1);
  });
});
