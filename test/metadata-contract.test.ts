// One MetadataStore contract, run on both backends: the embedded SQLite store (a file in a temp
// dir) and the shared PostgreSQL store (a real PostgreSQL 15 on loopback, a fresh database per
// test). Every method of the seam answers the same on both. Where the backends may differ the
// harness says how, in one place:
// - `settle()`: PostgreSQL buffers hit and miss counts for 200 ms before it writes them (SQLite
//   flushes buffered misses before any read); the contract is "after settle, or after close".
// - `reopen()`: the same data opened again (SQLite: the file; PostgreSQL: a new replica on the
//   database), as a restarted process would; writes must be durable by the time they resolve.
// - requeueRunningJobs: SQLite takes every running job back (one process owns the data dir);
//   PostgreSQL only jobs whose lease ran out (another replica may be running them), so its clock
//   is moved past the lease before a restart.
// What only sharing has (two replicas at once, leases, outages) is in pg-metadata.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { join } from "node:path";
import { PgMetadataStore } from "../src/store/pg-metadata.ts";
import { SqliteMetadataStore } from "../src/store/sqlite-metadata.ts";
import { KeyHasActiveJob, type MetadataStore, type NewArtifact } from "../src/store/types.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";
import { makeTempDir } from "./helpers/temp.ts";

type Harness = {
  store: MetadataStore;
  settle(): Promise<void>;
  /** Close and open the same data again (a restart); `store` is the new one afterwards. */
  reopen(): Promise<void>;
  /** Move the store's clock on (PostgreSQL's lease clock; SQLite has none). */
  advanceClock(ms: number): void;
  close(): Promise<void>;
};
type Backend = { name: string; open(): Promise<Harness> };

const LEASE_MS = 60 * 60_000; // an hour: no renewal or maintenance tick lands inside a test

let pg: PostgresServer | null = null;
beforeAll(async () => {
  pg = await startPostgres();
}, 30_000);
afterAll(async () => {
  await pg?.stop();
});

const sqliteBackend: Backend = {
  name: "sqlite",
  async open() {
    const dir = makeTempDir("withcache-meta-contract-");
    const path = join(dir.path, "metadata.sqlite");
    const h: Harness = {
      store: new SqliteMetadataStore(path),
      settle: async () => undefined,
      async reopen() {
        await h.store.close();
        h.store = new SqliteMetadataStore(path);
      },
      advanceClock: () => undefined,
      async close() {
        await h.store.close();
        dir.cleanup();
      },
    };
    return h;
  },
};

let replicas = 0;
const postgresBackend: Backend = {
  name: "postgres",
  async open() {
    if (pg === null) throw new Error("postgres is not started");
    const url = await pg.createDatabase("wc_contract");
    let clock = Date.now();
    const connect = async () => {
      const sql = new SQL(url, { max: 3 });
      const store = await PgMetadataStore.open(sql, { replicaId: `contract-${++replicas}`, leaseMs: LEASE_MS, nowMs: () => clock });
      return { sql, store };
    };
    let current = await connect();
    const shut = async () => {
      await current.store.close();
      await current.sql.close();
    };
    const h: Harness = {
      store: current.store,
      settle: () => current.store.flushCounters(),
      async reopen() {
        await shut();
        current = await connect();
        h.store = current.store;
      },
      advanceClock(ms) {
        clock += ms;
      },
      close: shut,
    };
    return h;
  },
};

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);

function artifact(key: string, over: Partial<NewArtifact> = {}): NewArtifact {
  return { key, url: `${key}?raw=1`, sha256: SHA_A, sizeBytes: 100, contentType: "application/octet-stream", contentDisposition: null, fetchedAtMs: 1_000, ...over };
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`MetadataStore contract: ${backend.name}`, () => {
    let h: Harness;
    const withStore = (name: string, fn: () => Promise<void>) =>
      test(name, async () => {
        h = await backend.open();
        try {
          await fn();
        } finally {
          await h.close();
        }
      }, 30_000);

    withStore("commitArtifact: every field reads back, then a refill replaces the row and says which blob it replaced", async () => {
      const s = h.store;
      expect(s.getArtifact("https://h/a")).toBeNull();
      const headers = { etag: '"v1"', lastModified: null, cacheControl: "max-age=60", expires: null, date: null, age: null };
      const first = await s.commitArtifact(
        artifact("https://h/a", { contentDisposition: 'attachment; filename="a.bin"', redirected: true, freshness: { originHeaders: headers, requestAtMs: 900, responseAtMs: 950 } }),
      );
      expect(first).toEqual({ replacedSha256: null });
      expect(s.getArtifact("https://h/a")).toEqual({
        key: "https://h/a",
        url: "https://h/a?raw=1",
        sha256: SHA_A,
        sizeBytes: 100,
        contentType: "application/octet-stream",
        contentDisposition: 'attachment; filename="a.bin"',
        fetchedAtMs: 1_000,
        lastHitMs: null,
        hits: 0,
        misses: 0,
        redirected: true,
        revalidatedAtMs: null,
        revalidation: null,
        revalidationDetail: null,
        superseded: false,
        originHeaders: headers,
        requestAtMs: 900,
        responseAtMs: 950,
      });
      expect(await s.commitArtifact(artifact("https://h/a", { sizeBytes: 100 }))).toEqual({ replacedSha256: null }); // same bytes
      const refill = await s.commitArtifact(artifact("https://h/a", { sha256: SHA_B, sizeBytes: 7, fetchedAtMs: 2_000, revalidation: { atMs: 2_000, result: "changed", detail: "new ETag" } }));
      expect(refill).toEqual({ replacedSha256: SHA_A });
      const row = s.getArtifact("https://h/a")!;
      expect([row.sha256, row.sizeBytes, row.fetchedAtMs, row.redirected, row.originHeaders]).toEqual([SHA_B, 7, 2_000, false, null]);
      expect([row.revalidation, row.revalidationDetail, row.revalidatedAtMs]).toEqual(["changed", "new ETag", 2_000]);
      await h.reopen();
      expect(h.store.getArtifact("https://h/a")).toEqual(row);
    });

    withStore("recordHit counts and keeps the latest time; the counts survive a restart; a hit of no row is ignored", async () => {
      await h.store.commitArtifact(artifact("https://h/a"));
      h.store.recordHit("https://h/a", 5_000);
      h.store.recordHit("https://h/a", 4_000); // an older time never moves lastHit back
      h.store.recordHit("https://h/none", 5_000);
      expect(h.store.getArtifact("https://h/a")).toMatchObject({ hits: 2, lastHitMs: 5_000 }); // at once, in this process
      await h.settle();
      await h.reopen();
      expect(h.store.getArtifact("https://h/a")).toMatchObject({ hits: 2, lastHitMs: 5_000 });
      expect(h.store.getArtifact("https://h/none")).toBeNull();
    });

    withStore("close writes buffered hit and miss counts", async () => {
      await h.store.commitArtifact(artifact("https://h/a"));
      h.store.recordHit("https://h/a", 5_000);
      h.store.recordMiss({ key: "https://h/m", url: "https://h/m", nowMs: 5_000 });
      await h.reopen(); // no settle: close must write them
      expect(h.store.getArtifact("https://h/a")?.hits).toBe(1);
      expect(h.store.getMiss("https://h/m")?.count).toBe(1);
    });

    withStore("misses: counted per key, newest first, keyset pages, refusal and size noted, dismissed", async () => {
      const s = h.store;
      s.recordMiss({ key: "k1", url: "k1?x", nowMs: 100 });
      s.recordMiss({ key: "k1", url: "k1?y", nowMs: 300 });
      s.recordMiss({ key: "k1", url: "k1?z", nowMs: 200 }); // older: lastSeen stays 300
      s.recordMiss({ key: "k2", url: "k2", nowMs: 300 });
      s.recordMiss({ key: "k3", url: "k3", nowMs: 250 });
      await h.settle();
      expect(s.getMiss("k1")).toEqual({ key: "k1", url: "k1?x", count: 3, firstSeenMs: 100, lastSeenMs: 300, knownSizeBytes: null, refusal: null, uncacheableUntilMs: null });
      expect(s.listMisses().map((m) => m.key)).toEqual(["k1", "k2", "k3"]); // lastSeen desc, then key
      expect(s.listMisses({ limit: 1, offset: 1 }).map((m) => m.key)).toEqual(["k2"]);
      expect(s.listMisses({ after: { lastSeenMs: 300, key: "k1" } }).map((m) => m.key)).toEqual(["k2", "k3"]);
      expect(s.totals()).toEqual({ artifactCount: 0, bytes: 0, logicalBytes: 0, missCount: 3 });
      await s.setMissInfo("k2", { refusal: "host example.org is not in --allow-host" });
      await s.setMissInfo("k2", { knownSizeBytes: 4096 });
      s.recordMiss({ key: "k3", url: "k3", nowMs: 400 }); // buffered, then noted: both land
      await s.setMissInfo("k3", { knownSizeBytes: 10, refusal: null });
      expect(s.getMiss("k2")).toMatchObject({ refusal: "host example.org is not in --allow-host", knownSizeBytes: 4096 });
      expect(s.getMiss("k3")).toMatchObject({ count: 2, knownSizeBytes: 10, lastSeenMs: 400 });
      expect(await s.dismissMiss("k2")).toBe(true);
      expect(await s.dismissMiss("k2")).toBe(false);
      expect(s.getMiss("k2")).toBeNull();
      await h.reopen();
      expect(h.store.listMisses().map((m) => [m.key, m.count])).toEqual([["k3", 2], ["k1", 3]]);
    });

    withStore("a commit moves the key's miss count into the artifact and drops the miss row", async () => {
      const s = h.store;
      s.recordMiss({ key: "https://h/a", url: "https://h/a", nowMs: 100 });
      await h.settle();
      s.recordMiss({ key: "https://h/a", url: "https://h/a", nowMs: 200 }); // still buffered at the commit
      s.recordMiss({ key: "https://h/a", url: "https://h/a", nowMs: 300 });
      await s.commitArtifact(artifact("https://h/a"));
      expect(s.getArtifact("https://h/a")?.misses).toBe(3);
      expect(s.getMiss("https://h/a")).toBeNull();
      await h.settle();
      await h.reopen();
      expect(h.store.getArtifact("https://h/a")?.misses).toBe(3);
      expect(h.store.getMiss("https://h/a")).toBeNull();
    });

    withStore("markUncacheable: a row with no count, the reason and the time; an existing count is kept", async () => {
      const s = h.store;
      await s.markUncacheable({ key: "k1", url: "k1", reason: "Cache-Control: no-store", untilMs: 9_000, nowMs: 1_000 });
      expect(s.uncacheableMark("k1")).toEqual({ reason: "Cache-Control: no-store", untilMs: 9_000 });
      expect(s.getMiss("k1")).toMatchObject({ count: 0, refusal: "Cache-Control: no-store", uncacheableUntilMs: 9_000, firstSeenMs: 1_000 });
      s.recordMiss({ key: "k2", url: "k2", nowMs: 500 });
      await s.markUncacheable({ key: "k2", url: "k2", reason: "Vary: *", untilMs: 8_000, nowMs: 1_000 });
      expect(s.getMiss("k2")).toMatchObject({ count: 1, refusal: "Vary: *", uncacheableUntilMs: 8_000 });
      expect(s.uncacheableMark("k3")).toBeNull();
      await h.reopen();
      expect(h.store.uncacheableMark("k2")).toEqual({ reason: "Vary: *", untilMs: 8_000 });
    });

    withStore("refreshArtifact and noteRevalidation: a superseded row stays superseded until a refill", async () => {
      const s = h.store;
      await s.commitArtifact(artifact("https://h/a"));
      const headers = { etag: '"v2"', lastModified: null, cacheControl: null, expires: null, date: null, age: null };
      await s.refreshArtifact("https://h/a", { originHeaders: headers, requestAtMs: 3_000, responseAtMs: 3_100, atMs: 3_100, result: "not-modified", detail: "304" });
      expect(s.getArtifact("https://h/a")).toMatchObject({ originHeaders: headers, requestAtMs: 3_000, responseAtMs: 3_100, revalidatedAtMs: 3_100, revalidation: "not-modified", revalidationDetail: "304", superseded: false });
      await s.noteRevalidation("https://h/a", { atMs: 4_000, result: "origin-down", detail: "connection refused" });
      expect(s.getArtifact("https://h/a")).toMatchObject({ revalidation: "origin-down", revalidatedAtMs: 4_000, originHeaders: headers, superseded: false });
      await s.noteRevalidation("https://h/a", { atMs: 5_000, result: "changed", detail: "new ETag", superseded: true });
      await s.noteRevalidation("https://h/a", { atMs: 6_000, result: "origin-down", detail: "timeout" }); // does not clear it
      expect(s.getArtifact("https://h/a")).toMatchObject({ superseded: true, revalidation: "origin-down" });
      await s.refreshArtifact("https://h/a", { originHeaders: null, requestAtMs: 7_000, responseAtMs: 7_000, atMs: 7_000, result: "not-modified", detail: "304" });
      expect(s.getArtifact("https://h/a")).toMatchObject({ superseded: true, revalidatedAtMs: 6_000, originHeaders: headers }); // ignored
      expect(s.evictionCandidates()).toEqual([{ key: "https://h/a", sha256: SHA_A, sizeBytes: 100, recencyMs: 0 }]); // superseded goes first
      await s.noteRevalidation("https://h/none", { atMs: 1, result: "changed", detail: "x" }); // no row: nothing
      expect(s.getArtifact("https://h/none")).toBeNull();
      await h.reopen();
      expect(h.store.getArtifact("https://h/a")?.superseded).toBe(true);
      await h.store.commitArtifact(artifact("https://h/a", { sha256: SHA_B }));
      expect(h.store.getArtifact("https://h/a")).toMatchObject({ superseded: false, sha256: SHA_B, revalidation: "origin-down" });
    });

    withStore("listArtifacts: filter, each sort both ways, offset and keyset pages", async () => {
      const s = h.store;
      await s.commitArtifact(artifact("https://h/b", { url: "https://h/b", sizeBytes: 300, fetchedAtMs: 1_000 }));
      await s.commitArtifact(artifact("https://h/a", { url: "https://h/a", sizeBytes: 100, fetchedAtMs: 3_000 }));
      await s.commitArtifact(artifact("https://other/C_1%", { url: "https://other/C_1%", sizeBytes: 200, fetchedAtMs: 2_000 }));
      s.recordHit("https://h/b", 9_000);
      s.recordHit("https://h/b", 9_500);
      s.recordHit("https://h/a", 8_000);
      await h.settle();
      const keys = (o: Parameters<MetadataStore["listArtifacts"]>[0]) => s.listArtifacts(o).map((a) => a.key);
      expect(keys({})).toEqual(["https://h/a", "https://other/C_1%", "https://h/b"]); // fetchedAt desc
      expect(keys({ sort: "size" })).toEqual(["https://h/b", "https://other/C_1%", "https://h/a"]);
      expect(keys({ sort: "size", direction: "asc" })).toEqual(["https://h/a", "https://other/C_1%", "https://h/b"]);
      expect(keys({ sort: "hits" })).toEqual(["https://h/b", "https://h/a", "https://other/C_1%"]);
      expect(keys({ sort: "lastHit" })).toEqual(["https://h/b", "https://h/a", "https://other/C_1%"]);
      expect(keys({ sort: "url" })).toEqual(["https://h/a", "https://h/b", "https://other/C_1%"]);
      expect(keys({ filter: "  H/  " })).toEqual(["https://h/a", "https://h/b"]); // trimmed, any case
      expect(keys({ filter: "c_1%" })).toEqual(["https://other/C_1%"]); // % and _ are literal
      expect(keys({ filter: "_" })).toEqual(["https://other/C_1%"]);
      expect(keys({ sort: "size", limit: 1, offset: 1 })).toEqual(["https://other/C_1%"]);
      expect(keys({ sort: "size", after: { value: 300, key: "https://h/b" } })).toEqual(["https://other/C_1%", "https://h/a"]);
      expect(keys({ sort: "url", after: { value: "https://h/a", key: "https://h/a" }, limit: 1 })).toEqual(["https://h/b"]);
    });

    withStore("shared blobs: counted once in bytes, per key in logical bytes; a delete says whether the blob is still used", async () => {
      const s = h.store;
      await s.commitArtifact(artifact("k1", { sha256: SHA_A, sizeBytes: 100 }));
      await s.commitArtifact(artifact("k2", { sha256: SHA_A, sizeBytes: 100 }));
      await s.commitArtifact(artifact("k3", { sha256: SHA_B, sizeBytes: 5 }));
      expect(s.storedTotals()).toEqual({ artifactCount: 3, bytes: 105, logicalBytes: 205 });
      expect(s.countArtifactsWithSha(SHA_A)).toBe(2);
      expect(s.artifactsWithSha(SHA_A).map((a) => a.key)).toEqual(["k1", "k2"]);
      expect([...s.referencedShas()].sort()).toEqual([SHA_A, SHA_B]);
      s.recordHit("k2", 50_000);
      expect(
        s
          .evictionCandidates()
          .map((c) => [c.key, c.recencyMs])
          .sort(),
      ).toEqual([
        ["k1", 1_000],
        ["k2", 50_000],
        ["k3", 1_000],
      ]);
      expect(await s.deleteArtifactRow("k1")).toEqual({ sha256: SHA_A, shared: true });
      expect(await s.deleteArtifactRow("k2")).toEqual({ sha256: SHA_A, shared: false });
      expect(await s.deleteArtifactRow("k2")).toBeNull();
      expect(s.getArtifact("k2")).toBeNull();
      expect(s.storedTotals()).toEqual({ artifactCount: 1, bytes: 5, logicalBytes: 5 });
      expect([...s.referencedShas()]).toEqual([SHA_B]);
      await h.reopen();
      expect(h.store.storedTotals()).toEqual({ artifactCount: 1, bytes: 5, logicalBytes: 5 });
      expect(h.store.totals()).toEqual({ artifactCount: 1, bytes: 5, logicalBytes: 5, missCount: 0 });
    });

    withStore("jobs: one active job per key, claimed in not-before order, each claim once; updates and listings", async () => {
      const s = h.store;
      const a = await s.insertJob({ key: "ka", url: "ka?1", source: "auto", nowMs: 10 });
      expect(a.existing).toBe(false);
      expect(a.job).toMatchObject({ key: "ka", url: "ka?1", source: "auto", state: "queued", bytesDone: 0, totalBytes: null, attempts: 0, notBeforeMs: 0, createdAtMs: 10, startedAtMs: null, finishedAtMs: null, error: null });
      const again = await s.insertJob({ key: "ka", url: "ka?2", source: "operator", nowMs: 11 });
      expect(again).toEqual({ job: a.job, existing: true });
      const b = (await s.insertJob({ key: "kb", url: "kb", source: "operator", nowMs: 12 })).job;
      const c = (await s.insertJob({ key: "kc", url: "kc", source: "auto", nowMs: 13 })).job;
      await s.updateJob(a.job.id, { notBeforeMs: 500, error: "origin answered 503" }); // waiting on a retry
      expect(s.nextQueuedAtMs()).toBe(0);
      expect(s.activeJobCounts()).toEqual({ queued: 3, running: 0 });

      const first = await s.claimNextJob(100);
      expect(first).toMatchObject({ id: b.id, state: "running", startedAtMs: 100, attempts: 1 });
      expect(await s.claimJob(b.id, 101)).toBeNull(); // not queued any more
      const second = await s.claimJob(c.id, 102);
      expect(second).toMatchObject({ id: c.id, state: "running", attempts: 1 });
      expect(await s.claimNextJob(100)).toBeNull(); // ka waits until 500
      expect(s.nextQueuedAtMs()).toBe(500);
      expect((await s.claimNextJob(500))?.id).toBe(a.job.id);
      expect(s.nextQueuedAtMs()).toBeNull();
      expect(s.activeJobCounts()).toEqual({ queued: 0, running: 3 });

      await s.updateJob(b.id, { bytesDone: 40, totalBytes: 100, rateBytesPerSec: 1e6, validator: '"v1"', syncedBytes: 32, bootId: "boot-1" });
      expect(s.getJob(b.id)).toMatchObject({ bytesDone: 40, totalBytes: 100, rateBytesPerSec: 1e6, validator: '"v1"', syncedBytes: 32, bootId: "boot-1", state: "running" });
      await s.updateJob(b.id, { state: "completed", finishedAtMs: 200, bytesDone: 100 });
      await s.updateJob(c.id, { state: "failed", finishedAtMs: 210, error: "origin answered 404" });
      await s.updateJob(c.id, {}); // nothing to change: fine
      await expect(s.updateJob(c.id, { nope: 1 } as never)).rejects.toThrow("updateJob: unknown field nope");
      expect(s.getJob(c.id)).toMatchObject({ state: "failed", error: "origin answered 404", finishedAtMs: 210 });
      expect(s.activeJobForKey("kb")).toBeNull();
      expect(s.latestJobForKey("kb")?.id).toBe(b.id);
      const kb2 = await s.insertJob({ key: "kb", url: "kb", source: "operator", nowMs: 300 }); // finished: a new job
      expect(kb2.existing).toBe(false);
      expect(kb2.job.id).toBeGreaterThan(c.id);
      expect(s.activeJobForKey("kb")?.id).toBe(kb2.job.id);
      expect(s.latestJobForKey("kb")?.id).toBe(kb2.job.id);
      expect(s.latestJobForKey("none")).toBeNull();
      // Conditional writes: only from the states given, in one statement.
      expect(await s.updateJob(c.id, { state: "cancelled" }, ["queued", "running"])).toBe(false); // failed already
      expect(s.getJob(c.id)?.state).toBe("failed");
      expect(await s.updateJob(kb2.job.id, { notBeforeMs: 1 }, ["queued"])).toBe(true);
      expect(await s.updateJob(kb2.job.id, {}, ["queued"])).toBe(true);
      expect(await s.updateJob(kb2.job.id, {}, ["running"])).toBe(false);
      expect(await s.updateJob(987_654, { error: "x" })).toBe(false);
      expect(await s.updateJob(987_654, { error: "x" }, ["failed"])).toBe(false);
      // A second active job of a key is refused with its own error; the row is unchanged.
      await expect(s.updateJob(b.id, { state: "queued" }, ["completed"])).rejects.toBeInstanceOf(KeyHasActiveJob);
      expect(s.getJob(b.id)?.state).toBe("completed");
      await s.updateJob(kb2.job.id, { notBeforeMs: 0 });
      expect(s.getJob(987_654)).toBeNull();

      expect(s.listJobs().map((j) => j.id)).toEqual([kb2.job.id, c.id, b.id, a.job.id]); // newest first
      expect(s.listJobs({ states: ["completed", "failed"] }).map((j) => j.id)).toEqual([c.id, b.id]);
      expect(s.listJobs({ limit: 2 }).map((j) => j.id)).toEqual([kb2.job.id, c.id]);
      expect(s.countJobs(["queued", "running"])).toBe(2);
      expect(s.countJobs(["cancelled"])).toBe(0);
      expect(await s.clearFinishedJobs()).toBe(2);
      expect(s.listJobs().map((j) => j.id)).toEqual([kb2.job.id, a.job.id]);
      await h.reopen();
      expect(h.store.listJobs().map((j) => [j.key, j.state])).toEqual([
        ["kb", "queued"],
        ["ka", "running"],
      ]);
    });

    withStore("a job left running by a process that died goes back to the queue at the next start, attempt given back", async () => {
      const { job } = await h.store.insertJob({ key: "k", url: "k", source: "auto", nowMs: 1 });
      await h.store.updateJob(job.id, { rateBytesPerSec: 5_000 });
      const claimed = await h.store.claimJob(job.id, Date.now());
      expect(claimed?.attempts).toBe(1);
      h.advanceClock(2 * LEASE_MS); // PostgreSQL: the dead replica's lease has run out
      await h.reopen();
      expect(await h.store.requeueRunningJobs()).toBe(1);
      expect(h.store.getJob(job.id)).toMatchObject({ state: "queued", attempts: 0, rateBytesPerSec: 0 });
      expect(await h.store.requeueRunningJobs()).toBe(0);
      expect((await h.store.claimNextJob(Date.now()))?.id).toBe(job.id);
    });

    withStore("revoked sessions: revoked until they would have expired, across a restart", async () => {
      const s = h.store;
      await s.revokeSession({ id: "s1", expiresAtMs: 10_000, nowMs: 1_000 });
      await s.revokeSession({ id: "s2", expiresAtMs: 2_000, nowMs: 1_000 });
      expect(s.isSessionRevoked("s1", 5_000)).toBe(true);
      expect(s.isSessionRevoked("s2", 1_500)).toBe(true);
      expect(s.isSessionRevoked("s2", 2_000)).toBe(false); // expired: nobody can use it anyway
      expect(s.isSessionRevoked("s3", 1_000)).toBe(false);
      await s.revokeSession({ id: "s1", expiresAtMs: 20_000, nowMs: 1_000 }); // again: the later expiry
      await h.reopen();
      expect(h.store.isSessionRevoked("s1", 15_000)).toBe(true);
    });

    withStore("a closed store refuses writes with one line", async () => {
      await h.store.close();
      const write = Promise.resolve().then(() => h.store.insertJob({ key: "k", url: "k", source: "auto", nowMs: 1 }));
      await expect(write).rejects.toThrow(/closed/);
      await h.reopen(); // close twice is fine, and the data opens again
      expect(h.store.listJobs()).toEqual([]);
    });
  });
}

test("the contract calls every method of the MetadataStore interface", async () => {
  const types = await Bun.file(join(import.meta.dir, "../src/store/types.ts")).text();
  const body = types.slice(types.indexOf("export interface MetadataStore {"));
  const methods = [...body.slice(0, body.indexOf("\n}\n")).matchAll(/^  ([a-zA-Z]+)\(/gm)].map((m) => m[1]!);
  expect(methods.length).toBeGreaterThan(30);
  const self = await Bun.file(import.meta.path).text();
  expect(methods.filter((m) => !new RegExp(`\\.${m}\\(`).test(self))).toEqual([]);
});
