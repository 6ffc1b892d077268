// The cache store: one object over the two seams that owns the data dir. Operations that touch
// both rows and bytes (delete an artifact and free its blob when unshared) live here.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { errnoCode, fsReason } from "../core/errors.ts";
import { planEviction } from "../core/eviction.ts";
import { LocalBlobStore } from "./local-blobs.ts";
import { acquireDataDirLock } from "./lock.ts";
import { SqliteMetadataStore } from "./sqlite-metadata.ts";
import { SqliteOpsStore } from "./sqlite-ops.ts";
import type { BlobRefs, BlobStore, DiskSpace, MetadataStore, NewestRowOfBlob, OpsStore } from "./types.ts";

export type CacheStore = {
  dataDir: string;
  metadata: MetadataStore;
  blobs: BlobStore;
  /** API tokens, the audit log, hourly traffic (async: see OpsStore). */
  ops: OpsStore;
  /** Remove an artifact; its blob is deleted only when no other key shares it. */
  deleteArtifact(key: string): Promise<{ deleted: boolean; freedBytes: number }>;
  diskSpace(): DiskSpace;
  /**
   * Evict least recently used artifacts (last hit, else fetch time) until the blobs total at
   * most `capBytes`; never a key in `keep`. Returns what went, in order.
   */
  evictToFit(capBytes: number, keep: ReadonlySet<string>): Promise<Array<{ key: string; freedBytes: number }>>;
  /**
   * Delete blobs no artifact references (a crash between rename and commit, or between a row
   * delete and its unlink, leaves one). Run at startup, before fills and requests.
   */
  sweepOrphanBlobs(): Promise<{ blobs: number; bytes: number }>;
  close(): Promise<void>;
};

export type StoreLimits = { missesMax?: number; finishedJobsMax?: number };

/** Makes the blob store once the metadata is open (the S3 store asks it which blobs rows hold). */
export type BlobStoreFactory = (dataDir: string, refs: BlobRefs) => BlobStore;

/** A failed mkdir/open in the data dir as one line: `--data-dir: cannot create /x: read-only file system`. */
function dataDirError(err: unknown, what: string): Error {
  if (errnoCode(err) === null) return err instanceof Error ? err : new Error(String(err));
  const why = fsReason(err, {
    // mkdir -p says ENOENT under /proc (the parent exists but takes no directories) and below a
    // dangling symlink; EEXIST when the path is a file or a dangling symlink itself.
    ENOENT: "no such file or directory (a symlink on the way points nowhere, or the filesystem takes no directories, as under /proc); choose a directory on a disk",
    EEXIST: "it exists but is not a directory (or is a symlink to nothing); choose a directory or a path to create",
  });
  return new Error(`--data-dir: ${what}: ${why}`);
}

/**
 * Rows kept elsewhere (PostgreSQL, shared by several cache-hosts) instead of SQLite in the data
 * dir; the data dir then holds temp files and local copies only.
 */
export type SharedRows = {
  metadata: MetadataStore;
  ops: OpsStore;
  /** Run `fn` as the only evictor among the replicas, or skip it (null) while another one evicts. */
  exclusively<T>(fn: () => Promise<T>): Promise<T | null>;
  /** BlobRefs.removeIfUnreferenced, judged by the shared rows under the blob's lock. */
  removeBlobIfUnreferenced(sha256: string, remove: () => Promise<void>): Promise<boolean>;
  close(): Promise<void>;
};

/** BlobRefs when this process owns the rows: its own view is the whole truth. */
export function processRefs(isReferenced: (sha256: string) => boolean): BlobRefs {
  return {
    isReferenced,
    newestRow: () => null,
    async removeIfUnreferenced(sha256, remove) {
      if (isReferenced(sha256)) return false;
      await remove();
      return true;
    },
  };
}

export function openCacheStore(dataDir: string, limits: StoreLimits = {}, makeBlobs?: BlobStoreFactory, shared?: SharedRows): CacheStore {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw dataDirError(err, `cannot create ${resolve(dataDir)}`);
  }
  let release: () => void;
  try {
    release = acquireDataDirLock(dataDir);
  } catch (err) {
    throw dataDirError(err, `cannot write in ${resolve(dataDir)}`);
  }
  let metadata: MetadataStore;
  let ops: OpsStore;
  if (shared) {
    metadata = shared.metadata;
    ops = shared.ops;
  } else {
    try {
      const sqlite = new SqliteMetadataStore(join(dataDir, "withcache.db"), limits);
      metadata = sqlite;
      ops = new SqliteOpsStore(sqlite.db);
    } catch (err) {
      release();
      throw dataDirError(err, `cannot open the database in ${resolve(dataDir)}`);
    }
  }
  const closeRows = (): Promise<void> => (shared ? shared.close() : metadata.close());
  let blobs: BlobStore;
  const isReferenced = (sha256: string): boolean => metadata.countArtifactsWithSha(sha256) > 0;
  // Shared rows: other cache-hosts commit rows of objects this one has not seen (their size is
  // believed from the row). One process: it uploaded or listed every object its rows hold.
  const newestRow = (sha256: string): NewestRowOfBlob | null => {
    let newest: NewestRowOfBlob | null = null;
    for (const a of metadata.artifactsWithSha(sha256)) if (newest === null || a.fetchedAtMs > newest.fetchedAtMs) newest = { sizeBytes: a.sizeBytes, fetchedAtMs: a.fetchedAtMs };
    return newest;
  };
  const refs: BlobRefs = shared
    ? { isReferenced, newestRow, removeIfUnreferenced: (sha256, remove) => shared.removeBlobIfUnreferenced(sha256, remove) }
    : processRefs(isReferenced);
  try {
    blobs = makeBlobs ? makeBlobs(dataDir, refs) : new LocalBlobStore(dataDir, isReferenced);
  } catch (err) {
    // Nothing was written yet: no counters to flush, the close settles at once.
    void closeRows().catch(() => {});
    release();
    throw dataDirError(err, `cannot create blobs/ and tmp/ in ${resolve(dataDir)}`);
  }
  return {
    dataDir,
    metadata,
    blobs,
    ops,
    async deleteArtifact(key: string) {
      const removed = await metadata.deleteArtifactRow(key);
      if (!removed) return { deleted: false, freedBytes: 0 };
      if (removed.shared) return { deleted: true, freedBytes: 0 };
      // A fill of the same bytes may have committed (or be committing) since the row delete: the
      // blob store looks again when it unlinks and keeps a blob a row or a commit in flight holds.
      const size = blobs.sizeOf(removed.sha256) ?? 0;
      blobs.delete(removed.sha256);
      return { deleted: true, freedBytes: blobs.sizeOf(removed.sha256) === null ? size : 0 };
    },
    diskSpace: () => blobs.diskSpace(),
    async evictToFit(capBytes, keep) {
      // The common case (under the cap) costs one aggregate query, not a row per artifact.
      if (metadata.storedTotals().bytes <= capBytes) return [];
      const evict = async (): Promise<Array<{ key: string; freedBytes: number }>> => {
        const plan = planEviction(metadata.evictionCandidates(), { capBytes, keep });
        const out: Array<{ key: string; freedBytes: number }> = [];
        for (const key of plan.keys) {
          const removed = await this.deleteArtifact(key);
          if (removed.deleted) out.push({ key, freedBytes: removed.freedBytes });
        }
        return out;
      };
      // Shared rows: one evictor at a time across replicas (another one evicting brings the
      // total under the same cap; this one then has nothing to do).
      return shared ? ((await shared.exclusively(evict)) ?? []) : evict();
    },
    async sweepOrphanBlobs() {
      // Listed first, then the rows read: a blob committed meanwhile has its row by then, and a
      // blob between upload and row commit is never deleted by the blob store (delete looks again).
      const listed = await blobs.list();
      const referenced = metadata.referencedShas();
      let count = 0;
      let bytes = 0;
      for (const sha of listed) {
        if (referenced.has(sha)) continue;
        bytes += blobs.sizeOf(sha) ?? 0;
        blobs.delete(sha);
        count += 1;
      }
      return { blobs: count, bytes };
    },
    async close() {
      try {
        blobs.close();
        await closeRows();
      } finally {
        release();
      }
    },
  };
}
