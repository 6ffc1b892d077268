// startServer: wire the store, the fill manager and the routes into one Bun.serve, and stop it
// cleanly (drain client downloads with a bound, park running fills, close the database).
import { randomBytes } from "node:crypto";
import { realpathSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import type { Server } from "bun";
import type { ServeConfig } from "../config/schema.ts";
import { HttpError } from "../core/errors.ts";
import type { LogFields, Logger } from "../core/log.ts";
import { classifyRead } from "../core/traffic.ts";
import { TrafficRecorder } from "../store/traffic.ts";
import { FillManager } from "../fetch/fill-manager.ts";
import type { AddressPolicy, Resolver } from "../fetch/origin.ts";
import { connectBlobStore } from "../store/s3-blobs.ts";
import { openCacheStore, type SharedRows, type StoreLimits } from "../store/store.ts";
import { parseDatabaseUrl } from "../core/database-url.ts";
import { minFreeDiskRule } from "../core/size.ts";
import { connectDatabase, type SharedDatabase } from "../store/pg-connect.ts";
import { hostname } from "node:os";
import { VERSION } from "../version.ts";
import { ApiTokens } from "./api-tokens.ts";
import { API_PREFIX, apiError } from "./api/routes.ts";
import { AuditLog } from "./audit.ts";
import { clientAddress } from "./auth.ts";
import type { RequestContext, ServerContext } from "./context.ts";
import { createStdoutLogger } from "./log.ts";
import { metricsCollectorFor, routeClassOf } from "./metrics.ts";
import type { FillNote } from "./blob-route.ts";
import { route, type RouteResult } from "./router.ts";
import { errorResponse, textResponse } from "./responses.ts";

/** Operator forms and logins are tiny; nothing legitimate posts more. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
/**
 * Bun's own body cap, far above ours: past its cap Bun answers 413 itself with an empty body and
 * no log line. Under it, handle() refuses a declared length over MAX_REQUEST_BODY_BYTES with a
 * reason, the operator forms read at most that much, and no other route reads a body (Bun
 * discards an unread one without buffering it).
 */
const BUN_REQUEST_BODY_BYTES_MAX = 8 * 1024 * 1024 * 1024;
/** Seconds a connection may sit idle. Bun rounds to multiples of 4; ≤ 4 cut long downloads. */
const IDLE_TIMEOUT_S = 32;
/** Start-up work that can wait until the server already answers (see the orphan sweep). */
const ORPHAN_SWEEP_DELAY_MS = 100;

export type StartOptions = {
  nowMs?: () => number;
  log?: Logger;
  /** DNS resolver for the private-address check (tests may pin one). */
  resolve?: Resolver;
  /** Address policy without --allow-private-origins (default: public addresses only). */
  addressAllowed?: AddressPolicy;
  /** Do not start fill workers (tests that inspect the queue). */
  startFills?: boolean;
  /** Table caps (tests use small ones): recorded misses, finished jobs kept. */
  storeLimits?: StoreLimits;
  /** Most jobs queued at once by automatic fills (default AUTO_QUEUE_MAX). */
  maxQueuedAutoJobs?: number;
  /** Where the AWS_* variables of an S3 blob store come from (default: the process's environment). */
  env?: Record<string, string | undefined>;
};

export type RunningServer = {
  url: string;
  port: number;
  ctx: ServerContext;
  server: Server<undefined>;
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
};

let requestCounter = 0;
const processTag = randomBytes(2).toString("hex");

function nextRequestId(): string {
  requestCounter = (requestCounter + 1) % 0xffffff;
  return `${processTag}${requestCounter.toString(16).padStart(6, "0")}`;
}

export async function startServer(config: ServeConfig, options: StartOptions = {}): Promise<RunningServer> {
  const nowMs = options.nowMs ?? Date.now;
  const log = options.log ?? createStdoutLogger();
  const makeBlobs = await connectBlobStore({
    blobStore: config.blobStore,
    localCacheBytes: config.localCacheBytes,
    minFreeDisk: minFreeDiskRule(config.minFreeDisk),
    env: options.env ?? process.env,
    onEvent: (name, fields) => log.event(name, fields),
  });
  // --database postgres://…: the rows (and sessions, tokens, jobs) are shared with other replicas.
  let shared: SharedDatabase | null = null;
  let replicaId: string | null = null;
  if (parseDatabaseUrl(config.database).kind === "postgres") {
    replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
    shared = await connectDatabase(config.database, {
      replicaId,
      leaseMs: config.jobLeaseMs,
      onHealth: (problem) => log.event("database", problem === null ? { state: "ok" } : { state: "degraded", problem }),
    });
    // One signing secret for every replica, so a login on one is valid on all (unless the
    // operator sets WITHCACHE_SESSION_SECRET, which then must be the same everywhere).
    if (config.sessionSecret === undefined || config.sessionSecret.trim() === "") config = { ...config, sessionSecret: await shared.sessionSecret() };
  }
  const sharedRows: SharedRows | undefined = shared === null ? undefined : shared;
  let store: ReturnType<typeof openCacheStore>;
  try {
    store = openCacheStore(resolvePath(config.dataDir), options.storeLimits, makeBlobs, sharedRows);
  } catch (err) {
    await shared?.close().catch(() => undefined);
    throw err;
  }
  const database = shared;
  const traffic = new TrafficRecorder(store.ops, nowMs);
  const metrics = metricsCollectorFor(config.metrics, { version: VERSION, runtime: `bun ${Bun.version}` });
  const fills = new FillManager({
    store,
    observer: {
      originBytes: (bytes) => traffic.fetchedFromOrigin(bytes),
      fillFinished: (outcome) => metrics?.fillFinished(outcome),
      evicted: (count, bytes) => metrics?.evicted(count, bytes),
      refused: (detail) => {
        metrics?.refused();
        audit.record({ kind: "ssrf-refused", actor: "system", client: "-", outcome: "refused", detail });
      },
      revalidated: (result) => metrics?.revalidated(result),
    },
    config,
    log,
    nowMs,
    version: VERSION,
    resolve: options.resolve,
    addressAllowed: options.addressAllowed,
    maxQueuedAutoJobs: options.maxQueuedAutoJobs,
    sharedQueue: database !== null && database !== undefined,
    tempWriter: database ? tempWriterOf(store.dataDir) : null,
  });
  const audit = new AuditLog(store.ops, { nowMs, retentionMs: config.eventRetentionMs, log });
  const tokens = new ApiTokens(store.ops, nowMs);
  const problems = (): string[] => {
    const rows = database?.metadata.health() ?? null;
    const blobs = store.blobs.health();
    return [...(rows === null ? [] : [`database: ${rows}`]), ...(blobs === null ? [] : [`blob store: ${blobs}`])];
  };
  const ctx: ServerContext = { config, store, fills, traffic, audit, tokens, metrics, log, version: VERSION, startedAtMs: nowMs(), nowMs, problems, replicaId, database };
  traffic.start();
  audit.start();
  tokens.start();

  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname: config.host,
      port: config.port,
      idleTimeout: IDLE_TIMEOUT_S,
      maxRequestBodySize: BUN_REQUEST_BODY_BYTES_MAX,
      development: false,
      // Bun turns SO_REUSEPORT on with development: false; a second cache-host on the same port
      // would then start silently and share the requests (misses on one, hits on the other).
      reusePort: false,
      fetch: (req, srv) => handle(req, srv, ctx),
      error: (err) => {
        const id = nextRequestId();
        log.event("internal-error", { request: id, error: err.stack ?? err.message });
        return new Response(`internal error (request ${id})\n`, { status: 500, headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" } });
      },
    });
  } catch (err) {
    await store.close();
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") throw new Error(`--port: ${config.host}:${config.port} is already in use`);
    throw err;
  }
  // The orphan sweep lists every blob (~200 ms at 100,000 artifacts): run it just after start-up
  // rather than before the first request. A fill's blob between rename and row commit is safe
  // from it: the blob store's delete keeps a blob whose commit is in flight or that a row holds.
  let stopping: Promise<void> | null = null;
  const sweep = setTimeout(() => {
    if (stopping !== null) return;
    try {
      void store.sweepOrphanBlobs().then(
        (orphans) => {
          if (orphans.blobs > 0) log.event("store", { orphan_blobs_removed: orphans.blobs, bytes: orphans.bytes });
        },
        (err: unknown) => log.event("store", { orphan_sweep_error: err instanceof Error ? err.message : String(err) }),
      );
    } catch (err) {
      log.event("store", { orphan_sweep_error: err instanceof Error ? err.message : String(err) });
    }
  }, ORPHAN_SWEEP_DELAY_MS);
  if (options.startFills !== false) await fills.start();

  const port = server.port ?? config.port;
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  if (database !== null) {
    const wildcard = config.host === "0.0.0.0" || config.host === "::";
    const own = wildcard ? hostname() : config.host;
    const advertised = config.advertiseUrl.trim() || `http://${own.includes(":") ? `[${own}]` : own}:${port}`;
    try {
      await database.metadata.advertise(advertised);
    } catch (err) {
      await server.stop(true);
      await store.close();
      throw new Error(`--database: cannot register this cache-host: ${(err as Error).message}`);
    }
  }
  return {
    url: `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}`,
    port,
    ctx,
    server,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        clearTimeout(sweep);
        const drainMs = stopOptions.drainTimeoutMs ?? config.drainTimeoutMs;
        // Stop accepting, let in-flight responses finish, but never wait past the bound.
        let timer: ReturnType<typeof setTimeout> | null = null;
        const graceful = server.stop(false);
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), drainMs);
        });
        const outcome = await Promise.race([graceful.then(() => "drained" as const), timedOut]);
        if (timer) clearTimeout(timer);
        if (outcome === "timeout") await server.stop(true);
        await fills.stop();
        await traffic.close();
        await audit.close();
        await tokens.close();
        await store.blobs.drain(2000);
        await store.close();
        log.event("stopped", { drained: outcome === "drained" });
        log.flush?.();
      })();
      return stopping;
    },
  };
}

/** The client's address: the socket peer, or with --trust-proxy the entry our proxy appended last
 *  to X-Forwarded-For (earlier entries are client-written). The admin pages judge the scheme
 *  themselves (isSecureRequest), so nothing here reads X-Forwarded-Proto. */
function clientAddressOf(req: Request, srv: Server<undefined>, trustProxy: boolean): string {
  return clientAddress(req, srv.requestIP(req)?.address ?? null, { trustProxy });
}

async function handle(req: Request, srv: Server<undefined>, base: ServerContext): Promise<Response> {
  const startedMs = performance.now();
  const requestId = nextRequestId();
  const ctx: RequestContext = { ...base, requestId, clientAddress: clientAddressOf(req, srv, base.config.trustProxy), noIdleTimeout: () => srv.timeout(req, 0) };
  let result: RouteResult;
  const declared = req.headers.get("content-length");
  try {
    if (declared !== null && Number(declared) > MAX_REQUEST_BODY_BYTES) {
      // Refused unread; "connection: close" so the rest of it is not read either.
      const message = `request body of ${Number(declared)} bytes is larger than ${MAX_REQUEST_BODY_BYTES} bytes`;
      // The API answers its errors as JSON, this one too.
      const isApi = new URL(req.url).pathname.startsWith(`${API_PREFIX}/`);
      const response = isApi ? apiError(413, message, { connection: "close" }) : textResponse(req, 413, message, { connection: "close" });
      result = { response, logPath: null, key: null, note: null };
    } else {
      result = await route(req, ctx);
    }
  } catch (err) {
    if (err instanceof HttpError) {
      result = { response: errorResponse(req, err), logPath: null, key: null, note: null };
    } else {
      ctx.log.event("internal-error", { request: requestId, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      result = { response: textResponse(req, 500, `internal error (request ${requestId})`), logPath: null, key: null, note: null };
    }
  }
  const response = result.response;
  const elapsedMs = performance.now() - startedMs;
  const fields = {
    id: requestId,
    client: ctx.clientAddress,
    method: req.method,
    path: result.logPath ?? safePath(req),
    status: response.status,
    bytes: result.bytes ?? response.headers.get("content-length") ?? (response.body === null ? 0 : undefined),
    ms: Math.round(elapsedMs * 10) / 10,
    key: result.key ?? undefined,
    result: result.note ?? undefined,
  };
  countTraffic(ctx, req, response, result, fields.bytes);
  ctx.metrics?.request(routeClassOf(fields.path, req.method, result.note), response.status, elapsedMs / 1000);
  if (result.fill === undefined) ctx.log.event("request", fields);
  else void logWhenFillKnown(ctx.log, fields, result.fill);
  return response;
}

/** Hits, misses and bytes served for the dashboard and /metrics (streams count their bytes as they end). */
function countTraffic(ctx: RequestContext, req: Request, response: Response, result: RouteResult, bytes: number | string | undefined): void {
  if (result.logPath !== "/b/…" && result.logPath !== "/blob") return;
  const kind = classifyRead({ method: req.method, status: response.status, result: result.note });
  if (kind === "miss") ctx.traffic.miss();
  if (kind !== "hit") return;
  ctx.traffic.hit();
  // A stream's body has no length yet: stream-route counts what it sent when it ends.
  const sent = typeof bytes === "string" ? Number(bytes) : (bytes ?? 0);
  if (Number.isFinite(sent)) ctx.traffic.servedFromCache(sent);
}

/** Longest a miss's log line waits for its fill's outcome (a DNS answer); then it says so. */
const FILL_NOTE_WAIT_MS = 30_000;

/** The request line of a miss, written once its fill was queued, joined or refused (the client
 *  already has its 404): `result=miss-fill job=…`, `result=miss-refused reason=…`. */
async function logWhenFillKnown(log: Logger, fields: LogFields, fill: Promise<FillNote>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), FILL_NOTE_WAIT_MS);
    timer.unref?.();
  });
  const outcome = await Promise.race([fill, late]);
  clearTimeout(timer);
  // A plain miss is named by its fill's outcome; a freshness miss (miss-revalidating, miss-changed,
  // miss-stale) keeps its name and says what became of the fill beside it.
  const plain = fields.result === "miss";
  if (outcome === null) log.event("request", { ...fields, ...(plain ? { result: "miss-fill-pending" } : { fill: "pending" }), reason: `no answer from the fill check within ${FILL_NOTE_WAIT_MS / 1000} s` });
  else if (outcome.note === "miss-fill") log.event("request", { ...fields, ...(plain ? { result: outcome.note } : { fill: outcome.note }), job: outcome.job });
  else log.event("request", { ...fields, ...(plain ? { result: outcome.note } : { fill: outcome.note }), reason: outcome.reason });
}

/**
 * The path without its query, cut short: queries can carry tokens, paths can be huge. A /b/ path
 * is its token (the whole origin URL, signed query and all), also when the request failed.
 */
function safePath(req: Request): string {
  const path = req.url.replace(/^[a-z]+:\/\/[^/]*/i, "").split("?")[0] ?? "/";
  // Also //b/…, /x/../b/… spelled oddly, /B/…: anything from a /b/ segment on may be a token.
  const token = path.search(/\/b\//i);
  if (token >= 0) return `${path.slice(0, token)}/b/…`;
  return path.length > 200 ? path.slice(0, 200) + "…" : path;
}

/** A data dir's stable name among cache-hosts sharing a queue: its host and real path, hashed (never shown). */
function tempWriterOf(dataDir: string): string {
  let path = dataDir;
  try {
    path = realpathSync(dataDir);
  } catch {
    // The path as given.
  }
  return new Bun.CryptoHasher("sha256").update(`${hostname()}\0${path}`).digest("hex").slice(0, 16);
}
