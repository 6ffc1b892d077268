// /metrics: the server-side collector and the route. Counters are bumped where things happen
// (the request log line, the fill manager's observer) with no I/O; hits, misses and bytes are the
// traffic recorder's own counts (one source for the dashboard and Prometheus). A scrape sets the
// gauges from a fixed number of O(1) reads (one row of running totals, two job counts, a statfs)
// and renders. No label value comes from a request: routes are a fixed set of classes.
import type { MetricsMode } from "../config/schema.ts";
import { parseBearer } from "../core/api-token.ts";
import { METRICS_CONTENT_TYPE, MetricsRegistry, type Counter, type Gauge, type Histogram } from "../core/metrics.ts";
import { REVALIDATION_RESULTS, type RevalidationResult } from "../store/types.ts";
import { TOKEN_PARAMETERS } from "./api/auth.ts";
import type { RequestContext, ServerContext } from "./context.ts";
import { methodNotAllowed, textResponse } from "./responses.ts";

/** What a request is, for its labels: never its path. */
export const ROUTE_CLASSES = ["probe", "blob", "blob-query", "stream", "admin", "api", "healthz", "metrics", "static", "other"] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];
/** The read path's classes, timed by the duration histogram. */
const TIMED_ROUTES = ["probe", "blob", "blob-query", "stream"] as const;
const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
const FILL_OUTCOMES = ["completed", "failed", "cancelled"] as const;
/**
 * Seconds from the request's arrival to its response head (a body, sendfile or stream, goes on
 * after): probes and hits take well under a millisecond, a miss waits up to --first-byte-wait
 * (500 ms), a stale probe up to --revalidate-wait (600 ms).
 */
export const DURATION_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/**
 * The class of a request from what its log line says: `path` as logged ("/b/…", "/blob", the API
 * path or the path without its query), the method and the read path's result note.
 */
export function routeClassOf(path: string, method: string, note: string | null): RouteClass {
  if (path === "/b/…" || path === "/blob") {
    if (method === "HEAD") return "probe";
    if (note !== null && note.includes("stream")) return "stream";
    return path === "/blob" ? "blob-query" : "blob";
  }
  if (path === "/healthz") return "healthz";
  if (path === "/metrics") return "metrics";
  if (path === "/api" || path.startsWith("/api/")) return "api";
  if (path.startsWith("/static/")) return "static";
  if (path === "/" || path === "/login" || path === "/logout" || path === "/admin" || path.startsWith("/admin/")) return "admin";
  return "other";
}

/** The index of a status's class in STATUS_CLASSES (HTTP statuses are 100-599). */
function statusIndexOf(status: number): number {
  return Math.min(Math.max(Math.floor(status / 100) - 1, 0), STATUS_CLASSES.length - 1);
}

type Inc = { inc(by?: number): void };

export class MetricsCollector {
  readonly registry = new MetricsRegistry();
  private readonly requests: Counter;
  /** Per route class × status class, bound once (no lookup or string join per request). */
  private readonly requestCells: ReadonlyMap<string, Inc[]>;
  private readonly durations: ReadonlyMap<string, { observe(v: number): void }>;
  private readonly fills: Counter;
  private readonly fillCells: Record<(typeof FILL_OUTCOMES)[number], Inc>;
  private readonly revalidations: Counter;
  private readonly evictions: Inc;
  private readonly evictedBytes: Inc;
  private readonly refusedFills: Inc;
  private readonly hits: Counter;
  private readonly misses: Counter;
  private readonly servedBytes: Counter;
  private readonly originBytes: Counter;
  private readonly gauges: Record<"queued" | "running" | "artifacts" | "storedBytes" | "logicalBytes" | "capBytes" | "freeBytes" | "diskBytes" | "rss" | "start" | "uptime", Gauge>;
  private readonly cpu: Counter;

  constructor(build: { version: string; runtime: string }) {
    const r = this.registry;
    this.requests = r.counter("withcache_requests_total", "HTTP requests answered, by route class and status class (never by path).", { route: ROUTE_CLASSES, status_class: STATUS_CLASSES });
    const histogram: Histogram = r.histogram("withcache_request_duration_seconds", "Seconds from a read-path request's arrival to its response head (probes are HEAD; the body is sent after).", DURATION_BUCKETS_S, { route: TIMED_ROUTES });
    this.requestCells = new Map(ROUTE_CLASSES.map((route) => [route, STATUS_CLASSES.map((c) => this.requests.child(route, c))]));
    this.durations = new Map(TIMED_ROUTES.map((route) => [route, histogram.child(route)]));
    this.hits = r.counter("withcache_hits_total", "Reads served from the cache (a GET of a stored copy from byte 0, a stream of a running fill, a stale copy).");
    this.misses = r.counter("withcache_misses_total", "Reads the cache could not serve (GET or HEAD); the client went to the origin.");
    this.servedBytes = r.counter("withcache_cache_served_bytes_total", "Body bytes sent to clients from the cache (hits and streams).");
    this.originBytes = r.counter("withcache_origin_fetched_bytes_total", "Body bytes fills downloaded from origins.");
    this.fills = r.counter("withcache_fills_total", "Fills (downloads into the cache, revalidations included) that ended, by outcome.", { outcome: FILL_OUTCOMES });
    this.fillCells = { completed: this.fills.child("completed"), failed: this.fills.child("failed"), cancelled: this.fills.child("cancelled") };
    this.refusedFills = r.counter("withcache_fills_refused_total", "Automatic fills refused before fetching (private address, not in --allow-host).").child();
    this.revalidations = r.counter("withcache_revalidations_total", "Revalidation outcomes recorded on cached copies, by result.", { result: REVALIDATION_RESULTS });
    this.evictions = r.counter("withcache_evictions_total", "Artifacts evicted to stay under --max-cache-size.").child();
    this.evictedBytes = r.counter("withcache_evicted_bytes_total", "Blob bytes freed by evictions.").child();
    this.gauges = {
      queued: r.gauge("withcache_fill_queue_depth", "Fills queued, waiting for a worker."),
      running: r.gauge("withcache_fills_running", "Fills running now."),
      artifacts: r.gauge("withcache_artifacts", "Artifacts stored (cache keys with a copy)."),
      storedBytes: r.gauge("withcache_stored_bytes", "Bytes of the stored blobs (a blob shared by several keys counted once)."),
      logicalBytes: r.gauge("withcache_stored_logical_bytes", "Sum of the stored artifacts' sizes (shared blobs counted per key)."),
      capBytes: r.gauge("withcache_cache_cap_bytes", "--max-cache-size in bytes; 0 = no cap."),
      freeBytes: r.gauge("withcache_disk_free_bytes", "Free bytes on the data dir's filesystem (for unprivileged users)."),
      diskBytes: r.gauge("withcache_disk_size_bytes", "Size of the data dir's filesystem in bytes."),
      rss: r.gauge("process_resident_memory_bytes", "Resident memory of the cache-host process in bytes."),
      start: r.gauge("process_start_time_seconds", "When the cache-host started, in seconds since the Unix epoch."),
      uptime: r.gauge("withcache_uptime_seconds", "Seconds since the cache-host started."),
    };
    this.cpu = r.counter("process_cpu_seconds_total", "User and system CPU time of the cache-host process in seconds.");
    r.gauge("withcache_build_info", "Always 1; the labels say which build runs.", { version: [build.version], runtime: [build.runtime] }).set([build.version, build.runtime], 1);
  }

  /** One answered request (from the request log line). */
  request(route: RouteClass, status: number, seconds: number): void {
    this.requestCells.get(route)![statusIndexOf(status)]!.inc();
    this.durations.get(route)?.observe(seconds);
  }

  fillFinished(outcome: (typeof FILL_OUTCOMES)[number]): void {
    this.fillCells[outcome].inc();
  }

  revalidated(result: RevalidationResult): void {
    this.revalidations.inc([result]);
  }

  evicted(count: number, bytes: number): void {
    this.evictions.inc(count);
    this.evictedBytes.inc(bytes);
  }

  refused(): void {
    this.refusedFills.inc();
  }

  /** The exposition: gauges read now (O(1) each), counters as counted. */
  render(ctx: ServerContext): string {
    const traffic = ctx.traffic.totalsSinceStart();
    this.hits.setTotal([], traffic.hits);
    this.misses.setTotal([], traffic.misses);
    this.servedBytes.setTotal([], traffic.bytesFromCache);
    this.originBytes.setTotal([], traffic.bytesFromOrigin);
    const stored = ctx.store.metadata.storedTotals();
    const jobs = ctx.store.metadata.activeJobCounts();
    const disk = ctx.store.diskSpace();
    const now = ctx.nowMs();
    const g = this.gauges;
    g.queued.set([], jobs.queued);
    g.running.set([], jobs.running);
    g.artifacts.set([], stored.artifactCount);
    g.storedBytes.set([], stored.bytes);
    g.logicalBytes.set([], stored.logicalBytes);
    g.capBytes.set([], ctx.config.maxCacheBytes);
    g.freeBytes.set([], disk.freeBytes);
    g.diskBytes.set([], disk.totalBytes);
    g.rss.set([], process.memoryUsage.rss());
    g.start.set([], ctx.startedAtMs / 1000);
    g.uptime.set([], Math.max(0, now - ctx.startedAtMs) / 1000);
    const cpu = process.cpuUsage();
    this.cpu.setTotal([], Math.max(this.cpu.value(), (cpu.user + cpu.system) / 1e6));
    return this.registry.render();
  }
}

/** The collector for a mode: none when /metrics is off (then nothing is counted either). */
export function metricsCollectorFor(mode: MetricsMode, build: { version: string; runtime: string }): MetricsCollector | null {
  return mode === "off" ? null : new MetricsCollector(build);
}

const READ_METHODS = ["GET", "HEAD"] as const;

/** GET /metrics: the mode decides who may read it (README "Metrics"). */
export async function handleMetrics(req: Request, url: URL, ctx: RequestContext): Promise<Response> {
  const collector = ctx.metrics;
  if (ctx.config.metrics === "off" || collector === null) return textResponse(req, 404, "/metrics is off on this cache-host (--metrics off)");
  if (!(READ_METHODS as readonly string[]).includes(req.method)) return methodNotAllowed(req, "/metrics", READ_METHODS);
  const client = ctx.clientAddress;
  for (const name of url.searchParams.keys()) {
    if (TOKEN_PARAMETERS.includes(name.toLowerCase())) {
      ctx.audit.record({ kind: "token-refused", actor: "anonymous", client, outcome: "refused", detail: "/metrics: token in the query string" });
      return textResponse(req, 400, `/metrics: tokens are accepted only in the Authorization header ("Authorization: Bearer wc_…"), never in the query string`);
    }
  }
  if (ctx.config.metrics === "token") {
    const refused = await tokenRefusal(req, ctx);
    if (refused !== null) return textResponse(req, 401, refused, { "www-authenticate": 'Bearer realm="withcache"' });
  }
  const body = collector.render(ctx);
  return new Response(req.method === "HEAD" ? null : body, { headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store", "x-content-type-options": "nosniff" } });
}

/** --metrics token: null when the request carries a live API token (read or admin), else the 401 line. */
async function tokenRefusal(req: Request, ctx: RequestContext): Promise<string | null> {
  const client = ctx.clientAddress;
  const bearer = parseBearer(req.headers.get("authorization"));
  if (bearer.kind === "none") return `/metrics: authentication required: send "Authorization: Bearer <token>" (create one with: withcache token create prometheus)`;
  const reason = bearer.kind === "invalid" ? bearer.message : (await ctx.tokens.verify(bearer.token)) === null ? "unknown or revoked token" : null;
  if (reason === null) return null;
  ctx.log.event("metrics.token-refused", { client, reason });
  ctx.audit.record({ kind: "token-refused", actor: "anonymous", client, outcome: "refused", detail: `/metrics: ${reason}` });
  return bearer.kind === "invalid" ? `/metrics: ${bearer.message}` : "/metrics: the bearer token is not valid (revoked, or never issued by this cache-host)";
}
