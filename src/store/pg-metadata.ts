// The shared MetadataStore: rows in PostgreSQL, read from an in-memory view on each replica.
// The view is an in-memory SQLite database with the embedded schema (so every read, sort and
// page answers exactly as the embedded store does, without a network round trip). It is loaded
// at start and kept true by the changes table: triggers record every change of a mirrored row
// (migration 2), NOTIFY wakes the replicas, and each reads the changes after the last id it saw —
// also after a reconnect, when notifications were lost. A replica's own writes are applied to its
// view as soon as they commit, and catch-up skips the changes they made (each change names its
// replica, migration 3), so a replica's counter flushes cost it no read-back. Hit and miss counts
// are buffered and written as increments, so they add up across replicas. Jobs are leased: a
// claim names this replica and an expiry that the replica renews; a job whose lease ran out goes
// back to the queue for any replica.
import type { SQL } from "bun";
import type { EvictionCandidate } from "../core/eviction.ts";
import type { JobSource, JobState } from "../core/jobs.ts";
import { CHANGES_CHANNEL, CHANGES_LOCK_KEY, lockBlobs, migratePostgres, ORIGIN_SETTING } from "./pg-schema.ts";
import { JOB_COLUMNS, SHARED_TABLES, SqliteMetadataStore, type SharedTable } from "./sqlite-metadata.ts";
import { BlobGone, BlobStoreUnavailable, KeyHasActiveJob, type ArtifactRow, type FreshnessRecord, type JobRow, type ListArtifactsOptions, type MetadataStore, type MissRow, type NewArtifact, type RevalidationResult, type StoredTotals, type Totals } from "./types.ts";

/** How long a claimed job stays leased without a renewal; renewed every third of it. */
export const LEASE_MS = 15_000;
/** Counters are written this long after the first unwritten one. */
const COUNTER_FLUSH_MS = 200;
/** Changes read per query while catching up. */
const CHANGES_PAGE = 5000;
/** Changes older than this are deleted; a replica away longer reloads its whole view. */
const CHANGES_KEEP_MS = 10 * 60_000;
/**
 * Catch-up also runs this often without a notification: after an outage Bun reconnects the pool
 * at once but the LISTEN connection with exponential backoff (seconds), and meanwhile other
 * replicas' commits would go unseen. One indexed query a second that usually returns nothing.
 */
const CHANGES_POLL_MS = 1_000;
/** Maintenance (lease expiry, pruning) runs this often. */
const MAINTENANCE_MS = 5_000;
/** Finished jobs kept, like the embedded store. */
const FINISHED_JOBS_MAX = 10_000;
const MISSES_MAX = 100_000;

/** Columns that are BIGINT in PostgreSQL (they arrive as strings) and numbers in the view. */
const NUMERIC = new Set([
  "size_bytes", "fetched_at_ms", "last_hit_ms", "hits", "misses", "request_at_ms", "response_at_ms", "revalidated_at_ms",
  "count", "first_seen_ms", "last_seen_ms", "known_size_bytes", "uncacheable_until_ms",
  "id", "bytes_done", "total_bytes", "rate_bytes_per_sec", "attempts", "not_before_ms", "synced_bytes", "lease_until_ms", "created_at_ms", "started_at_ms", "finished_at_ms",
  "expires_at_ms",
]);

type PgRow = Record<string, unknown>;

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

/** A PostgreSQL row in the view's shape: BIGINT strings as numbers, booleans as 0/1. */
function viewRow(table: SharedTable, row: PgRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === "boolean") out[k] = v ? 1 : 0;
    // `id` is a number in jobs only (revoked sessions have text ids).
    else if (typeof v === "string" && NUMERIC.has(k) && (k !== "id" || table === "jobs")) out[k] = Number(v);
    else if (typeof v === "bigint") out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

/** Whether a statement failed on a unique index (PostgreSQL 23505), `constraint` when given. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { errno?: unknown; constraint?: unknown };
  return e.errno === "23505" && (constraint === undefined || e.constraint === constraint);
}

/** A failed database call as one line, without the URL (it may carry a password). */
export function databaseError(err: unknown): Error {
  const e = err as { code?: string; errno?: string; message?: string };
  const code = e.code ?? "";
  if (code.startsWith("ERR_POSTGRES_CONNECTION") || code === "ERR_POSTGRES_CONNECTION_TIMEOUT" || /ECONNREFUSED|connection refused|connection closed|failed to connect/i.test(e.message ?? "")) {
    return new Error("the database is unreachable (connection refused or closed)");
  }
  return new Error(`the database refused the request: ${oneLine(e.message ?? String(err))}`);
}

type Tx = SQL;
type Applied = Array<{ table: SharedTable; key: string | number; row: PgRow | null }>;

type PendingMiss = { url: string; count: number; firstSeenMs: number; lastSeenMs: number };

export type PgMetadataOptions = {
  /** Names this process in job leases (unique per process start). */
  replicaId: string;
  nowMs?: () => number;
  leaseMs?: number;
  /** Told when the database becomes unreachable or reachable again (one line, or null). */
  onHealth?: (problem: string | null) => void;
};

export class PgMetadataStore implements MetadataStore {
  private view = new SqliteMetadataStore(":memory:");
  private lastChangeId = 0;
  /** Serialises view updates: a catch-up's rows never overwrite a newer own write. */
  private queue: Promise<unknown> = Promise.resolve();
  private catchUpScheduled = false;
  /**
   * Whether catch-up may skip this replica's own changes. A write that failed may still have
   * committed (the connection broke after COMMIT was sent) without reaching the view, so after a
   * failure own changes are read back like any other until that is settled: "need-write" until a
   * later write commits (it took the changes lock, so the failed one had ended by then, and any
   * change of it has a lower id), then "need-catch-up" until a catch-up after that has run.
   */
  private ownChangesInDoubt: "need-write" | "need-catch-up" | null = null;
  /** What catch-up has done (for tests and diagnostics): changes seen, own changes skipped, rows read back. */
  private readonly catchUpCounts = { changes: 0, ownSkipped: 0, rowsRead: 0 };
  private pendingHits = new Map<string, { count: number; lastMs: number }>();
  private pendingMisses = new Map<string, PendingMiss>();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private maintenanceTimer: ReturnType<typeof setInterval> | null = null;
  private renewTimer: ReturnType<typeof setInterval> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private problem: string | null = null;
  /** Who holds each running job's lease (the view's jobs table has no lease columns). */
  private readonly leaseOwners = new Map<number, string>();
  /** Every replica's advertised URL, by replica id. */
  private replicaUrls = new Map<string, string>();
  private closed = false;
  private readonly nowMs: () => number;
  private readonly leaseMs: number;

  private constructor(
    private readonly sql: SQL,
    private readonly options: PgMetadataOptions,
  ) {
    this.nowMs = options.nowMs ?? Date.now;
    this.leaseMs = options.leaseMs ?? LEASE_MS;
  }

  /** Migrate, load the view, subscribe to changes, start lease renewal and maintenance. */
  static async open(sql: SQL, options: PgMetadataOptions): Promise<PgMetadataStore> {
    await migratePostgres(sql);
    const store = new PgMetadataStore(sql, options);
    await store.reload();
    let first = true;
    const subscription = await sql.listen(
      CHANGES_CHANNEL,
      () => store.scheduleCatchUp(),
      () => {
        // Runs again after every reconnect: notifications sent meanwhile are lost; read the table.
        if (first) first = false;
        else store.scheduleCatchUp(true);
      },
    );
    store.unlisten = () => subscription.unlisten();
    store.renewTimer = setInterval(() => void store.renewLeases(), Math.max(100, Math.floor(store.leaseMs / 3)));
    store.maintenanceTimer = setInterval(() => void store.maintain(), Math.min(MAINTENANCE_MS, store.leaseMs));
    store.pollTimer = setInterval(() => store.scheduleCatchUp(), CHANGES_POLL_MS);
    store.renewTimer.unref?.();
    store.pollTimer.unref?.();
    store.maintenanceTimer.unref?.();
    return store;
  }

  /** What is wrong with the database connection right now (one line), or null. */
  health(): string | null {
    return this.problem;
  }

  private setProblem(problem: string | null): void {
    if (problem === this.problem) return;
    this.problem = problem;
    this.options.onHealth?.(problem);
  }

  /** Run `fn` after every view update queued before it (own writes and catch-ups in order). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * One write transaction: the changes lock first (so no row lock is held while waiting for it:
   * no deadlock with another writer), then `fn`; its returned rows go into the view on commit.
   */
  private write<T>(fn: (tx: Tx, applied: Applied) => Promise<T>, before?: (tx: Tx) => Promise<void>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the metadata store is closed"));
    return this.serial(async () => {
      const applied: Applied = [];
      let result: T;
      try {
        result = await this.sql.begin(async (tx) => {
          // `before` takes its locks ahead of the changes lock: a writer holding the changes lock
          // never waits on one of them, so no cycle.
          if (before) await before(tx as unknown as Tx);
          // The same statement names this replica in the changes the transaction makes (no extra round trip).
          await tx`SELECT pg_advisory_xact_lock(${CHANGES_LOCK_KEY}), set_config(${ORIGIN_SETTING}, ${this.options.replicaId}, true)`;
          return await fn(tx as unknown as Tx, applied);
        });
      } catch (err) {
        // Whatever failed, the transaction may have committed unseen (see ownChangesInDoubt).
        this.ownChangesInDoubt = "need-write";
        // The blob store's own answers (from `before`) reach its caller as they are.
        if (err instanceof BlobGone || err instanceof BlobStoreUnavailable || err instanceof KeyHasActiveJob) throw err;
        const e = databaseError(err);
        if (e.message.startsWith("the database is unreachable")) this.setProblem(e.message);
        throw e;
      }
      this.setProblem(null);
      this.applyToView(applied);
      if (this.ownChangesInDoubt === "need-write") this.ownChangesInDoubt = "need-catch-up";
      return result;
    });
  }

  private applyToView(applied: Applied): void {
    const byTable = new Map<SharedTable, Array<{ key: string | number; row: Record<string, unknown> | null }>>();
    for (const a of applied) {
      const list = byTable.get(a.table) ?? [];
      list.push({ key: a.key, row: a.row === null ? null : viewRow(a.table, a.row) });
      byTable.set(a.table, list);
    }
    for (const [table, rows] of byTable) this.view.applySharedRows(table, rows);
    for (const a of applied) {
      if (a.table !== "jobs") continue;
      const owner = a.row?.state === "running" ? (a.row.lease_owner as string | null) : null;
      if (owner) this.leaseOwners.set(Number(a.key), owner);
      else this.leaseOwners.delete(Number(a.key));
    }
  }

  private async loadReplicas(): Promise<void> {
    const rows = (await this.sql`SELECT id, url FROM replicas`) as Array<{ id: string; url: string }>;
    this.replicaUrls = new Map(rows.map((r) => [r.id, r.url]));
  }

  /** Say where this replica answers (after it listens): other replicas stream its fills from there. */
  async advertise(url: string): Promise<void> {
    await this.sql`INSERT INTO replicas (id, url, started_at_ms) VALUES (${this.options.replicaId}, ${url}, ${this.nowMs()})
      ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url`;
    this.replicaUrls.set(this.options.replicaId, url);
  }

  /** The replica running the fill of `key` when it is another one (and where it answers), else null. */
  remoteFill(key: string): { replicaId: string; url: string } | null {
    const job = this.view.activeJobForKey(key);
    if (job === null || job.state !== "running") return null;
    const owner = this.leaseOwners.get(job.id);
    if (owner === undefined || owner === this.options.replicaId) return null;
    const url = this.replicaUrls.get(owner);
    return url === undefined ? null : { replicaId: owner, url };
  }

  // ---- the view: load, catch up ----

  /** Load every mirrored row into a fresh view, then swap it in. */
  private reload(): Promise<void> {
    return this.serial(async () => {
      const fresh = new SqliteMetadataStore(":memory:");
      const loaded = await this.sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
        const [{ last }] = (await tx`SELECT coalesce(max(id), 0) AS last FROM changes`) as [{ last: string | number }];
        const tables: Array<[SharedTable, PgRow[]]> = [];
        tables.push(["artifacts", await tx`SELECT * FROM artifacts`]);
        tables.push(["misses", await tx`SELECT * FROM misses`]);
        tables.push(["jobs", await tx`SELECT * FROM jobs`]);
        tables.push(["revoked_sessions", await tx`SELECT * FROM revoked_sessions`]);
        return { last: Number(last), tables };
      });
      for (const [table, rows] of loaded.tables) {
        const keyColumn = SHARED_TABLES[table].keyColumn;
        fresh.applySharedRows(table, rows.map((r) => ({ key: r[keyColumn] as string, row: viewRow(table, r) })));
      }
      const old = this.view;
      this.view = fresh;
      this.lastChangeId = loaded.last;
      this.leaseOwners.clear();
      for (const r of loaded.tables.find(([t]) => t === "jobs")![1]) if (r.state === "running" && r.lease_owner) this.leaseOwners.set(Number(r.id), r.lease_owner as string);
      await this.loadReplicas();
      void old.close();
    });
  }

  /** Coalesced: one catch-up runs at a time, and one more after it if woken meanwhile. */
  private scheduleCatchUp(afterReconnect = false): void {
    if (this.closed) return;
    if (afterReconnect) {
      void this.catchUp(true).catch((err) => this.setProblem(databaseError(err).message));
      return;
    }
    if (this.catchUpScheduled) return;
    this.catchUpScheduled = true;
    queueMicrotask(() => {
      this.catchUpScheduled = false;
      void this.catchUp(false).catch((err) => this.setProblem(databaseError(err).message));
    });
  }

  /** Read the changes after the last one seen and refresh those rows (the whole view when the changes were pruned past it). */
  catchUp(checkGap = false): Promise<void> {
    if (checkGap) {
      return this.serial(async () => {
        const [{ first }] = (await this.sql`SELECT min(id) AS first FROM changes`) as [{ first: string | null }];
        return first !== null && Number(first) > this.lastChangeId + 1;
      }).then(async (gap) => {
        if (gap) await this.reload();
        else await this.catchUp(false);
        this.setProblem(null);
      });
    }
    return this.serial(async () => {
      // Own changes are in the view already: write() applied each one's rows (RETURNING, the row as
      // its transaction left it) at commit, before this catch-up could run (both go through
      // serial). A later change of the same row by anyone else has a higher id and another origin
      // (or none), so it is still read. Skipping them is what keeps counter flushes cheap.
      const doubt = this.ownChangesInDoubt;
      const skipOwn = doubt === null;
      for (;;) {
        const changes = (await this.sql`SELECT id, kind, key, origin FROM changes WHERE id > ${this.lastChangeId} ORDER BY id LIMIT ${CHANGES_PAGE}`) as Array<{ id: string; kind: SharedTable; key: string; origin: string | null }>;
        if (changes.length === 0) break;
        const keys = new Map<SharedTable, Set<string>>();
        if (changes.some((c) => c.kind === ("replicas" as string))) await this.loadReplicas();
        this.catchUpCounts.changes += changes.length;
        for (const c of changes) {
          if (!(c.kind in SHARED_TABLES)) continue;
          if (skipOwn && c.origin === this.options.replicaId) {
            this.catchUpCounts.ownSkipped += 1;
            continue;
          }
          const set = keys.get(c.kind) ?? new Set();
          set.add(c.key);
          keys.set(c.kind, set);
        }
        const applied: Applied = [];
        for (const [table, set] of keys) {
          const keyColumn = SHARED_TABLES[table].keyColumn;
          const list = [...set];
          const rows = (keyColumn === "id" && table === "jobs"
            ? await this.sql`SELECT * FROM jobs WHERE id = ANY(${list.map(Number)}::bigint[])`
            : await this.sql.unsafe(`SELECT * FROM ${table} WHERE ${keyColumn} = ANY($1::text[])`, [list])) as PgRow[];
          const found = new Map(rows.map((r) => [String(r[keyColumn]), r]));
          for (const k of list) applied.push({ table, key: table === "jobs" ? Number(k) : k, row: found.get(k) ?? null });
          this.catchUpCounts.rowsRead += list.length;
        }
        this.applyToView(applied);
        this.lastChangeId = Number(changes[changes.length - 1]!.id);
        if (changes.length < CHANGES_PAGE) break;
      }
      // Every change up to now was read back, a failed write's included: own changes are trusted again.
      if (doubt === "need-catch-up" && this.ownChangesInDoubt === "need-catch-up") this.ownChangesInDoubt = null;
    });
  }

  /** Catch-up's counts since open: changes seen, own changes skipped, rows read back from the database. */
  catchUpStats(): { changes: number; ownSkipped: number; rowsRead: number } {
    return { ...this.catchUpCounts };
  }

  // ---- leases and maintenance ----

  private async renewLeases(): Promise<void> {
    if (this.closed) return;
    try {
      await this.write(async (tx, applied) => {
        const rows = (await tx`UPDATE jobs SET lease_until_ms = ${this.nowMs() + this.leaseMs}
          WHERE state = 'running' AND lease_owner = ${this.options.replicaId} RETURNING *`) as PgRow[];
        for (const r of rows) applied.push({ table: "jobs", key: Number(r.id), row: r });
      });
    } catch {
      // Reported through health(); the next renewal tries again.
    }
  }

  /** Jobs whose lease ran out go back to the queue; old changes, misses past the cap and finished jobs past the cap are pruned. */
  private async maintain(): Promise<void> {
    if (this.closed) return;
    try {
      await this.requeueRunningJobs();
      const now = this.nowMs();
      await this.sql`DELETE FROM changes WHERE at_ms < ${now - CHANGES_KEEP_MS}`;
      await this.write(async (tx, applied) => {
        const misses = (await tx`DELETE FROM misses WHERE key IN (SELECT key FROM misses ORDER BY last_seen_ms DESC OFFSET ${MISSES_MAX}) RETURNING key`) as Array<{ key: string }>;
        for (const m of misses) applied.push({ table: "misses", key: m.key, row: null });
        const jobs = (await tx`DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('completed', 'failed', 'cancelled') ORDER BY id DESC OFFSET ${FINISHED_JOBS_MAX}) RETURNING id`) as Array<{ id: string }>;
        for (const j of jobs) applied.push({ table: "jobs", key: Number(j.id), row: null });
        const sessions = (await tx`DELETE FROM revoked_sessions WHERE expires_at_ms <= ${now} RETURNING id`) as Array<{ id: string }>;
        for (const s of sessions) applied.push({ table: "revoked_sessions", key: s.id, row: null });
      });
    } catch {
      // Reported through health(); maintenance runs again soon.
    }
  }

  // ---- counters ----

  recordHit(key: string, nowMs: number): void {
    this.view.recordHit(key, nowMs);
    const p = this.pendingHits.get(key);
    if (p) {
      p.count += 1;
      p.lastMs = Math.max(p.lastMs, nowMs);
    } else this.pendingHits.set(key, { count: 1, lastMs: nowMs });
    this.scheduleFlush();
  }

  recordMiss(miss: { key: string; url: string; nowMs: number }): void {
    const p = this.pendingMisses.get(miss.key);
    if (p) {
      p.count += 1;
      p.lastSeenMs = Math.max(p.lastSeenMs, miss.nowMs);
    } else this.pendingMisses.set(miss.key, { url: miss.url, count: 1, firstSeenMs: miss.nowMs, lastSeenMs: miss.nowMs });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushCounters().catch(() => this.scheduleFlush());
    }, COUNTER_FLUSH_MS);
    this.flushTimer.unref?.();
  }

  /** Write the buffered counts as increments; on failure they stay buffered (merged with newer ones). */
  async flushCounters(): Promise<void> {
    if (this.pendingHits.size === 0 && this.pendingMisses.size === 0) return;
    const hits = this.pendingHits;
    const misses = this.pendingMisses;
    this.pendingHits = new Map();
    this.pendingMisses = new Map();
    try {
      await this.write(async (tx, applied) => {
        if (hits.size > 0) {
          const keys = [...hits.keys()];
          const rows = (await tx`UPDATE artifacts a SET hits = a.hits + v.n, last_hit_ms = greatest(coalesce(a.last_hit_ms, 0), v.t)
            FROM (SELECT unnest(${keys}::text[]) AS k, unnest(${keys.map((k) => hits.get(k)!.count)}::bigint[]) AS n,
                         unnest(${keys.map((k) => hits.get(k)!.lastMs)}::bigint[]) AS t) v
            WHERE a.key = v.k RETURNING a.*`) as PgRow[];
          for (const r of rows) applied.push({ table: "artifacts", key: String(r.key), row: r });
        }
        await this.writeMisses(tx, misses, applied);
      });
    } catch (err) {
      for (const [k, v] of hits) {
        const p = this.pendingHits.get(k);
        if (p) {
          p.count += v.count;
          p.lastMs = Math.max(p.lastMs, v.lastMs);
        } else this.pendingHits.set(k, v);
      }
      this.restoreMisses(misses);
      throw err;
    }
  }

  /** Buffered misses a failed write took out go back (merged with any counted since). */
  private restoreMisses(batch: ReadonlyMap<string, PendingMiss>): void {
    for (const [k, v] of batch) {
      const p = this.pendingMisses.get(k);
      if (p) {
        p.count += v.count;
        p.firstSeenMs = Math.min(p.firstSeenMs, v.firstSeenMs);
        p.lastSeenMs = Math.max(p.lastSeenMs, v.lastSeenMs);
      } else this.pendingMisses.set(k, { ...v });
    }
  }

  private async writeMisses(tx: Tx, batch: ReadonlyMap<string, PendingMiss>, applied: Applied): Promise<void> {
    if (batch.size === 0) return;
    const keys = [...batch.keys()];
    const rows = (await tx`INSERT INTO misses (key, url, count, first_seen_ms, last_seen_ms)
      SELECT * FROM unnest(${keys}::text[], ${keys.map((k) => batch.get(k)!.url)}::text[], ${keys.map((k) => batch.get(k)!.count)}::bigint[],
                           ${keys.map((k) => batch.get(k)!.firstSeenMs)}::bigint[], ${keys.map((k) => batch.get(k)!.lastSeenMs)}::bigint[])
      ON CONFLICT (key) DO UPDATE SET count = misses.count + EXCLUDED.count, last_seen_ms = greatest(misses.last_seen_ms, EXCLUDED.last_seen_ms)
      RETURNING *`) as PgRow[];
    for (const r of rows) applied.push({ table: "misses", key: String(r.key), row: r });
  }

  /** The buffered misses of `key`, taken out of the buffer for a write that needs its row. */
  private takeMiss(key: string): Map<string, PendingMiss> {
    const p = this.pendingMisses.get(key);
    if (!p) return new Map();
    this.pendingMisses.delete(key);
    return new Map([[key, p]]);
  }

  // ---- reads: the view ----

  getArtifact(key: string): ArtifactRow | null {
    return this.view.getArtifact(key);
  }
  uncacheableMark(key: string): { reason: string; untilMs: number } | null {
    return this.view.uncacheableMark(key);
  }
  listMisses(options?: { limit?: number; offset?: number; after?: { lastSeenMs: number; key: string } }): MissRow[] {
    return this.view.listMisses(options);
  }
  getMiss(key: string): MissRow | null {
    return this.view.getMiss(key);
  }
  listArtifacts(options?: ListArtifactsOptions): ArtifactRow[] {
    return this.view.listArtifacts(options);
  }
  countArtifactsWithSha(sha256: string): number {
    return this.view.countArtifactsWithSha(sha256);
  }
  artifactsWithSha(sha256: string): ArtifactRow[] {
    return this.view.artifactsWithSha(sha256);
  }
  referencedShas(): Set<string> {
    return this.view.referencedShas();
  }
  totals(): Totals {
    return this.view.totals();
  }
  storedTotals(): StoredTotals {
    return this.view.storedTotals();
  }
  activeJobCounts(): { queued: number; running: number } {
    return this.view.activeJobCounts();
  }
  evictionCandidates(): EvictionCandidate[] {
    return this.view.evictionCandidates();
  }
  getJob(id: number): JobRow | null {
    return this.view.getJob(id);
  }
  activeJobForKey(key: string): JobRow | null {
    return this.view.activeJobForKey(key);
  }
  latestJobForKey(key: string): JobRow | null {
    return this.view.latestJobForKey(key);
  }
  listJobs(options?: { states?: readonly JobState[]; limit?: number }): JobRow[] {
    return this.view.listJobs(options);
  }
  nextQueuedAtMs(): number | null {
    return this.view.nextQueuedAtMs();
  }
  countJobs(states: readonly JobState[]): number {
    return this.view.countJobs(states);
  }
  isSessionRevoked(id: string, nowMs: number): boolean {
    return this.view.isSessionRevoked(id, nowMs);
  }
  /** The lease holder of a running job (a replica id), from the shared row. */
  async leaseOf(id: number): Promise<{ owner: string | null; untilMs: number | null } | null> {
    const rows = (await this.sql`SELECT lease_owner, lease_until_ms FROM jobs WHERE id = ${id}`) as Array<{ lease_owner: string | null; lease_until_ms: string | null }>;
    const r = rows[0];
    return r ? { owner: r.lease_owner, untilMs: r.lease_until_ms === null ? null : Number(r.lease_until_ms) } : null;
  }

  // ---- writes ----

  setMissInfo(key: string, info: { refusal?: string | null; knownSizeBytes?: number | null }): Promise<void> {
    // Nothing to change is no transaction: every queued fill clears its key's refusal, and a
    // revalidation's key has no miss row at all (one round trip less before its readers are answered).
    if (!this.pendingMisses.has(key) && this.missInfoHolds(key, info)) return Promise.resolve();
    const pending = this.takeMiss(key);
    return this.write(async (tx, applied) => {
      await this.writeMisses(tx, pending, applied);
      let rows: PgRow[] = [];
      if (info.refusal !== undefined) rows = await tx`UPDATE misses SET refusal = ${info.refusal} WHERE key = ${key} RETURNING *`;
      if (info.knownSizeBytes !== undefined) rows = await tx`UPDATE misses SET known_size_bytes = ${info.knownSizeBytes} WHERE key = ${key} RETURNING *`;
      for (const r of rows) applied.push({ table: "misses", key, row: r });
    });
  }

  /** The view already says what `info` would write (no row counts as nulls; a value to set on a row it does not have does not hold). */
  private missInfoHolds(key: string, info: { refusal?: string | null; knownSizeBytes?: number | null }): boolean {
    const row = this.view.getMiss(key);
    const holds = (want: string | number | null | undefined, have: string | number | null): boolean => want === undefined || want === have;
    return holds(info.refusal, row?.refusal ?? null) && holds(info.knownSizeBytes, row?.knownSizeBytes ?? null);
  }

  markUncacheable(mark: { key: string; url: string; reason: string; untilMs: number; nowMs: number }): Promise<void> {
    const pending = this.takeMiss(mark.key);
    return this.write(async (tx, applied) => {
      await this.writeMisses(tx, pending, applied);
      const rows = (await tx`INSERT INTO misses (key, url, count, first_seen_ms, last_seen_ms, refusal, uncacheable_until_ms)
        VALUES (${mark.key}, ${mark.url}, 0, ${mark.nowMs}, ${mark.nowMs}, ${mark.reason}, ${mark.untilMs})
        ON CONFLICT (key) DO UPDATE SET refusal = EXCLUDED.refusal, uncacheable_until_ms = EXCLUDED.uncacheable_until_ms RETURNING *`) as PgRow[];
      for (const r of rows) applied.push({ table: "misses", key: mark.key, row: r });
    });
  }

  refreshArtifact(key: string, r: FreshnessRecord & { atMs: number; result: RevalidationResult; detail: string }): Promise<void> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`UPDATE artifacts SET origin_headers = ${r.originHeaders === null ? null : JSON.stringify(r.originHeaders)},
        request_at_ms = ${r.requestAtMs}, response_at_ms = ${r.responseAtMs}, revalidated_at_ms = ${r.atMs},
        revalidation = ${r.result}, revalidation_detail = ${r.detail} WHERE key = ${key} AND NOT superseded RETURNING *`) as PgRow[];
      for (const row of rows) applied.push({ table: "artifacts", key, row });
    });
  }

  noteRevalidation(key: string, note: { atMs: number; result: RevalidationResult; detail: string; superseded?: boolean }): Promise<void> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`UPDATE artifacts SET revalidated_at_ms = ${note.atMs}, revalidation = ${note.result}, revalidation_detail = ${note.detail},
        superseded = superseded OR ${note.superseded === true} WHERE key = ${key} RETURNING *`) as PgRow[];
      for (const row of rows) applied.push({ table: "artifacts", key, row });
    });
  }

  dismissMiss(key: string): Promise<boolean> {
    const hadPending = this.pendingMisses.delete(key);
    return this.write(async (tx, applied) => {
      const rows = (await tx`DELETE FROM misses WHERE key = ${key} RETURNING key`) as PgRow[];
      applied.push({ table: "misses", key, row: null });
      return rows.length > 0 || hadPending;
    });
  }

  commitArtifact(a: NewArtifact, confirmBlob?: () => Promise<void>): Promise<{ replacedSha256: string | null }> {
    const pending = this.takeMiss(a.key);
    const holdBlob = async (tx: Tx): Promise<void> => {
      await lockBlobs(tx, [a.sha256]);
      await confirmBlob?.();
    };
    return this.write(async (tx, applied) => {
      await this.writeMisses(tx, pending, applied);
      const previous = (await tx`SELECT sha256 FROM artifacts WHERE key = ${a.key} FOR UPDATE`) as Array<{ sha256: string }>;
      const miss = (await tx`DELETE FROM misses WHERE key = ${a.key} RETURNING count`) as Array<{ count: string }>;
      const rows = (await tx`INSERT INTO artifacts (key, url, sha256, size_bytes, content_type, content_disposition, fetched_at_ms, misses, redirected,
          origin_headers, request_at_ms, response_at_ms, revalidated_at_ms, revalidation, revalidation_detail, superseded)
        VALUES (${a.key}, ${a.url}, ${a.sha256}, ${a.sizeBytes}, ${a.contentType}, ${a.contentDisposition}, ${a.fetchedAtMs}, ${Number(miss[0]?.count ?? 0)},
          ${a.redirected === true}, ${a.freshness?.originHeaders ? JSON.stringify(a.freshness.originHeaders) : null},
          ${a.freshness?.requestAtMs ?? null}, ${a.freshness?.responseAtMs ?? null}, ${a.revalidation?.atMs ?? null},
          ${a.revalidation?.result ?? null}, ${a.revalidation?.detail ?? null}, false)
        ON CONFLICT (key) DO UPDATE SET sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes, content_type = EXCLUDED.content_type,
          content_disposition = EXCLUDED.content_disposition, fetched_at_ms = EXCLUDED.fetched_at_ms, misses = artifacts.misses + EXCLUDED.misses,
          redirected = EXCLUDED.redirected, origin_headers = EXCLUDED.origin_headers, request_at_ms = EXCLUDED.request_at_ms,
          response_at_ms = EXCLUDED.response_at_ms, revalidated_at_ms = coalesce(EXCLUDED.revalidated_at_ms, artifacts.revalidated_at_ms),
          revalidation = coalesce(EXCLUDED.revalidation, artifacts.revalidation),
          revalidation_detail = coalesce(EXCLUDED.revalidation_detail, artifacts.revalidation_detail), superseded = false
        RETURNING *`) as PgRow[];
      applied.push({ table: "misses", key: a.key, row: null });
      for (const row of rows) applied.push({ table: "artifacts", key: a.key, row });
      const replaced = previous[0] && previous[0].sha256 !== a.sha256 ? previous[0].sha256 : null;
      return { replacedSha256: replaced };
    }, holdBlob).catch((err: unknown) => {
      // Not written: the buffered misses go back (the next flush writes them).
      this.restoreMisses(pending);
      throw err;
    });
  }

  /**
   * Run `remove` (the object's delete) only if no artifact row holds `sha256` in the database,
   * holding the blob's lock so no commit of a row of it can land meanwhile. True when removed.
   */
  async removeBlobIfUnreferenced(sha256: string, remove: () => Promise<void>): Promise<boolean> {
    return await this.sql.begin(async (tx) => {
      await lockBlobs(tx as unknown as Tx, [sha256]);
      const held = (await tx`SELECT 1 FROM artifacts WHERE sha256 = ${sha256} LIMIT 1`) as unknown[];
      if (held.length > 0) return false;
      await remove();
      return true;
    });
  }

  deleteArtifactRow(key: string): Promise<{ sha256: string; shared: boolean } | null> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`DELETE FROM artifacts WHERE key = ${key} RETURNING sha256`) as Array<{ sha256: string }>;
      applied.push({ table: "artifacts", key, row: null });
      const row = rows[0];
      if (!row) return null;
      const others = (await tx`SELECT 1 FROM artifacts WHERE sha256 = ${row.sha256} LIMIT 1`) as unknown[];
      return { sha256: row.sha256, shared: others.length > 0 };
    });
  }

  insertJob(job: { key: string; url: string; source: JobSource; nowMs: number }): Promise<{ job: JobRow; existing: boolean }> {
    return this.write(async (tx, applied) => {
      const inserted = (await tx`INSERT INTO jobs (key, url, source, state, created_at_ms) VALUES (${job.key}, ${job.url}, ${job.source}, 'queued', ${job.nowMs})
        ON CONFLICT (key) WHERE state IN ('queued', 'running') DO NOTHING RETURNING *`) as PgRow[];
      const rows = inserted.length > 0 ? inserted : ((await tx`SELECT * FROM jobs WHERE key = ${job.key} AND state IN ('queued', 'running')`) as PgRow[]);
      const row = rows[0];
      if (!row) throw new Error(`insertJob: no active job of ${job.key} after a conflict`);
      applied.push({ table: "jobs", key: Number(row.id), row });
      return { id: Number(row.id), existing: inserted.length === 0 };
    }).then(({ id, existing }) => ({ job: this.view.getJob(id)!, existing }));
  }

  claimNextJob(nowMs: number): Promise<JobRow | null> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`UPDATE jobs SET state = 'running', started_at_ms = coalesce(started_at_ms, ${nowMs}), attempts = attempts + 1,
          lease_owner = ${this.options.replicaId}, lease_until_ms = ${nowMs + this.leaseMs}
        WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND not_before_ms <= ${nowMs} ORDER BY not_before_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING *`) as PgRow[];
      for (const row of rows) applied.push({ table: "jobs", key: Number(row.id), row });
      return rows[0] ? Number(rows[0].id) : null;
    }).then((id) => (id === null ? null : this.view.getJob(id)));
  }

  claimJob(id: number, nowMs: number): Promise<JobRow | null> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`UPDATE jobs SET state = 'running', started_at_ms = coalesce(started_at_ms, ${nowMs}), attempts = attempts + 1,
          lease_owner = ${this.options.replicaId}, lease_until_ms = ${nowMs + this.leaseMs}
        WHERE id = ${id} AND state = 'queued' RETURNING *`) as PgRow[];
      for (const row of rows) applied.push({ table: "jobs", key: id, row });
      return rows.length > 0;
    }).then((claimed) => (claimed ? this.view.getJob(id) : null));
  }

  updateJob(id: number, patch: Partial<Omit<JobRow, "id" | "key" | "url" | "source" | "createdAtMs">>, fromStates?: readonly JobState[]): Promise<boolean> {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    // Nothing to write: the view answers whether the job is there (in one of `fromStates`).
    if (entries.length === 0) return this.view.updateJob(id, patch, fromStates);
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [k, v] of entries) {
      const column = JOB_COLUMNS[k];
      if (column === undefined) return Promise.reject(new Error(`updateJob: unknown field ${k}`));
      values.push(v);
      sets.push(`${column} = $${values.length}`);
    }
    // A job leaving `running` gives its lease up.
    if (patch.state !== undefined && patch.state !== "running") sets.push("lease_owner = NULL", "lease_until_ms = NULL");
    values.push(id);
    let where = `id = $${values.length}`;
    if (fromStates !== undefined) {
      values.push([...fromStates]);
      where += ` AND state = ANY($${values.length}::text[])`;
    }
    return this.write(async (tx, applied) => {
      let rows: PgRow[];
      try {
        rows = (await tx.unsafe(`UPDATE jobs SET ${sets.join(", ")} WHERE ${where} RETURNING *`, values)) as PgRow[];
      } catch (err) {
        if (isUniqueViolation(err)) throw new KeyHasActiveJob(id);
        throw err;
      }
      for (const row of rows) applied.push({ table: "jobs", key: id, row });
      return rows.length > 0;
    });
  }

  /** Jobs whose lease ran out (their replica died or lost the database) go back to the queue. */
  requeueRunningJobs(): Promise<number> {
    const now = this.nowMs();
    return this.write(async (tx, applied) => {
      const rows = (await tx`UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_until_ms = NULL, rate_bytes_per_sec = 0
        WHERE state = 'running' AND (lease_until_ms IS NULL OR lease_until_ms < ${now}) RETURNING *`) as PgRow[];
      for (const row of rows) applied.push({ table: "jobs", key: Number(row.id), row });
      return rows.length;
    });
  }

  clearFinishedJobs(): Promise<number> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`DELETE FROM jobs WHERE state IN ('completed', 'failed', 'cancelled') RETURNING id`) as Array<{ id: string }>;
      for (const r of rows) applied.push({ table: "jobs", key: Number(r.id), row: null });
      return rows.length;
    });
  }

  revokeSession(session: { id: string; expiresAtMs: number; nowMs: number }): Promise<void> {
    return this.write(async (tx, applied) => {
      const rows = (await tx`INSERT INTO revoked_sessions (id, expires_at_ms) VALUES (${session.id}, ${session.expiresAtMs})
        ON CONFLICT (id) DO UPDATE SET expires_at_ms = EXCLUDED.expires_at_ms RETURNING *`) as PgRow[];
      for (const row of rows) applied.push({ table: "revoked_sessions", key: session.id, row });
    });
  }

  /** Write the buffered counts (bounded), stop the timers and the subscription. The caller closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    await Promise.race([this.flushCounters().catch(() => undefined), Bun.sleep(2000)]);
    this.closed = true;
    await Promise.race([this.unlisten?.().catch(() => undefined), Bun.sleep(1000)]);
    await this.queue;
    void this.view.close();
  }
}
