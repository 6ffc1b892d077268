// The shared MetadataStore against a real PostgreSQL 15 on loopback, with two stores over one
// database standing in for two replicas: a commit on one is in the other's view; one active job
// per key and one claim per job across both; counters add up; a lease that runs out sends the job
// back to the queue; PostgreSQL stopped and started again mid-test.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { PgMetadataStore } from "../src/store/pg-metadata.ts";
import { pollUntil } from "./helpers/poll.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
}, 30_000);
afterAll(async () => {
  await pg?.stop();
});

function freshDatabase(): Promise<string> {
  return pg.createDatabase("wc_meta");
}

type Replica = { store: PgMetadataStore; sql: SQL; close(): Promise<void> };

async function replica(url: string, id: string, leaseMs?: number): Promise<Replica> {
  const sql = new SQL(url, { max: 3 });
  const store = await PgMetadataStore.open(sql, { replicaId: id, ...(leaseMs === undefined ? {} : { leaseMs }) });
  return {
    store,
    sql,
    async close() {
      await store.close();
      await sql.close();
    },
  };
}

/** Commit an artifact `key` through `r`, retrying for up to 10 s while the database comes back. */
async function commitOnceBack(r: Replica, key: string): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await r.store.commitArtifact(artifact(key)).then(() => true, () => false)) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(100);
  }
}

/** Two replicas over a fresh database, both closed after `fn` (whatever it throws). */
async function withTwoReplicas(fn: (a: Replica, b: Replica, url: string) => Promise<void>): Promise<void> {
  const url = await freshDatabase();
  const a = await replica(url, "a");
  const b = await replica(url, "b");
  try {
    await fn(a, b, url);
  } finally {
    await a.close();
    await b.close();
  }
}

/** Poll (every 10 ms) until `fn` answers something truthy. */
function until<T>(what: string, fn: () => T | null | undefined | false, timeoutMs = 5000): Promise<NonNullable<T>> {
  return pollUntil(fn, { what, timeoutMs, intervalMs: 10 }) as Promise<NonNullable<T>>;
}

const SHA = "a".repeat(64);
const artifact = (key: string, sha = SHA) => ({ key, url: key, sha256: sha, sizeBytes: 10, contentType: "application/octet-stream", contentDisposition: null, fetchedAtMs: 1000 });

test("a commit on one replica is in the other's view within moments; a delete too", async () => {
  await withTwoReplicas(async (a, b) => {
    expect(b.store.getArtifact("https://x/f")).toBeNull();
    await a.store.commitArtifact(artifact("https://x/f"));
    expect(a.store.getArtifact("https://x/f")?.sha256).toBe(SHA); // own write: at once
    const seen = await until("b sees the row", () => b.store.getArtifact("https://x/f"));
    expect(seen.sizeBytes).toBe(10);
    expect(b.store.storedTotals()).toEqual({ artifactCount: 1, bytes: 10, logicalBytes: 10 });
    const removed = await b.store.deleteArtifactRow("https://x/f");
    expect(removed).toEqual({ sha256: SHA, shared: false });
    await until("a sees the delete", () => a.store.getArtifact("https://x/f") === null);
    expect(a.store.storedTotals().artifactCount).toBe(0);
  });
});

test("one active job per key across replicas, and each job is claimed once", async () => {
  await withTwoReplicas(async (a, b, url) => {
    const results = await Promise.all([
      a.store.insertJob({ key: "k", url: "k", source: "auto", nowMs: 1 }),
      b.store.insertJob({ key: "k", url: "k", source: "auto", nowMs: 1 }),
      a.store.insertJob({ key: "k", url: "k", source: "auto", nowMs: 1 }),
    ]);
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(results.filter((r) => !r.existing)).toHaveLength(1);
    for (let i = 0; i < 20; i++) await (i % 2 ? a : b).store.insertJob({ key: `k${i}`, url: `k${i}`, source: "auto", nowMs: 1 });
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).store.claimNextJob(Date.now())));
    const ids = claims.filter((c) => c !== null).map((c) => c!.id);
    expect(ids).toHaveLength(21);
    expect(new Set(ids).size).toBe(21);
    const lease = await a.store.leaseOf(ids[0]!);
    expect(["a", "b"]).toContain(lease!.owner!);
    await until("b sees 21 running", () => b.store.activeJobCounts().running === 21);
  });
});

test("hits and misses counted on two replicas add up; a commit moves the misses into the artifact", async () => {
  await withTwoReplicas(async (a, b, url) => {
    for (let i = 0; i < 5; i++) a.store.recordMiss({ key: "m", url: "m", nowMs: 100 + i });
    for (let i = 0; i < 3; i++) b.store.recordMiss({ key: "m", url: "m", nowMs: 200 + i });
    await a.store.flushCounters();
    await b.store.flushCounters();
    await until("a sees 8 misses", () => a.store.getMiss("m")?.count === 8);
    expect(b.store.getMiss("m")).toMatchObject({ count: 8, firstSeenMs: 100, lastSeenMs: 202 });
    await a.store.commitArtifact(artifact("m"));
    expect(a.store.getMiss("m")).toBeNull();
    expect(a.store.getArtifact("m")?.misses).toBe(8);
    await until("b sees the artifact", () => b.store.getArtifact("m"));
    for (let i = 0; i < 4; i++) a.store.recordHit("m", 5000 + i);
    for (let i = 0; i < 6; i++) b.store.recordHit("m", 6000 + i);
    await a.store.flushCounters();
    await b.store.flushCounters();
    const [row] = (await a.sql`SELECT hits, last_hit_ms FROM artifacts WHERE key = 'm'`) as Array<{ hits: string; last_hit_ms: string }>;
    expect(Number(row!.hits)).toBe(10);
    expect(Number(row!.last_hit_ms)).toBe(6005);
    await until("both views say 10 hits", () => a.store.getArtifact("m")?.hits === 10 && b.store.getArtifact("m")?.hits === 10);
  });
});

test("a replica's own writes are not read back: its changes name it, its catch-up skips them, the other replica reads them", async () => {
  await withTwoReplicas(async (a, b) => {
    await a.store.commitArtifact(artifact("own"));
    for (let i = 0; i < 3; i++) a.store.recordHit("own", 7000 + i);
    await a.store.flushCounters();
    await until("b sees a's hits", () => b.store.getArtifact("own")?.hits === 3);
    const origins = (await a.sql`SELECT DISTINCT origin FROM changes`) as Array<{ origin: string | null }>;
    expect(origins).toEqual([{ origin: "a" }]);
    const [{ n }] = (await a.sql`SELECT count(*) AS n FROM changes`) as [{ n: string }];
    await until("a has caught up past its own changes", () => a.store.catchUpStats().changes >= Number(n));
    expect(a.store.catchUpStats()).toMatchObject({ ownSkipped: Number(n), rowsRead: 0 });
    expect(a.store.getArtifact("own")).toMatchObject({ hits: 3, lastHitMs: 7002 });
    expect(b.store.catchUpStats().rowsRead).toBeGreaterThan(0);
    // A writer that is not a replica (psql, withcache migrate) names nobody: every replica reads it.
    await a.sql`UPDATE artifacts SET hits = 40 WHERE key = 'own'`;
    await until("a sees the operator's write", () => a.store.getArtifact("own")?.hits === 40);
    await until("b sees the operator's write", () => b.store.getArtifact("own")?.hits === 40);
  });
});

test("miss info that is already so is not written (no transaction, no change for the other replicas)", async () => {
  const url = await freshDatabase();
  const a = await replica(url, "a");
  try {
    const changes = async () => Number(((await a.sql`SELECT count(*) AS n FROM changes`) as [{ n: string }])[0].n);
    await a.store.setMissInfo("none", { refusal: null }); // no miss row: nothing to clear
    expect(await changes()).toBe(0);
    a.store.recordMiss({ key: "m", url: "m", nowMs: 1 });
    await a.store.setMissInfo("m", { refusal: "private address" }); // the buffered miss and its refusal
    expect(a.store.getMiss("m")).toMatchObject({ count: 1, refusal: "private address" });
    const written = await changes();
    expect(written).toBeGreaterThan(0);
    await a.store.setMissInfo("m", { refusal: "private address" });
    expect(await changes()).toBe(written);
    await a.store.setMissInfo("m", { refusal: null });
    expect(await changes()).toBe(written + 1);
    const [row] = (await a.sql`SELECT refusal FROM misses WHERE key = 'm'`) as Array<{ refusal: string | null }>;
    expect(row!.refusal).toBeNull();
  } finally {
    await a.close();
  }
});

test("after a failed write a replica reads its own changes back until a later write and catch-up settle it", async () => {
  const url = await freshDatabase();
  const a = await replica(url, "a");
  try {
    await pg.halt();
    expect(await a.store.commitArtifact(artifact("lost")).catch((e: Error) => e.message)).toBe("the database is unreachable (connection refused or closed)");
    await pg.start();
    // What the failed write looks like had its COMMIT gone through with the answer lost: a change
    // named "a" that a's view never got.
    await a.sql.begin(async (tx) => {
      await tx`SELECT set_config('withcache.replica', 'a', true)`;
      await tx`INSERT INTO artifacts (key, url, sha256, size_bytes, content_type, fetched_at_ms) VALUES ('ghost', 'ghost', ${SHA}, 10, 'application/octet-stream', 1000)`;
    });
    expect(await commitOnceBack(a, "after")).toBe(true);
    await a.store.catchUp();
    expect(a.store.getArtifact("ghost")?.sha256).toBe(SHA);
    // Settled: own changes are skipped again.
    const before = a.store.catchUpStats();
    await a.store.commitArtifact(artifact("later"));
    await a.store.catchUp();
    const after = a.store.catchUpStats();
    expect(after.ownSkipped).toBeGreaterThan(before.ownSkipped);
    expect(after.rowsRead).toBe(before.rowsRead);
  } finally {
    await a.close();
  }
}, 40_000);

test("a job whose replica stops renewing its lease goes back to the queue and another replica claims it", async () => {
  const url = await freshDatabase();
  const a = await replica(url, "a", 600);
  const b = await replica(url, "b", 600);
  try {
    const { job } = await a.store.insertJob({ key: "lease", url: "lease", source: "auto", nowMs: Date.now() });
    const claimed = await a.store.claimJob(job.id, Date.now());
    expect(claimed?.state).toBe("running");
    // While a renews, the job stays a's.
    await Bun.sleep(900);
    expect((await b.store.leaseOf(job.id))?.owner).toBe("a");
    expect(await b.store.requeueRunningJobs()).toBe(0);
    // a dies (no close: its connections just go); its lease runs out and b takes the job.
    (a.store as unknown as { renewTimer: ReturnType<typeof setInterval> }).renewTimer && clearInterval((a.store as unknown as { renewTimer: ReturnType<typeof setInterval> }).renewTimer);
    await a.sql.close();
    const requeued = await until("the job is queued again", () => b.store.getJob(job.id)?.state === "queued", 5000);
    expect(requeued).toBe(true);
    const again = await b.store.claimNextJob(Date.now());
    expect(again?.id).toBe(job.id);
    expect((await b.store.leaseOf(job.id))?.owner).toBe("b");
  } finally {
    await a.store.close().catch(() => undefined);
    await b.close();
  }
});

test("PostgreSQL stopped: reads answer from the view, writes fail in one line, health says why; after the restart the replica catches up", async () => {
  await withTwoReplicas(async (a, b) => {
    await a.store.commitArtifact(artifact("before"));
    await until("b sees it", () => b.store.getArtifact("before"));
    await pg.halt();
    expect(b.store.getArtifact("before")?.sha256).toBe(SHA);
    const failed = await b.store.commitArtifact(artifact("during")).catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toBe("the database is unreachable (connection refused or closed)");
    expect(b.store.health()).toBe("the database is unreachable (connection refused or closed)");
    await pg.start();
    // a writes while b's listener may still be reconnecting: b must not lose it.
    await until("a can write again", () => true);
    expect(await commitOnceBack(a, "after")).toBe(true);
    await until("b sees the row written while it reconnected", () => b.store.getArtifact("after"), 15_000);
    await b.store.commitArtifact(artifact("during"));
    expect(b.store.health()).toBeNull();
    await until("a sees b's write", () => a.store.getArtifact("during"));
  });
}, 40_000);

test("a replica whose LISTEN connection is not back yet still sees other replicas' commits within about a second", async () => {
  // After an outage Bun reconnects the pool at once but the LISTEN connection with exponential
  // backoff (measured: 4.6 s after the pool, following a 12 s outage); meanwhile b says healthy,
  // and a miss of a key a just filled would fill it again on b.
  await withTwoReplicas(async (a, b) => {
    await (b.store as unknown as { unlisten: () => Promise<void> }).unlisten();
    await a.store.commitArtifact(artifact("while-deaf"));
    expect(await until("b sees a's commit without a notification", () => b.store.getArtifact("while-deaf"), 2500)).toBeTruthy();
  });
});

test("a replica away longer than the changes are kept reloads its whole view", async () => {
  await withTwoReplicas(async (a, b) => {
    await a.store.commitArtifact(artifact("one"));
    await until("b sees one", () => b.store.getArtifact("one"));
    // b stops listening (as if disconnected); a writes; the changes are pruned before b is back.
    await (b.store as unknown as { unlisten: () => Promise<void> }).unlisten();
    await a.store.commitArtifact(artifact("two"));
    await a.store.deleteArtifactRow("one");
    await a.sql`DELETE FROM changes`;
    await a.store.commitArtifact(artifact("three"));
    await b.store.catchUp(true);
    expect(b.store.getArtifact("one")).toBeNull();
    expect(b.store.getArtifact("two")?.sha256).toBe(SHA);
    expect(b.store.getArtifact("three")?.sha256).toBe(SHA);
  });
});

test("a replica knows which other replica runs a key's fill and where it answers", async () => {
  await withTwoReplicas(async (a, b, url) => {
    await a.store.advertise("http://127.0.0.1:1111");
    await b.store.advertise("http://127.0.0.1:2222");
    const { job } = await b.store.insertJob({ key: "live", url: "live", source: "auto", nowMs: Date.now() });
    expect(a.store.remoteFill("live")).toBeNull(); // queued: nobody runs it yet
    await a.store.claimJob(job.id, Date.now());
    expect(a.store.remoteFill("live")).toBeNull(); // a runs it itself
    const remote = await until("b learns a runs it", () => b.store.remoteFill("live"));
    expect(remote).toEqual({ replicaId: "a", url: "http://127.0.0.1:1111" });
    await a.store.updateJob(job.id, { state: "completed", finishedAtMs: Date.now() });
    await until("b sees it finished", () => b.store.remoteFill("live") === null);
  });
});

test("a session revoked on one replica is revoked on the other", async () => {
  await withTwoReplicas(async (a, b) => {
    const now = Date.now();
    expect(a.store.isSessionRevoked("s1", now)).toBe(false);
    await b.store.revokeSession({ id: "s1", expiresAtMs: now + 60_000, nowMs: now });
    expect(b.store.isSessionRevoked("s1", now)).toBe(true);
    await until("a sees the revocation", () => a.store.isSessionRevoked("s1", now));
  });
});

test("conditional job writes across replicas: a cancel never overwrites a completion, two retries requeue once", async () => {
  await withTwoReplicas(async (a, b, url) => {
    const { job } = await a.store.insertJob({ key: "k", url: "k", source: "auto", nowMs: 1 });
    await a.store.claimJob(job.id, Date.now());
    await until("b sees it running", () => b.store.getJob(job.id)?.state === "running");
    await a.store.updateJob(job.id, { state: "completed", finishedAtMs: 2 });
    // Whatever b's view says at this instant, the database says completed.
    expect(await b.store.updateJob(job.id, { state: "cancelled", finishedAtMs: 3 }, ["queued", "running"])).toBe(false);
    expect(a.store.getJob(job.id)?.state).toBe("completed");
    await a.store.updateJob(job.id, { state: "failed" });
    await until("b sees it failed", () => b.store.getJob(job.id)?.state === "failed");
    const requeue = (r: Replica) => r.store.updateJob(job.id, { state: "queued", attempts: 0 }, ["failed", "cancelled"]);
    const results = await Promise.all([requeue(a), requeue(b)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    await until("both see it queued", () => a.store.getJob(job.id)?.state === "queued" && b.store.getJob(job.id)?.state === "queued");
  });
});
