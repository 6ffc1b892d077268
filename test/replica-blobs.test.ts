// Two cache-hosts (two stores in this process, each with its own pool, its own data dir and its
// own idea of what the bucket holds) over one real PostgreSQL and one real S3 server (versitygw).
// The race this guards: one replica deletes an object (its rows said nothing held it) while
// another, whose view was behind, commits a row of the same bytes. The commit confirms the object
// under the blob's lock and uploads it again if it went; the delete checks the rows under the same
// lock, so it either sees the row or finishes before the row commits.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { bucketStoreFactory, S3Bucket } from "../src/store/s3-blobs.ts";
import { connectDatabase, type SharedDatabase } from "../src/store/pg-connect.ts";
import { openCacheStore, type CacheStore } from "../src/store/store.ts";
import type { NewArtifact } from "../src/store/types.ts";
import { makeTempDir, pollUntil, sha256Hex, type TempDir } from "./helpers/index.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";
import { startS3Server, type S3Server } from "./helpers/s3.ts";

let pg: PostgresServer;
let s3: S3Server;
const dirs: TempDir[] = [];
beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3Server()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
  for (const d of dirs) d.cleanup();
});

type Replica = { store: CacheStore; db: SharedDatabase; close(): Promise<void> };

let replicas = 0;
async function replica(databaseUrl: string, bucket: S3Bucket): Promise<Replica> {
  const dir = makeTempDir("withcache-replica-blobs-");
  dirs.push(dir);
  const db = await connectDatabase(databaseUrl, { replicaId: `r${++replicas}` });
  // Listed now: this replica believes the bucket holds what it held at its start.
  const factory = await bucketStoreFactory(bucket, { localCacheBytes: 1024 * 1024 });
  const store = openCacheStore(dir.path, {}, factory, db);
  return {
    store,
    db,
    async close() {
      await store.blobs.drain(5_000);
      await store.close();
    },
  };
}

let buckets = 0;
async function setup(): Promise<{ url: string; bucket: S3Bucket; object(sha: string): ReturnType<S3Bucket["client"]["file"]> }> {
  const name = `replica-blobs-${process.pid}-${++buckets}`;
  await s3.createBucket(name);
  const bucket = new S3Bucket({ kind: "s3", bucket: name, prefix: "" }, { ...s3, endpointGiven: true });
  await bucket.check();
  return { url: await pg.createDatabase("wc_blobs"), bucket, object: (sha) => bucket.client.file(`sha256/${sha}`) };
}

const BYTES = new TextEncoder().encode("the same firmware image under two URLs\n".repeat(100));
const SHA = sha256Hex(BYTES);
let temps = 0;

async function fill(r: Replica, key: string): Promise<void> {
  const name = `fill-${++temps}.part`;
  const temp = await r.store.blobs.openTemp(name, { truncate: true });
  await temp.write(BYTES);
  await temp.sync();
  await temp.close();
  const row: NewArtifact = { key, url: key, sha256: SHA, sizeBytes: BYTES.length, contentType: "application/octet-stream", contentDisposition: null, fetchedAtMs: Date.now() };
  await r.store.blobs.commitTemp(name, SHA, (confirmBlob) => r.store.metadata.commitArtifact(row, confirmBlob));
}

test("a replica that still believes an object is in the bucket uploads it again when another replica deleted it", async () => {
  const { url, bucket, object } = await setup();
  const a = await replica(url, bucket);
  try {
    await fill(a, "https://h/first.bin");
    expect(await object(SHA).exists()).toBe(true);
    const b = await replica(url, bucket); // lists the bucket: it has the object
    try {
      // A evicts its only row of these bytes: the object goes (nothing held it).
      expect(await a.store.deleteArtifact("https://h/first.bin")).toMatchObject({ deleted: true });
      await a.store.blobs.drain(5_000);
      expect(await object(SHA).exists()).toBe(false);
      // B fills the same bytes under another URL; what it listed says the object is there.
      await fill(b, "https://h/second.bin");
      expect(b.store.metadata.getArtifact("https://h/second.bin")?.sha256).toBe(SHA);
      expect(await object(SHA).exists()).toBe(true);
      expect(new Uint8Array(await object(SHA).arrayBuffer())).toEqual(BYTES);
      // And A, which has no local copy, serves the row from the bucket.
      const seen = await pollUntil(() => a.store.metadata.getArtifact("https://h/second.bin"), { timeoutMs: 5_000, what: "a sees b's row" });
      expect(seen.sha256).toBe(SHA);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}, 60_000);

test("a delete decided while a row of the same bytes commits waits for it, then keeps the object", async () => {
  const { url, bucket, object } = await setup();
  const a = await replica(url, bucket);
  const b = await replica(url, bucket);
  let release = (): void => undefined;
  try {
    await fill(a, "https://h/first.bin");
    const gate = new Promise<void>((resolve) => (release = resolve));
    let confirmed = false;
    // B's row commit holds the blob's lock while its confirmation runs (held open here).
    const committing = b.store.metadata.commitArtifact(
      { key: "https://h/second.bin", url: "https://h/second.bin", sha256: SHA, sizeBytes: BYTES.length, contentType: "application/octet-stream", contentDisposition: null, fetchedAtMs: 1 },
      async () => {
        confirmed = true;
        await gate;
      },
    );
    await pollUntil(() => confirmed, { timeoutMs: 5_000, what: "b's commit confirms its blob" });
    await a.store.metadata.deleteArtifactRow("https://h/first.bin");
    let removed = false;
    let settled = false;
    const deleting = a.db
      .removeBlobIfUnreferenced(SHA, async () => {
        removed = true;
        await object(SHA).delete();
      })
      .finally(() => (settled = true));
    await Bun.sleep(300);
    expect(settled).toBe(false); // waits for the commit holding the lock
    release();
    await committing;
    expect(await deleting).toBe(false); // then sees the row
    expect(removed).toBe(false);
    expect(await object(SHA).exists()).toBe(true);
  } finally {
    release(); // a failed expectation must not leave the commit waiting
    await b.close();
    await a.close();
  }
}, 60_000);

test("an object another replica uploaded is served from the bucket; one gone behind everyone's back is forgotten after a check", async () => {
  const { url, bucket, object } = await setup();
  const a = await replica(url, bucket);
  const b = await replica(url, bucket); // started before a's uploads: its listing has none of them
  try {
    await fill(a, "https://h/first.bin");
    await pollUntil(() => b.store.metadata.getArtifact("https://h/first.bin"), { timeoutMs: 5_000, what: "b sees a's row" });
    expect(b.store.blobs.sizeOf(SHA)).toBe(BYTES.length); // from the row, believed
    const where = b.store.blobs.locate(SHA);
    expect(where.kind).toBe("remote");
    if (where.kind !== "remote") throw new Error("unreachable");
    expect(new Uint8Array(await new Response(where.read({ start: 0, endExclusive: where.sizeBytes })).arrayBuffer())).toEqual(BYTES);
    expect(await object(SHA).exists()).toBe(true); // and still there: nothing was forgotten

    // Another blob of a's whose object someone deleted in the bucket directly.
    const other = new TextEncoder().encode("deleted behind our back\n");
    const otherSha = sha256Hex(other);
    const name = `fill-${++temps}.part`;
    const temp = await a.store.blobs.openTemp(name, { truncate: true });
    await temp.write(other);
    await temp.sync();
    await temp.close();
    const row = { key: "https://h/other.txt", url: "https://h/other.txt", sha256: otherSha, sizeBytes: other.length, contentType: "text/plain", contentDisposition: null, fetchedAtMs: 1 };
    await a.store.blobs.commitTemp(name, otherSha, (confirmBlob) => a.store.metadata.commitArtifact(row, confirmBlob));
    await pollUntil(() => b.store.metadata.getArtifact("https://h/other.txt"), { timeoutMs: 5_000, what: "b sees a's other row" });
    await object(otherSha).delete();
    expect(b.store.blobs.sizeOf(otherSha)).toBe(other.length); // believed first…
    await pollUntil(() => b.store.blobs.sizeOf(otherSha) === null, { timeoutMs: 5_000, what: "b forgets the missing object" }); // …then checked and forgotten
    await Bun.sleep(200);
    expect(b.store.blobs.sizeOf(otherSha)).toBeNull(); // and not believed again from the same row
  } finally {
    await b.close();
    await a.close();
  }
}, 60_000);
