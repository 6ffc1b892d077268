// The read path: /b/<token>/<name> and /blob?url= both land here. A hit is served from the
// blob file with sendfile (Bun.file), ranges and conditionals decided by core/range.ts; a miss
// is recorded and, unless --curate, queues a background fill.
import { cacheKey, parseOriginUrl } from "../core/cache-key.ts";
import { HttpError } from "../core/errors.ts";
import { loggableUrl } from "../core/log.ts";
import { contentRange, decideRange, ifNoneMatchHits, notModifiedSince } from "../core/range.ts";
import type { ArtifactRow } from "../store/types.ts";
import type { RequestContext } from "./context.ts";
import { textResponse } from "./responses.ts";

export type LookupOutcome = { response: Response; key: string | null; note: string | null; /** body bytes, for the log */ bytes?: number };

export const MISS_BODY = "cache miss (recorded)";

/** A hit re-checks that its blob file exists at most this often (a stat per request is costly). */
const BLOB_CHECK_MAX_AGE_MS = 1000;
/** A failing counter write (full disk, database locked) is logged at most this often. */
const COUNTER_ERROR_LOG_INTERVAL_MS = 10_000;
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
    const now = Date.now();
    if (now - (counterErrorLoggedAtMs.get(ctx.store) ?? -Infinity) < COUNTER_ERROR_LOG_INTERVAL_MS) return;
    counterErrorLoggedAtMs.set(ctx.store, now);
    ctx.log.event("counter-error", { request: ctx.requestId, counter: what, error: (err instanceof Error ? err.message : String(err)).split("\n")[0] });
  }
}

export function lookup(req: Request, rawUrl: string, where: string, ctx: RequestContext): LookupOutcome {
  const parsed = parseOriginUrl(rawUrl);
  if (!parsed.ok) throw new HttpError(parsed.status, `${where}: ${parsed.message}`);
  const key = cacheKey(parsed.url, { keepQuery: ctx.config.keepQuery });
  const meta = ctx.store.metadata;
  const artifact = meta.getArtifact(key);
  if (artifact) {
    const size = ctx.store.blobs.recentSizeOf(artifact.sha256, BLOB_CHECK_MAX_AGE_MS);
    if (size === artifact.sizeBytes) {
      const response = serveHit(req, artifact, ctx);
      return { response, key, note: "hit", bytes: req.method === "HEAD" ? 0 : bodyBytes(response, artifact.sizeBytes) };
    }
    // The blob vanished or changed under us (someone edited the data dir): forget the row.
    ctx.log.event("blob-missing", { request: ctx.requestId, key: loggableUrl(key), sha256: artifact.sha256, found_bytes: size });
    count(ctx, "forget", () => ctx.store.deleteArtifact(key));
  }
  count(ctx, "miss", () => meta.recordMiss({ key, url: parsed.url.href, nowMs: ctx.nowMs() }));
  let note = "miss";
  if (!ctx.config.curate) {
    note = "miss-fill";
    // Not awaited: the DNS check must not hold the client; refusals are recorded on the miss.
    ctx.fills.enqueue(parsed.url.href, { source: "auto", requestId: ctx.requestId }).catch((err: unknown) => {
      ctx.log.event("enqueue-error", { request: ctx.requestId, key: loggableUrl(key), error: err instanceof Error ? err.message : String(err) });
    });
  }
  return { response: textResponse(req, 404, MISS_BODY, { "cache-control": "no-store" }), key, note };
}

/** Bytes a hit response carries: the slice for 206, the file for 200, nothing otherwise. */
function bodyBytes(response: Response, sizeBytes: number): number {
  if (response.status === 200) return sizeBytes;
  const m = /^bytes (\d+)-(\d+)\//.exec(response.headers.get("content-range") ?? "");
  return response.status === 206 && m ? Number(m[2]) - Number(m[1]) + 1 : 0;
}

function serveHit(req: Request, a: ArtifactRow, ctx: RequestContext): Response {
  const etag = `"${a.sha256}"`;
  const lastModified = new Date(a.fetchedAtMs).toUTCString();
  const base: Record<string, string> = {
    "content-type": a.contentType,
    etag,
    "last-modified": lastModified,
    "accept-ranges": "bytes",
    "x-withcache-sha256": a.sha256,
    // Replay the origin's Content-Disposition, or send a bare one so Bun does not name the
    // download after the blob file (curl -OJ would save it as <sha256>).
    "content-disposition": a.contentDisposition ?? "inline",
    // Cached bytes come from anywhere (auto-fetch is unauthenticated) and are served from the
    // operator UI's origin: an HTML artifact opened in a browser must not run script there.
    "content-security-policy": "default-src 'none'; sandbox",
    "x-content-type-options": "nosniff",
    // The shims serve a redirected fill only to a tool that would follow the redirect itself.
    ...(a.redirected ? { "x-withcache-redirected": "1" } : {}),
  };
  const ifNoneMatch = req.headers.get("if-none-match");
  if (ifNoneMatchHits(ifNoneMatch, etag) || notModifiedSince(req.headers.get("if-modified-since"), ifNoneMatch, lastModified)) {
    return new Response(null, { status: 304, headers: { etag, "last-modified": lastModified, "accept-ranges": "bytes", "x-withcache-sha256": a.sha256, ...(a.redirected ? { "x-withcache-redirected": "1" } : {}) } });
  }
  const location = ctx.store.blobs.locate(a.sha256);
  const file = Bun.file(location.path);
  const decision = decideRange(req.headers.get("range"), req.headers.get("if-range"), { sizeBytes: a.sizeBytes, etag, lastModified });
  const isGet = req.method === "GET";
  switch (decision.kind) {
    case "full":
      if (isGet) count(ctx, "hit", () => ctx.store.metadata.recordHit(a.key, ctx.nowMs()));
      // Bun sets Content-Length from the file (and honours HEAD); setting it too would duplicate it.
      return new Response(file, { status: 200, headers: base });
    case "partial": {
      // A range from byte 0 is a fresh download; a later start is a resume, not a new hit.
      if (isGet && decision.start === 0) count(ctx, "hit", () => ctx.store.metadata.recordHit(a.key, ctx.nowMs()));
      // An explicit 206 with Content-Range: Bun sends the slice as is and does not re-apply Range.
      return new Response(file.slice(decision.start, decision.endInclusive + 1), {
        status: 206,
        headers: { ...base, "content-range": contentRange(decision, a.sizeBytes) },
      });
    }
    case "unsatisfiable":
      // The same body for HEAD (Bun sends none) keeps HEAD's headers identical to GET's.
      return new Response(`range not satisfiable; the artifact is ${a.sizeBytes} bytes\n`, {
        status: 416,
        headers: { ...base, "content-type": "text/plain; charset=utf-8", "content-range": `bytes */${a.sizeBytes}` },
      });
  }
}
