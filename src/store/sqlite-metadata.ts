// The embedded MetadataStore: SQLite in WAL mode via bun:sqlite, one writer connection per
// process, numbered migrations (PRAGMA user_version), prepared statements only.
import { Database } from "bun:sqlite";
import { z } from "zod";
import { JOB_STATES, type JobSource, type JobState } from "../core/jobs.ts";
import { assert } from "../core/errors.ts";
import type { EvictionCandidate } from "../core/eviction.ts";
import { KeyHasActiveJob, REVALIDATION_RESULTS, type ArtifactRow, type ArtifactSort, type FreshnessRecord, type JobRow, type ListArtifactsOptions, type MetadataStore, type MissRow, type NewArtifact, type RevalidationResult, type StoredTotals, type Totals } from "./types.ts";
import type { OriginHeaders } from "../core/freshness.ts";

/** Numbered migrations; index + 1 is the user_version after it ran. Never edit a released one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE artifacts (
     key TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     content_type TEXT NOT NULL,
     content_disposition TEXT,
     fetched_at_ms INTEGER NOT NULL,
     last_hit_ms INTEGER,
     hits INTEGER NOT NULL DEFAULT 0,
     misses INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX artifacts_sha256 ON artifacts(sha256);
   CREATE TABLE misses (
     key TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     count INTEGER NOT NULL,
     first_seen_ms INTEGER NOT NULL,
     last_seen_ms INTEGER NOT NULL,
     known_size_bytes INTEGER,
     refusal TEXT
   );
   CREATE TABLE jobs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL,
     url TEXT NOT NULL,
     source TEXT NOT NULL,
     state TEXT NOT NULL,
     bytes_done INTEGER NOT NULL DEFAULT 0,
     total_bytes INTEGER,
     rate_bytes_per_sec REAL NOT NULL DEFAULT 0,
     error TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     not_before_ms INTEGER NOT NULL DEFAULT 0,
     validator TEXT,
     created_at_ms INTEGER NOT NULL,
     started_at_ms INTEGER,
     finished_at_ms INTEGER
   );
   -- One fill per cache key at a time, whatever raw URLs asked for it.
   CREATE UNIQUE INDEX jobs_one_active_per_key ON jobs(key) WHERE state IN ('queued', 'running');
   CREATE INDEX jobs_queue ON jobs(state, not_before_ms, id);`,
  // 2: the latest job of a key (auto-fill holds off after a recent failure).
  `CREATE INDEX jobs_key ON jobs(key, id);`,
  // 3: pruning the least recently seen misses (the table is capped).
  `CREATE INDEX misses_last_seen ON misses(last_seen_ms);`,
  // 4: what a resume may trust after a machine crash: the fsynced prefix of the temp file and the
  // boot the rest was written in (page-cache bytes survive a process crash, not a reboot).
  `ALTER TABLE jobs ADD COLUMN synced_bytes INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE jobs ADD COLUMN boot_id TEXT;`,
  // 5: whether the fill followed a redirect (hits then say so, and the shims serve them only to
  // a tool that would follow it too). Rows filled before this are taken as not redirected.
  `ALTER TABLE artifacts ADD COLUMN redirected INTEGER NOT NULL DEFAULT 0;`,
  // 6: operator sessions logged out before they expire. A copied cookie must stay refused after
  // a restart; a row is useless (and pruned) once its session would have expired anyway.
  `CREATE TABLE IF NOT EXISTS revoked_sessions (
     id TEXT PRIMARY KEY,
     expires_at_ms INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS revoked_sessions_expiry ON revoked_sessions(expires_at_ms);`,
  // 7: freshness. The origin headers a lifetime is computed from (JSON; NULL for rows filled
  // before: stale, no validator, refetched and compared on first use), the last revalidation,
  // and URLs the origin will not let us store.
  `ALTER TABLE artifacts ADD COLUMN origin_headers TEXT;
   ALTER TABLE artifacts ADD COLUMN request_at_ms INTEGER;
   ALTER TABLE artifacts ADD COLUMN response_at_ms INTEGER;
   ALTER TABLE artifacts ADD COLUMN revalidated_at_ms INTEGER;
   ALTER TABLE artifacts ADD COLUMN revalidation TEXT;
   ALTER TABLE artifacts ADD COLUMN revalidation_detail TEXT;
   ALTER TABLE artifacts ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE misses ADD COLUMN uncacheable_until_ms INTEGER;`,
  // 8: operations. API tokens (only their sha256 is kept), the audit log, and traffic counted per
  // hour (the dashboard's numbers survive a restart without keeping a row per request).
  `CREATE TABLE api_tokens (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     scope TEXT NOT NULL,
     token_sha256 TEXT NOT NULL UNIQUE,
     hint TEXT NOT NULL,
     created_at_ms INTEGER NOT NULL,
     last_used_ms INTEGER
   );
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at_ms INTEGER NOT NULL,
     kind TEXT NOT NULL,
     actor TEXT NOT NULL,
     client TEXT NOT NULL,
     outcome TEXT NOT NULL,
     detail TEXT NOT NULL
   );
   CREATE INDEX events_at ON events(at_ms);
   CREATE INDEX events_kind ON events(kind, id);
   CREATE TABLE traffic_hourly (
     hour_ms INTEGER PRIMARY KEY,
     hits INTEGER NOT NULL DEFAULT 0,
     misses INTEGER NOT NULL DEFAULT 0,
     bytes_from_cache INTEGER NOT NULL DEFAULT 0,
     bytes_from_origin INTEGER NOT NULL DEFAULT 0
   );`,
  // 9: the API pages artifacts by each sort (keyset: sort value, then key) without a table scan.
  `CREATE INDEX IF NOT EXISTS artifacts_by_size ON artifacts(size_bytes, key);
   CREATE INDEX IF NOT EXISTS artifacts_by_hits ON artifacts(hits, key);
   CREATE INDEX IF NOT EXISTS artifacts_by_last_hit ON artifacts(coalesce(last_hit_ms, 0), key);
   CREATE INDEX IF NOT EXISTS artifacts_by_fetched ON artifacts(fetched_at_ms, key);
   CREATE INDEX IF NOT EXISTS artifacts_by_url ON artifacts(url, key);`,
  // 10: running totals of the artifacts table, kept by triggers, so totals() (the dashboard,
  // /metrics, the eviction check after every fill) reads one row instead of scanning: the scan
  // with its GROUP BY sha256 took 0.5-1.5 s at 100,000 artifacts. A blob's bytes count once, when
  // its first artifact row arrives and when its last one goes (rows of one sha256 have one size:
  // the sha256 is of the bytes). The sha256 index makes each check O(log n). Seeded by one scan.
  `CREATE TABLE artifact_totals (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     artifact_count INTEGER NOT NULL,
     logical_bytes INTEGER NOT NULL,
     blob_bytes INTEGER NOT NULL
   );
   INSERT INTO artifact_totals (id, artifact_count, logical_bytes, blob_bytes)
     SELECT 1, (SELECT count(*) FROM artifacts), (SELECT coalesce(sum(size_bytes), 0) FROM artifacts),
       (SELECT coalesce(sum(size_bytes), 0) FROM (SELECT max(size_bytes) AS size_bytes FROM artifacts GROUP BY sha256));
   CREATE TRIGGER artifact_totals_insert AFTER INSERT ON artifacts BEGIN
     UPDATE artifact_totals SET artifact_count = artifact_count + 1, logical_bytes = logical_bytes + new.size_bytes,
       blob_bytes = blob_bytes + CASE WHEN EXISTS (SELECT 1 FROM artifacts WHERE sha256 = new.sha256 AND key <> new.key) THEN 0 ELSE new.size_bytes END
     WHERE id = 1;
   END;
   CREATE TRIGGER artifact_totals_delete AFTER DELETE ON artifacts BEGIN
     UPDATE artifact_totals SET artifact_count = artifact_count - 1, logical_bytes = logical_bytes - old.size_bytes,
       blob_bytes = blob_bytes - CASE WHEN EXISTS (SELECT 1 FROM artifacts WHERE sha256 = old.sha256) THEN 0 ELSE old.size_bytes END
     WHERE id = 1;
   END;
   CREATE TRIGGER artifact_totals_update AFTER UPDATE OF sha256, size_bytes ON artifacts
     WHEN old.sha256 IS NOT new.sha256 OR old.size_bytes IS NOT new.size_bytes BEGIN
     UPDATE artifact_totals SET logical_bytes = logical_bytes - old.size_bytes + new.size_bytes,
       blob_bytes = blob_bytes
         - CASE WHEN old.sha256 IS NOT new.sha256 AND NOT EXISTS (SELECT 1 FROM artifacts WHERE sha256 = old.sha256) THEN old.size_bytes ELSE 0 END
         + CASE WHEN EXISTS (SELECT 1 FROM artifacts WHERE sha256 = new.sha256 AND key <> new.key) THEN 0
                WHEN old.sha256 IS NOT new.sha256 THEN new.size_bytes ELSE new.size_bytes - old.size_bytes END
     WHERE id = 1;
   END;`,
];

/**
 * Recorded misses kept; past it the least recently seen are pruned. A flood of unique URLs from
 * one client must not grow the database without bound; 100k rows are ~30 MB at most.
 */
/** The schema version this build migrates to (PRAGMA user_version). */
export const SCHEMA_VERSION = MIGRATIONS.length;

export const MISSES_MAX = 100_000;
/** Finished jobs kept (the UI's history); older ones are pruned the same way. */
export const FINISHED_JOBS_MAX = 10_000;
/**
 * Revoked sessions kept; past it the ones closest to expiry are dropped. Every row needs a login
 * with the admin password and lives at most a session lifetime (7 days), so this is never reached
 * by operators; it only bounds the table.
 */
export const REVOKED_SESSIONS_MAX = 10_000;
/** Pruning runs once per this many inserts, so the tables exceed their cap by at most this. */
const PRUNE_EVERY = 1024;
/**
 * Artifact rows (and "no such row" answers) kept in memory for the read path, least recently
 * used dropped first. A row is ~300 bytes, so the cache stays around 3 MB.
 */
export const ARTIFACT_CACHE_MAX = 10_000;
/**
 * Misses are counted in memory and written in one transaction this long after the first
 * unwritten one (a miss used to cost a write transaction of its own). A crash loses at most
 * this much of the miss counts.
 */
export const MISS_FLUSH_DELAY_MS = 50;
/** Distinct keys with unwritten miss counts; a new key past it writes the buffer at once. */
export const MISS_BUFFER_MAX = 4096;

/** Miss counts not yet in the database, per key. */
type PendingMiss = { url: string; count: number; firstSeenMs: number; lastSeenMs: number };

const ArtifactDb = z.object({
  key: z.string(),
  url: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size_bytes: z.number().int().min(0),
  content_type: z.string(),
  content_disposition: z.string().nullable(),
  fetched_at_ms: z.number(),
  last_hit_ms: z.number().nullable(),
  hits: z.number().int(),
  misses: z.number().int(),
  redirected: z.union([z.literal(0), z.literal(1)]),
  origin_headers: z.string().nullable(),
  request_at_ms: z.number().nullable(),
  response_at_ms: z.number().nullable(),
  revalidated_at_ms: z.number().nullable(),
  revalidation: z.enum(REVALIDATION_RESULTS).nullable(),
  revalidation_detail: z.string().nullable(),
  superseded: z.union([z.literal(0), z.literal(1)]),
});
const HeaderValue = z.string().nullable();
/** Stored origin headers; a row whose JSON does not parse is treated as having none (stale, no validator). */
const OriginHeadersDb = z.strictObject({ date: HeaderValue, cacheControl: HeaderValue, expires: HeaderValue, etag: HeaderValue, lastModified: HeaderValue, age: HeaderValue });

function originHeadersFrom(json: string | null): OriginHeaders | null {
  if (json === null) return null;
  try {
    const parsed = OriginHeadersDb.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
const MissDb = z.object({
  key: z.string(),
  url: z.string(),
  count: z.number().int(),
  first_seen_ms: z.number(),
  last_seen_ms: z.number(),
  known_size_bytes: z.number().nullable(),
  refusal: z.string().nullable(),
  uncacheable_until_ms: z.number().nullable(),
});
const JobDb = z.object({
  id: z.number().int(),
  key: z.string(),
  url: z.string(),
  source: z.enum(["auto", "operator"]),
  state: z.enum(JOB_STATES),
  bytes_done: z.number(),
  total_bytes: z.number().nullable(),
  rate_bytes_per_sec: z.number(),
  error: z.string().nullable(),
  attempts: z.number().int(),
  not_before_ms: z.number(),
  validator: z.string().nullable(),
  synced_bytes: z.number().int().min(0),
  boot_id: z.string().nullable(),
  created_at_ms: z.number(),
  started_at_ms: z.number().nullable(),
  finished_at_ms: z.number().nullable(),
});

function toArtifact(row: unknown): ArtifactRow {
  const r = ArtifactDb.parse(row);
  return {
    key: r.key,
    url: r.url,
    sha256: r.sha256,
    sizeBytes: r.size_bytes,
    contentType: r.content_type,
    contentDisposition: r.content_disposition,
    fetchedAtMs: r.fetched_at_ms,
    lastHitMs: r.last_hit_ms,
    hits: r.hits,
    misses: r.misses,
    redirected: r.redirected === 1,
    originHeaders: originHeadersFrom(r.origin_headers),
    requestAtMs: r.request_at_ms,
    responseAtMs: r.response_at_ms,
    revalidatedAtMs: r.revalidated_at_ms,
    revalidation: r.revalidation,
    revalidationDetail: r.revalidation_detail,
    superseded: r.superseded === 1,
  };
}
function toMiss(row: unknown): MissRow {
  const r = MissDb.parse(row);
  return { key: r.key, url: r.url, count: r.count, firstSeenMs: r.first_seen_ms, lastSeenMs: r.last_seen_ms, knownSizeBytes: r.known_size_bytes, refusal: r.refusal, uncacheableUntilMs: r.uncacheable_until_ms };
}
function toJob(row: unknown): JobRow {
  const r = JobDb.parse(row);
  return {
    id: r.id,
    key: r.key,
    url: r.url,
    source: r.source,
    state: r.state,
    bytesDone: r.bytes_done,
    totalBytes: r.total_bytes,
    rateBytesPerSec: r.rate_bytes_per_sec,
    error: r.error,
    attempts: r.attempts,
    notBeforeMs: r.not_before_ms,
    validator: r.validator,
    syncedBytes: r.synced_bytes,
    bootId: r.boot_id,
    createdAtMs: r.created_at_ms,
    startedAtMs: r.started_at_ms,
    finishedAtMs: r.finished_at_ms,
  };
}

/** Fixed ORDER BY fragments per sort: chosen from this table, never built from input. */
const ORDER: Record<ArtifactSort, { column: string; defaultDirection: "asc" | "desc" }> = {
  size: { column: "size_bytes", defaultDirection: "desc" },
  hits: { column: "hits", defaultDirection: "desc" },
  lastHit: { column: "coalesce(last_hit_ms, 0)", defaultDirection: "desc" },
  fetchedAt: { column: "fetched_at_ms", defaultDirection: "desc" },
  url: { column: "url", defaultDirection: "asc" },
};

/** updateJob's patch fields and their columns (the same in the PostgreSQL schema). */
export const JOB_COLUMNS: Record<string, string> = {
  state: "state",
  bytesDone: "bytes_done",
  totalBytes: "total_bytes",
  rateBytesPerSec: "rate_bytes_per_sec",
  error: "error",
  attempts: "attempts",
  notBeforeMs: "not_before_ms",
  validator: "validator",
  syncedBytes: "synced_bytes",
  bootId: "boot_id",
  startedAtMs: "started_at_ms",
  finishedAtMs: "finished_at_ms",
};

/** The tables a shared store mirrors into its in-memory view, and each one's key column. */
export const SHARED_TABLES = {
  artifacts: { keyColumn: "key" },
  misses: { keyColumn: "key" },
  jobs: { keyColumn: "id" },
  revoked_sessions: { keyColumn: "id" },
} as const;
export type SharedTable = keyof typeof SHARED_TABLES;

export class SqliteMetadataStore implements MetadataStore {
  readonly db: Database;
  private readonly limits: { missesMax: number; finishedJobsMax: number };
  private missInserts = 0;
  private jobInserts = 0;
  /**
   * Read-through cache of artifact rows by key (null: no row). Every write of a row goes through
   * this class and updates or drops its entry. Map order is recency: a read moves the key last.
   */
  private readonly artifactCache = new Map<string, Readonly<ArtifactRow> | null>();
  private pendingMisses = new Map<string, PendingMiss>();
  private missFlushTimer: ReturnType<typeof setTimeout> | null = null;
  /** A background miss write that failed; the next recordMiss throws it (the caller logs it). */
  private missFlushError: unknown = null;
  private closed = false;

  constructor(path: string, limits: { missesMax?: number; finishedJobsMax?: number } = {}) {
    this.limits = { missesMax: limits.missesMax ?? MISSES_MAX, finishedJobsMax: limits.finishedJobsMax ?? FINISHED_JOBS_MAX };
    this.db = new Database(path, { create: true, strict: true });
    this.db.run("PRAGMA journal_mode = WAL");
    this.db.run("PRAGMA synchronous = NORMAL"); // WAL + NORMAL: durable across process crashes
    this.db.run("PRAGMA busy_timeout = 5000");
    this.db.run("PRAGMA foreign_keys = ON");
    this.migrate();
  }

  private migrate(): void {
    const row = this.db.query("PRAGMA user_version").get() as { user_version: number };
    const current = row.user_version;
    assert(current <= MIGRATIONS.length, `database schema ${current} is newer than this withcache (${MIGRATIONS.length})`);
    for (let v = current; v < MIGRATIONS.length; v += 1) {
      this.db.transaction(() => {
        this.db.run(MIGRATIONS[v]!);
        this.db.run(`PRAGMA user_version = ${v + 1}`);
      }).immediate();
    }
  }

  /**
   * The view a shared store (pg-metadata.ts) keeps in memory: make these rows of `table` what the
   * shared database holds now; a key with `null` is gone. Rows come with the shared columns under
   * their SQLite names (booleans as 0/1); columns SQLite does not have are ignored. One
   * transaction; upserts, so the totals triggers see every change.
   */
  applySharedRows(table: SharedTable, rows: ReadonlyArray<{ key: string | number; row: Record<string, unknown> | null }>): void {
    if (rows.length === 0) return;
    const spec = SHARED_TABLES[table];
    const columns = (this.sharedColumns[table] ??= (this.db.query(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
    const upserts = new Map<string, ReturnType<Database["query"]>>();
    const remove = this.db.query(`DELETE FROM ${table} WHERE ${spec.keyColumn} = $key`);
    this.db.transaction(() => {
      for (const { key, row } of rows) {
        if (table === "artifacts") this.forgetArtifact(String(key));
        if (row === null) {
          remove.run({ key });
          continue;
        }
        const present = columns.filter((c) => c in row);
        const shape = present.join(",");
        let upsert = upserts.get(shape);
        if (upsert === undefined) {
          const updates = present.filter((c) => c !== spec.keyColumn).map((c) => `${c} = excluded.${c}`);
          upsert = this.db.query(
            `INSERT INTO ${table} (${present.join(", ")}) VALUES (${present.map((c) => `$${c}`).join(", ")})
             ON CONFLICT(${spec.keyColumn}) DO ${updates.length === 0 ? "NOTHING" : `UPDATE SET ${updates.join(", ")}`}`,
          );
          upserts.set(shape, upsert);
        }
        upsert.run(Object.fromEntries(present.map((c) => [c, row[c] as string | number | null])));
      }
    }).immediate();
  }

  private readonly sharedColumns: Partial<Record<SharedTable, string[]>> = {};

  getArtifact(key: string): ArtifactRow | null {
    const cached = this.artifactCache.get(key);
    if (cached !== undefined) {
      // Move to the most recent end (Map iteration order is insertion order).
      this.artifactCache.delete(key);
      this.artifactCache.set(key, cached);
      return cached;
    }
    const row = this.db.query("SELECT * FROM artifacts WHERE key = $key").get({ key });
    const artifact = row ? Object.freeze(toArtifact(row)) : null;
    this.cacheArtifact(key, artifact);
    return artifact;
  }

  private cacheArtifact(key: string, artifact: Readonly<ArtifactRow> | null): void {
    if (this.closed) return;
    if (this.artifactCache.size >= ARTIFACT_CACHE_MAX) {
      const oldest = this.artifactCache.keys().next();
      if (!oldest.done) this.artifactCache.delete(oldest.value);
    }
    this.artifactCache.set(key, artifact);
  }

  /** Drop a cached row (its row was written); the next read goes to the database. */
  private forgetArtifact(key: string): void {
    this.artifactCache.delete(key);
  }

  recordHit(key: string, nowMs: number): void {
    const changes = this.db.query("UPDATE artifacts SET hits = hits + 1, last_hit_ms = max(coalesce(last_hit_ms, 0), $now) WHERE key = $key").run({ key, now: nowMs }).changes;
    const cached = this.artifactCache.get(key);
    if (cached === undefined) return;
    // Keep the cached counters what the database now holds (a new object: rows handed out are snapshots).
    if (cached !== null && changes === 1) this.artifactCache.set(key, Object.freeze({ ...cached, hits: cached.hits + 1, lastHitMs: Math.max(cached.lastHitMs ?? 0, nowMs) }));
    else this.forgetArtifact(key);
  }

  /**
   * Count a miss in memory; the counts reach the database within MISS_FLUSH_DELAY_MS, before any
   * read of misses or totals, before an artifact of the key is committed, and on close.
   */
  recordMiss(miss: { key: string; url: string; nowMs: number }): void {
    assert(!this.closed, "recordMiss: the metadata store is closed");
    const pending = this.pendingMisses.get(miss.key);
    if (pending) {
      pending.count += 1;
      pending.lastSeenMs = Math.max(pending.lastSeenMs, miss.nowMs);
    } else {
      // A full buffer is written first; if that fails this miss is not counted (the error says why).
      if (this.pendingMisses.size >= MISS_BUFFER_MAX) this.flushMisses();
      this.pendingMisses.set(miss.key, { url: miss.url, count: 1, firstSeenMs: miss.nowMs, lastSeenMs: miss.nowMs });
    }
    if (this.missFlushTimer === null) {
      this.missFlushTimer = setTimeout(() => this.flushMissesInBackground(), MISS_FLUSH_DELAY_MS);
      this.missFlushTimer.unref?.();
    }
    if (this.missFlushError !== null) {
      const err = this.missFlushError;
      this.missFlushError = null;
      throw err;
    }
  }

  private flushMissesInBackground(): void {
    this.missFlushTimer = null;
    try {
      this.flushMisses();
    } catch (err) {
      // Kept for the next recordMiss to report; the counts stay buffered and are retried then.
      this.missFlushError = err;
    }
  }

  /** Write the buffered miss counts in one transaction. Throws (keeping the buffer) when the write fails. */
  flushMisses(): void {
    if (this.pendingMisses.size === 0) return;
    const batch = this.pendingMisses;
    this.db.transaction(() => this.writeMisses(batch)).immediate();
    if (this.pendingMisses === batch) this.pendingMisses = new Map();
  }

  /** Flush before a read of misses; a failing write (full disk) leaves the read slightly behind. */
  private flushMissesForRead(): void {
    try {
      this.flushMisses();
    } catch {
      // The counts stay buffered; recordMiss reports write errors.
    }
  }

  /** The writes of a batch, inside the caller's transaction. */
  private writeMisses(batch: ReadonlyMap<string, PendingMiss>): void {
    const upsert = this.db.query(
      `INSERT INTO misses (key, url, count, first_seen_ms, last_seen_ms) VALUES ($key, $url, $count, $first, $last)
       ON CONFLICT(key) DO UPDATE SET count = count + $count, last_seen_ms = max(last_seen_ms, $last)`,
    );
    for (const [key, m] of batch) {
      upsert.run({ key, url: m.url, count: m.count, first: m.firstSeenMs, last: m.lastSeenMs });
      // Pruning still runs once per PRUNE_EVERY recorded misses, where the count crosses it.
      const before = Math.floor(this.missInserts / PRUNE_EVERY);
      this.missInserts += m.count;
      if (Math.floor(this.missInserts / PRUNE_EVERY) !== before) this.pruneMissRows();
    }
  }

  private pruneMissRows(): number {
    // The cut-off time from the index, then a range delete: ~10x cheaper than DELETE … IN (… OFFSET).
    const cut = this.db
      .query("SELECT last_seen_ms AS t FROM misses INDEXED BY misses_last_seen ORDER BY last_seen_ms DESC LIMIT 1 OFFSET $max")
      .get({ max: this.limits.missesMax }) as { t: number } | null;
    if (!cut) return 0;
    return this.db.query("DELETE FROM misses WHERE last_seen_ms <= $t").run({ t: cut.t }).changes;
  }

  /** Drop the oldest finished jobs past the cap; queued and running jobs are never touched. */
  pruneFinishedJobs(): number {
    return this.db
      .query(
        `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('completed', 'failed', 'cancelled')
           ORDER BY id DESC LIMIT -1 OFFSET $max)`,
      )
      .run({ max: this.limits.finishedJobsMax }).changes;
  }

  activeJobCounts(): { queued: number; running: number } {
    // Index range counts on jobs_queue (state first): the cost is the queue's length, not the history's.
    const q = this.db.query("SELECT count(*) AS n FROM jobs WHERE state = 'queued'").get() as { n: number };
    const r = this.db.query("SELECT count(*) AS n FROM jobs WHERE state = 'running'").get() as { n: number };
    return { queued: q.n, running: r.n };
  }

  countJobs(states: readonly JobState[]): number {
    return (this.db.query("SELECT count(*) AS n FROM jobs WHERE state IN (SELECT value FROM json_each($states))").get({ states: JSON.stringify(states) }) as { n: number }).n;
  }

  evictionCandidates(): EvictionCandidate[] {
    return (
      // Superseded bytes are never served again: they go first.
      this.db.query("SELECT key, sha256, size_bytes, CASE WHEN superseded = 1 THEN 0 ELSE coalesce(last_hit_ms, fetched_at_ms) END AS recency FROM artifacts").all() as Array<{
        key: string;
        sha256: string;
        size_bytes: number;
        recency: number;
      }>
    ).map((r) => ({ key: r.key, sha256: r.sha256, sizeBytes: r.size_bytes, recencyMs: r.recency }));
  }

  async setMissInfo(key: string, info: { refusal?: string | null; knownSizeBytes?: number | null }): Promise<void> {
    if (this.pendingMisses.has(key)) this.flushMisses();
    if (info.refusal !== undefined) this.db.query("UPDATE misses SET refusal = $v WHERE key = $key").run({ key, v: info.refusal });
    if (info.knownSizeBytes !== undefined) this.db.query("UPDATE misses SET known_size_bytes = $v WHERE key = $key").run({ key, v: info.knownSizeBytes });
  }

  async markUncacheable(mark: { key: string; url: string; reason: string; untilMs: number; nowMs: number }): Promise<void> {
    if (this.pendingMisses.has(mark.key)) this.flushMisses();
    this.db
      .query(
        `INSERT INTO misses (key, url, count, first_seen_ms, last_seen_ms, refusal, uncacheable_until_ms) VALUES ($key, $url, 0, $now, $now, $reason, $until)
         ON CONFLICT(key) DO UPDATE SET refusal = $reason, uncacheable_until_ms = $until`,
      )
      .run({ key: mark.key, url: mark.url, now: mark.nowMs, reason: mark.reason, until: mark.untilMs });
  }

  uncacheableMark(key: string): { reason: string; untilMs: number } | null {
    const row = this.db.query("SELECT refusal, uncacheable_until_ms AS until FROM misses WHERE key = $key AND uncacheable_until_ms IS NOT NULL").get({ key }) as {
      refusal: string | null;
      until: number;
    } | null;
    return row === null ? null : { reason: row.refusal ?? "the origin would not let it be stored", untilMs: row.until };
  }

  async refreshArtifact(key: string, r: FreshnessRecord & { atMs: number; result: RevalidationResult; detail: string }): Promise<void> {
    this.forgetArtifact(key);
    this.db
      .query(
        `UPDATE artifacts SET origin_headers = $headers, request_at_ms = $req, response_at_ms = $res, revalidated_at_ms = $at,
           revalidation = $result, revalidation_detail = $detail WHERE key = $key AND superseded = 0`,
      )
      .run({ key, headers: r.originHeaders === null ? null : JSON.stringify(r.originHeaders), req: r.requestAtMs, res: r.responseAtMs, at: r.atMs, result: r.result, detail: r.detail });
    this.forgetArtifact(key);
  }

  async noteRevalidation(key: string, note: { atMs: number; result: RevalidationResult; detail: string; superseded?: boolean }): Promise<void> {
    this.forgetArtifact(key);
    this.db
      .query(
        `UPDATE artifacts SET revalidated_at_ms = $at, revalidation = $result, revalidation_detail = $detail,
           superseded = max(superseded, $superseded) WHERE key = $key`,
      )
      .run({ key, at: note.atMs, result: note.result, detail: note.detail, superseded: note.superseded === true ? 1 : 0 });
    this.forgetArtifact(key);
  }

  listMisses(options: { limit?: number; offset?: number; after?: { lastSeenMs: number; key: string } } = {}): MissRow[] {
    this.flushMissesForRead();
    const page = { limit: options.limit ?? 1000, offset: options.offset ?? 0 };
    if (options.after === undefined) return this.db.query("SELECT * FROM misses ORDER BY last_seen_ms DESC, key LIMIT $limit OFFSET $offset").all(page).map(toMiss);
    return this.db
      .query("SELECT * FROM misses WHERE last_seen_ms <= $v AND (last_seen_ms < $v OR key > $k) ORDER BY last_seen_ms DESC, key LIMIT $limit OFFSET $offset")
      .all({ ...page, v: options.after.lastSeenMs, k: options.after.key })
      .map(toMiss);
  }

  getMiss(key: string): MissRow | null {
    if (this.pendingMisses.has(key)) this.flushMissesForRead();
    const row = this.db.query("SELECT * FROM misses WHERE key = $key").get({ key });
    return row ? toMiss(row) : null;
  }

  async dismissMiss(key: string): Promise<boolean> {
    if (this.pendingMisses.has(key)) this.flushMisses();
    return this.db.query("DELETE FROM misses WHERE key = $key").run({ key }).changes > 0;
  }

  listArtifacts(options: ListArtifactsOptions = {}): ArtifactRow[] {
    const order = ORDER[options.sort ?? "fetchedAt"];
    const direction = (options.direction ?? order.defaultDirection) === "asc" ? "ASC" : "DESC";
    const filter = options.filter?.trim() ?? "";
    const pattern = `%${filter.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // Keyset: rows after (value, key) in "column direction, key ascending" order; `column <= v`
    // (or >=) first so the index on the column bounds the scan.
    const after = options.after;
    const [outer, inner] = direction === "DESC" ? ["<=", "<"] : [">=", ">"];
    const keyset = after === undefined ? "" : `AND ${order.column} ${outer} $v AND (${order.column} ${inner} $v OR key > $k)`;
    return this.db
      .query(
        `SELECT * FROM artifacts WHERE ($pattern = '%%' OR lower(url) LIKE $pattern ESCAPE '\\' OR lower(key) LIKE $pattern ESCAPE '\\') ${keyset}
         ORDER BY ${order.column} ${direction}, key LIMIT $limit OFFSET $offset`,
      )
      .all({ pattern, limit: options.limit ?? 1000, offset: options.offset ?? 0, ...(after === undefined ? {} : { v: after.value, k: after.key }) })
      .map(toArtifact);
  }

  async commitArtifact(a: NewArtifact, confirmBlob?: () => Promise<void>): Promise<{ replacedSha256: string | null }> {
    // One process owns the data dir: nothing else deletes the blob between this check and the row.
    await confirmBlob?.();
    // Buffered misses go in the same transaction, so the key's whole count moves into the artifact.
    const batch = this.pendingMisses;
    this.forgetArtifact(a.key);
    const result = this.db
      .transaction(() => {
        if (batch.size > 0) this.writeMisses(batch);
        const previous = this.db.query("SELECT sha256 FROM artifacts WHERE key = $key").get({ key: a.key }) as { sha256: string } | null;
        const miss = this.db.query("SELECT count FROM misses WHERE key = $key").get({ key: a.key }) as { count: number } | null;
        this.db
          .query(
            `INSERT INTO artifacts (key, url, sha256, size_bytes, content_type, content_disposition, fetched_at_ms, misses, redirected,
               origin_headers, request_at_ms, response_at_ms, revalidated_at_ms, revalidation, revalidation_detail, superseded)
             VALUES ($key, $url, $sha256, $size, $type, $disposition, $fetched, $misses, $redirected,
               $headers, $req, $res, $revalidatedAt, $revalidation, $detail, 0)
             ON CONFLICT(key) DO UPDATE SET sha256 = $sha256, size_bytes = $size, content_type = $type,
               content_disposition = $disposition, fetched_at_ms = $fetched, misses = misses + $misses,
               redirected = $redirected, origin_headers = $headers, request_at_ms = $req, response_at_ms = $res,
               revalidated_at_ms = coalesce($revalidatedAt, revalidated_at_ms), revalidation = coalesce($revalidation, revalidation),
               revalidation_detail = coalesce($detail, revalidation_detail), superseded = 0`,
          )
          .run({
            key: a.key,
            url: a.url,
            sha256: a.sha256,
            size: a.sizeBytes,
            type: a.contentType,
            disposition: a.contentDisposition,
            fetched: a.fetchedAtMs,
            misses: miss?.count ?? 0,
            redirected: a.redirected === true ? 1 : 0,
            headers: a.freshness?.originHeaders ? JSON.stringify(a.freshness.originHeaders) : null,
            req: a.freshness?.requestAtMs ?? null,
            res: a.freshness?.responseAtMs ?? null,
            revalidatedAt: a.revalidation?.atMs ?? null,
            revalidation: a.revalidation?.result ?? null,
            detail: a.revalidation?.detail ?? null,
          });
        this.db.query("DELETE FROM misses WHERE key = $key").run({ key: a.key });
        const replaced = previous && previous.sha256 !== a.sha256 ? previous.sha256 : null;
        return { replacedSha256: replaced };
      })
      .immediate();
    if (batch.size > 0 && this.pendingMisses === batch) this.pendingMisses = new Map();
    this.forgetArtifact(a.key);
    return result;
  }

  async deleteArtifactRow(key: string): Promise<{ sha256: string; shared: boolean } | null> {
    this.forgetArtifact(key);
    const result = this.db
      .transaction(() => {
        const row = this.db.query("SELECT sha256 FROM artifacts WHERE key = $key").get({ key }) as { sha256: string } | null;
        if (!row) return null;
        this.db.query("DELETE FROM artifacts WHERE key = $key").run({ key });
        return { sha256: row.sha256, shared: this.countArtifactsWithSha(row.sha256) > 0 };
      })
      .immediate();
    this.forgetArtifact(key);
    return result;
  }

  countArtifactsWithSha(sha256: string): number {
    return (this.db.query("SELECT count(*) AS n FROM artifacts WHERE sha256 = $sha256").get({ sha256 }) as { n: number }).n;
  }

  artifactsWithSha(sha256: string): ArtifactRow[] {
    return this.db.query("SELECT * FROM artifacts WHERE sha256 = $sha256 ORDER BY key").all({ sha256 }).map(toArtifact);
  }

  referencedShas(): Set<string> {
    return new Set((this.db.query("SELECT DISTINCT sha256 FROM artifacts").all() as Array<{ sha256: string }>).map((r) => r.sha256));
  }

  totals(): Totals {
    this.flushMissesForRead();
    const m = this.db.query("SELECT count(*) AS n FROM misses").get() as { n: number };
    return { ...this.storedTotals(), missCount: m.n };
  }

  storedTotals(): StoredTotals {
    // One row kept by triggers (migration 10), whatever the number of artifacts.
    const t = this.db.query("SELECT artifact_count, logical_bytes, blob_bytes FROM artifact_totals WHERE id = 1").get() as { artifact_count: number; logical_bytes: number; blob_bytes: number } | null;
    assert(t !== null, "artifact_totals has its row");
    return { artifactCount: t.artifact_count, bytes: t.blob_bytes, logicalBytes: t.logical_bytes };
  }

  async insertJob(job: { key: string; url: string; source: JobSource; nowMs: number }): Promise<{ job: JobRow; existing: boolean }> {
    let row: unknown;
    try {
      row = this.db
        .query(`INSERT INTO jobs (key, url, source, state, created_at_ms) VALUES ($key, $url, $source, 'queued', $now) RETURNING *`)
        .get({ key: job.key, url: job.url, source: job.source, now: job.nowMs });
    } catch (err) {
      // jobs_one_active_per_key: the key has a queued or running job already; that one is the answer.
      const active = isUniqueViolation(err) ? this.activeJobForKey(job.key) : null;
      if (active === null) throw err;
      return { job: active, existing: true };
    }
    this.jobInserts += 1;
    if (this.jobInserts % PRUNE_EVERY === 0) this.pruneFinishedJobs();
    return { job: toJob(row), existing: false };
  }

  getJob(id: number): JobRow | null {
    const row = this.db.query("SELECT * FROM jobs WHERE id = $id").get({ id });
    return row ? toJob(row) : null;
  }

  activeJobForKey(key: string): JobRow | null {
    const row = this.db.query("SELECT * FROM jobs WHERE key = $key AND state IN ('queued', 'running')").get({ key });
    return row ? toJob(row) : null;
  }

  latestJobForKey(key: string): JobRow | null {
    const row = this.db.query("SELECT * FROM jobs WHERE key = $key ORDER BY id DESC LIMIT 1").get({ key });
    return row ? toJob(row) : null;
  }

  listJobs(options: { states?: readonly JobState[]; limit?: number } = {}): JobRow[] {
    const states = JSON.stringify(options.states ?? JOB_STATES);
    return this.db
      .query("SELECT * FROM jobs WHERE state IN (SELECT value FROM json_each($states)) ORDER BY id DESC LIMIT $limit")
      .all({ states, limit: options.limit ?? 1000 })
      .map(toJob);
  }

  async claimNextJob(nowMs: number): Promise<JobRow | null> {
    return this.db
      .transaction(() => {
        const row = this.db
          .query("SELECT id FROM jobs WHERE state = 'queued' AND not_before_ms <= $now ORDER BY not_before_ms, id LIMIT 1")
          .get({ now: nowMs }) as { id: number } | null;
        if (!row) return null;
        const claimed = this.db
          .query("UPDATE jobs SET state = 'running', started_at_ms = coalesce(started_at_ms, $now), attempts = attempts + 1 WHERE id = $id RETURNING *")
          .get({ id: row.id, now: nowMs });
        return toJob(claimed);
      })
      .immediate();
  }

  async claimJob(id: number, nowMs: number): Promise<JobRow | null> {
    const row = this.db
      .query("UPDATE jobs SET state = 'running', started_at_ms = coalesce(started_at_ms, $now), attempts = attempts + 1 WHERE id = $id AND state = 'queued' RETURNING *")
      .get({ id, now: nowMs });
    return row ? toJob(row) : null;
  }

  nextQueuedAtMs(): number | null {
    const row = this.db.query("SELECT min(not_before_ms) AS t FROM jobs WHERE state = 'queued'").get() as { t: number | null };
    return row.t;
  }

  async updateJob(id: number, patch: Partial<Omit<JobRow, "id" | "key" | "url" | "source" | "createdAtMs">>, fromStates?: readonly JobState[]): Promise<boolean> {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return fromStates === undefined ? this.getJob(id) !== null : fromStates.includes(this.getJob(id)?.state as JobState);
    // Column names come from the fixed JOB_COLUMNS table; values are bound.
    const sets = entries.map(([k]) => {
      const column = JOB_COLUMNS[k];
      assert(column !== undefined, `updateJob: unknown field ${k}`);
      return `${column} = $${k}`;
    });
    const guard = fromStates === undefined ? "" : " AND state IN (SELECT value FROM json_each($fromStates))";
    const values = { id, ...Object.fromEntries(entries), ...(fromStates === undefined ? {} : { fromStates: JSON.stringify(fromStates) }) } as Record<string, string | number | null>;
    try {
      return this.db.query(`UPDATE jobs SET ${sets.join(", ")} WHERE id = $id${guard}`).run(values).changes > 0;
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeyHasActiveJob(id);
      throw err;
    }
  }

  async requeueRunningJobs(): Promise<number> {
    return this.db.query("UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), rate_bytes_per_sec = 0 WHERE state = 'running'").run().changes;
  }

  async clearFinishedJobs(): Promise<number> {
    return this.db.query("DELETE FROM jobs WHERE state IN ('completed', 'failed', 'cancelled')").run().changes;
  }

  async revokeSession(session: { id: string; expiresAtMs: number; nowMs: number }): Promise<void> {
    this.db.transaction(() => {
      this.db.query("DELETE FROM revoked_sessions WHERE expires_at_ms <= $now").run({ now: session.nowMs });
      this.db.query("INSERT OR REPLACE INTO revoked_sessions (id, expires_at_ms) VALUES ($id, $expires)").run({ id: session.id, expires: session.expiresAtMs });
      this.db
        .query("DELETE FROM revoked_sessions WHERE id IN (SELECT id FROM revoked_sessions ORDER BY expires_at_ms DESC LIMIT -1 OFFSET $max)")
        .run({ max: REVOKED_SESSIONS_MAX });
    }).immediate();
  }

  isSessionRevoked(id: string, nowMs: number): boolean {
    return this.db.query("SELECT 1 AS revoked FROM revoked_sessions WHERE id = $id AND expires_at_ms > $now").get({ id, now: nowMs }) !== null;
  }

  /** Write the buffered miss counts, then close. A failing last write loses those counts only. */
  async close(): Promise<void> {
    if (this.missFlushTimer !== null) clearTimeout(this.missFlushTimer);
    this.missFlushTimer = null;
    this.flushMissesForRead();
    this.closed = true;
    this.artifactCache.clear();
    this.pendingMisses.clear();
    this.db.close();
  }
}

/** SQLite's UNIQUE constraint failure (bun:sqlite: code SQLITE_CONSTRAINT_UNIQUE). */
function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown }).code === "SQLITE_CONSTRAINT_UNIQUE";
}
