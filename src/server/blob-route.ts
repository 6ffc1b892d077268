// The read path: /b/<token>/<name> and /blob?url= both land here. A hit is served from the
// blob file with sendfile (Bun.file), ranges and conditionals decided by core/range.ts; a miss
// is recorded and, unless --curate, queues a background fill.
import { cacheKey, parseOriginUrl } from "../core/cache-key.ts";
import { assert, HttpError } from "../core/errors.ts";
import { loggableUrl } from "../core/log.ts";
import { contentRange, decideRange, ifNoneMatchHits, notModifiedSince } from "../core/range.ts";
import { VALIDATED_USE_MS } from "../core/freshness.ts";
import { rowFreshness } from "../fetch/freshness-of-row.ts";
import type { BunFile } from "bun";
import type { ArtifactRow, BlobLocation } from "../store/types.ts";
import type { RequestContext } from "./context.ts";
import { artifactBodyHeaders, textResponse } from "./responses.ts";
import { streamLive } from "./stream-route.ts";
import { fromReplica, hopped } from "./replica-proxy.ts";

export type LookupOutcome = {
  response: Response;
  key: string | null;
  /** The key as logged (scheme, host and path; a query elided). */
  logKey?: string;
  note: string | null;
  /** body bytes, for the log */
  bytes?: number;
  /**
   * A miss in auto mode: what became of its fill, known only once the enqueue (which may wait on
   * DNS) settles. The request's log line waits for it, so it says what really happened.
   */
  fill?: Promise<FillNote>;
};

/** The log's account of a miss's fill: `miss-fill` (queued, or joined a running fill), `miss-refused`
 *  (private address, --allow-host), `miss-not-queued` (queue full, failed recently, cached meanwhile). */
export type FillNote = { note: "miss-fill"; job: number } | { note: "miss-refused" | "miss-not-queued" | "miss-error"; reason: string };

export const MISS_BODY = "cache miss (recorded)";
export const NEVER_BODY = "not cached: an operator rule says never";

/** A probe (HEAD) re-checks that its blob file exists at most this often (a stat per probe is costly at
 *  tens of thousands of probes a second); a GET always looks. */
const BLOB_CHECK_MAX_AGE_MS = 1000;
/** A failing counter write (full disk, database locked) is logged at most this often. */
const COUNTER_ERROR_LOG_INTERVAL_MS = 10_000;
/** Parsed origin URLs remembered by the read path (a probe asks for the same few URLs again and again). */
const PARSED_URLS_MAX = 10_000;
type ParsedUrl = { key: string; href: string; logKey: string };
/** "<keepQuery 0|1><raw url>" → what lookup needs of it; only URLs that parsed are kept. */
const parsedUrls = new Map<string, ParsedUrl>();

/** parseOriginUrl + cacheKey + loggableUrl, memoised: pure functions of the raw URL and keepQuery. */
function parseForLookup(rawUrl: string, where: string, keepQuery: boolean): ParsedUrl {
  const memoKey = (keepQuery ? "1" : "0") + rawUrl;
  const known = parsedUrls.get(memoKey);
  if (known) return known;
  const parsed = parseOriginUrl(rawUrl);
  if (!parsed.ok) throw new HttpError(parsed.status, `${where}: ${parsed.message}`);
  const key = cacheKey(parsed.url, { keepQuery });
  const entry = { key, href: parsed.url.href, logKey: loggableUrl(key) };
  if (parsedUrls.size >= PARSED_URLS_MAX) parsedUrls.clear();
  parsedUrls.set(memoKey, entry);
  return entry;
}

/** What a hit's responses share, built once per artifact and reused until a field they depend on
 *  changes (a hit's counter update gives a new row object but the same headers). */
/** `file`: the blob's local file (null when the blob store had none when the parts were made). */
type HitParts = { etag: string; lastModified: string; headers: Headers; notModifiedHeaders: Headers; file: BunFile | null; path: string | null; row: ArtifactRow };
/** Per store (one per running server): hit parts by cache key, bounded like the row cache. */
const hitParts = new WeakMap<object, Map<string, HitParts>>();
const HIT_PARTS_MAX = 10_000;

function sameHitHeaders(x: ArtifactRow, y: ArtifactRow): boolean {
  return x.sha256 === y.sha256 && x.fetchedAtMs === y.fetchedAtMs && x.contentType === y.contentType && x.contentDisposition === y.contentDisposition && x.redirected === y.redirected;
}

/** Per store (one per running server): when a counter error was last logged. */
const counterErrorLoggedAtMs = new WeakMap<object, number>();

/**
 * Hit and miss counters are bookkeeping: when the database cannot take a write (the disk is
 * full), the client still gets its bytes or its 404, and the log says why counters stalled.
 */
function count(ctx: RequestContext, what: string, write: () => void): void {
  try {
    write();
  } catch (err) {
    counterError(ctx, what, err);
  }
}

/** count for a write that is awaited (a row delete on the read path). */
async function countAwaited(ctx: RequestContext, what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    counterError(ctx, what, err);
  }
}

function counterError(ctx: RequestContext, what: string, err: unknown): void {
  const now = Date.now();
  if (now - (counterErrorLoggedAtMs.get(ctx.store) ?? -Infinity) < COUNTER_ERROR_LOG_INTERVAL_MS) return;
  counterErrorLoggedAtMs.set(ctx.store, now);
  ctx.log.event("counter-error", { request: ctx.requestId, counter: what, error: (err instanceof Error ? err.message : String(err)).split("\n")[0] });
}

export function lookup(req: Request, rawUrl: string, where: string, ctx: RequestContext): LookupOutcome | Promise<LookupOutcome> {
  const parsed = parseForLookup(rawUrl, where, ctx.config.keepQuery);
  const { key, logKey } = parsed;
  const rules = ctx.fills.rules;
  if (rules.match(parsed.href).policy.kind === "never") {
    // An operator rule: never cached, never fetched, not even recorded as a miss.
    return { response: textResponse(req, 404, NEVER_BODY, { "cache-control": "no-store" }), key, logKey, note: "never" };
  }
  const artifact = ctx.store.metadata.getArtifact(key);
  if (artifact && !artifact.superseded && !blobIntact(req, artifact, ctx, logKey)) {
    // The row goes before the miss is answered (and a fill queued): the key is a plain miss then.
    return countAwaited(ctx, "forget", () => ctx.store.deleteArtifact(artifact.key)).then(() => streamOrMiss(req, ctx, parsed));
  }
  if (artifact && !artifact.superseded) {
    const now = ctx.nowMs();
    if (rowFreshness(artifact, rules, ctx.config).verdict(now).kind === "fresh") {
      freshHits(ctx).set(key, now);
      return hitOutcome(req, artifact, ctx, parsed, "hit");
    }
    // The shim probed while it was fresh and downloads a moment later: still one use.
    const probedAt = freshHits(ctx).get(key);
    if (probedAt !== undefined && now - probedAt >= 0 && now - probedAt < VALIDATED_USE_MS && artifact.revalidation !== "changed") return hitOutcome(req, artifact, ctx, parsed, "hit");
    return answerStale(req, ctx, parsed);
  }
  return streamOrMiss(req, ctx, parsed);
}

/** A client streaming a fill's bytes as they arrive; null when the key has no fill to stream. */
function joinLiveFill(req: Request, ctx: RequestContext, parsed: ParsedUrl, note: string): LookupOutcome | null {
  const live = ctx.fills.liveFill(parsed.key);
  return live === null ? null : streamLive(req, live, ctx, parsed, note);
}

/**
 * Another replica runs the key's fill (shared database): its answer for the same request, streamed
 * through this one; null when no other replica runs it, or it gave no answer to pass on.
 */
async function joinRemoteFill(req: Request, ctx: RequestContext, parsed: ParsedUrl, note: string, headersTimeoutMs?: number): Promise<LookupOutcome | null> {
  if (!ctx.database || !ctx.replicaId || hopped(req)) return null;
  const remote = ctx.database.metadata.remoteFill(parsed.key);
  if (remote === null) return null;
  const committedBefore = ctx.store.metadata.getArtifact(parsed.key)?.fetchedAtMs ?? null;
  const response = await fromReplica(req, remote.url, ctx.replicaId, headersTimeoutMs);
  if (response === null) return null;
  // The owner may hold bytes back (the last one until its commit): no idle cut here meanwhile.
  ctx.noIdleTimeout?.();
  const database = ctx.database;
  // ...but a relay from a replica that no longer runs the fill (stopped, cut off: its lease went to
  // another, or the job ended there without a commit) is cut, not left waiting for ever.
  const moved = (): boolean => {
    const now = database.metadata.remoteFill(parsed.key);
    if (now !== null && now.replicaId === remote.replicaId) return false;
    const row = ctx.store.metadata.getArtifact(parsed.key);
    return row === null || row.fetchedAtMs === committedBefore;
  };
  const body = response.body === null ? null : cutWhen(response.body, moved, `replica ${remote.replicaId} no longer runs the fill`);
  return { response: new Response(body, response), key: parsed.key, note: `${note}-via-${remote.replicaId}` };
}

/** How often a relayed stream looks whether its replica still runs the fill; cut after two looks in a row say no. */
const RELAY_WATCH_MS = 1_000;

/** `body`, ended with an error once `moved()` has said true on two looks in a row. */
function cutWhen(body: ReadableStream<Uint8Array>, moved: () => boolean, reason: string): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let strikes = 0;
  let timer: Timer | undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => {
        strikes = moved() ? strikes + 1 : 0;
        if (strikes < 2) return;
        clearInterval(timer);
        controller.error(new Error(reason));
        void reader.cancel(reason).catch(() => undefined);
      }, RELAY_WATCH_MS);
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          clearInterval(timer);
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        clearInterval(timer);
        controller.error(err);
      }
    },
    cancel(why) {
      clearInterval(timer);
      return reader.cancel(why);
    },
  });
}

/** A row another replica committed while this request waited: answer it as a hit. */
function committedMeanwhile(req: Request, ctx: RequestContext, parsed: ParsedUrl): LookupOutcome | null {
  if (!ctx.database) return null;
  const artifact = ctx.store.metadata.getArtifact(parsed.key);
  return artifact === null || artifact.superseded ? null : hitOutcome(req, artifact, ctx, parsed, "hit");
}

/**
 * No copy to serve. A fill already streaming is joined at once; otherwise (auto mode) the miss
 * queues a fill and waits up to --first-byte-wait for the origin's storable answer, then streams
 * it, or answers the miss when the answer is late, refused or not storable (the fill goes on).
 */
function streamOrMiss(req: Request, ctx: RequestContext, parsed: ParsedUrl): LookupOutcome | Promise<LookupOutcome> {
  // A fill cannot be committed while the bucket does not answer: a stream of it would be cut at
  // its last byte. A plain miss sends the client to the origin; the fill waits and retries.
  if (ctx.store.blobs.health() !== null) return missOutcome(req, ctx, parsed, "miss-blob-store-down");
  const joined = joinLiveFill(req, ctx, parsed, "stream");
  if (joined !== null) return joined;
  if (ctx.database && ctx.database.metadata.remoteFill(parsed.key) !== null) {
    return joinRemoteFill(req, ctx, parsed, "stream").then((remote) => remote ?? missOrWait(req, ctx, parsed));
  }
  return missOrWait(req, ctx, parsed);
}

function missOrWait(req: Request, ctx: RequestContext, parsed: ParsedUrl): LookupOutcome | Promise<LookupOutcome> {
  const miss = missOutcome(req, ctx, parsed);
  if (miss.fill === undefined || ctx.config.firstByteWaitMs <= 0) return miss;
  return waitForFirstByte(req, ctx, parsed, { ...miss, fill: miss.fill });
}

async function waitForFirstByte(req: Request, ctx: RequestContext, parsed: ParsedUrl, miss: LookupOutcome & { fill: Promise<FillNote> }): Promise<LookupOutcome> {
  const { fill } = miss;
  const deadline = performance.now() + ctx.config.firstByteWaitMs;
  let queued: boolean | null = null;
  void fill.then((note) => (queued = note.note === "miss-fill"));
  for (;;) {
    const streamed = joinLiveFill(req, ctx, parsed, "miss-stream");
    // The log line still says which fill the miss queued or joined.
    if (streamed !== null) return { ...streamed, fill };
    // Shared database: the fill may run on another replica, or have finished there (its answer
    // is waited for no longer than this miss may still wait).
    const remote = await joinRemoteFill(req, ctx, parsed, "miss-stream", deadline - performance.now());
    if (remote !== null) return { ...remote, fill };
    const committed = committedMeanwhile(req, ctx, parsed);
    if (committed !== null) return { ...committed, fill };
    const leftMs = deadline - performance.now();
    if (queued === false || leftMs <= 0) return miss;
    // The key's news: its fill published a storable answer, or the attempt ended (a settled
    // enqueue is not waited on again: that would spin without yielding to the event loop).
    const news = ctx.fills.waitForKey(parsed.key, Math.min(leftMs, 50));
    await (queued === null ? Promise.race([news, fill]) : news);
  }
}

/** Per store: when each key was last served as a fresh hit (bounded like the row cache). */
const freshHitsByStore = new WeakMap<object, Map<string, number>>();
const FRESH_HITS_MAX = 10_000;

function freshHits(ctx: RequestContext): { get(key: string): number | undefined; set(key: string, atMs: number): void } {
  let map = freshHitsByStore.get(ctx.store);
  if (!map) {
    map = new Map();
    freshHitsByStore.set(ctx.store, map);
  }
  const m = map;
  return {
    get: (key) => m.get(key),
    set: (key, atMs) => {
      if (m.size >= FRESH_HITS_MAX && !m.has(key)) m.clear();
      m.set(key, atMs);
    },
  };
}

/** The blob's file still has the row's size; otherwise (someone edited the data dir) the caller forgets the row. */
function blobIntact(req: Request, artifact: ArtifactRow, ctx: RequestContext, logKey: string): boolean {
  // A probe (HEAD) may trust a size seen within the last second; a GET, which is about to send
  // the file, looks at it now (one stat), so a blob removed after the probe is a miss, not a 500.
  const size = ctx.store.blobs.recentSizeOf(artifact.sha256, req.method === "HEAD" ? BLOB_CHECK_MAX_AGE_MS : 0);
  if (size === artifact.sizeBytes) return true;
  ctx.log.event("blob-missing", { request: ctx.requestId, key: logKey, sha256: artifact.sha256, found_bytes: size });
  return false;
}

function hitOutcome(req: Request, artifact: ArtifactRow, ctx: RequestContext, parsed: ParsedUrl, note: string, extra: Record<string, string> = {}): LookupOutcome {
  // Cached, but only in a bucket that does not answer: a hit's download would be cut, so the
  // shim is told to go to the origin (it runs the tool as written on anything but 200 and 404).
  const down = ctx.store.blobs.unavailable(artifact.sha256);
  if (down !== null) {
    const response = textResponse(req, 503, `cached, but no copy here can be read now: blob store: ${down}`, { "cache-control": "no-store", "retry-after": "5" });
    return { response, key: parsed.key, logKey: parsed.logKey, note: "hit-blob-store-down" };
  }
  const response = serveHit(req, artifact, ctx, extra);
  return { response, key: parsed.key, logKey: parsed.logKey, note, bytes: req.method === "HEAD" ? 0 : bodyBytes(response, artifact.sizeBytes) };
}

/** The headers of a stale copy served while its origin is down (RFC 9111 §5.5 Warning 110, kept for old tools). */
const STALE_HEADERS = { warning: '110 - "Response is Stale"', "x-withcache-stale": "1" };
/** A revalidation that found the origin down is not retried by readers for this long; they get the stale copy at once. */
const ORIGIN_DOWN_RECHECK_MS = 10_000;

/**
 * A stale artifact: ask the origin (one revalidation per key, shared by every reader), wait for
 * the answer at most --revalidate-wait, then answer from what the row says:
 *   fresh again (304, same bytes, new bytes committed) → hit · the origin down (the latest answer
 *   in this stale period, a connection failure, timeout or 5xx) → the stale copy with a marker,
 *   while --max-stale / stale-if-error allow · changed, gone, refused, refetching, no answer → miss.
 */
async function answerStale(req: Request, ctx: RequestContext, parsed: ParsedUrl): Promise<LookupOutcome> {
  const meta = ctx.store.metadata;
  const rules = ctx.fills.rules;
  const startedMs = ctx.nowMs();
  const deadline = performance.now() + ctx.config.revalidateWaitMs;
  // The origin was found down in this stale period: readers get the stale copy at once for a
  // while, then one of them asks again (and on no answer in time, still gets the stale copy).
  const downAtMs = (a: ArtifactRow): number | null => {
    const f = rowFreshness(a, rules, ctx.config).freshness;
    return a.revalidation === "origin-down" && a.revalidatedAtMs !== null && a.revalidatedAtMs >= Math.min(f.freshUntilMs, startedMs) ? a.revalidatedAtMs : null;
  };
  const staleOrMiss = (a: ArtifactRow, why: string): LookupOutcome => {
    const f = rowFreshness(a, rules, ctx.config);
    const now = ctx.nowMs();
    if (downAtMs(a) !== null && f.serveStaleUntilMs !== null && now <= f.serveStaleUntilMs) {
      ctx.log.event("stale", { request: ctx.requestId, key: parsed.logKey, stale_for_ms: Math.max(0, now - f.freshness.freshUntilMs), reason: a.revalidationDetail ?? "origin down" });
      return hitOutcome(req, a, ctx, parsed, "hit-stale", STALE_HEADERS);
    }
    return missOutcome(req, ctx, parsed, why, { record: false });
  };
  const first = meta.getArtifact(parsed.key);
  const firstDown = first === null ? null : downAtMs(first);
  if (first !== null && firstDown !== null && startedMs - firstDown < ORIGIN_DOWN_RECHECK_MS) return staleOrMiss(first, "miss-stale");
  let refused = false;
  const pending = ctx.fills.enqueue(parsed.href, { source: "auto", requestId: ctx.requestId }).then(
    (r) => void (refused = !r.ok),
    (err: unknown) => {
      ctx.log.event("enqueue-error", { request: ctx.requestId, key: parsed.logKey, error: err instanceof Error ? err.message : String(err) });
      refused = true;
    },
  );
  // The enqueue may wait on DNS: bounded like the rest.
  await Promise.race([pending, Bun.sleep(Math.max(0, deadline - performance.now()))]);
  for (;;) {
    const a = meta.getArtifact(parsed.key);
    // The origin answered with a (new or same) body and it is arriving: stream that.
    const streamed = a === null || a.superseded || a.revalidation === "refetching" ? joinLiveFill(req, ctx, parsed, "stream-refetch") : null;
    if (streamed !== null) {
      // A refetch of a kept copy serves its use of the key: counted like the hit it replaces.
      if (a !== null && !a.superseded && req.method === "GET" && streamed.response.status === 200) count(ctx, "hit", () => meta.recordHit(a.key, ctx.nowMs()));
      return streamed;
    }
    if (a === null || a.superseded) return missOutcome(req, ctx, parsed, "miss-changed");
    if (rowFreshness(a, rules, ctx.config).verdict(ctx.nowMs()).kind === "fresh") return hitOutcome(req, a, ctx, parsed, "hit-revalidated");
    // A refetch to compare bytes goes on: wait for its commit (small files finish in time).
    const answeredNow = a.revalidatedAtMs !== null && a.revalidatedAtMs >= startedMs && a.revalidation !== "refetching";
    if (answeredNow || refused) return staleOrMiss(a, "miss-stale");
    const leftMs = deadline - performance.now();
    if (leftMs <= 0) return staleOrMiss(a, "miss-revalidating");
    await ctx.fills.waitForKey(parsed.key, leftMs);
  }
}

/** A miss: recorded, and (unless --curate) a background fill queued or joined. */
function missOutcome(req: Request, ctx: RequestContext, parsed: ParsedUrl, note = "miss", options: { record?: boolean } = {}): LookupOutcome {
  const { key, href, logKey } = parsed;
  // A stale copy that is being revalidated is not a miss of the Misses page (it is cached).
  if (options.record !== false) count(ctx, "miss", () => ctx.store.metadata.recordMiss({ key, url: href, nowMs: ctx.nowMs() }));
  const response = textResponse(req, 404, MISS_BODY, { "cache-control": "no-store" });
  if (ctx.config.curate) return { response, key, logKey, note };
  // Shared rows out of reach: no fill can be queued, so this cache-host cannot decide the miss.
  const databaseProblem = ctx.database?.metadata.health() ?? null;
  if (databaseProblem !== null) {
    return { response: textResponse(req, 503, `not cached here, and no fill can be queued: database: ${databaseProblem}`, { "cache-control": "no-store", "retry-after": "5" }), key, logKey, note: "miss-no-database" };
  }
  // Not awaited: the DNS check must not hold the client; refusals are recorded on the miss.
  const fill = ctx.fills.enqueue(href, { source: "auto", requestId: ctx.requestId }).then(
    (result): FillNote => {
      if (result.ok) return { note: "miss-fill", job: result.job.id };
      return { note: result.status === 403 ? "miss-refused" : "miss-not-queued", reason: result.message };
    },
    (err: unknown): FillNote => {
      const reason = err instanceof Error ? err.message : String(err);
      ctx.log.event("enqueue-error", { request: ctx.requestId, key: logKey, error: reason });
      return { note: "miss-error", reason: reason.split("\n")[0] ?? "" };
    },
  );
  return { response, key, logKey, note, fill };
}

/** Bytes a hit response carries: the slice for 206, the file for 200, nothing otherwise. */
function bodyBytes(response: Response, sizeBytes: number): number {
  if (response.status === 200) return sizeBytes;
  const m = /^bytes (\d+)-(\d+)\//.exec(response.headers.get("content-range") ?? "");
  return response.status === 206 && m ? Number(m[2]) - Number(m[1]) + 1 : 0;
}

function partsOf(a: ArtifactRow, ctx: RequestContext): HitParts {
  let perStore = hitParts.get(ctx.store);
  if (!perStore) {
    perStore = new Map();
    hitParts.set(ctx.store, perStore);
  }
  const known = perStore.get(a.key);
  if (known && sameHitHeaders(known.row, a)) return known;
  const where = ctx.store.blobs.locate(a.sha256);
  const path = where.kind === "file" ? where.path : null;
  const etag = `"${a.sha256}"`;
  const lastModified = new Date(a.fetchedAtMs).toUTCString();
  const base: Record<string, string> = { ...artifactBodyHeaders(a), etag, "last-modified": lastModified, "x-withcache-sha256": a.sha256 };
  const notModified = { etag, "last-modified": lastModified, "accept-ranges": "bytes", "x-withcache-sha256": a.sha256, ...(a.redirected ? { "x-withcache-redirected": "1" } : {}) };
  // The blob is named by its sha256, so the file object can be shared by every response of the row.
  const parts = { etag, lastModified, headers: new Headers(base), notModifiedHeaders: new Headers(notModified), file: path === null ? null : Bun.file(path), path, row: a };
  if (perStore.size >= HIT_PARTS_MAX) perStore.clear();
  perStore.set(a.key, parts);
  return parts;
}

/** A copy of the shared headers plus `extra` (a Response must not share a Headers object with the next one). */
function withHeaders(headers: Headers, extra: Record<string, string>): Headers {
  const out = new Headers(headers);
  for (const [name, value] of Object.entries(extra)) out.set(name, value);
  return out;
}

/**
 * The hit's body source: the local file (sendfile), or, with an S3 blob store before the blob has
 * a local copy, ranged reads of the object, or the whole blob from the local copy as it arrives
 * (locate starts the local copy in the background).
 */
type BodySource = { kind: "file"; file: BunFile } | (BlobLocation & { kind: "remote" });

function bodySource(parts: HitParts, ctx: RequestContext): BodySource {
  const where = ctx.store.blobs.locate(parts.row.sha256);
  if (where.kind === "remote") return where;
  if (parts.file === null || parts.path !== where.path) {
    parts.file = Bun.file(where.path);
    parts.path = where.path;
  }
  return { kind: "file", file: parts.file };
}

/**
 * A whole blob streamed from the remote store, checked on the way: each chunk is held back until
 * the next one arrives, and the last one goes out only when the length and sha256 match the row.
 * A mismatch (or a read error) cuts the response short, so the client never gets a wrong file.
 */
function verifiedStream(source: ReadableStream<Uint8Array>, a: ArtifactRow, ctx: RequestContext): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const hasher = new Bun.CryptoHasher("sha256");
  let held: Uint8Array | null = null;
  let count = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          const got = hasher.digest("hex");
          if (count !== a.sizeBytes || got !== a.sha256) {
            ctx.log.event("blob-mismatch", { request: ctx.requestId, sha256: a.sha256, found_bytes: count, found_sha256: got });
            controller.error(new Error(`the blob store's copy of ${a.sha256} does not match its row`));
            return;
          }
          if (held) controller.enqueue(held);
          controller.close();
          return;
        }
        hasher.update(value);
        count += value.byteLength;
        const out = held;
        held = value;
        if (out) {
          controller.enqueue(out);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * A ranged read from the remote store, checked for its length: it goes out chunked (no
 * Content-Length), so one that ended early without an error would look complete to the client.
 * Fewer or more bytes than asked end the response with an error instead.
 */
function exactLength(source: ReadableStream<Uint8Array>, lengthBytes: number, sha256: string): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let count = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        if (count === lengthBytes) controller.close();
        else controller.error(new Error(`the blob store's range of ${sha256} ended at ${count} of ${lengthBytes} bytes`));
        return;
      }
      count += value.byteLength;
      if (count > lengthBytes) {
        await reader.cancel();
        controller.error(new Error(`the blob store's range of ${sha256} is longer than ${lengthBytes} bytes`));
        return;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function serveHit(req: Request, a: ArtifactRow, ctx: RequestContext, extra: Record<string, string>): Response {
  const parts = partsOf(a, ctx);
  const { etag, lastModified } = parts;
  const stale = Object.keys(extra).length > 0;
  const headers = stale ? withHeaders(parts.headers, extra) : parts.headers;
  const ifNoneMatch = req.headers.get("if-none-match");
  if (ifNoneMatchHits(ifNoneMatch, etag) || notModifiedSince(req.headers.get("if-modified-since"), ifNoneMatch, lastModified)) {
    return new Response(null, { status: 304, headers: withHeaders(parts.notModifiedHeaders, extra) });
  }
  const decision = decideRange(req.headers.get("range"), req.headers.get("if-range"), { sizeBytes: a.sizeBytes, etag, lastModified });
  const isGet = req.method === "GET";
  const source = decision.kind === "unsatisfiable" ? null : bodySource(parts, ctx);
  switch (decision.kind) {
    case "full":
      assert(source !== null, "a full answer has a body source");
      if (isGet) count(ctx, "hit", () => ctx.store.metadata.recordHit(a.key, ctx.nowMs()));
      // Bun sets Content-Length from the file (and honours HEAD); setting it too would duplicate it.
      if (source.kind === "file") return new Response(source.file, { status: 200, headers: new Headers(headers) });
      // From the local copy being made if there is one (checked by the copy: one read of the
      // object serves both), else the object itself, checked here.
      return remoteResponse(req, 200, withHeaders(headers, {}), a.sizeBytes, () => source.readCopying() ?? verifiedStream(source.read({ start: 0, endExclusive: a.sizeBytes }), a, ctx));
    case "partial": {
      assert(source !== null, "a partial answer has a body source");
      // A range from byte 0 is a fresh download; a later start is a resume, not a new hit.
      if (isGet && decision.start === 0) count(ctx, "hit", () => ctx.store.metadata.recordHit(a.key, ctx.nowMs()));
      // An explicit 206 with Content-Range: Bun sends the slice as is and does not re-apply Range.
      const rangeHeaders = withHeaders(headers, { "content-range": contentRange(decision, a.sizeBytes) });
      if (source.kind === "file") return new Response(source.file.slice(decision.start, decision.endInclusive + 1), { status: 206, headers: rangeHeaders });
      // A ranged GET of the object: only these bytes are read from the bucket.
      const range = { start: decision.start, endExclusive: decision.endInclusive + 1 };
      return remoteResponse(req, 206, rangeHeaders, range.endExclusive - range.start, () => exactLength(source.read(range), range.endExclusive - range.start, a.sha256));
    }
    case "unsatisfiable":
      // The same body for HEAD (Bun sends none) keeps HEAD's headers identical to GET's.
      return new Response(`range not satisfiable; the artifact is ${a.sizeBytes} bytes\n`, {
        status: 416,
        headers: withHeaders(headers, { "content-type": "text/plain; charset=utf-8", "content-range": `bytes */${a.sizeBytes}` }),
      });
  }
}

/**
 * A body streamed from the remote store. Bun sends a stream chunked, without Content-Length
 * (BUN-NOTES): a HEAD states the length itself and opens nothing; a GET opens the read now.
 */
function remoteResponse(req: Request, status: number, headers: Headers, lengthBytes: number, open: () => ReadableStream<Uint8Array>): Response {
  if (req.method === "HEAD") {
    headers.set("content-length", String(lengthBytes));
    return new Response(null, { status, headers });
  }
  return new Response(open(), { status, headers });
}
