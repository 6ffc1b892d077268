// Stream-through: a GET or HEAD of a key whose fill is running is answered from the fill's temp
// file as it grows (fetch/live-fill.ts): bytes already on disk at disk speed, then each new byte
// as it arrives. Never a wrong byte: the last byte of a known length (or, for an unknown length,
// the end of the body) is sent only once the fill has its whole answer, its length checked and
// its sha256 computed (not later: the commit, an upload to S3, is not waited for; a failed commit
// leaves the client a complete, right file); a fill that fails or must rewrite sent bytes cuts
// the stream short (the connection closes without the chunked terminator, so curl and wget
// report an error).
// Bun sends a ReadableStream body chunked, without Content-Length (BUN-NOTES): a HEAD says the
// length, a GET's body does not. Each stream reads the file itself, at its own client's pace
// (store/growing-temp.ts: the one reader of a growing temp file).
import { contentRange, decideStreamRange } from "../core/range.ts";
import type { LiveFill } from "../fetch/live-fill.ts";
import { streamGrowingTemp } from "../store/growing-temp.ts";
import type { RequestContext } from "./context.ts";
import { artifactBodyHeaders } from "./responses.ts";
import type { LookupOutcome } from "./blob-route.ts";

export type StreamTarget = { key: string; logKey: string };

/** A hit's headers (artifactBodyHeaders) and the marker of a fill still arriving. */
function streamHeaders(live: LiveFill): Record<string, string> {
  return { ...artifactBodyHeaders(live.head!), "x-withcache-filling": "1" };
}

/** Answer from a live fill, or null when it has nothing to stream (no storable answer yet, done, cut). */
export function streamLive(req: Request, live: LiveFill, ctx: RequestContext, target: StreamTarget, note: string): LookupOutcome | null {
  const head = live.head;
  if (head === null || live.state !== "streaming") return null;
  const headers = streamHeaders(live);
  const decision = decideStreamRange(req.headers.get("range"), req.headers.get("if-range"), head.totalBytes);
  if (decision.kind === "unsatisfiable") {
    const response = new Response(`range not satisfiable; the artifact is ${head.totalBytes} bytes\n`, {
      status: 416,
      headers: { ...headers, "content-type": "text/plain; charset=utf-8", "content-range": `bytes */${head.totalBytes}` },
    });
    return { response, key: target.key, logKey: target.logKey, note, bytes: 0 };
  }
  const start = decision.kind === "partial" ? decision.start : 0;
  const endExclusive = decision.kind === "partial" ? decision.endInclusive + 1 : head.totalBytes;
  const status = decision.kind === "partial" ? 206 : 200;
  if (decision.kind === "partial") headers["content-range"] = contentRange(decision, head.totalBytes!);
  if (req.method === "HEAD") {
    // Unknown length: say what the GET will do (Bun would otherwise claim a length of 0).
    if (endExclusive !== null) headers["content-length"] = String(endExclusive - start);
    else headers["transfer-encoding"] = "chunked";
    return { response: new Response(null, { status, headers }), key: target.key, logKey: target.logKey, note, bytes: 0 };
  }
  const reader = ctx.store.blobs.openTempReader(live.tempName);
  if (reader === null) return null;
  ctx.noIdleTimeout?.();
  live.streamers++;
  const body = streamGrowingTemp(live, reader, { start, endExclusive }, (outcome, bytes, reason) => {
    live.streamers--;
    ctx.log.event("stream", { request: ctx.requestId, key: target.logKey, job: live.jobId, outcome, bytes, ...(reason ? { reason } : {}) });
    ctx.traffic.servedFromCache(bytes);
  });
  return { response: new Response(body, { status, headers }), key: target.key, logKey: target.logKey, note };
}
