// Stream-through: a GET or HEAD of a key whose fill is running is answered from the fill's temp
// file as it grows (fetch/live-fill.ts): bytes already on disk at disk speed, then each new byte
// as it arrives. Never a wrong byte: the last byte of a known length (or, for an unknown length,
// the end of the body) is sent only once the fill's length and sha256 are verified and the blob
// committed; a fill that fails or must rewrite sent bytes cuts the stream short (the connection
// closes without the chunked terminator, so curl and wget report an error).
// Bun sends a ReadableStream body chunked, without Content-Length (BUN-NOTES): a HEAD says the
// length, a GET's body does not. Each stream reads the file itself, at its own client's pace.
import { contentRange, decideStreamRange } from "../core/range.ts";
import type { LiveFill } from "../fetch/live-fill.ts";
import type { RequestContext } from "./context.ts";
import { artifactBodyHeaders } from "./responses.ts";
import type { LookupOutcome } from "./blob-route.ts";

/** Bytes read from the temp file per step of a stream. */
const CHUNK_BYTES = 256 * 1024;
/** A stream waiting for bytes looks at its fill again at least this often. */
const WAIT_SLICE_MS = 1000;

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
  const generation = live.generation;
  let position = start;
  let finished = false;
  const finish = (outcome: "complete" | "cut" | "client-gone", reason?: string): void => {
    if (finished) return;
    finished = true;
    live.streamers--;
    reader.close();
    ctx.log.event("stream", { request: ctx.requestId, key: target.logKey, job: live.jobId, outcome, bytes: position - start, ...(reason ? { reason } : {}) });
    ctx.traffic.servedFromCache(position - start);
  };
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            if (live.generation !== generation) {
              finish("cut", live.cutReason ?? "the fill had to start over");
              controller.error(new Error("the fill was cut"));
              return;
            }
            const committed = live.state === "committed";
            const end = endExclusive ?? (committed ? live.written : null);
            if (committed && end !== null && position >= end) {
              finish("complete");
              controller.close();
              return;
            }
            // Until the fill is verified, the final byte of a known length is held back.
            let limit = live.written;
            if (end !== null) limit = Math.min(limit, committed ? end : end - 1);
            if (position < limit) {
              const length = Math.min(CHUNK_BYTES, limit - position);
              const own = () => reader.read(position, length);
              // Another stream's read of the same bytes if there is one (its reader may close
              // under it: then this stream reads for itself).
              const chunk = await live.sharedRead(position, length, own).catch(own);
              if (live.generation !== generation) continue;
              if (chunk.byteLength === 0) throw new Error(`the temp file ends before byte ${position}`);
              position += chunk.byteLength;
              controller.enqueue(chunk);
              return;
            }
            await live.waitForNews(WAIT_SLICE_MS);
          }
        } catch (err) {
          finish("cut", (err instanceof Error ? err.message : String(err)).split("\n")[0]);
          controller.error(err);
        }
      },
      cancel() {
        finish("client-gone");
      },
    },
    { highWaterMark: 0 },
  );
  return { response: new Response(body, { status, headers }), key: target.key, logKey: target.logKey, note };
}
