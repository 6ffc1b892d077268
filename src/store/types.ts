// The two storage seams: a BlobStore (bytes by sha256) and a MetadataStore (rows). The server and
// the fetcher talk only to these interfaces, so an S3-compatible blob store and PostgreSQL can be
// added without touching them. The embedded defaults: local-blobs.ts and sqlite-metadata.ts.
import type { EvictionCandidate } from "../core/eviction.ts";
import type { OriginHeaders } from "../core/freshness.ts";
import type { JobSource, JobState } from "../core/jobs.ts";

/** What the last revalidation of an artifact came to. `origin-down` (connection failure, timeout,
 *  5xx) lets a stale copy be served; `refused` (another 4xx) and `refetching` (the origin answered
 *  200 without a validator to compare: the body is being fetched to compare sha256) do not. */
/** The data dir's filesystem as the disk guard sees it (see BlobStore.diskSpace). */
export type DiskSpace = { freeBytes: number; totalBytes: number; promisedBytes: number };

export const REVALIDATION_RESULTS = ["not-modified", "changed", "same-bytes", "origin-down", "refused", "refetching"] as const;
export type RevalidationResult = (typeof REVALIDATION_RESULTS)[number];

/** An artifact's freshness record: the origin headers and times its lifetime is computed from. */
export type FreshnessRecord = {
  /** Null for artifacts filled before freshness was tracked: stale, no validator. */
  originHeaders: OriginHeaders | null;
  requestAtMs: number | null;
  responseAtMs: number | null;
};

export type ArtifactRow = {
  key: string;
  /** The raw URL first seen for this key (may carry a query the key dropped). */
  url: string;
  sha256: string;
  sizeBytes: number;
  contentType: string;
  /** The origin's Content-Disposition, replayed on hits; null when it sent none. */
  contentDisposition: string | null;
  fetchedAtMs: number;
  lastHitMs: number | null;
  hits: number;
  misses: number;
  /** The fill followed at least one redirect; hits send `X-Withcache-Redirected: 1`. */
  redirected: boolean;
  /** When it was last revalidated with the origin, what came of it and the one-line detail. */
  revalidatedAtMs: number | null;
  revalidation: RevalidationResult | null;
  revalidationDetail: string | null;
  /** The origin announced a different version: these bytes are never served again. */
  superseded: boolean;
} & FreshnessRecord;

export type MissRow = {
  key: string;
  url: string;
  count: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Size learned from a fill attempt (Content-Length), if any. */
  knownSizeBytes: number | null;
  /** Why the last attempt to fetch it was refused (private address, --allow-host, uncacheable), if it was. */
  refusal: string | null;
  /** The origin would not let us store it: not fetched automatically before this time. */
  uncacheableUntilMs: number | null;
};

export type JobRow = {
  id: number;
  key: string;
  url: string;
  source: JobSource;
  state: JobState;
  bytesDone: number;
  totalBytes: number | null;
  rateBytesPerSec: number;
  /** One line, or null. For a queued job waiting on a retry: the last transient error. */
  error: string | null;
  attempts: number;
  /** A queued job is not picked before this time (retry backoff). */
  notBeforeMs: number;
  /** The origin validator (ETag or Last-Modified) the partial temp file was fetched under. */
  validator: string | null;
  /** Bytes of the temp file known to be on disk (fsynced): all a resume trusts after a reboot. */
  syncedBytes: number;
  /**
   * Where the temp file was last written (core/fill-plan.ts tempStamp): the boot (Linux boot_id)
   * and, with a shared queue, the data dir; null when unknown.
   */
  bootId: string | null;
  createdAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
};

export type ArtifactSort = "size" | "hits" | "lastHit" | "fetchedAt" | "url";

export type ListArtifactsOptions = {
  /** Substring of the URL or key, case-insensitive. */
  filter?: string;
  sort?: ArtifactSort;
  /** Default: descending for size/hits/lastHit/fetchedAt, ascending for url. */
  direction?: "asc" | "desc";
  limit?: number;
  offset?: number;
  /** Keyset pagination: only rows after this one (its sort value and key) in the listing's order. */
  after?: { value: number | string; key: string };
};

/** What the artifacts table holds: one row read (running totals), never a scan. */
export type StoredTotals = {
  artifactCount: number;
  /** Bytes on disk: each distinct blob counted once. */
  bytes: number;
  /** Sum of artifact sizes (shared blobs counted per key). */
  logicalBytes: number;
};

export type Totals = StoredTotals & {
  /** Recorded misses (a count over the capped misses table). */
  missCount: number;
};

/** `redirected` defaults to false (imports and rows written before migration 5). */
export type NewArtifact = Omit<ArtifactRow, "lastHitMs" | "hits" | "misses" | "redirected" | "revalidatedAtMs" | "revalidation" | "revalidationDetail" | "superseded" | keyof FreshnessRecord> & {
  redirected?: boolean;
  /** Omitted (imports, older callers): stale, no validator. */
  freshness?: FreshnessRecord;
  /** A refill of a key that was cached: what the refill found (changed or same bytes). */
  revalidation?: { atMs: number; result: RevalidationResult; detail: string };
};

/**
 * The rows. Reads are synchronous: the embedded store answers from SQLite, a PostgreSQL replica
 * from its in-memory view of the shared rows (kept true by LISTEN/NOTIFY and the changes table),
 * so the read path never waits on a network round trip. Writes are asynchronous: each resolves
 * once the change is durable in the (possibly shared) store and visible to this process's reads.
 * Hit and miss counts are buffered and written in batches as increments (they add up across
 * replicas; nothing is counted twice).
 */
export interface MetadataStore {
  // ---- reads (never a network round trip) ----
  getArtifact(key: string): ArtifactRow | null;
  /** The uncacheable mark of `key`, if any (a cheap read: no buffered write is flushed). */
  uncacheableMark(key: string): { reason: string; untilMs: number } | null;
  /** Most recently seen first (then by key); `after` pages on from a row (keyset). */
  listMisses(options?: { limit?: number; offset?: number; after?: { lastSeenMs: number; key: string } }): MissRow[];
  getMiss(key: string): MissRow | null;
  listArtifacts(options?: ListArtifactsOptions): ArtifactRow[];
  countArtifactsWithSha(sha256: string): number;
  /** Every key whose bytes are this blob. */
  artifactsWithSha(sha256: string): ArtifactRow[];
  /** Every sha256 some artifact references. */
  referencedShas(): Set<string>;
  totals(): Totals;
  /** The stored totals alone: O(1), no buffered-miss write (for /metrics). */
  storedTotals(): StoredTotals;
  /** Jobs queued and running now (two index range counts). */
  activeJobCounts(): { queued: number; running: number };
  /** Every artifact with its LRU recency (last hit, else fetch time), for --max-cache-size. */
  evictionCandidates(): EvictionCandidate[];
  getJob(id: number): JobRow | null;
  activeJobForKey(key: string): JobRow | null;
  latestJobForKey(key: string): JobRow | null;
  listJobs(options?: { states?: readonly JobState[]; limit?: number }): JobRow[];
  /** Earliest notBeforeMs among queued jobs, or null when none is queued. */
  nextQueuedAtMs(): number | null;
  countJobs(states: readonly JobState[]): number;
  isSessionRevoked(id: string, nowMs: number): boolean;

  // ---- counters (buffered, written in batches) ----
  recordHit(key: string, nowMs: number): void;
  recordMiss(miss: { key: string; url: string; nowMs: number }): void;

  // ---- writes (durable and visible to this process's reads when the promise resolves) ----
  setMissInfo(key: string, info: { refusal?: string | null; knownSizeBytes?: number | null }): Promise<void>;
  /** Remember that the origin will not let `key` be stored (creates the miss row if needed). */
  markUncacheable(mark: { key: string; url: string; reason: string; untilMs: number; nowMs: number }): Promise<void>;
  /** A 304 (or a same-bytes refill): new origin headers and times, the revalidation recorded. */
  refreshArtifact(key: string, refresh: FreshnessRecord & { atMs: number; result: RevalidationResult; detail: string }): Promise<void>;
  /** Record a revalidation's outcome; `superseded: true` withdraws the bytes for good. */
  noteRevalidation(key: string, note: { atMs: number; result: RevalidationResult; detail: string; superseded?: boolean }): Promise<void>;
  dismissMiss(key: string): Promise<boolean>;
  /**
   * Insert or replace the artifact and move the key's miss count into it, atomically. Returns the
   * sha256 it replaced, if any. `confirmBlob` (from BlobStore.commitTemp) runs first, at a point
   * where no process sharing the rows can delete the blob until the row is committed (PostgreSQL:
   * under the blob's advisory lock, which removeBlobIfUnreferenced takes too); if it throws,
   * nothing is written.
   */
  commitArtifact(artifact: NewArtifact, confirmBlob?: () => Promise<void>): Promise<{ replacedSha256: string | null }>;
  /** Delete the row; returns its sha256 and whether any other key still references that blob. */
  deleteArtifactRow(key: string): Promise<{ sha256: string; shared: boolean } | null>;
  /**
   * Queue a fill of `key`. One active (queued or running) job per key across every process that
   * shares the store: when one exists already, it is returned with `existing: true`.
   */
  insertJob(job: { key: string; url: string; source: JobSource; nowMs: number }): Promise<{ job: JobRow; existing: boolean }>;
  /** Atomically pick the oldest queued job whose notBeforeMs has passed and mark it running (leased to this process). */
  claimNextJob(nowMs: number): Promise<JobRow | null>;
  /** Mark this queued job running (a revalidation that skips the queue); null if it is not queued. */
  claimJob(id: number, nowMs: number): Promise<JobRow | null>;
  /**
   * Write `patch` into the job. With `fromStates`, only while the job's state is one of them: the
   * check and the write are one statement, so a process sharing the rows cannot change the state
   * in between (a cancel racing a completion elsewhere, two retries at once). False when nothing
   * was written (no such job, or another state). A patch that would make a second queued or
   * running job of the job's key throws KeyHasActiveJob.
   */
  updateJob(id: number, patch: Partial<Omit<JobRow, "id" | "key" | "url" | "source" | "createdAtMs">>, fromStates?: readonly JobState[]): Promise<boolean>;
  /**
   * At startup: jobs left `running` by a dead process go back to `queued` (embedded: every running
   * job; shared: those whose lease ran out).
   */
  requeueRunningJobs(): Promise<number>;
  clearFinishedJobs(): Promise<number>;
  /** Remember a logged-out operator session until it would have expired; expired ones are pruned. */
  revokeSession(session: { id: string; expiresAtMs: number; nowMs: number }): Promise<void>;

  /** Write the buffered counters, then close. */
  close(): Promise<void>;
}

/**
 * Where a blob's bytes can be served from: a local file (sendfile), or a remote object (the S3
 * blob store before the blob has a local copy) read as a stream of `[start, endExclusive)`, the
 * bytes as the remote store holds them (the caller checks them). `readCopying`: the whole blob
 * from the local copy being made from the remote one, as it arrives (one read of the object for
 * both), or null when no copy is being made; its bytes are checked already: its last byte comes
 * only once the copy's length and sha256 matched the blob, else the stream ends with an error.
 */
export type BlobLocation =
  | { kind: "file"; path: string }
  | {
      kind: "remote";
      sizeBytes: number;
      read(range: { start: number; endExclusive: number }): ReadableStream<Uint8Array>;
      readCopying(): ReadableStream<Uint8Array> | null;
    };

/**
 * A remote blob store could not be reached or refused a write: the fill retries later. `outage`:
 * the store does not answer at all (its heartbeat failed too), so the fill waits for it without
 * spending an attempt; otherwise the refusal is a transient failure like any other.
 */
export class BlobStoreUnavailable extends Error {
  readonly outage: boolean;
  constructor(message: string, options: { outage?: boolean } = {}) {
    super(message);
    this.outage = options.outage ?? false;
  }
}

/** Another job of the same key is queued or running already (one active job per key). */
export class KeyHasActiveJob extends Error {
  constructor(jobId: number) {
    super(`job ${jobId}: another fill of its key is already queued or running`);
  }
}

/** The blob's object is not in the shared bucket (deleted by another cache-host): upload it again. */
export class BlobGone extends Error {}

/** A blob's newest row as BlobRefs tells it: its size and when it was fetched. */
export type NewestRowOfBlob = { sizeBytes: number; fetchedAtMs: number };

/**
 * What a blob store asks the rows about a blob. `isReferenced` and `newestRow` read this process's
 * view; `removeIfUnreferenced` runs `remove` only if no row holds the blob, judged by the shared
 * rows themselves while no commit of a row of it can run (the embedded store: the view, one
 * process). True when it removed.
 */
export type BlobRefs = {
  isReferenced(sha256: string): boolean;
  /** The newest committed row of the blob in this process's view. */
  newestRow(sha256: string): NewestRowOfBlob | null;
  removeIfUnreferenced(sha256: string, remove: () => Promise<void>): Promise<boolean>;
};

export interface TempBlob {
  readonly name: string;
  readonly path: string;
  write(chunk: Uint8Array): Promise<void>;
  /** fsync file contents (waits for a background sync still running). */
  sync(): Promise<void>;
  /** Start writing back what has been written so far without waiting (overlaps disk and network). */
  syncInBackground(onSynced?: () => void): void;
  close(): Promise<void>;
}

/** A read-only view of a temp file while its fill writes it (stream-through readers). */
export interface TempReader {
  /** Up to `length` bytes at `position` (fewer at the end of what is written). */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): void;
}

export interface BlobStore {
  locate(sha256: string): BlobLocation;
  /** Size of the stored blob, or null when it is absent. */
  sizeOf(sha256: string): number | null;
  /**
   * sizeOf for the read path: may answer from a check made within the last `maxAgeMs` (changes
   * made through this store are always seen; a file removed behind its back is noticed late).
   */
  recentSizeOf(sha256: string, maxAgeMs: number): number | null;
  /** Open (create or append to) a named temp file for a fill. */
  openTemp(name: string, options: { truncate: boolean }): Promise<TempBlob>;
  tempSize(name: string): number | null;
  /** Cut a temp file to its first `sizeBytes` (a resume that trusts only a prefix). */
  truncateTemp(name: string, sizeBytes: number): void;
  /** Stream an existing temp file's bytes (to re-hash the prefix of a resumed fill). */
  readTemp(name: string): ReadableStream<Uint8Array>;
  /**
   * Open a temp file for reading, or null when it does not exist. The reader keeps reading the
   * same bytes after the file is committed (renamed into place) or removed.
   */
  openTempReader(name: string): TempReader | null;
  /**
   * Whether commitTemp needs the temp file fsynced first: the directory store renames it into
   * place as the blob. A remote store uploads it (the bucket keeps it durable) and fsyncs only a
   * temp it keeps as a local copy, after the row commit.
   */
  readonly commitNeedsSyncedTemp: boolean;
  /**
   * Move a finished temp file (fsynced when commitNeedsSyncedTemp) into place as the blob
   * `sha256`, then run `commitRow` (the row that references it) at once. The blob is complete in the store before `commitRow` starts,
   * and no delete of the same sha256 this store makes (an eviction, the orphan sweep) runs from
   * upload until `commitRow` settles. When `commitRow` rejects, the blob is removed again unless
   * `isReferenced` says a row holds it. `commitRow` passes `confirmBlob` on to commitArtifact: a
   * remote store checks there that the object is still in the bucket (another cache-host may have
   * deleted it after this one last saw it) and throws BlobGone if not; commitTemp then uploads the
   * bytes again and runs `commitRow` once more.
   */
  commitTemp<T>(name: string, sha256: string, commitRow: (confirmBlob: () => Promise<void>) => Promise<T>): Promise<T>;
  removeTemp(name: string): void;
  delete(sha256: string): void;
  /** Every stored blob's sha256 (the orphan sweep). */
  list(): Promise<string[]>;
  /** Remove temp files except those named in `keep`; returns the names removed. */
  sweepTemp(keep: ReadonlySet<string>): string[];
  /**
   * Free and total bytes of the data dir's filesystem, and `promisedBytes`: what writers in this
   * process (fills of a known length, local copies) still mean to write there, other than the
   * writer `except`. The disk guard counts promised bytes as used, so two fills that each fit
   * alone do not both start and then both fail halfway.
   */
  diskSpace(except?: string): DiskSpace;
  /** The writer `name` (a temp file) still means to write `bytes` into the data dir; 0 forgets it. */
  promiseWrite(name: string, bytes: number): void;
  /** Where the blobs are, for logs, the UI and /healthz: never a secret. */
  describe(): string;
  /** Why the store cannot be used now, one line (a remote store that does not answer); null when it can. /healthz says it. */
  health(): string | null;
  /**
   * Why this blob cannot be served now, or null: its remote store does not answer and this
   * process has no local copy. The read path then answers 503 (the shims go to the origin)
   * instead of a hit whose download would be cut.
   */
  unavailable(sha256: string): string | null;
  /** Stop background work (the remote store's heartbeat); the store is not used afterwards. */
  close(): void;
  /** Wait for background work (remote deletes) to settle, bounded by `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The operations seam: API tokens, the audit log and persisted traffic counters. Asynchronous
// from the start (a PostgreSQL backend sits behind the same interface); the SQLite implementation
// answers at once. Nothing here is on the read path's hot loop: traffic is counted in memory and
// written in batches, token last-use times likewise.

export type ApiTokenRow = {
  id: number;
  name: string;
  scope: "read" | "admin";
  /** The first characters of the token (`wc_ab12…`), to tell tokens apart in lists. */
  hint: string;
  createdAtMs: number;
  lastUsedMs: number | null;
};

export type EventRow = {
  id: number;
  atMs: number;
  /** What happened: `login`, `logout`, `add`, `delete`, `cancel`, `retry`, `dismiss`, `token-create`, `token-revoke`, `login-refused`, `host-refused`, `ssrf-refused`, `csrf-refused`, `token-refused`, … */
  kind: string;
  /** Who: `session`, `token:<name>`, `open` (no password set), `anonymous`, `system`. */
  actor: string;
  /** The client's address. */
  client: string;
  outcome: "ok" | "refused" | "failed";
  /** One line (a URL's loggable form, a reason); never a secret. */
  detail: string;
};

export type NewEvent = Omit<EventRow, "id">;

export type HourlyTraffic = { hourMs: number; hits: number; misses: number; bytesFromCache: number; bytesFromOrigin: number };

export interface OpsStore {
  createToken(token: { name: string; scope: "read" | "admin"; tokenSha256: string; hint: string; nowMs: number }): Promise<ApiTokenRow>;
  listTokens(): Promise<ApiTokenRow[]>;
  /** The live token with this sha256, or null (revoked tokens are deleted). */
  tokenBySha256(tokenSha256: string): Promise<ApiTokenRow | null>;
  /** Delete by name; false when there is none. */
  revokeToken(name: string): Promise<boolean>;
  /** Record last-use times (batched by the caller). */
  touchTokens(uses: ReadonlyMap<number, number>): Promise<void>;

  recordEvents(events: readonly NewEvent[]): Promise<void>;
  /** Newest first; `beforeId` pages back. */
  listEvents(options: { limit: number; beforeId?: number; kind?: string }): Promise<EventRow[]>;
  /** Delete events older than `beforeMs`; returns how many went. */
  pruneEvents(beforeMs: number): Promise<number>;

  /** Add the deltas to their hours' buckets (one transaction). */
  addTraffic(buckets: readonly HourlyTraffic[]): Promise<void>;
  /** Buckets from `sinceMs` on (hour starts), oldest first. */
  trafficSince(sinceMs: number): Promise<HourlyTraffic[]>;
  /** Sum of every bucket ever written. */
  trafficTotal(): Promise<Omit<HourlyTraffic, "hourMs">>;
  /** The artifacts that saved the most origin bytes (hits × size: a hit is a whole download). */
  topArtifactsBySaved(limit: number): Promise<Array<{ key: string; url: string; sizeBytes: number; hits: number; bytesSaved: number }>>;
}
