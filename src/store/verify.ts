// Re-hash every blob an artifact refers to and compare with its sha256 (bit rot, a hand edit,
// a truncated copy). Read-only by default, so it may run beside a live cache-host; with repair,
// the artifacts of a bad blob and the blob itself are removed (the next request is a miss and,
// in auto mode, a refill), which needs the data dir's lock, i.e. the cache-host stopped.
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { hostname } from "node:os";
import { parseDatabaseUrl } from "../core/database-url.ts";
import { connectDatabase, type SharedDatabase } from "./pg-connect.ts";
import { bucketStoreFactory, connectBucket, type S3Bucket } from "./s3-blobs.ts";
import { type CacheStore, openCacheStore } from "./store.ts";

export type BadBlob = { sha256: string; keys: string[]; problem: string };
export type VerifyReport = { blobs: number; bytes: number; bad: BadBlob[]; repaired: boolean };

const Row = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size_bytes: z.number().int().min(0), keys: z.string() });

async function hashFile(path: string): Promise<{ sha256: string; sizeBytes: number } | null> {
  const file = Bun.file(path);
  if (!(await file.exists())) return null;
  return hashStream(file.stream());
}

async function hashStream(stream: ReadableStream<Uint8Array>): Promise<{ sha256: string; sizeBytes: number }> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
    size += value.byteLength;
  }
  return { sha256: hasher.digest("hex"), sizeBytes: size };
}

/** The blob's bytes in the bucket, hashed; null when there is no such object. */
async function hashObject(bucket: S3Bucket, sha256: string): Promise<{ sha256: string; sizeBytes: number } | null> {
  const object = bucket.client.file(bucket.keyOf(sha256));
  if (!(await object.exists())) return null;
  return hashStream(object.stream());
}

/** The rows verify checks against: each blob's size and keys, and whether a row still holds it now. */
type VerifyRows = {
  blobs: Array<{ sha256: string; sizeBytes: number; keys: string[] }>;
  /** Beside a live cache-host an artifact may be evicted or deleted mid-scan: not a bad blob. */
  stillReferenced(sha256: string): boolean;
  close(): Promise<void>;
};

/** The data dir's SQLite database (checked to exist by verifyBlobs), read-only: verify may run beside a live cache-host. */
function sqliteRows(dataDir: string): VerifyRows {
  const db = new Database(join(dataDir, "withcache.db"), { readonly: true });
  const blobs = db
    .query("SELECT sha256, max(size_bytes) AS size_bytes, group_concat(key, char(10)) AS keys FROM artifacts GROUP BY sha256 ORDER BY sha256")
    .all()
    .map((r) => Row.parse(r))
    .map((r) => ({ sha256: r.sha256, sizeBytes: r.size_bytes, keys: r.keys.split("\n") }));
  const count = db.query("SELECT count(*) AS n FROM artifacts WHERE sha256 = $sha256");
  return {
    blobs,
    stillReferenced: (sha256) => (count.get({ sha256 }) as { n: number }).n > 0,
    close: async () => db.close(),
  };
}

/** The shared rows of PostgreSQL replicas, from the view every replica keeps (kept true by LISTEN/NOTIFY). */
function sharedRows(shared: SharedDatabase): VerifyRows {
  const meta = shared.metadata;
  const blobs = [...meta.referencedShas()].sort().map((sha256) => {
    const rows = meta.artifactsWithSha(sha256);
    return { sha256, sizeBytes: Math.max(0, ...rows.map((r) => r.sizeBytes)), keys: rows.map((r) => r.key) };
  });
  // The connection is closed by its owner (the repair's store, else verifyBlobs).
  return { blobs, stillReferenced: (sha256) => meta.countArtifactsWithSha(sha256) > 0, close: async () => {} };
}

/**
 * `blobStore`/`env`: with an S3 blob store, the objects in the bucket are hashed (the source of
 * truth), and a local copy in the data dir as well when there is one. `database`: the rows are
 * the shared PostgreSQL ones (a replica's data dir holds only local copies, and need not exist).
 */
export async function verifyBlobs(
  dataDirArg: string,
  options: { repair: boolean; onProgress?: (bad: BadBlob) => void; blobStore?: string; database?: string; env?: Record<string, string | undefined> },
): Promise<VerifyReport> {
  const dataDir = resolve(dataDirArg);
  let postgres: boolean;
  try {
    postgres = parseDatabaseUrl(options.database ?? "").kind === "postgres";
  } catch (err) {
    throw new Error(`--database: ${(err as Error).message}`);
  }
  if (!postgres && !existsSync(join(dataDir, "withcache.db"))) throw new Error(`--data-dir: ${dataDir} holds no withcache database`);
  const env = options.env ?? process.env;
  const bucket = await connectBucket(options.blobStore ?? "", env);
  if (postgres && bucket === null) throw new Error("--database: a PostgreSQL replica keeps its blobs in a bucket; give its --blob-store s3://… too");
  const shared = postgres ? await connectDatabase(options.database ?? "", { replicaId: `verify-${hostname()}-${process.pid}`, existing: true }) : null;
  // One check of the bucket serves both the hashing and, with repair, the store that deletes.
  let store: CacheStore | null = null;
  let source: VerifyRows;
  try {
    const makeBlobs = options.repair && bucket ? await bucketStoreFactory(bucket, { localCacheBytes: Number.MAX_SAFE_INTEGER }) : undefined;
    // Repair takes the data dir's lock first: a running cache-host on it makes it fail with its pid.
    store = options.repair ? openCacheStore(dataDir, {}, makeBlobs, shared ?? undefined) : null;
    source = shared ? sharedRows(shared) : sqliteRows(dataDir);
  } catch (err) {
    await closeAll(store, shared).catch(() => undefined);
    throw err;
  }
  const bad: BadBlob[] = [];
  let bytes = 0;
  try {
    for (const row of source.blobs) {
      const path = join(dataDir, "blobs", row.sha256.slice(0, 2), row.sha256);
      const what = bucket ? "blob object" : "blob file";
      const found = bucket ? await hashObject(bucket, row.sha256) : await hashFile(path);
      let problem: string | null = null;
      if (found === null) problem = `${what} is missing`;
      else if (found.sizeBytes !== row.sizeBytes) problem = `${what} is ${found.sizeBytes} bytes, expected ${row.sizeBytes}`;
      else if (found.sha256 !== row.sha256) problem = `${bucket ? "blob object content" : "blob content"} hashes to ${found.sha256}`;
      if (problem === null && bucket) {
        // The local copy is served first: it must match too.
        const copy = await hashFile(path);
        if (copy !== null && (copy.sizeBytes !== row.sizeBytes || copy.sha256 !== row.sha256)) problem = `local copy is ${copy.sizeBytes} bytes hashing to ${copy.sha256}`;
      }
      bytes += found?.sizeBytes ?? 0;
      if (problem === null) continue;
      if (!source.stillReferenced(row.sha256)) continue;
      const entry = { sha256: row.sha256, keys: row.keys, problem };
      bad.push(entry);
      options.onProgress?.(entry);
      if (store) {
        for (const key of entry.keys) await store.deleteArtifact(key);
        store.blobs.delete(row.sha256);
      }
    }
  } finally {
    await source.close();
    await store?.blobs.drain(10_000);
    await closeAll(store, shared);
  }
  return { blobs: source.blobs.length, bytes, bad, repaired: store !== null };
}

/** The repair's store closes the shared rows it was given; without one they are closed here. */
async function closeAll(store: CacheStore | null, shared: SharedDatabase | null): Promise<void> {
  if (store) await store.close();
  else await shared?.close();
}
