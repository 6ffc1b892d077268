// The S3 BlobStore: blobs are objects `<prefix>sha256/<sha256>` in an S3-compatible bucket (AWS,
// Ceph RGW, SeaweedFS, versitygw, …) through Bun.S3Client. The data dir keeps the fills' temp
// files and a local copy of hot blobs (<data-dir>/blobs, the directory store's layout), bounded by
// --local-cache-bytes, least recently used copies first. Hits on a local copy are sendfile; a
// blob without one gets one made in the background (one GET of the object into a temp file), and
// a whole read meanwhile streams from that temp file as it grows (store/growing-temp.ts), so the
// object is read once for both; ranged reads, and every read when no copy is being made (it does
// not fit, two copies are being made already), are GETs of the object.
//
// Ordering: a blob is uploaded and its size checked in the bucket before its row commits (the
// row commit runs inside commitTemp, right after the upload), and checked again inside the row
// commit (BlobRefs: with shared rows, under the blob's lock), where no other cache-host can
// delete it until the row is in; gone by then, it is uploaded again. Deletes run in the
// background and look again, when they run, whether a commit in flight or a row (with shared
// rows: in the database, under the same lock) still needs the blob.
import { statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../core/errors.ts";
import { parseBlobStoreUrl, type S3BlobStoreUrl } from "../core/blob-store-url.ts";
import { diskGuard, diskGuardOff, type MinFreeDisk } from "../core/size.ts";
import { GrowingTemp, streamGrowingTemp } from "./growing-temp.ts";
import { LocalBlobStore } from "./local-blobs.ts";
import { BlobGone, BlobStoreUnavailable, type BlobLocation, type BlobRefs, type BlobStore, type DiskSpace, type TempBlob, type TempReader } from "./types.ts";

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Uploads tried per commit before the fill is told to retry later (with its own backoff). */
const UPLOAD_ATTEMPTS = 3;
const UPLOAD_RETRY_MS = [250, 1000];
/** Local copies made at once from S3 (each is one streaming GET). */
const LOCALIZE_INFLIGHT_MAX = 2;
/**
 * Object deletes run at once, at most: each holds the blob's lock (with shared rows, a database
 * transaction and connection) until S3 answers, so a bucket that hangs must not take every one.
 */
const DELETES_INFLIGHT_MAX = 2;
/** Bound of the found-missing memory (cleared when full: at worst one more check each). */
const FOUND_MISSING_MAX = 10_000;
/** The bucket is listed in pages of this many keys. */
const LIST_PAGE_KEYS = 1000;
/** How long a start-up check waits for the S3 endpoint. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long the check of an object inside a row commit may take: it runs in a database
 * transaction, holding the blob's lock and a connection, and the replica's writes queue behind it.
 */
const COMMIT_CHECK_MS = 10_000;
/**
 * The bucket is looked at this often (a HEAD of one small key, the cheapest request S3 bills), so
 * an outage is noticed before a client's download meets it; a failed upload or local copy looks
 * at once. Each look waits at most this long too.
 */
export const HEARTBEAT_MS = 2000;

/** `endpointGiven`: AWS_ENDPOINT_URL was set (Bun then uses path-style); else Bun's AWS default for the region. */
export type S3Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; region: string; endpoint: string; endpointGiven: boolean };

/** The error of an S3 request without an answer within `ms` (s3Reason and codeOf read it). */
function timeoutError(ms: number): Error {
  return Object.assign(new Error(`no answer within ${ms / 1000} s`), { code: "TimeoutError" });
}

/** `p`, or a TimeoutError once `ms` have passed. */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(ms)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** An S3 error as one line: the code S3 answered (NoSuchBucket, AccessDenied, …) or the network error. */
export function s3Reason(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message.split("\n")[0]! : String(err);
  // Bun says "an unexpected error has occurred" for network failures: the code is the news.
  if (code === "ConnectionRefused" || code === "ECONNREFUSED") return "connection refused";
  if (code && /an unexpected error has occurred/i.test(message)) return code;
  if (code && !message.includes(code)) return `${code}: ${message}`;
  return message;
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : "";
}

/** The endpoint as shown to people: no user info, no query. */
export function shownEndpoint(endpoint: string): string {
  const u = URL.parse(endpoint);
  if (!u) return "(bad endpoint)";
  return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
}

export class S3Bucket {
  readonly client: Bun.S3Client;

  constructor(
    readonly url: S3BlobStoreUrl,
    readonly credentials: S3Credentials,
  ) {
    this.client = new Bun.S3Client({
      bucket: url.bucket,
      ...(credentials.endpointGiven ? { endpoint: credentials.endpoint } : {}),
      region: credentials.region,
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    });
  }

  keyOf(sha256: string): string {
    assert(SHA256_HEX.test(sha256), `blob name must be a sha256, got ${sha256}`);
    return `${this.url.prefix}sha256/${sha256}`;
  }

  describe(): string {
    return `s3://${this.url.bucket}/${this.url.prefix} at ${shownEndpoint(this.credentials.endpoint)}`;
  }

  /**
   * At start-up: the bucket exists and these credentials may list, write and delete in it. Throws
   * one line naming what is wrong: `--blob-store: bucket "x" does not exist at http://…`.
   */
  async check(): Promise<void> {
    const where = shownEndpoint(this.credentials.endpoint);
    const fail = (err: unknown, doing: string): never => {
      const code = codeOf(err);
      if (code === "NoSuchBucket") throw new Error(`--blob-store: bucket "${this.url.bucket}" does not exist at ${where}`);
      if (["InvalidAccessKeyId", "XAdminUserNotFound", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"].includes(code)) {
        throw new Error(`--blob-store: ${where} refused the credentials (${code}) to ${doing} in bucket "${this.url.bucket}"; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
      }
      if (code === "TimeoutError" || (err as { name?: unknown }).name === "TimeoutError") throw new Error(`--blob-store: ${where} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`);
      if (code === "ConnectionRefused" || code === "ECONNREFUSED") throw new Error(`--blob-store: cannot reach ${where}: connection refused (is AWS_ENDPOINT_URL right, is the S3 server up?)`);
      throw new Error(`--blob-store: cannot ${doing} in bucket "${this.url.bucket}" at ${where}: ${s3Reason(err)}`);
    };
    await bounded(this.client.list({ prefix: this.url.prefix, maxKeys: 1 }), CONNECT_TIMEOUT_MS).catch((err: unknown) => fail(err, "list"));
    const probe = this.client.file(`${this.url.prefix}.withcache-write-check`);
    await bounded(probe.write("withcache checks that it may write here\n"), CONNECT_TIMEOUT_MS).catch((err: unknown) => fail(err, "write"));
    await bounded(probe.delete(), CONNECT_TIMEOUT_MS).catch((err: unknown) => fail(err, "delete"));
  }

  /**
   * Whether the bucket answers within `timeoutMs` (a HEAD of a key that need not exist: 200 or
   * 404); throws why not. A presigned HEAD through fetch, so a late one is aborted (its connection
   * closed), not left pending: a hung endpoint never holds more than one look per cache-host.
   */
  async heartbeat(timeoutMs: number): Promise<void> {
    const url = this.client.presign(`${this.url.prefix}.withcache-heartbeat`, { method: "HEAD", expiresIn: 60 });
    let status: number;
    try {
      status = (await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs), redirect: "manual" })).status;
    } catch (err) {
      const name = (err as { name?: unknown }).name;
      if (name === "TimeoutError" || name === "AbortError") throw timeoutError(timeoutMs);
      throw err;
    }
    if (status !== 200 && status !== 404) throw new Error(`the heartbeat HEAD got HTTP ${status}`);
  }

  /** Every blob object's sha256 and size. */
  async listBlobs(): Promise<Map<string, number>> {
    const objects = await this.listBlobObjects();
    return new Map([...objects].map(([sha, o]) => [sha, o.sizeBytes]));
  }

  /** Every blob object's sha256, size and last-modified time (ms; 0 when the server gives none). */
  async listBlobObjects(): Promise<Map<string, { sizeBytes: number; modifiedMs: number }>> {
    const out = new Map<string, { sizeBytes: number; modifiedMs: number }>();
    const prefix = `${this.url.prefix}sha256/`;
    let continuationToken: string | undefined;
    for (let page = 0; page < 1_000_000; page++) {
      const result = await this.client.list({ prefix, maxKeys: LIST_PAGE_KEYS, ...(continuationToken ? { continuationToken } : {}) });
      for (const item of result.contents ?? []) {
        const name = item.key.slice(prefix.length);
        const modified = item.lastModified === undefined ? Number.NaN : Date.parse(String(item.lastModified));
        if (SHA256_HEX.test(name)) out.set(name, { sizeBytes: item.size ?? 0, modifiedMs: Number.isFinite(modified) ? modified : 0 });
      }
      if (!result.isTruncated || !result.nextContinuationToken) break;
      continuationToken = result.nextContinuationToken;
    }
    return out;
  }
}

type LocalCopy = { sizeBytes: number; usedMs: number };
/** A local copy being made: its temp file as it grows (whole reads stream from it) and the job. */
type Copying = { growing: GrowingTemp; sizeBytes: number; job: Promise<void> };

/**
 * Objects younger than this are never orphans to the sweep: a fill's row commit follows its upload
 * within moments, on whichever cache-host ran it.
 */
export const ORPHAN_GRACE_MS = 10 * 60_000;

export class S3BlobStore implements BlobStore {
  private readonly local: LocalBlobStore;
  /** sha256 → size of every blob object known to be in the bucket. */
  private readonly remote: Map<string, number>;
  /** Local copies, least recently used first (Map order is kept by re-inserting on use). */
  private readonly copies = new Map<string, LocalCopy>();
  private copiedBytes = 0;
  /** Sizes of the local copies being made (localizing). */
  private copyingBytes = 0;
  /** sha256 → when a skipped local copy of it was last logged. */
  private readonly skipLogged = new Map<string, number>();
  /** Blobs between upload and row commit: never deleted meanwhile. */
  private readonly committing = new Map<string, number>();
  /** Remote deletes not yet done; a commit of the same sha256 waits for its delete first. */
  private readonly deleting = new Map<string, Promise<void>>();
  private readonly localizing = new Map<string, Copying>();
  /** Objects a row said were there and a check found missing: the fetch time of that row. */
  private readonly foundMissing = new Map<string, number>();
  private tempCounter = 0;
  private deletesRunning = 0;
  private readonly deleteWaiters: Array<() => void> = [];
  private closed = false;
  /** The bucket did not answer the last look: since when and why. */
  private outage: { sinceMs: number; reason: string } | null = null;
  private looking: Promise<void> | null = null;
  private readonly heartbeatTimer: Timer;

  constructor(
    private readonly bucket: S3Bucket,
    readonly dataDir: string,
    private readonly options: {
      /** Whether a row holds the blob; deletes of objects go through `refs.removeIfUnreferenced`. */
      refs: BlobRefs;
      localCacheBytes: number;
      /** --min-free-disk: a local copy that would leave less free is not made (the hit reads the bucket). */
      minFreeDisk?: MinFreeDisk;
      /** The bucket's blobs, listed at start-up (S3Bucket.listBlobs). */
      remote: Map<string, number>;
      onEvent?: (name: string, fields: Record<string, string | number>) => void;
    },
  ) {
    this.local = new LocalBlobStore(dataDir, options.refs.isReferenced);
    this.remote = options.remote;
    // Local copies found at start-up: oldest modification first. A copy whose object is not in
    // the bucket is an orphan: the sweep removes it like any unreferenced blob.
    const found: Array<[string, number, number]> = [];
    for (const sha of this.local.listSync()) {
      const size = this.local.sizeOf(sha);
      if (size === null) continue;
      found.push([sha, size, this.local.modifiedMs(sha) ?? 0]);
    }
    found.sort((a, b) => a[2] - b[2]);
    for (const [sha, size, mtime] of found) this.addCopy(sha, size, mtime);
    this.trimCopies(null);
    this.heartbeatTimer = setInterval(() => void this.lookAtBucket(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  /** One look at the bucket at a time; the outage begins or ends with its answer. */
  private lookAtBucket(): Promise<void> {
    this.looking ??= this.bucket
      .heartbeat(HEARTBEAT_MS)
      .then(
        () => {
          if (this.outage === null) return;
          this.options.onEvent?.("blob-store", { state: "ok", unreachable_for_ms: Date.now() - this.outage.sinceMs });
          this.outage = null;
        },
        (err: unknown) => this.lookFailed(s3Reason(err)),
      )
      .finally(() => (this.looking = null));
    return this.looking;
  }

  private lookFailed(reason: string): void {
    if (this.outage === null) {
      this.outage = { sinceMs: Date.now(), reason };
      this.options.onEvent?.("blob-store", { state: "degraded", problem: reason });
    } else {
      this.outage.reason = reason;
    }
  }

  health(): string | null {
    if (this.outage === null) return null;
    return `${this.describe()} does not answer (since ${new Date(this.outage.sinceMs).toISOString()}): ${this.outage.reason}`;
  }

  unavailable(sha256: string): string | null {
    return this.outage === null || this.copies.has(sha256) ? null : this.health();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
  }

  /**
   * A turn to delete an object: at most DELETES_INFLIGHT_MAX at once, and none while the bucket
   * is known not to answer (the delete waits for it). False once the store is closed.
   */
  private async deleteTurn(): Promise<boolean> {
    while (this.deletesRunning >= DELETES_INFLIGHT_MAX) await new Promise<void>((resolve) => this.deleteWaiters.push(resolve));
    this.deletesRunning++;
    while (this.outage !== null && !this.closed) await Bun.sleep(HEARTBEAT_MS);
    if (!this.closed) return true;
    this.deleteDone();
    return false;
  }

  private deleteDone(): void {
    this.deletesRunning--;
    this.deleteWaiters.shift()?.();
  }

  describe(): string {
    return this.bucket.describe();
  }

  /** Bytes of local copies held now (≤ --local-cache-bytes after each addition). */
  localBytes(): number {
    return this.copiedBytes;
  }

  /** Copies held and copies being made: what --local-cache-bytes bounds. */
  private heldBytes(): number {
    return this.copiedBytes + this.copyingBytes;
  }

  private addCopy(sha256: string, sizeBytes: number, usedMs: number): void {
    const old = this.copies.get(sha256);
    if (old) this.copiedBytes -= old.sizeBytes;
    this.copies.delete(sha256);
    this.copies.set(sha256, { sizeBytes, usedMs });
    this.copiedBytes += sizeBytes;
  }

  private dropCopy(sha256: string): void {
    const old = this.copies.get(sha256);
    if (!old) return;
    this.copies.delete(sha256);
    this.copiedBytes -= old.sizeBytes;
    this.local.unlink(sha256);
  }

  /** Remove least recently used local copies (never `keep`, never one with no object in the bucket) until under the bound. */
  private trimCopies(keep: string | null): void {
    if (this.heldBytes() <= this.options.localCacheBytes) return;
    for (const sha of [...this.copies.keys()]) {
      if (this.heldBytes() <= this.options.localCacheBytes) break;
      if (sha === keep || !this.remote.has(sha)) continue;
      this.dropCopy(sha);
    }
  }

  locate(sha256: string): BlobLocation {
    const copy = this.copies.get(sha256);
    if (copy) {
      this.copies.delete(sha256);
      this.copies.set(sha256, { ...copy, usedMs: Date.now() });
      return this.local.locate(sha256);
    }
    const sizeBytes = this.remoteSize(sha256);
    assert(sizeBytes !== null, `blob ${sha256} is neither local nor in the bucket`);
    this.localize(sha256, sizeBytes);
    const key = this.bucket.keyOf(sha256);
    return {
      kind: "remote",
      sizeBytes,
      read: ({ start, endExclusive }) => this.bucket.client.file(key).slice(start, endExclusive).stream(),
      readCopying: () => this.readCopying(sha256),
    };
  }

  /** The whole blob from its local copy being made, as it arrives; null when none is being made. */
  private readCopying(sha256: string): ReadableStream<Uint8Array> | null {
    const copying = this.localizing.get(sha256);
    if (copying === undefined || copying.growing.state === "cut") return null;
    // Null when the copy was renamed into place or removed a moment ago: the caller reads the object.
    const reader = this.local.openTempReader(copying.growing.tempName);
    if (reader === null) return null;
    return streamGrowingTemp(copying.growing, reader, { start: 0, endExclusive: copying.sizeBytes });
  }

  /** Copy a blob from the bucket into the local copy, verified by sha256 (once per blob at a time). */
  private localize(sha256: string, sizeBytes: number): void {
    if (this.localizing.has(sha256) || this.localizing.size >= LOCALIZE_INFLIGHT_MAX) return;
    if (sizeBytes > this.options.localCacheBytes) return;
    // Decided before any copy is removed for it: a copy not made removes none.
    const noRoom =
      this.copyingBytes + sizeBytes > this.options.localCacheBytes ? `--local-cache-bytes ${this.options.localCacheBytes} is taken by copies being made` : this.diskRefusal(sizeBytes);
    if (noRoom !== null) {
      this.skipped(sha256, noRoom);
      return;
    }
    // Room under --local-cache-bytes counting the copies being made: older copies go to make it.
    this.copyingBytes += sizeBytes;
    this.trimCopies(null);
    const growing = new GrowingTemp(`copy-${process.pid}-${++this.tempCounter}`);
    this.local.promiseWrite(growing.tempName, sizeBytes);
    let released = false;
    // Once, when the copy becomes a held copy (then it counts in copiedBytes) or ends without.
    const release = (): void => {
      if (released) return;
      released = true;
      this.copyingBytes -= sizeBytes;
      this.local.promiseWrite(growing.tempName, 0);
    };
    const job = this.copyFromBucket(sha256, sizeBytes, growing, release)
      .catch((err: unknown) => {
        const reason = s3Reason(err);
        // Streams from the copy end with an error, never short and complete-looking.
        growing.cut(reason);
        void this.lookAtBucket();
        this.options.onEvent?.("blob-store", { sha256, local_copy_error: reason });
      })
      .finally(() => {
        this.localizing.delete(sha256);
        release();
      });
    this.localizing.set(sha256, { growing, sizeBytes, job });
  }

  /** Why a local copy of `sizeBytes` would break --min-free-disk (counting what fills still write), or null. */
  private diskRefusal(sizeBytes: number): string | null {
    const rule = this.options.minFreeDisk;
    if (rule === undefined || diskGuardOff(rule)) return null;
    return diskGuard({ ...this.local.diskSpace(), moreBytes: sizeBytes, rule, dir: this.dataDir, starting: true, what: "local copy" });
  }

  /** A skipped local copy is logged once a minute per blob (every hit of it would ask again). */
  private skipped(sha256: string, reason: string): void {
    const now = Date.now();
    if (now - (this.skipLogged.get(sha256) ?? 0) < 60_000) return;
    if (this.skipLogged.size >= FOUND_MISSING_MAX) this.skipLogged.clear();
    this.skipLogged.set(sha256, now);
    this.options.onEvent?.("blob-store", { sha256, local_copy_skipped: reason });
  }

  private async copyFromBucket(sha256: string, sizeBytes: number, growing: GrowingTemp, release: () => void): Promise<void> {
    const name = growing.tempName;
    // openTemp creates the file before its first await: readCopying can open it from now on.
    const temp = await this.local.openTemp(name, { truncate: true });
    growing.start();
    const hasher = new Bun.CryptoHasher("sha256");
    let count = 0;
    try {
      for await (const chunk of this.bucket.client.file(this.bucket.keyOf(sha256)).stream() as unknown as AsyncIterable<Uint8Array>) {
        hasher.update(chunk);
        await temp.write(chunk);
        count += chunk.byteLength;
        if (count > sizeBytes) throw new Error(`the object of ${sha256} is longer than ${sizeBytes} bytes`);
        this.local.promiseWrite(name, sizeBytes - count);
        growing.progress(count);
      }
      const got = hasher.digest("hex");
      if (count !== sizeBytes || got !== sha256) throw new Error(`the object of ${sha256} is ${count} bytes hashing to ${got}`);
      // The bytes are the blob's: streams from the copy may finish (the fsync is the copy's, not theirs).
      growing.commit(count);
      await temp.sync();
      await temp.close();
      // Deleted while it was copied: keep nothing.
      if (!this.remote.has(sha256)) return;
      this.local.renameIntoPlace(name, sha256);
      release();
      this.addCopy(sha256, count, Date.now());
      this.trimCopies(sha256);
    } finally {
      await temp.close().catch(() => {});
      this.local.removeTemp(name);
    }
  }

  sizeOf(sha256: string): number | null {
    return this.copies.get(sha256)?.sizeBytes ?? this.remoteSize(sha256);
  }

  /**
   * The object's size as this process knows it: listed at start, uploaded or seen here, or (the
   * first time) the size a committed row records — another cache-host uploaded and checked it
   * before its row committed, and objects a row holds are not deleted. That is believed at once
   * and checked in the background; an object found missing is forgotten (the next request finds
   * the blob missing and fills the key again) and not believed again from the same row — only
   * from a newer commit, which confirmed the object in the bucket.
   */
  private remoteSize(sha256: string): number | null {
    const known = this.remote.get(sha256);
    if (known !== undefined) return known;
    if (this.deleting.has(sha256)) return null;
    const row = this.options.refs.newestRow(sha256);
    if (row === null || this.foundMissing.get(sha256) === row.fetchedAtMs) return null;
    const rowSize = row.sizeBytes;
    this.remote.set(sha256, rowSize);
    void this.storedSize(sha256).then(
      (stored) => {
        if (stored === rowSize || this.remote.get(sha256) !== rowSize) return;
        this.remote.delete(sha256);
        if (this.foundMissing.size >= FOUND_MISSING_MAX) this.foundMissing.clear();
        this.foundMissing.set(sha256, row.fetchedAtMs);
        this.options.onEvent?.("blob-store", { sha256, missing_object: stored === null ? "not in the bucket" : `${stored} bytes, the row says ${rowSize}` });
      },
      () => undefined, // S3 unreachable: the object is believed until a read fails
    );
    return rowSize;
  }

  recentSizeOf(sha256: string, maxAgeMs: number): number | null {
    // A local copy removed behind our back falls back to the bucket's object.
    if (this.copies.has(sha256) && this.local.recentSizeOf(sha256, maxAgeMs) === null) this.dropCopy(sha256);
    return this.sizeOf(sha256);
  }

  openTemp(name: string, options: { truncate: boolean }): Promise<TempBlob> {
    return this.local.openTemp(name, options);
  }
  tempSize(name: string): number | null {
    return this.local.tempSize(name);
  }
  truncateTemp(name: string, sizeBytes: number): void {
    this.local.truncateTemp(name, sizeBytes);
  }
  readTemp(name: string): ReadableStream<Uint8Array> {
    return this.local.readTemp(name);
  }
  openTempReader(name: string): TempReader | null {
    return this.local.openTempReader(name);
  }
  removeTemp(name: string): void {
    this.local.removeTemp(name);
  }
  sweepTemp(keep: ReadonlySet<string>): string[] {
    return this.local.sweepTemp(keep);
  }
  diskSpace(except?: string): DiskSpace {
    return this.local.diskSpace(except);
  }
  promiseWrite(name: string, bytes: number): void {
    this.local.promiseWrite(name, bytes);
  }

  /** The bucket holds the blob durably; a temp kept as the local copy is fsynced after the row commit. */
  readonly commitNeedsSyncedTemp = false;

  async commitTemp<T>(name: string, sha256: string, commitRow: (confirmBlob: () => Promise<void>) => Promise<T>): Promise<T> {
    this.committing.set(sha256, (this.committing.get(sha256) ?? 0) + 1);
    try {
      await this.deleting.get(sha256);
      const path = join(this.local.tempDir, name);
      const sizeBytes = statSync(path).size;
      if (this.remote.get(sha256) !== sizeBytes) await this.upload(path, sha256, sizeBytes);
      // Run by the row commit where no cache-host can delete the object until the row is in: the
      // object this one uploaded or saw may have been deleted by another since (its rows were
      // behind: an eviction or a sweep of the same bytes under another key).
      const confirmBlob = async (): Promise<void> => {
        if ((await this.storedSize(sha256, COMMIT_CHECK_MS)) !== sizeBytes) throw new BlobGone(`blob ${sha256} is no longer in ${this.describe()}`);
      };
      let row: T;
      try {
        try {
          row = await commitRow(confirmBlob);
        } catch (err) {
          if (!(err instanceof BlobGone)) throw err;
          this.options.onEvent?.("blob-store", { sha256, reupload: "deleted by another cache-host before the row commit" });
          this.remote.delete(sha256);
          await this.upload(path, sha256, sizeBytes);
          row = await commitRow(confirmBlob);
        }
      } catch (err) {
        // The bucket did not answer the check, or lost the object twice: the fill retries, and
        // its temp file (the whole body, verified) and the object it may still find are kept.
        if (err instanceof BlobStoreUnavailable || err instanceof BlobGone) throw err;
        this.local.removeTemp(name);
        if (!this.options.refs.isReferenced(sha256)) this.removeNow(sha256);
        throw err;
      }
      // The temp file becomes the local copy (when it fits, once it is on disk), else it goes.
      if (sizeBytes + this.copyingBytes <= this.options.localCacheBytes && (await syncFile(path))) {
        this.local.renameIntoPlace(name, sha256);
        this.addCopy(sha256, sizeBytes, Date.now());
      } else {
        this.local.removeTemp(name);
      }
      this.trimCopies(sha256);
      return row;
    } finally {
      const n = (this.committing.get(sha256) ?? 1) - 1;
      if (n <= 0) this.committing.delete(sha256);
      else this.committing.set(sha256, n);
    }
  }

  /**
   * The object's size in the bucket, or null when it is not there. Any other failure, or no answer
   * within `timeoutMs`, is BlobStoreUnavailable (marked an outage when the heartbeat fails too).
   */
  private async storedSize(sha256: string, timeoutMs = COMMIT_CHECK_MS): Promise<number | null> {
    const object = this.bucket.client.file(this.bucket.keyOf(sha256));
    try {
      return (await bounded(object.stat(), timeoutMs)).size;
    } catch (statError) {
      let reason = s3Reason(statError);
      if (codeOf(statError) !== "TimeoutError") {
        try {
          if (!(await bounded(object.exists(), timeoutMs))) return null;
        } catch (existsError) {
          reason = s3Reason(existsError);
        }
      }
      await this.lookAtBucket();
      throw new BlobStoreUnavailable(`cannot check ${sha256} in ${this.describe()}: ${reason}`, { outage: this.outage !== null });
    }
  }

  /** Upload and check the object's size, then know it is there; retried a few times, then BlobStoreUnavailable. */
  private async upload(path: string, sha256: string, sizeBytes: number): Promise<void> {
    const object = this.bucket.client.file(this.bucket.keyOf(sha256));
    let last: unknown = null;
    for (let attempt = 0; attempt < UPLOAD_ATTEMPTS; attempt++) {
      if (attempt > 0) await Bun.sleep(UPLOAD_RETRY_MS[attempt - 1] ?? 1000);
      try {
        await object.write(Bun.file(path));
        const stored = (await object.stat()).size;
        if (stored === sizeBytes) {
          this.remote.set(sha256, sizeBytes);
          return;
        }
        last = new Error(`the bucket holds ${stored} bytes of ${sizeBytes} after the upload`);
      } catch (err) {
        last = err;
      }
    }
    // The bucket does not answer at all (not just this upload refused): the fill waits for it
    // without spending its attempts, as fills started during a known outage do.
    await this.lookAtBucket();
    throw new BlobStoreUnavailable(`cannot upload to ${this.describe()}: ${s3Reason(last)}`, { outage: this.outage !== null });
  }

  /** The local copy goes now; the object is deleted in the background, if still unreferenced then. */
  delete(sha256: string): void {
    this.dropCopy(sha256);
    if (this.committing.has(sha256)) return;
    this.removeNow(sha256);
  }

  private removeNow(sha256: string): void {
    this.dropCopy(sha256);
    this.remote.delete(sha256);
    const before = this.deleting.get(sha256) ?? Promise.resolve();
    const job = before
      .then(async () => {
        if (!(await this.deleteTurn())) return;
        try {
          // A commit that started since, or a row written since, needs the object.
          if (this.committing.has(sha256)) return;
          await this.options.refs.removeIfUnreferenced(sha256, async () => {
            await this.bucket.client.file(this.bucket.keyOf(sha256)).delete();
          });
        } finally {
          this.deleteDone();
        }
      })
      .catch((err: unknown) => {
        // Left for the orphan sweep.
        this.options.onEvent?.("blob-store", { sha256, delete_error: s3Reason(err) });
      })
      .finally(() => {
        if (this.deleting.get(sha256) === job) this.deleting.delete(sha256);
      });
    this.deleting.set(sha256, job);
  }

  /**
   * Every blob in the bucket (listed now) and every local copy, except objects written in the last
   * ORPHAN_GRACE_MS: with several cache-hosts on one bucket, another one may be between its upload
   * and its row commit (the orphan sweep must not take such an object).
   */
  async list(): Promise<string[]> {
    const listed = await this.bucket.listBlobObjects();
    const settledBefore = Date.now() - ORPHAN_GRACE_MS;
    const out = new Set<string>(this.local.listSync());
    for (const [sha, object] of listed) {
      if (!this.deleting.has(sha)) this.remote.set(sha, object.sizeBytes);
      if (object.modifiedMs <= settledBefore) out.add(sha);
    }
    return [...out];
  }

  async drain(timeoutMs: number): Promise<void> {
    const pending = [...this.deleting.values(), ...[...this.localizing.values()].map((c) => c.job)];
    await Promise.race([Promise.allSettled(pending), Bun.sleep(timeoutMs)]);
  }
}

/**
 * The blob store --blob-store names, checked before anything else starts: for s3://…, the
 * credentials from AWS_* are read, the bucket is checked (exists, may list, write and delete) and
 * its blobs are listed. Returns the factory openCacheStore takes, or undefined for the directory.
 */
export async function connectBlobStore(options: {
  blobStore: string;
  localCacheBytes: number;
  minFreeDisk?: MinFreeDisk;
  env: Record<string, string | undefined>;
  onEvent?: (name: string, fields: Record<string, string | number>) => void;
}): Promise<((dataDir: string, refs: BlobRefs) => BlobStore) | undefined> {
  const bucket = await connectBucket(options.blobStore, options.env);
  return bucket === null ? undefined : await bucketStoreFactory(bucket, options);
}

/** The factory openCacheStore takes for a checked bucket: its blobs are listed once, now. */
export async function bucketStoreFactory(
  bucket: S3Bucket,
  options: { localCacheBytes: number; minFreeDisk?: MinFreeDisk; onEvent?: (name: string, fields: Record<string, string | number>) => void },
): Promise<(dataDir: string, refs: BlobRefs) => BlobStore> {
  let remote: Map<string, number>;
  try {
    remote = await bucket.listBlobs();
  } catch (err) {
    throw new Error(`--blob-store: cannot list ${bucket.describe()}: ${s3Reason(err)}`);
  }
  return (dataDir, refs) =>
    new S3BlobStore(bucket, dataDir, {
      refs,
      localCacheBytes: options.localCacheBytes,
      remote,
      ...(options.minFreeDisk ? { minFreeDisk: options.minFreeDisk } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
}

/** fsync a file by path (off the event loop); false when it cannot be. */
async function syncFile(path: string): Promise<boolean> {
  try {
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    return true;
  } catch {
    return false;
  }
}

/** The checked bucket --blob-store names, or null for the directory store. */
export async function connectBucket(blobStore: string, env: Record<string, string | undefined>): Promise<S3Bucket | null> {
  let url;
  try {
    url = parseBlobStoreUrl(blobStore);
  } catch (err) {
    throw new Error(`--blob-store: ${(err as Error).message}`);
  }
  if (url.kind === "directory") return null;
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? "";
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? "";
  if (accessKeyId === "" || secretAccessKey === "") {
    throw new Error(`--blob-store: s3://${url.bucket} needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment`);
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const given = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || "";
  const endpoint = given || `https://s3.${region}.amazonaws.com`;
  const parsed = URL.parse(endpoint);
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new Error(`--blob-store: AWS_ENDPOINT_URL "${shownEndpoint(endpoint)}" is not an http(s) URL`);
  }
  if (parsed.username || parsed.password) throw new Error("--blob-store: AWS_ENDPOINT_URL carries credentials; put them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  const bucket = new S3Bucket(url, { accessKeyId, secretAccessKey, region, endpoint, endpointGiven: given !== "", ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) });
  await bucket.check();
  return bucket;
}
