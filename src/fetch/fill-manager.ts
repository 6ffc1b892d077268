// The download manager: a queue of fill jobs persisted in SQLite, drained by N workers. A fill
// runs the stages plan (core/fill-plan.ts) → open → decide (core/origin-answer.ts) → stream to
// disk → verify → commit; a revalidation is a fill whose plan is conditional.
// One active job per cache key (a unique index enforces it). A fill streams the origin's body
// into a temp file while hashing and counting, checks the length, fsyncs, renames the file into
// the blob store and only then commits the row. Interrupted fills resume with Range + If-Range.
import type { ServeConfig } from "../config/schema.ts";
import { hostAllowed } from "../core/address.ts";
import { cacheKey, parseOriginUrl } from "../core/cache-key.ts";
import { backoffMs, canTransition, isFinished, isTransientStatus, type JobSource, type JobState } from "../core/jobs.ts";
import { loggableUrl, type Logger } from "../core/log.ts";
import { originHeadersOf } from "../core/freshness.ts";
import { planFill, tempStamp } from "../core/fill-plan.ts";
import { decideOriginAnswer, type CachedCopy, type OriginAnswer } from "../core/origin-answer.ts";
import { planBody, sizeLimitExceeded } from "../core/body-plan.ts";
import { RuleSet } from "../core/rules.ts";
import { diskGuard, diskGuardOff, minFreeDiskRule, type MinFreeDisk } from "../core/size.ts";
import { assert } from "../core/errors.ts";
import { currentBootId } from "../store/boot-id.ts";
import type { CacheStore } from "../store/store.ts";
import { BlobGone, BlobStoreUnavailable, KeyHasActiveJob, type ArtifactRow, type JobRow, type RevalidationResult, type TempBlob } from "../store/types.ts";
import { rowFreshness } from "./freshness-of-row.ts";
import { LiveFill } from "./live-fill.ts";
import { openSha256Sink, type HashMode, type Sha256Sink } from "./sha256-sink.ts";
import { addressRefusal, FillError, openOrigin, publicAddressesOnly, systemResolver, type AddressPolicy, type Resolver } from "./origin.ts";

export type EnqueueResult =
  | { ok: true; job: JobRow; existing: boolean }
  | { ok: false; status: number; message: string };

export type EnqueueOptions = {
  source: JobSource;
  requestId?: string;
  /** Revalidate a cached copy even while it is fresh (the operator's Revalidate now). */
  revalidate?: boolean;
};

export type ActionResult = { ok: true; job: JobRow } | { ok: false; status: number; message: string };

export type FillManagerDeps = {
  store: CacheStore;
  config: ServeConfig;
  /** The operator's freshness rules (--rule), compiled (default: compiled from config.rules). */
  rules?: RuleSet;
  log: Logger;
  nowMs: () => number;
  version: string;
  resolve?: Resolver;
  /** Which addresses fills may reach without --allow-private-origins (default: public only). */
  addressAllowed?: AddressPolicy;
  /** Most jobs queued at once by automatic fills (default AUTO_QUEUE_MAX). */
  maxQueuedAutoJobs?: number;
  /** The machine's boot id (default: Linux's /proc/sys/kernel/random/boot_id; null = unknown). */
  bootId?: string | null;
  /** The hash worker's entrypoint (tests; default src/fetch/hash-worker.ts); null = never use a worker. */
  hashWorkerUrl?: string | null;
  /** Told of origin bytes, finished fills and evictions (the traffic counters and /metrics). */
  observer?: FillObserver;
  /** The queue is shared with other cache-hosts (PostgreSQL): a retry may run on another one. */
  sharedQueue?: boolean;
  /**
   * With a shared queue: this data dir's stable name (its temp files are its own), recorded with
   * the job's bytes so that another cache-host never resumes its own older temp file under them.
   */
  tempWriter?: string | null;
};

/** What a fill reports to counters; every call is cheap and never throws into the fill. */
export type FillObserver = {
  originBytes(bytes: number): void;
  fillFinished(outcome: "completed" | "failed" | "cancelled"): void;
  evicted(count: number, bytes: number): void;
  /** A fill refused before fetching (private address, not in --allow-host); detail is one loggable line. */
  refused?(detail: string): void;
  /** A revalidation outcome was recorded on a cached copy (a refetch records two: its answer, then its bytes). */
  revalidated?(result: RevalidationResult): void;
};


/**
 * Automatic fills queued at once. Misses come from unauthenticated clients: a flood of unique
 * URLs must not grow the queue without bound. Past it a miss is still recorded (capped too, see
 * MISSES_MAX) but not queued; operator downloads are not limited.
 */
const AUTO_QUEUE_MAX = 1000;
/** Revalidations run at once beside the workers; past this many they queue like any fill. */
const REVALIDATIONS_INFLIGHT_MAX = 16;
/** Automatic enqueues in flight at once (each may be waiting on a DNS answer). */
const PENDING_AUTO_ENQUEUES_MAX = 64;
/** While a fill writes, free disk space is checked again every this many bytes (a statfs costs ~1 µs). */
const DISK_CHECK_BYTES = 1024 * 1024;

/**
 * Fills of at least this many bytes (or of unknown length) hash SHA-256 on a Worker, i.e. on
 * another core; smaller ones hash in the event loop, where starting a worker would cost more.
 */
const HASH_WORKER_MIN_BYTES = 4 * 1024 * 1024;

/** Every this many bytes a fill starts a background writeback of its temp file. */
const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;
/** How often progress (bytes done, rate) is written to the database while a fill runs. */
const PROGRESS_INTERVAL_MS = 500;
/**
 * After a fill of a key failed, misses do not queue it again automatically for this long: a
 * client retrying a URL the origin refuses must not turn every request into an origin request.
 * Operators can retry at any time.
 */
const AUTO_FILL_AFTER_FAILURE_MS = 60_000;
/** A worker with nothing to do re-checks the queue at least this often (backoff expiry). */
const IDLE_POLL_MS = 1000;

function tempNameOf(jobId: number): string {
  return `fill-${jobId}.part`;
}

type Running = { controller: AbortController; reason: "cancel" | "park" | null };

/** What an attempt came to: a blob committed, or a revalidation that kept the bytes (no body moved). */
type FillDone = { kind: "stored"; sha256: string; sizeBytes: number; hash: HashMode } | { kind: "kept"; detail: string };

/** A fill waiting for the blob store to answer again looks this often (at most --fill-backoff-max). */
const BLOB_STORE_WAIT_MS = 5000;
/** How long after its due time a requeued fill's streams wait for this process to run the retry (shared queue). */
const RETRY_CLAIM_GRACE_MS = 5000;

export class FillManager {
  private readonly deps: FillManagerDeps;
  private readonly resolve: Resolver;
  /** The compiled --rule list, shared with the read path. */
  readonly rules: RuleSet;
  private readonly addressAllowed: AddressPolicy;
  private readonly running = new Map<number, Running>();
  /** Requeued jobs whose kept streams wait for a retry here (shared queue): the watch's token. */
  private readonly retryWatch = new Map<number, number>();
  private retryWatchCounter = 0;
  private workers: Promise<void>[] = [];
  private active = false;
  /** A start() still requeueing and evicting (see start). */
  private starting: Promise<void> | null = null;
  /**
   * Background job writes (progress on a timer, synced bytes after a writeback), chained per job
   * so they land in order; a job's outcome write waits for them first (see settleJobWrites).
   */
  private readonly jobWrites = new Map<number, Promise<void>>();
  private wakers: Array<() => void> = [];
  private readonly pendingEnqueues = new Set<Promise<EnqueueResult>>();
  /**
   * Job inserts in flight, by key. With shared rows the insert is a database round trip, and every
   * reader that finds the key stale (16 probes at once) would otherwise send its own insert
   * (all but one a no-op conflict) through the one write queue, each waiting for the one before.
   */
  private readonly inserting = new Map<string, Promise<JobRow>>();
  private readonly minFree: MinFreeDisk;
  /** This boot's id: temp bytes written in it survived a process crash in the page cache. */
  private readonly bootId: string | null;
  /** A hash worker failed to start once: said in the log once, not on every fill. */
  private hashWorkerFailureLogged = false;
  /** Readers waiting for news of a key (a revalidation outcome, an attempt's end): see waitForKey. */
  private readonly keyWaiters = new Map<string, Set<() => void>>();
  /** Revalidations running outside the worker pool (see startRevalidation). */
  private readonly revalidations = new Set<Promise<void>>();
  /** Revalidations between the bound check and their claim (see startRevalidation). */
  private claimingRevalidations = 0;
  /**
   * Fills readers can stream from, by cache key. One lives from its job's first attempt until the
   * job commits, fails or is cut; it outlives a transient failure that the next attempt resumes.
   */
  private readonly live = new Map<string, LiveFill>();

  constructor(deps: FillManagerDeps) {
    this.deps = deps;
    this.minFree = minFreeDiskRule(deps.config.minFreeDisk);
    this.bootId = tempStamp(deps.bootId !== undefined ? deps.bootId : currentBootId(), deps.tempWriter ?? null);
    this.resolve = deps.resolve ?? systemResolver;
    const rules = deps.rules ? { ok: true as const, rules: deps.rules } : RuleSet.parse(deps.config.rules);
    assert(rules.ok, "config.rules was validated");
    this.rules = rules.rules;
    this.addressAllowed = deps.addressAllowed ?? publicAddressesOnly;
  }

  private get meta() {
    return this.deps.store.metadata;
  }

  /** Requeue fills a dead process left running, sweep stray temp files, start the workers. */
  start(): Promise<void> {
    // A second call while the first is still requeueing shares it (and starts no second pool).
    this.starting ??= this.startNow().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async startNow(): Promise<void> {
    if (this.active) return;
    const requeued = await this.meta.requeueRunningJobs();
    if (requeued > 0) this.deps.log.event("fills", { requeued });
    const keep = new Set(this.meta.listJobs({ states: ["queued", "running"], limit: 1_000_000 }).map((j) => tempNameOf(j.id)));
    const swept = this.deps.store.blobs.sweepTemp(keep);
    if (swept.length > 0) this.deps.log.event("fills", { swept_temp_files: swept.length });
    // A cap lowered since the last run applies at once, not only after the next fill.
    await this.evictToCap(null);
    this.active = true;
    this.workers = Array.from({ length: this.deps.config.workers }, (_, i) => this.workerLoop(i));
  }

  /** Stop the workers; running fills are aborted and parked as queued (their temp files kept). */
  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => {});
    await Promise.allSettled([...this.pendingEnqueues]);
    if (!this.active) return;
    this.active = false;
    for (const r of this.running.values()) {
      r.reason = "park";
      r.controller.abort();
    }
    this.wake();
    await Promise.all(this.workers);
    await Promise.allSettled([...this.revalidations]);
    this.workers = [];
  }

  /** Queue a fill. `requestId` ties the job's log lines to the request that caused it. */
  enqueue(rawUrl: string, options: EnqueueOptions): Promise<EnqueueResult> {
    // Each automatic enqueue may wait on DNS; a flood of unique hosts must not pile up lookups.
    if (options.source === "auto" && this.pendingEnqueues.size >= PENDING_AUTO_ENQUEUES_MAX) {
      this.deps.log.event("queue-full", { request: options.requestId, checking: this.pendingEnqueues.size });
      return Promise.resolve({ ok: false, status: 503, message: `${this.pendingEnqueues.size} misses are already being checked for a fill; not queued` });
    }
    // Tracked so stop() can let an enqueue that is waiting on DNS finish before the database closes.
    const pending = this.enqueueNow(rawUrl, options);
    this.pendingEnqueues.add(pending);
    const forget = (): void => void this.pendingEnqueues.delete(pending);
    pending.then(forget, forget);
    return pending;
  }

  private async enqueueNow(rawUrl: string, options: EnqueueOptions): Promise<EnqueueResult> {
    const parsed = parseOriginUrl(rawUrl);
    if (!parsed.ok) return { ok: false, status: parsed.status, message: parsed.message };
    const key = cacheKey(parsed.url, { keepQuery: this.deps.config.keepQuery });
    const match = this.rules.match(parsed.url.href);
    if (match.policy.kind === "never") return { ok: false, status: 403, message: `rule ${match.rule?.text ?? "never"} says never cache ${loggableUrl(key)}` };
    const active = this.meta.activeJobForKey(key);
    if (active) return { ok: true, job: active, existing: true };
    const cachedRefusal = this.alreadyCached(key, options);
    if (cachedRefusal) return cachedRefusal;
    if (options.source === "auto") {
      const uncacheable = this.meta.uncacheableMark(key);
      if (uncacheable !== null && uncacheable.untilMs > this.deps.nowMs()) {
        const inS = Math.ceil((uncacheable.untilMs - this.deps.nowMs()) / 1000);
        return { ok: false, status: 429, message: `uncacheable: ${uncacheable.reason}; not fetched again for ${inS} s (--uncacheable-retry)` };
      }
      const queueMax = this.deps.maxQueuedAutoJobs ?? AUTO_QUEUE_MAX;
      const queued = this.meta.countJobs(["queued"]);
      if (queued >= queueMax) {
        this.deps.log.event("queue-full", { key: loggableUrl(key), request: options.requestId, queued });
        return { ok: false, status: 503, message: `the fill queue is full (${queued} jobs queued); ${loggableUrl(key)} was not queued` };
      }
      const last = this.meta.latestJobForKey(key);
      const sinceMs = last?.finishedAtMs != null ? this.deps.nowMs() - last.finishedAtMs : null;
      if (last?.state === "failed" && sinceMs !== null && sinceMs < AUTO_FILL_AFTER_FAILURE_MS) {
        return { ok: false, status: 429, message: `the last fill of ${loggableUrl(key)} failed ${Math.round(sinceMs / 1000)} s ago (${last.error ?? "unknown"}); not retried automatically yet` };
      }
    }
    const { allowHosts, allowPrivateOrigins } = this.deps.config;
    let refusal: string | null = null;
    // --allow-host limits what misses may bring in; a key already cached was let in once (or
    // approved by an operator) and is revalidated wherever it lives. Addresses are checked again.
    const cachedAlready = this.meta.getArtifact(key) !== null;
    if (options.source === "auto" && !cachedAlready && !hostAllowed(parsed.url.hostname.replace(/^\[|\]$/g, ""), allowHosts)) {
      refusal = `origin host ${parsed.url.hostname} is not in --allow-host; not fetched automatically`;
    } else if (!allowPrivateOrigins) {
      refusal = await addressRefusal(parsed.url, this.resolve, this.addressAllowed);
    }
    if (refusal) {
      await this.meta.setMissInfo(key, { refusal });
      this.deps.log.event("refused", { key: loggableUrl(key), source: options.source, request: options.requestId, reason: refusal });
      this.deps.observer?.refused?.(`${loggableUrl(key)}: ${refusal}`);
      return { ok: false, status: 403, message: refusal };
    }
    // The DNS check awaited: another request may have queued the key meanwhile.
    const raced = this.meta.activeJobForKey(key);
    if (raced) return { ok: true, job: raced, existing: true };
    // …or filled it completely while this lookup was slow: no second download.
    const raceRefusal = this.alreadyCached(key, options);
    if (raceRefusal) return raceRefusal;
    // Being queued by another request of this process: that insert's job.
    const joined = this.inserting.get(key);
    if (joined) return { ok: true, job: await joined, existing: true };
    const insert = this.meta.insertJob({ key, url: parsed.url.href, source: options.source, nowMs: this.deps.nowMs() });
    const insertedJob = insert.then((r) => r.job);
    this.inserting.set(key, insertedJob);
    const settled = (): void => {
      if (this.inserting.get(key) === insertedJob) this.inserting.delete(key);
    };
    insertedJob.then(settled, settled);
    const inserted = await insert;
    // Queued meanwhile (by another process on a shared store).
    if (inserted.existing) return { ok: true, job: inserted.job, existing: true };
    const job = inserted.job;
    await this.meta.setMissInfo(key, { refusal: null });
    this.logJob(job, "queued", options.requestId ? { request: options.requestId } : {});
    if (!(await this.startRevalidation(job))) this.wake();
    return { ok: true, job, existing: false };
  }

  /**
   * A revalidation (a key with a copy we may keep) does not wait behind big downloads in the
   * worker queue: it runs at once in its own lane, at most REVALIDATIONS_INFLIGHT_MAX at a time.
   * Its conditional request is one header exchange; a 200 streams its body in the lane too.
   */
  private async startRevalidation(job: JobRow): Promise<boolean> {
    if (!this.active || this.revalidations.size + this.claimingRevalidations >= REVALIDATIONS_INFLIGHT_MAX) return false;
    const artifact = this.meta.getArtifact(job.key);
    if (artifact === null || artifact.superseded) return false;
    // The slot is held across the claim's await, so concurrent enqueues keep to the bound. A
    // worker may claim the job first (it then runs in the pool): claimJob answers null.
    this.claimingRevalidations += 1;
    let claimed: JobRow | null;
    try {
      claimed = await this.meta.claimJob(job.id, this.deps.nowMs());
    } finally {
      this.claimingRevalidations -= 1;
    }
    if (claimed === null) return false;
    const run: Promise<void> = this.runJob(claimed).catch((err: unknown) => {
      this.deps.log.event("fills", { job: job.id, error: `could not record the outcome: ${firstLineOf(err)}` });
    });
    this.revalidations.add(run);
    void run.finally(() => this.revalidations.delete(run));
    return true;
  }

  /** A 409 when `key` is cached and fresh (a stale, superseded or forced one is revalidated). */
  private alreadyCached(key: string, options: EnqueueOptions): { ok: false; status: number; message: string } | null {
    const artifact = this.meta.getArtifact(key);
    if (!artifact || artifact.superseded || options.revalidate === true) return null;
    if (this.isFresh(artifact)) return { ok: false, status: 409, message: `${loggableUrl(key)} is already cached and fresh` };
    return null;
  }

  private isFresh(a: ArtifactRow): boolean {
    return rowFreshness(a, this.rules, this.deps.config).verdict(this.deps.nowMs()).kind === "fresh";
  }

  /**
   * Resolves when there is news of `key` (a revalidation outcome recorded, a fill attempt ended)
   * or after `timeoutMs`, whichever comes first. The read path re-reads the row then.
   */
  waitForKey(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.keyWaiters.get(key);
      if (!waiters) {
        waiters = new Set();
        this.keyWaiters.set(key, waiters);
      }
      const set = waiters;
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.keyWaiters.get(key) === set) this.keyWaiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      set.add(done);
    });
  }

  private notifyKey(key: string): void {
    const waiters = this.keyWaiters.get(key);
    if (!waiters) return;
    for (const w of [...waiters]) w();
  }

  /** The running (or resuming) fill of `key` that readers may stream from, if any. */
  liveFill(key: string): LiveFill | null {
    return this.live.get(key) ?? null;
  }

  /** Clients streaming each live fill now, by job id (the Downloads page). */
  streamersByJob(): Map<number, number> {
    const out = new Map<number, number>();
    for (const l of this.live.values()) if (l.streamers > 0) out.set(l.jobId, l.streamers);
    return out;
  }

  private liveFor(job: JobRow): LiveFill {
    const known = this.live.get(job.key);
    if (known && known.jobId === job.id) return known;
    known?.cut("another fill of the key started");
    const created = new LiveFill(job.key, job.id, tempNameOf(job.id));
    this.live.set(job.key, created);
    return created;
  }

  /** Cut the key's streams (the fill failed, was cancelled or must start over) and forget them. */
  /**
   * Shared queue: the streams a requeued fill keeps are cut unless this process runs the retry
   * within RETRY_CLAIM_GRACE_MS of its due time (another cache-host that claims it streams its own).
   */
  private watchRetry(job: JobRow): void {
    if (this.deps.sharedQueue !== true) return;
    const token = ++this.retryWatchCounter;
    this.retryWatch.set(job.id, token);
    const dueInMs = Math.max(0, (this.meta.getJob(job.id)?.notBeforeMs ?? 0) - this.deps.nowMs());
    const timer = setTimeout(() => {
      if (this.retryWatch.get(job.id) !== token) return;
      this.retryWatch.delete(job.id);
      if (this.running.has(job.id)) return;
      this.endLive(job.key, job.id, "the fill's retry did not start on this cache-host");
      // Taken by another cache-host (or ended there): this one's temp file is never resumed now
      // (the job's bytes are the other's, see planFill), so it goes. Still queued: look again.
      if (this.meta.getJob(job.id)?.state === "queued") this.watchRetry(job);
      else this.deps.store.blobs.removeTemp(tempNameOf(job.id));
    }, dueInMs + RETRY_CLAIM_GRACE_MS);
    timer.unref();
  }

  private endLive(key: string, jobId: number, why: string | null): void {
    const known = this.live.get(key);
    if (!known || known.jobId !== jobId) return;
    if (why !== null) known.cut(why);
    this.live.delete(key);
  }

  listJobs(options: { states?: readonly JobState[]; limit?: number } = {}): JobRow[] {
    return this.meta.listJobs(options);
  }

  getJob(id: number): JobRow | null {
    return this.meta.getJob(id);
  }

  async cancel(id: number): Promise<ActionResult> {
    const job = this.meta.getJob(id);
    if (!job) return { ok: false, status: 404, message: `job ${id} does not exist` };
    const running = this.running.get(id);
    if (running) {
      running.reason = "cancel";
      running.controller.abort();
      return { ok: true, job };
    }
    const notCancellable = (state: JobState): ActionResult => ({ ok: false, status: 409, message: `job ${id} is ${state}; only queued or running jobs can be cancelled` });
    if (!canTransition(job.state, "cancelled")) return notCancellable(job.state);
    // Only from queued or running as the rows hold it now: a fill another cache-host just
    // finished stays finished (its progress tick stops one that is still running there).
    if (!(await this.meta.updateJob(id, { state: "cancelled", finishedAtMs: this.deps.nowMs(), rateBytesPerSec: 0 }, ["queued", "running"]))) {
      return notCancellable(this.meta.getJob(id)?.state ?? job.state);
    }
    this.endLive(job.key, id, "the fill was cancelled");
    this.deps.store.blobs.removeTemp(tempNameOf(id));
    const updated = this.meta.getJob(id)!;
    this.logJob(updated, "cancelled");
    return { ok: true, job: updated };
  }

  async retry(id: number): Promise<ActionResult> {
    const job = this.meta.getJob(id);
    const refused = (now: JobRow | null): ActionResult =>
      now === null ? { ok: false, status: 404, message: `job ${id} does not exist` } : { ok: false, status: 409, message: `job ${id} is ${now.state}; only failed or cancelled jobs can be retried` };
    if (!job || !canTransition(job.state, "queued") || job.state === "running") return refused(job);
    if (this.alreadyCached(job.key, { source: job.source })) return { ok: false, status: 409, message: `${loggableUrl(job.key)} is already cached and fresh` };
    const busy = (): ActionResult => ({ ok: false, status: 409, message: `another fill of ${loggableUrl(job.key)} is already queued or running` });
    if (this.meta.activeJobForKey(job.key)) return busy();
    let requeued: boolean;
    try {
      // Only from failed or cancelled as the rows hold it now (another cache-host may have retried it).
      requeued = await this.meta.updateJob(id, { state: "queued", attempts: 0, error: null, notBeforeMs: 0, finishedAtMs: null, startedAtMs: null, bytesDone: 0, rateBytesPerSec: 0, validator: null }, ["failed", "cancelled"]);
    } catch (err) {
      if (err instanceof KeyHasActiveJob) return busy();
      throw err;
    }
    if (!requeued) return refused(this.meta.getJob(id));
    const updated = this.meta.getJob(id)!;
    this.logJob(updated, "queued");
    this.wake();
    return { ok: true, job: updated };
  }

  clearFinished(): Promise<number> {
    return this.meta.clearFinishedJobs();
  }

  /** Resolves when the job reaches a finished state or the bound passes (tests, CLI). */
  async waitForJob(id: number, options: { timeoutMs: number }): Promise<JobRow | null> {
    const deadline = Date.now() + options.timeoutMs;
    while (Date.now() < deadline) {
      const job = this.meta.getJob(id);
      if (!job || isFinished(job.state)) return job;
      await Bun.sleep(20);
    }
    return this.meta.getJob(id);
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms));
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakers = self.wakers.filter((w) => w !== done);
        resolve();
      }
      this.wakers.push(done);
    });
  }

  private async workerLoop(_index: number): Promise<void> {
    while (this.active) {
      const now = this.deps.nowMs();
      let job: JobRow | null = null;
      let waitMs = IDLE_POLL_MS;
      try {
        job = await this.meta.claimNextJob(now);
        if (!job) {
          const next = this.meta.nextQueuedAtMs();
          if (next !== null) waitMs = Math.min(IDLE_POLL_MS, Math.max(1, next - now));
        }
      } catch (err) {
        // The database failing is not a reason to die: log it and look again after a pause.
        this.deps.log.event("fills", { error: `queue unavailable: ${err instanceof Error ? err.message : String(err)}` });
      }
      if (!job) {
        await this.idle(waitMs);
        continue;
      }
      try {
        await this.runJob(job);
      } catch (err) {
        this.deps.log.event("fills", { job: job.id, error: `could not record the outcome: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
  }

  private async runJob(job: JobRow): Promise<void> {
    const entry: Running = { controller: new AbortController(), reason: null };
    this.running.set(job.id, entry);
    this.logJob(job, "running");
    const live = this.liveFor(job);
    // Claimed here again: the watch for a retry run elsewhere is moot.
    this.retryWatch.delete(job.id);
    try {
      const done = await this.fill(job, entry.controller.signal, live);
      // Committed: its streams finish. Otherwise (the cached copy was kept, a 304 or the same
      // bytes) streams of an earlier attempt's answer would wait forever: they are cut.
      this.endLive(job.key, job.id, "the fill ended without these bytes (the cached copy was kept)");
      await this.settleJobWrites(job.id);
      if (done.kind === "kept") {
        // A temp file an earlier attempt left (a body that broke off, then a 304) is not needed now.
        this.deps.store.blobs.removeTemp(tempNameOf(job.id));
        await this.meta.updateJob(job.id, { state: "completed", bytesDone: 0, finishedAtMs: this.deps.nowMs(), error: null, rateBytesPerSec: 0 });
        this.logJob({ ...job, state: "completed" }, "completed", { revalidation: "not-modified", detail: done.detail, body_bytes: 0 });
      } else {
        const updated = { ...job, state: "completed" as const, bytesDone: done.sizeBytes, totalBytes: done.sizeBytes };
        await this.meta.updateJob(job.id, { state: "completed", bytesDone: done.sizeBytes, totalBytes: done.sizeBytes, finishedAtMs: this.deps.nowMs(), error: null, rateBytesPerSec: 0 });
        this.logJob(updated, "completed", { sha256: done.sha256, hash: done.hash });
        await this.evictToCap(job.key);
      }
    } catch (err) {
      let retried = false;
      try {
        retried = await this.settleFailure(job, entry, err);
      } finally {
        // A retry that resumes the same bytes keeps its streams waiting (with a shared queue, only
        // until the retry is due: it may run on another cache-host); anything else, including a
        // failure to record the outcome, cuts them.
        const resumable = retried && this.meta.getJob(job.id)?.validator != null && (this.deps.store.blobs.tempSize(tempNameOf(job.id)) ?? 0) > 0;
        if (!resumable) this.endLive(job.key, job.id, err instanceof Error ? firstLineOf(err) : "the fill stopped");
        else this.watchRetry(job);
      }
    } finally {
      this.running.delete(job.id);
      this.notifyKey(job.key);
    }
  }

  /** --max-cache-size: drop least recently used artifacts (never `keep`) until under the cap. */
  private async evictToCap(keep: string | null): Promise<void> {
    const cap = this.deps.config.maxCacheBytes;
    if (cap <= 0) return;
    try {
      const evicted = await this.deps.store.evictToFit(cap, new Set(keep === null ? [] : [keep]));
      for (const e of evicted) {
        this.deps.log.event("evicted", { key: loggableUrl(e.key), freed_bytes: e.freedBytes, reason: "max-cache-size" });
      }
      if (evicted.length > 0) this.deps.observer?.evicted(evicted.length, evicted.reduce((n, e) => n + e.freedBytes, 0));
    } catch (err) {
      this.deps.log.event("evict-error", { error: firstLineOf(err) });
    }
  }

  /**
   * The disk guard: null when the fill writing `temp` may write `moreBytes` more, else the
   * one-line reason. What other fills and local copies still mean to write counts as used.
   */
  private diskVerdict(temp: string, moreBytes: number, starting: boolean): string | null {
    if (diskGuardOff(this.minFree)) return null; // before the statfs
    const space = this.deps.store.blobs.diskSpace(temp);
    return diskGuard({ ...space, moreBytes, rule: this.minFree, dir: this.deps.store.dataDir, starting });
  }

  /** Record how an attempt failed; true when the job is queued again for a retry. */
  private async settleFailure(job: JobRow, entry: Running, err: unknown): Promise<boolean> {
    // Progress written in the background lands before the outcome, never after it.
    await this.settleJobWrites(job.id);
    const now = this.deps.nowMs();
    const temp = tempNameOf(job.id);
    if (entry.reason === "cancel") {
      this.deps.store.blobs.removeTemp(temp);
      await this.meta.updateJob(job.id, { state: "cancelled", finishedAtMs: now, rateBytesPerSec: 0 });
      this.logJob(job, "cancelled");
      return false;
    }
    if (entry.reason === "park") {
      await this.meta.updateJob(job.id, { state: "queued", attempts: Math.max(0, job.attempts - 1), rateBytesPerSec: 0 });
      this.logJob(job, "queued", { parked: true });
      return false;
    }
    let message: string;
    let kind: FillError["kind"];
    if (err instanceof FillError) {
      message = err.message;
      kind = err.kind;
    } else {
      // Not an expected failure: keep the details in the log, give the job a one-line reason.
      message = `internal error during fill: ${firstLineOf(err)}`;
      kind = "transient";
      this.deps.log.event("fill-bug", { job: job.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
    if (kind === "refused") await this.meta.setMissInfo(job.key, { refusal: message });
    // Waiting for the blob store, however long the outage, is not given up: it looks again every
    // few seconds and gives the attempt back (no origin request until the blob store answers).
    const waiting = kind === "waiting";
    if (waiting || (kind === "transient" && job.attempts < this.deps.config.fillAttempts)) {
      const { fillBackoffMs, fillBackoffMaxMs } = this.deps.config;
      const delay = waiting ? Math.min(BLOB_STORE_WAIT_MS, Math.max(fillBackoffMaxMs, 1)) : backoffMs(job.attempts, { baseMs: fillBackoffMs, maxMs: fillBackoffMaxMs });
      await this.meta.updateJob(job.id, { state: "queued", error: message, notBeforeMs: now + delay, rateBytesPerSec: 0, ...(waiting ? { attempts: Math.max(0, job.attempts - 1) } : {}) });
      this.logJob(job, "queued", { retry_in_ms: delay, error: message });
      return true;
    }
    this.deps.store.blobs.removeTemp(temp);
    await this.meta.updateJob(job.id, { state: "failed", error: message, finishedAtMs: now, rateBytesPerSec: 0 });
    this.logJob(job, "failed", { error: message });
    // Bytes the origin replaced are never served again: with no new version coming, free them.
    if (this.meta.getArtifact(job.key)?.superseded) await this.deps.store.deleteArtifact(job.key);
    return false;
  }

  /** A SHA-256 sink for a fill of `totalBytes` (null: unknown); a worker one when it pays. */
  private openSink(totalBytes: number | null): Promise<Sha256Sink> {
    const url = this.deps.hashWorkerUrl;
    const useWorker = url !== null && (totalBytes === null || totalBytes >= HASH_WORKER_MIN_BYTES);
    return openSha256Sink({
      useWorker,
      ...(url ? { workerUrl: url } : {}),
      onWorkerFailure: (reason) => {
        if (this.hashWorkerFailureLogged) return;
        this.hashWorkerFailureLogged = true;
        this.deps.log.event("fills", { hash_worker: "unavailable", reason, fallback: "hashing in the event loop" });
      },
    });
  }

  /** One attempt: plan → open → decide → body plan → stream to disk → verify → commit. */
  private async fill(job: JobRow, signal: AbortSignal, live: LiveFill): Promise<FillDone> {
    const { config, store } = this.deps;
    const blobs = store.blobs;
    const temp = tempNameOf(job.id);
    // Plan: resume what the temp file holds (if it can be trusted), or ask conditionally about
    // a cached copy we may keep.
    const policy = this.rules.match(job.url).policy;
    const existing = this.meta.getArtifact(job.key);
    const kept = existing === null || existing.superseded ? null : existing;
    // New bytes cannot be stored while the bucket does not answer: not fetched from the origin
    // for nothing on every retry (a revalidation still asks: a 304 needs no upload).
    const blobsDown = kept === null ? blobs.health() : null;
    if (blobsDown !== null) throw new FillError(`fill waits: blob store: ${blobsDown}`, "waiting");
    const tempBytes = blobs.tempSize(temp) ?? 0;
    const plan = planFill({
      tempBytes,
      totalBytes: job.totalBytes,
      validator: job.validator,
      syncedBytes: job.syncedBytes,
      jobBootId: job.bootId,
      bootId: this.bootId,
      cached: kept === null ? null : rowFreshness(kept, this.rules, config).freshness,
      version: this.deps.version,
    });
    if (plan.truncateToBytes !== null) {
      this.deps.log.event("fills", { job: job.id, resume_trusts_bytes: plan.truncateToBytes, temp_bytes: tempBytes, reason: plan.truncateReason ?? "" });
      live.rewindTo(plan.truncateToBytes);
      blobs.truncateTemp(temp, plan.truncateToBytes);
    }
    const cached: CachedCopy | null = kept === null ? null : { originHeaders: kept.originHeaders, sentEtag: plan.sentEtag, sentLastModified: plan.sentLastModified };
    const idle = new IdleWatch(signal, config.originIdleTimeoutMs);
    let file: TempBlob | null = null;
    let sink: Sha256Sink | null = null;
    try {
      // Open.
      const requestAtMs = this.deps.nowMs();
      let opened: Awaited<ReturnType<typeof openOrigin>>;
      try {
        opened = await openOrigin({
          url: job.url,
          headers: plan.headers,
          signal: idle.signal,
          maxRedirects: config.maxRedirects,
          allowPrivateOrigins: config.allowPrivateOrigins,
          resolve: this.resolve,
          addressAllowed: this.addressAllowed,
        });
      } catch (err) {
        // Refused, reset, DNS failure, timeout: the origin is down for this revalidation.
        if (cached !== null && !signal.aborted) {
          const why = idle.fired ? `no answer for ${config.originIdleTimeoutMs} ms` : firstLineOf(err).toLowerCase();
          await this.noteRevalidation(job.key, { result: "origin-down", detail: why });
        }
        throw err;
      }
      const { response, redirected } = opened;
      const responseAtMs = this.deps.nowMs();
      const status = response.status;
      const dropBody = (): Promise<void> => (response.body ? response.body.cancel().catch(() => {}) : Promise.resolve());
      // Body plan first for a refused resume: a 416 says nothing about storability.
      if (plan.offsetBytes > 0 && status === 416) {
        await dropBody();
        await this.restartFromZero(job, live, "the origin refused to resume");
        throw new FillError(`origin refused to resume ${loggableUrl(job.url)} (416); restarting from zero`, "transient");
      }
      // Decide from the status and headers alone, before any body byte is read.
      const answer = decideOriginAnswer({ status, headers: response.headers, url: loggableUrl(job.url), policy, cached });
      if (answer.kind !== "store") await dropBody();
      const early = await this.settleAnswer(job, answer, { existing, cached, status, requestAtMs, responseAtMs });
      if (early !== null) return early;

      // Body plan: where the body goes, how long it is, what a resume would be under.
      const body = planBody({ status, headers: response.headers, offsetBytes: plan.offsetBytes, validator: job.validator, url: loggableUrl(job.url), limits: config });
      if (body.kind !== "write") {
        await dropBody();
        if (body.kind === "restart") await this.restartFromZero(job, live, "the origin answered another range");
        throw new FillError(body.reason, body.kind === "restart" ? "transient" : "permanent");
      }
      const { offsetBytes: offset, totalBytes, validator } = body;
      const refusal = this.diskVerdict(temp, totalBytes === null ? 0 : totalBytes - offset, true);
      if (refusal !== null) {
        await dropBody();
        throw new FillError(refusal, "permanent");
      }
      // Other fills and local copies count what this one still writes (released in finally).
      if (totalBytes !== null) blobs.promiseWrite(temp, totalBytes - offset);
      const contentType = response.headers.get("content-type") ?? "application/octet-stream";
      const contentDisposition = response.headers.get("content-disposition");
      // A resumed prefix may still sit in the page cache only: it counts as synced no further than
      // before, until the next fdatasync of the whole file.
      const syncedBytes = offset === 0 ? 0 : Math.min(offset, job.syncedBytes);
      await this.meta.updateJob(job.id, { validator, totalBytes, bytesDone: offset, syncedBytes, bootId: this.bootId });
      if (totalBytes !== null) await this.meta.setMissInfo(job.key, { knownSizeBytes: totalBytes });

      // Stream to disk, hashing, publishing progress to the live fill's readers.
      sink = await this.openSink(totalBytes);
      if (offset > 0) await this.rehashPrefix(temp, offset, sink);
      // Readers of bytes past `offset` (an earlier version, or a prefix not trusted) stop first.
      live.rewindTo(offset);
      try {
        file = await blobs.openTemp(temp, { truncate: offset === 0 });
      } catch (err) {
        await dropBody();
        throw storageFailure(err, store.dataDir);
      }
      if (offset > 0 && (blobs.tempSize(temp) ?? 0) !== offset) {
        live.rewindTo(0);
        await file.close();
        file = await blobs.openTemp(temp, { truncate: true });
        throw new FillError("temp file changed size while resuming; restarting", "transient");
      }
      live.progress(offset);
      live.publish({ contentType, contentDisposition, totalBytes, redirected });
      this.notifyKey(job.key);
      const count = await this.streamToDisk({ job, body: response.body, file, sink, offset, totalBytes, live, signal, idle });

      // Verify: the length, then the digest (the worker finishes its backlog while the file syncs).
      if (totalBytes !== null && count !== totalBytes) {
        await this.syncWritten(job.id, file, count);
        throw new FillError(`origin body ended at ${count} of ${totalBytes} bytes for ${loggableUrl(job.url)}`, "transient");
      }
      const digest = sink.digest();
      digest.catch(() => {}); // awaited below; a sync failure must not leave it unhandled
      try {
        if (blobs.commitNeedsSyncedTemp) await file.sync();
        await file.close();
      } catch (err) {
        throw storageFailure(err, store.dataDir);
      }
      file = null;
      const sha256 = await digest;
      if (signal.aborted) throw new Error("aborted");

      // The bytes are the origin's whole answer, verified: streams may finish now rather than after
      // the commit (with an S3 blob store, a whole upload). Should the commit fail, the fill is
      // forgotten by its readers (endLive): a retry streams under a new live fill, never this one.
      live.commit(count);
      try {
        // Commit: the blob into the store, then the row (see commitStage).
        await this.commitStage({ job, temp, sha256, sizeBytes: count, contentType, contentDisposition, redirected, headers: response.headers, requestAtMs, responseAtMs });
      } catch (err) {
        this.endLive(job.key, job.id, null);
        throw err;
      }
      this.notifyKey(job.key);
      return { kind: "stored", sha256, sizeBytes: count, hash: sink.mode };
    } catch (err) {
      if (err instanceof FillError && err.message.startsWith("origin sent more than")) await this.restartFromZero(job, live, "the origin sent more than it said");
      if (idle.fired && !(err instanceof FillError) && !signal.aborted) {
        throw new FillError(`origin sent no bytes for ${config.originIdleTimeoutMs} ms for ${loggableUrl(job.url)}`, "transient");
      }
      throw err;
    } finally {
      blobs.promiseWrite(temp, 0);
      idle.dispose();
      sink?.dispose();
      if (file) await file.close().catch(() => {});
    }
  }

  /**
   * The decide stage's verdict carried out: a kept copy ends the attempt (returned), a refusal
   * throws, a storable answer returns null (the body is streamed). Revalidation outcomes are noted.
   */
  private async settleAnswer(
    job: JobRow,
    answer: OriginAnswer,
    at: { existing: ArtifactRow | null; cached: CachedCopy | null; status: number; requestAtMs: number; responseAtMs: number },
  ): Promise<FillDone | null> {
    switch (answer.kind) {
      case "not-modified":
      case "same-version":
        await this.meta.refreshArtifact(job.key, { originHeaders: answer.headers, requestAtMs: at.requestAtMs, responseAtMs: at.responseAtMs, atMs: at.responseAtMs, result: "not-modified", detail: answer.detail });
        this.deps.observer?.revalidated?.("not-modified");
        this.notifyKey(job.key);
        return { kind: "kept", detail: answer.detail };
      case "gone":
        await this.deps.store.deleteArtifact(job.key);
        await this.markUncacheable(job, `${answer.reason}; the cached copy was removed`);
        throw new FillError(answer.reason, "permanent");
      case "uncacheable":
        // The copy (if any, superseded too) can no longer be kept: the origin now forbids storing it.
        if (at.existing !== null) await this.deps.store.deleteArtifact(job.key);
        await this.markUncacheable(job, answer.reason);
        throw new FillError(answer.reason, "permanent");
      case "refused":
        await this.noteRevalidation(job.key, { result: "refused", detail: answer.reason });
        throw new FillError(answer.reason, "permanent");
      case "retry":
        if (at.cached !== null) {
          await this.noteRevalidation(job.key, { result: answer.supersede ? "changed" : answer.originDown ? "origin-down" : "refused", detail: answer.reason, superseded: answer.supersede });
        }
        throw new FillError(answer.reason, "transient");
      case "store":
        if (answer.supersedes) await this.noteRevalidation(job.key, { result: "changed", detail: answer.detail, superseded: true });
        // The origin is up and sends a body to compare: the stale copy is not served meanwhile.
        else if (at.cached !== null && at.status === 200) await this.noteRevalidation(job.key, { result: "refetching", detail: answer.detail });
        return null;
    }
  }

  /** The temp file cannot be resumed: forget its validator and bytes, and cut its streams. */
  private async restartFromZero(job: JobRow, live: LiveFill, why: string): Promise<void> {
    live.cut(why);
    await this.settleJobWrites(job.id);
    await this.meta.updateJob(job.id, { validator: null, bytesDone: 0 });
    this.deps.store.blobs.removeTemp(tempNameOf(job.id));
  }

  /** Re-hash the prefix a resume keeps; the temp file may be longer than what we trust. */
  private async rehashPrefix(temp: string, offset: number, sink: Sha256Sink): Promise<void> {
    let seen = 0;
    const prefix = this.deps.store.blobs.readTemp(temp).getReader();
    try {
      while (seen < offset) {
        const { done, value } = await prefix.read();
        if (done) break;
        const take = Math.min(value.byteLength, offset - seen);
        sink.update(value.subarray(0, take));
        seen += take;
        await sink.drain();
      }
    } finally {
      await prefix.cancel().catch(() => {});
    }
    if (seen !== offset) throw new FillError("temp file shrank while resuming; restarting", "transient");
  }

  /**
   * Write the body into the temp file from `offset`, hashing it, checking limits and free disk,
   * publishing progress (database on a timer, live readers per write). Resolves with the bytes
   * written; a broken body throws a transient FillError after making the bytes durable.
   */
  private async streamToDisk(s: {
    job: JobRow;
    body: ReadableStream<Uint8Array> | null;
    file: TempBlob;
    sink: Sha256Sink;
    offset: number;
    totalBytes: number | null;
    live: LiveFill;
    signal: AbortSignal;
    idle: IdleWatch;
  }): Promise<number> {
    const { config, store } = this.deps;
    const { job, file, sink, totalBytes, live } = s;
    const temp = tempNameOf(job.id);
    let count = s.offset;
    if (!s.body) return count;
    let lastSyncAt = count;
    let lastDiskCheckAt = count;
    const reader = s.body.getReader();
    // Progress is written on a timer, not on chunk arrival, so a stalled origin shows its
    // real bytes and a falling rate instead of the last values from before the stall.
    let lastTickMs = Date.now();
    let lastTickCount = count;
    let rateBytesPerSec = 0;
    const progressTimer = setInterval(() => {
      const nowMs = Date.now();
      const instant = ((count - lastTickCount) * 1000) / Math.max(1, nowMs - lastTickMs);
      // Smoothed while bytes flow; an interval with no bytes is a stall and shows 0 B/s at once.
      rateBytesPerSec = instant === 0 || lastTickCount === s.offset ? instant : 0.5 * rateBytesPerSec + 0.5 * instant;
      lastTickMs = nowMs;
      lastTickCount = count;
      // Cancelled elsewhere (another cache-host on the shared database, where the job's row is
      // all it can change): stop as if cancelled here.
      const running = this.running.get(job.id);
      if (running && running.reason === null && this.meta.getJob(job.id)?.state === "cancelled") {
        running.reason = "cancel";
        running.controller.abort();
      }
      // A tick while the last progress write is still on its way skips (the next one is newer).
      if (!this.jobWrites.has(job.id)) this.backgroundJobWrite(job.id, { bytesDone: count, rateBytesPerSec: Math.round(rateBytesPerSec) });
    }, PROGRESS_INTERVAL_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        s.idle.arm();
        const next = count + value.byteLength;
        if (totalBytes !== null && next > totalBytes) {
          throw new FillError(`origin sent more than its content-length ${totalBytes} for ${loggableUrl(job.url)}`, "transient");
        }
        const grewTooBig = sizeLimitExceeded(config, next);
        if (grewTooBig !== null) throw new FillError(`origin artifact exceeds ${grewTooBig.flag} ${grewTooBig.limitBytes}`, "permanent");
        if (next - lastDiskCheckAt >= DISK_CHECK_BYTES) {
          lastDiskCheckAt = next;
          const stop = this.diskVerdict(temp, totalBytes === null ? value.byteLength : totalBytes - count, false);
          if (stop !== null) throw new FillError(stop, "permanent");
        }
        sink.update(value);
        try {
          await file.write(value);
        } catch (err) {
          throw storageFailure(err, store.dataDir);
        }
        count = next;
        if (totalBytes !== null) store.blobs.promiseWrite(temp, totalBytes - count);
        this.deps.observer?.originBytes(value.byteLength);
        live.progress(count);
        await sink.drain();
        if (count - lastSyncAt >= BACKGROUND_SYNC_BYTES) {
          lastSyncAt = count;
          const synced = count;
          // A failed write only lowers what a resume after a reboot may trust.
          file.syncInBackground(() => this.backgroundJobWrite(job.id, { syncedBytes: synced }));
        }
      }
    } catch (err) {
      if (err instanceof FillError) throw err;
      // Parked or cancelled: make what was received durable, so a resume can trust it.
      // (count is what was written: it grows only after a write.)
      await this.syncWritten(job.id, file, count);
      if (s.signal.aborted) throw err;
      const why = s.idle.fired ? `no bytes for ${config.originIdleTimeoutMs} ms` : firstLineOf(err).toLowerCase();
      throw new FillError(`origin body broke off at ${count} bytes for ${loggableUrl(job.url)}: ${why}`, "transient");
    } finally {
      clearInterval(progressTimer);
      reader.releaseLock();
    }
    return count;
  }

  /**
   * Put the verified temp file into the blob store (a rename, or an upload to S3), then commit the
   * row: the blob store starts the row commit as soon as the blob is complete, deletes none of
   * that sha256 until it settles, and takes the blob back when the row cannot be written.
   */
  private async commitStage(c: {
    job: JobRow;
    temp: string;
    sha256: string;
    sizeBytes: number;
    contentType: string;
    contentDisposition: string | null;
    redirected: boolean;
    headers: Headers;
    requestAtMs: number;
    responseAtMs: number;
  }): Promise<void> {
    const { store } = this.deps;
    const blobs = store.blobs;
    const { job, sha256 } = c;
    let revalidated: RevalidationResult | null = null;
    const commitRow = async (confirmBlob: () => Promise<void>): Promise<string | null> => {
      // A refill of a key that had a copy says what it found (same bytes keep the history of both).
      const previous = this.meta.getArtifact(job.key);
      const revalidation = previous === null ? undefined : previous.sha256 === sha256
        ? { atMs: c.responseAtMs, result: "same-bytes" as const, detail: "refetched: same bytes" }
        : { atMs: c.responseAtMs, result: "changed" as const, detail: previous.revalidation === "changed" && previous.revalidationDetail ? previous.revalidationDetail : "refetched: new bytes" };
      try {
        const committed = await this.meta.commitArtifact({
          key: job.key,
          url: job.url,
          sha256,
          sizeBytes: c.sizeBytes,
          contentType: c.contentType,
          contentDisposition: c.contentDisposition,
          fetchedAtMs: this.deps.nowMs(),
          redirected: c.redirected,
          freshness: { originHeaders: originHeadersOf(c.headers), requestAtMs: c.requestAtMs, responseAtMs: c.responseAtMs },
          ...(revalidation ? { revalidation } : {}),
        }, confirmBlob);
        revalidated = revalidation?.result ?? null;
        return committed.replacedSha256;
      } catch (err) {
        // The blob store uploads again and retries (BlobGone), or the fill waits for it.
        if (err instanceof BlobGone || err instanceof BlobStoreUnavailable) throw err;
        throw new RowCommitError(err);
      }
    };
    let replacedSha256: string | null;
    try {
      replacedSha256 = await blobs.commitTemp(c.temp, sha256, commitRow);
    } catch (err) {
      if (err instanceof RowCommitError) throw new FillError(`cannot record the artifact: ${firstLineOf(err.cause).toLowerCase()}`, "transient");
      throw storageFailure(err, store.dataDir);
    }
    if (revalidated !== null) this.deps.observer?.revalidated?.(revalidated);
    if (replacedSha256 && this.meta.countArtifactsWithSha(replacedSha256) === 0) blobs.delete(replacedSha256);
  }

  /** Record a revalidation outcome on the cached copy and wake readers waiting for it. */
  private async noteRevalidation(key: string, note: { result: "origin-down" | "refused" | "changed" | "refetching"; detail: string; superseded?: boolean }): Promise<void> {
    try {
      await this.meta.noteRevalidation(key, { atMs: this.deps.nowMs(), ...note });
      this.deps.observer?.revalidated?.(note.result);
      if (note.result === "origin-down" || note.superseded) this.deps.log.event("revalidation", { key: loggableUrl(key), result: note.result, detail: note.detail });
    } catch (err) {
      this.deps.log.event("fills", { key: loggableUrl(key), error: `could not record the revalidation: ${firstLineOf(err)}` });
    }
    this.notifyKey(key);
  }

  /** The origin will not let the key be stored: remember why, and do not auto-fetch it for a while. */
  private async markUncacheable(job: JobRow, reason: string): Promise<void> {
    const nowMs = this.deps.nowMs();
    await this.meta.markUncacheable({ key: job.key, url: job.url, reason, untilMs: nowMs + this.deps.config.uncacheableRetryMs, nowMs });
    this.deps.log.event("uncacheable", { key: loggableUrl(job.key), job: job.id, reason, retry_after_ms: this.deps.config.uncacheableRetryMs });
    this.notifyKey(job.key);
  }

  /**
   * An attempt that stops short: fdatasync the temp file and record `writtenBytes` as done, and
   * as synced (what a resume after a reboot may trust) only when the sync succeeded.
   */
  private async syncWritten(jobId: number, file: TempBlob, writtenBytes: number): Promise<void> {
    const durable = await file.sync().then(
      () => true,
      () => false,
    );
    await this.settleJobWrites(jobId);
    await this.meta.updateJob(jobId, durable ? { bytesDone: writtenBytes, syncedBytes: writtenBytes } : { bytesDone: writtenBytes });
  }

  /**
   * A job write nobody waits for (progress, synced bytes): chained after the job's earlier ones,
   * so they land in order; a failure is cosmetic (the outcome write reports real trouble).
   */
  private backgroundJobWrite(jobId: number, patch: Parameters<CacheStore["metadata"]["updateJob"]>[1]): void {
    const write: Promise<void> = (this.jobWrites.get(jobId) ?? Promise.resolve())
      .then(async () => void (await this.meta.updateJob(jobId, patch)))
      .catch(() => {})
      .finally(() => {
        if (this.jobWrites.get(jobId) === write) this.jobWrites.delete(jobId);
      });
    this.jobWrites.set(jobId, write);
  }

  /** Wait until the job's background writes have landed (before a write that must come after them). */
  private async settleJobWrites(jobId: number): Promise<void> {
    // Bounded: each round waits for writes queued before it; a timer tick adds at most one more.
    for (let round = 0; round < 3; round++) {
      const pending = this.jobWrites.get(jobId);
      if (pending === undefined) return;
      await pending;
    }
  }

  private logJob(job: JobRow, state: JobState, extra: Record<string, string | number | boolean> = {}): void {
    if (state === "completed" || state === "failed" || state === "cancelled") this.deps.observer?.fillFinished(state);
    this.deps.log.event("job", { id: job.id, state, key: loggableUrl(job.key), source: job.source, ...extra });
  }
}

/** The first line of a thrown value's message (log fields and job errors are one line). */
function firstLineOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

/** The row commit inside the blob store's commit failed (told apart from a failed upload or rename). */
class RowCommitError extends Error {
  constructor(override readonly cause: unknown) {
    super(firstLineOf(cause));
  }
}

/**
 * A failed write, sync or rename in the data dir: one line; the job fails and its temp goes. A
 * remote blob store that refused the upload is transient: the job retries with backoff; one that
 * does not answer at all makes the job wait for it without spending an attempt.
 */
function storageFailure(err: unknown, dir: string): FillError {
  if (err instanceof BlobStoreUnavailable) return new FillError(`fill waits: ${err.message}`, err.outage ? "waiting" : "transient");
  // Uploaded again after another cache-host deleted the object, and deleted again before the row
  // commit (a sweep or an eviction listed it before): retried like any transient failure.
  if (err instanceof BlobGone) return new FillError(`fill retries: ${err.message} (deleted again after a second upload)`, "transient");
  const code = (err as { code?: string }).code;
  if (code === "ENOSPC" || code === "EDQUOT") return new FillError(`fill stopped: the disk is full (no space left in ${dir})`, "permanent");
  const what = code ? code.toLowerCase() : firstLineOf(err).toLowerCase();
  return new FillError(`fill stopped: cannot write in ${dir}: ${what}`, "permanent");
}

/**
 * Aborts an attempt when no bytes arrive for `timeoutMs`. One interval per attempt checks the
 * time of the last byte (re-arming a timer per chunk costs more than the chunk).
 */
class IdleWatch {
  private readonly controller = new AbortController();
  private lastByteMs = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly outer: AbortSignal;
  private readonly onOuterAbort = (): void => this.controller.abort();
  /** The attempt was aborted for want of bytes (not by a cancel or park). */
  fired = false;

  constructor(outer: AbortSignal, timeoutMs: number) {
    this.outer = outer;
    outer.addEventListener("abort", this.onOuterAbort, { once: true });
    this.timer = setInterval(
      () => {
        if (Date.now() - this.lastByteMs < timeoutMs) return;
        this.fired = true;
        this.controller.abort();
      },
      Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4))),
    );
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(): void {
    this.lastByteMs = Date.now();
  }

  dispose(): void {
    clearInterval(this.timer);
    this.outer.removeEventListener("abort", this.onOuterAbort);
  }
}
