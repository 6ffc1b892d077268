// The cache store: one object over the two seams that owns the data dir. Operations that touch
// both rows and bytes (delete an artifact and free its blob when unshared) live here.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LocalBlobStore } from "./local-blobs.ts";
import { SqliteMetadataStore } from "./sqlite-metadata.ts";
import type { BlobStore, MetadataStore } from "./types.ts";

export type CacheStore = {
  dataDir: string;
  metadata: MetadataStore;
  blobs: BlobStore;
  /** Remove an artifact; its blob is deleted only when no other key shares it. */
  deleteArtifact(key: string): { deleted: boolean; freedBytes: number };
  diskSpace(): { freeBytes: number; totalBytes: number };
  close(): void;
};

export function openCacheStore(dataDir: string): CacheStore {
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  const metadata = new SqliteMetadataStore(join(dataDir, "withcache.db"));
  const blobs = new LocalBlobStore(dataDir);
  return {
    dataDir,
    metadata,
    blobs,
    deleteArtifact(key: string) {
      // Synchronous from row delete to unlink: no fill commit can interleave in this process.
      const removed = metadata.deleteArtifactRow(key);
      if (!removed) return { deleted: false, freedBytes: 0 };
      if (removed.shared) return { deleted: true, freedBytes: 0 };
      const size = blobs.sizeOf(removed.sha256) ?? 0;
      blobs.delete(removed.sha256);
      return { deleted: true, freedBytes: size };
    },
    diskSpace: () => blobs.diskSpace(),
    close: () => metadata.close(),
  };
}
