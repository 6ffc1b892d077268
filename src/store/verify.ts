// Re-hash every blob an artifact refers to and compare with its sha256 (bit rot, a hand edit,
// a truncated copy). Read-only by default, so it may run beside a live cache-host; with repair,
// the artifacts of a bad blob and the blob itself are removed (the next request is a miss and,
// in auto mode, a refill), which needs the data dir's lock, i.e. the cache-host stopped.
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { bucketStoreFactory, connectBucket, type S3Bucket } from "./s3-blobs.ts";
import { openCacheStore } from "./store.ts";

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

/**
 * `blobStore`/`env`: with an S3 blob store, the objects in the bucket are hashed (the source of
 * truth), and a local copy in the data dir as well when there is one.
 */
export async function verifyBlobs(
  dataDirArg: string,
  options: { repair: boolean; onProgress?: (bad: BadBlob) => void; blobStore?: string; env?: Record<string, string | undefined> },
): Promise<VerifyReport> {
  const dataDir = resolve(dataDirArg);
  const dbPath = join(dataDir, "withcache.db");
  if (!existsSync(dbPath)) throw new Error(`--data-dir: ${dataDir} holds no withcache database`);
  // Repair takes the lock first: a running cache-host makes it fail with its pid.
  const env = options.env ?? process.env;
  const bucket = await connectBucket(options.blobStore ?? "", env);
  // One check of the bucket serves both the hashing and, with repair, the store that deletes.
  const makeBlobs = options.repair && bucket ? await bucketStoreFactory(bucket, { localCacheBytes: Number.MAX_SAFE_INTEGER }) : undefined;
  const store = options.repair ? openCacheStore(dataDir, {}, makeBlobs) : null;
  const db = new Database(dbPath, { readonly: true });
  const rows = db
    .query("SELECT sha256, max(size_bytes) AS size_bytes, group_concat(key, char(10)) AS keys FROM artifacts GROUP BY sha256 ORDER BY sha256")
    .all()
    .map((r) => Row.parse(r));
  // Beside a live cache-host an artifact may be evicted or deleted mid-scan: not a bad blob.
  const stillReferenced = db.query("SELECT count(*) AS n FROM artifacts WHERE sha256 = $sha256");
  const bad: BadBlob[] = [];
  let bytes = 0;
  try {
    for (const row of rows) {
      const path = join(dataDir, "blobs", row.sha256.slice(0, 2), row.sha256);
      const what = bucket ? "blob object" : "blob file";
      const found = bucket ? await hashObject(bucket, row.sha256) : await hashFile(path);
      let problem: string | null = null;
      if (found === null) problem = `${what} is missing`;
      else if (found.sizeBytes !== row.size_bytes) problem = `${what} is ${found.sizeBytes} bytes, expected ${row.size_bytes}`;
      else if (found.sha256 !== row.sha256) problem = `${bucket ? "blob object content" : "blob content"} hashes to ${found.sha256}`;
      if (problem === null && bucket) {
        // The local copy is served first: it must match too.
        const copy = await hashFile(path);
        if (copy !== null && (copy.sizeBytes !== row.size_bytes || copy.sha256 !== row.sha256)) problem = `local copy is ${copy.sizeBytes} bytes hashing to ${copy.sha256}`;
      }
      bytes += found?.sizeBytes ?? 0;
      if (problem === null) continue;
      if ((stillReferenced.get({ sha256: row.sha256 }) as { n: number }).n === 0) continue;
      const entry = { sha256: row.sha256, keys: row.keys.split("\n"), problem };
      bad.push(entry);
      options.onProgress?.(entry);
      if (store) {
        for (const key of entry.keys) await store.deleteArtifact(key);
        store.blobs.delete(row.sha256);
      }
    }
  } finally {
    db.close();
    await store?.blobs.drain(10_000);
    await store?.close();
  }
  return { blobs: rows.length, bytes, bad, repaired: store !== null };
}
