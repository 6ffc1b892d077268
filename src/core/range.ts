// Byte ranges and conditional requests for serving an artifact (RFC 9110 §13–14).
// One decision per request: the whole body, one slice, or unsatisfiable. Multiple ranges and
// malformed headers are ignored (whole body), which is what RFC 9110 allows and what Bun does
// for file bodies itself, so our answer and Bun's sendfile path never disagree.

export type RangeDecision =
  | { kind: "full" }
  | { kind: "partial"; start: number; endInclusive: number }
  | { kind: "unsatisfiable" };

export type Validators = {
  sizeBytes: number;
  /** Strong entity tag including quotes, e.g. "\"ab12…\"". */
  etag: string;
  /** IMF-fixdate, e.g. "Wed, 25 Nov 2026 10:00:00 GMT". */
  lastModified: string;
};

const SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

/**
 * Several Range header lines reach us joined by ", " ("bytes=1-2, bytes=3-4"). Bun's sendfile
 * path answers by the first line alone, so we decide on it too: otherwise our "whole body" meets
 * Bun serving a 206 (or an empty 416) behind our back, and the log and hit counter say 200.
 */
const SECOND_RANGE_LINE = /,\s*[A-Za-z][A-Za-z0-9_-]*\s*=/;

export function decideRange(range: string | null, ifRange: string | null, v: Validators): RangeDecision {
  if (range === null) return { kind: "full" };
  const second = SECOND_RANGE_LINE.exec(range);
  if (second) range = range.slice(0, second.index);
  const eq = range.indexOf("=");
  if (eq < 0 || range.slice(0, eq).trim().toLowerCase() !== "bytes") return { kind: "full" };
  const specs = range.slice(eq + 1).split(",");
  if (specs.length !== 1) return { kind: "full" };
  if (ifRange !== null && !ifRangeMatches(ifRange, v)) return { kind: "full" };
  const m = SPEC.exec(specs[0]!);
  if (!m) return { kind: "full" };
  const [, first, last] = m as unknown as [string, string, string];
  const size = v.sizeBytes;
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return { kind: "full" };
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), endInclusive: size - 1 };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start)) return { kind: "full" };
  const end = last === "" ? Number.MAX_SAFE_INTEGER : Number(last);
  if (last !== "" && Number.isSafeInteger(end) && end < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, endInclusive: Number.isSafeInteger(end) ? Math.min(end, size - 1) : size - 1 };
}

/**
 * A range of a fill still arriving (stream-through). Its length is the origin's Content-Length
 * (null: unknown, so only the whole body can be sent), and it has no validator yet: a request
 * with If-Range cannot be checked and gets the whole body, as RFC 9110 §13.1.5 says.
 */
export function decideStreamRange(range: string | null, ifRange: string | null, totalBytes: number | null): RangeDecision {
  if (totalBytes === null || ifRange !== null) return { kind: "full" };
  return decideRange(range, null, { sizeBytes: totalBytes, etag: "", lastModified: "" });
}

/** If-Range: a strong ETag match or an exact Last-Modified date match; anything else is stale. */
export function ifRangeMatches(ifRange: string, v: Validators): boolean {
  const value = ifRange.trim();
  if (value.startsWith('"')) return value === v.etag;
  if (value.startsWith("W/")) return false;
  const asked = Date.parse(value);
  const have = Date.parse(v.lastModified);
  return Number.isFinite(asked) && Number.isFinite(have) && asked === have;
}

/** If-None-Match (weak comparison): true when the client's copy is current → 304. */
export function ifNoneMatchHits(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  const bare = etag.replace(/^W\//, "");
  return ifNoneMatch.split(",").some((raw) => {
    const tag = raw.trim();
    return tag === "*" || tag.replace(/^W\//, "") === bare;
  });
}

/**
 * If-Modified-Since, evaluated only without If-None-Match (RFC 9110 §13.1.3): true → 304 when
 * the artifact is not newer than the client's date. Dates compare at one-second resolution,
 * which is all Last-Modified carries.
 */
export function notModifiedSince(ifModifiedSince: string | null, ifNoneMatch: string | null, lastModified: string): boolean {
  if (ifModifiedSince === null || ifNoneMatch !== null) return false;
  const asked = Date.parse(ifModifiedSince);
  const have = Date.parse(lastModified);
  return Number.isFinite(asked) && Number.isFinite(have) && have <= asked;
}

export function contentRange(d: { start: number; endInclusive: number }, sizeBytes: number): string {
  return `bytes ${d.start}-${d.endInclusive}/${sizeBytes}`;
}

/** Parse an origin's `Content-Range: bytes a-b/size` (size may be `*`) when resuming a fill. */
export function parseContentRange(header: string | null): { start: number; endInclusive: number; sizeBytes: number | null } | null {
  if (header === null) return null;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!m) return null;
  const start = Number(m[1]);
  const endInclusive = Number(m[2]);
  const sizeBytes = m[3] === "*" ? null : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endInclusive) || endInclusive < start) return null;
  if (sizeBytes !== null && (!Number.isSafeInteger(sizeBytes) || endInclusive >= sizeBytes)) return null;
  return { start, endInclusive, sizeBytes };
}
