// The embedded BlobStore: a directory. Blobs live at <dir>/blobs/<first two hex>/<sha256>,
// fills write to <dir>/tmp/<name> and are renamed into place only when complete and fsynced,
// so a crash can leave a temp file (resumed or swept at startup) but never a partial blob.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statfsSync, statSync, truncateSync, unlinkSync, writeSync } from "node:fs";
import { fdatasync, fsync, read } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import { assert } from "../core/errors.ts";
import type { BlobLocation, BlobStore, DiskSpace, TempBlob, TempReader } from "./types.ts";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const TEMP_NAME = /^[A-Za-z0-9._-]{1,100}$/;
const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);
const readAsync = promisify(read);

/** Entries in the read path's size cache before it is cleared (bounds its memory). */
const SIZE_CACHE_ENTRIES_MAX = 10_000;

function fsyncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The file of a blob in a directory store (tests, benches and `verify`); throws for a remote blob. */
export function localBlobPath(blobs: BlobStore, sha256: string): string {
  const where = blobs.locate(sha256);
  assert(where.kind === "file", `blob ${sha256} has no local file`);
  return where.path;
}

export class LocalBlobStore implements BlobStore {
  readonly blobsDir: string;
  readonly tempDir: string;

  /** `isReferenced`: whether a committed row holds this blob (delete() and a failed row commit then keep it). */
  constructor(
    readonly dataDir: string,
    private readonly isReferenced: (sha256: string) => boolean = () => false,
  ) {
    this.blobsDir = join(dataDir, "blobs");
    this.tempDir = join(dataDir, "tmp");
    mkdirSync(this.blobsDir, { recursive: true });
    mkdirSync(this.tempDir, { recursive: true });
  }

  /** sha256 → commits in flight (renamed into place, row commit not settled): delete() keeps these. */
  private readonly committing = new Map<string, number>();

  /** temp name → bytes its writer still means to write (see diskSpace). */
  private readonly promised = new Map<string, number>();

  /** sha256 → [size, checkedAtMs]: spares the hit path a stat(2) per request. */
  private readonly sizeCache = new Map<string, [number, number]>();

  private blobPath(sha256: string): string {
    assert(SHA256_HEX.test(sha256), `blob name must be a sha256, got ${sha256}`);
    return `${this.blobsDir}/${sha256.slice(0, 2)}/${sha256}`;
  }

  private tempPath(name: string): string {
    assert(TEMP_NAME.test(name), `bad temp name ${name}`);
    return join(this.tempDir, name);
  }

  locate(sha256: string): BlobLocation {
    return { kind: "file", path: this.blobPath(sha256) };
  }

  sizeOf(sha256: string): number | null {
    try {
      return statSync(this.blobPath(sha256)).size;
    } catch {
      return null;
    }
  }

  /** When the blob file was last written, or null when it is absent. */
  modifiedMs(sha256: string): number | null {
    try {
      return statSync(this.blobPath(sha256)).mtimeMs;
    } catch {
      return null;
    }
  }

  recentSizeOf(sha256: string, maxAgeMs: number): number | null {
    const now = Date.now();
    const hit = this.sizeCache.get(sha256);
    if (hit && maxAgeMs > 0 && now - hit[1] <= maxAgeMs) return hit[0];
    const size = this.sizeOf(sha256);
    if (size === null) {
      this.sizeCache.delete(sha256);
      return null;
    }
    if (this.sizeCache.size >= SIZE_CACHE_ENTRIES_MAX) this.sizeCache.clear();
    this.sizeCache.set(sha256, [size, now]);
    return size;
  }

  async openTemp(name: string, options: { truncate: boolean }): Promise<TempBlob> {
    const path = this.tempPath(name);
    // Plain synchronous writes into the page cache, one per network chunk (~256 KiB from fetch
    // with decompress: false): faster than fs/promises, short enough not to stall the loop, and
    // the file always holds every byte received so far (resume after kill -9 starts there).
    const fd = openSync(path, options.truncate ? "w" : "a", 0o644);
    let closed = false;
    // A background fdatasync on the thread pool, so the final fsync finds little left to write.
    let background: Promise<void> | null = null;
    const settle = async (): Promise<void> => {
      if (background) await background.catch(() => {});
      background = null;
    };
    return {
      name,
      path,
      async write(chunk: Uint8Array): Promise<void> {
        assert(!closed, "write after close");
        let offset = 0;
        while (offset < chunk.byteLength) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
      },
      async sync(): Promise<void> {
        await settle();
        await fsyncAsync(fd);
      },
      syncInBackground(onSynced?: () => void): void {
        if (background || closed) return;
        background = fdatasyncAsync(fd)
          .then(() => onSynced?.())
          .finally(() => {
            background = null;
          });
      },
      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        await settle();
        closeSync(fd);
      },
    };
  }

  tempSize(name: string): number | null {
    try {
      return statSync(this.tempPath(name)).size;
    } catch {
      return null;
    }
  }

  truncateTemp(name: string, sizeBytes: number): void {
    truncateSync(this.tempPath(name), sizeBytes);
  }

  readTemp(name: string): ReadableStream<Uint8Array> {
    return Bun.file(this.tempPath(name)).stream();
  }

  openTempReader(name: string): TempReader | null {
    let fd: number;
    try {
      fd = openSync(this.tempPath(name), "r");
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return null;
      throw err;
    }
    let closed = false;
    let reading = false;
    return {
      // On the thread pool: a stream of bytes no longer in the page cache must not stall the loop.
      async read(position: number, length: number): Promise<Uint8Array> {
        assert(!closed && !reading, "read after close or during a read");
        reading = true;
        try {
          const buffer = new Uint8Array(length);
          const { bytesRead } = await readAsync(fd, buffer, 0, length, position);
          return bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
        } finally {
          reading = false;
          // A close that came during the read happens now: the fd number must not be reused under it.
          if (closed) closeSync(fd);
        }
      },
      close(): void {
        if (closed) return;
        closed = true;
        if (!reading) closeSync(fd);
      },
    };
  }

  readonly commitNeedsSyncedTemp = true;

  async commitTemp<T>(name: string, sha256: string, commitRow: (confirmBlob: () => Promise<void>) => Promise<T>): Promise<T> {
    this.renameIntoPlace(name, sha256);
    // From the rename until the row commit settles, delete() of this sha256 keeps the file.
    this.committing.set(sha256, (this.committing.get(sha256) ?? 0) + 1);
    let row: T;
    try {
      // Nothing to confirm: only this process deletes here, and not while the commit is in flight.
      row = await commitRow(async () => undefined);
    } catch (err) {
      this.settleCommit(sha256);
      try {
        // Another commit of the same bytes still in flight, or a row holding them, keeps the file.
        this.delete(sha256);
      } catch {
        // The database is unusable; the orphan sweep removes the blob.
      }
      throw err;
    }
    this.settleCommit(sha256);
    return row;
  }

  private settleCommit(sha256: string): void {
    const n = (this.committing.get(sha256) ?? 1) - 1;
    if (n <= 0) this.committing.delete(sha256);
    else this.committing.set(sha256, n);
  }

  /** Rename a finished temp file to `blobs/<aa>/<sha256>` and make the rename durable. */
  renameIntoPlace(name: string, sha256: string): void {
    const target = this.blobPath(sha256);
    const dir = join(this.blobsDir, sha256.slice(0, 2));
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      fsyncDir(this.blobsDir); // the new fan-out directory's own entry
    }
    // Same bytes under the same name: renaming over an existing blob is harmless and atomic.
    renameSync(this.tempPath(name), target);
    this.sizeCache.delete(sha256);
    fsyncDir(dir);
  }

  removeTemp(name: string): void {
    rmSync(this.tempPath(name), { force: true });
  }

  /**
   * Unlink the blob unless a commit of it is in flight or a row references it, both looked at
   * now: the caller's own checks may predate an await (a row delete on a shared database) during
   * which a fill of the same bytes committed.
   */
  delete(sha256: string): void {
    if (this.committing.has(sha256) || this.isReferenced(sha256)) return;
    this.unlink(sha256);
  }

  /** Unlink without looking at rows (the S3 store dropping a local copy: the object stays in the bucket). */
  unlink(sha256: string): void {
    this.sizeCache.delete(sha256);
    try {
      unlinkSync(this.blobPath(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }

  async list(): Promise<string[]> {
    return this.listSync();
  }

  /** The blobs in the directory, without waiting. */
  listSync(): string[] {
    const out: string[] = [];
    for (const fan of readdirSync(this.blobsDir)) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue;
      for (const name of readdirSync(join(this.blobsDir, fan))) if (SHA256_HEX.test(name) && name.startsWith(fan)) out.push(name);
    }
    return out;
  }

  sweepTemp(keep: ReadonlySet<string>): string[] {
    if (!existsSync(this.tempDir)) return [];
    const removed: string[] = [];
    for (const name of readdirSync(this.tempDir)) {
      if (keep.has(name)) continue;
      rmSync(join(this.tempDir, name), { force: true, recursive: true });
      removed.push(name);
    }
    return removed;
  }

  diskSpace(except?: string): DiskSpace {
    const s = statfsSync(this.dataDir);
    let promisedBytes = 0;
    for (const [name, bytes] of this.promised) if (name !== except) promisedBytes += bytes;
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize, promisedBytes };
  }

  promiseWrite(name: string, bytes: number): void {
    if (bytes > 0) this.promised.set(name, bytes);
    else this.promised.delete(name);
  }

  describe(): string {
    return `directory ${this.blobsDir}`;
  }

  /** A local directory has no outage of its own (a full or failing disk shows in the fills). */
  health(): null {
    return null;
  }
  unavailable(): null {
    return null;
  }
  close(): void {}

  async drain(): Promise<void> {}
}
