// Re-hash every blob an artifact refers to and compare with its sha256 (bit rot, a hand edit,
// a truncated copy). Read-only by default, so it may run beside a live cache-host; with repair,
// the artifacts of a bad blob and the blob itself are removed (the next request is a miss and,
// in auto mode, a refill), which needs the data dir's lock, i.e. the cache-host stopped.
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { openCacheStore } from "./store.ts";

export type BadBlob = { sha256: string; keys: string[]; problem: string };
export type VerifyReport = { blobs: number; bytes: number; bad: BadBlob[]; repaired: boolean };

const Row = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size_bytes: z.number().int().min(0), keys: z.string() });

async function hashFile(path: string): Promise<{ sha256: string; sizeBytes: number } | null> {
  const file = Bun.file(path);
  if (!(await file.exists())) return null;
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  const reader = file.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
    size += value.byteLength;
  }
  return { sha256: hasher.digest("hex"), sizeBytes: size };
}

export async function verifyBlobs(dataDirArg: string, options: { repair: boolean; onProgress?: (bad: BadBlob) => void }): Promise<VerifyReport> {
  const dataDir = resolve(dataDirArg);
  const dbPath = join(dataDir, "withcache.db");
  if (!existsSync(dbPath)) throw new Error(`--data-dir: ${dataDir} holds no withcache database`);
  // Repair takes the lock first: a running cache-host makes it fail with its pid.
  const store = options.repair ? openCacheStore(dataDir) : null;
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
      const found = await hashFile(path);
      let problem: string | null = null;
      if (found === null) problem = "blob file is missing";
      else if (found.sizeBytes !== row.size_bytes) problem = `blob file is ${found.sizeBytes} bytes, expected ${row.size_bytes}`;
      else if (found.sha256 !== row.sha256) problem = `blob content hashes to ${found.sha256}`;
      bytes += found?.sizeBytes ?? 0;
      if (problem === null) continue;
      if ((stillReferenced.get({ sha256: row.sha256 }) as { n: number }).n === 0) continue;
      const entry = { sha256: row.sha256, keys: row.keys.split("\n"), problem };
      bad.push(entry);
      options.onProgress?.(entry);
      if (store) {
        for (const key of entry.keys) store.deleteArtifact(key);
        store.blobs.delete(row.sha256);
      }
    }
  } finally {
    db.close();
    store?.close();
  }
  return { blobs: rows.length, bytes, bad, repaired: store !== null };
}
