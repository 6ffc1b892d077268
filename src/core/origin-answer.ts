// The "decide" stage of a fill: what the origin's status and headers mean for the cache, before
// any body byte is read. Pure: the fill manager carries the decision out (abort the body, update
// the stored headers, withdraw old bytes, or stream the body to disk).
import { isTransientStatus } from "./jobs.ts";
import { notModifiedMerge, originHeadersOf, sameEtagWeakly, storability, type OriginHeaders, type Policy } from "./freshness.ts";

/** What the fill knows of the copy it may be revalidating. */
export type CachedCopy = {
  originHeaders: OriginHeaders | null;
  /** The validators sent (null: not sent); a 304 must be about these. */
  sentEtag: string | null;
  sentLastModified: string | null;
};

export type OriginAnswer =
  /** 304 to our conditional request: keep the bytes, store these headers. */
  | { kind: "not-modified"; headers: OriginHeaders; detail: string }
  /** The origin says the copy is no more (404/410 to a revalidation): remove it. */
  | { kind: "gone"; reason: string }
  /** May not be stored (no-store, private, Set-Cookie, Vary: *, a permanent 4xx): abort the body,
   *  remember the URL as uncacheable; a cached copy is withdrawn. */
  | { kind: "uncacheable"; reason: string }
  /** A permanent refusal (403, 401, …) of a revalidation: the copy is kept but not served while stale
   *  (an expired signed URL says nothing about the bytes). */
  | { kind: "refused"; reason: string }
  /** A status worth retrying (5xx, 429, …) or a broken 304: the origin is down or confused. */
  | { kind: "retry"; reason: string; originDown: boolean; supersede: boolean }
  /** A 200 carrying the same strong ETag as the copy: the same representation, body not needed. */
  | { kind: "same-version"; headers: OriginHeaders; detail: string }
  /** Stream the body. `supersedes`: the validators show a different version (old bytes withdrawn at once). */
  | { kind: "store"; supersedes: boolean; detail: string };

function strong(etag: string | null): string | null {
  return etag !== null && etag.startsWith('"') ? etag : null;
}

export function decideOriginAnswer(options: { status: number; headers: Headers; url: string; policy: Policy; cached: CachedCopy | null }): OriginAnswer {
  const { status, headers, url, policy, cached } = options;
  const conditional = cached !== null && (cached.sentEtag !== null || cached.sentLastModified !== null);
  if (status === 304) {
    // Without a copy a 304 is just a status that is not a body: like 204, not storable.
    if (cached === null) return { kind: "uncacheable", reason: `origin answered 304 for ${url}` };
    if (!conditional) return { kind: "retry", reason: `origin answered 304 to a request without validators for ${url}`, originDown: true, supersede: false };
    const merged = notModifiedMerge(cached.originHeaders ?? emptyHeaders(), cached.sentEtag, headers);
    if (!merged.ok) return { kind: "retry", reason: `${merged.reason} for ${url}; refetching`, originDown: false, supersede: true };
    // A 304 may change what may be stored (no-store, private, a cookie now): judged like a 200.
    const asStored = new Headers(headers);
    if (merged.headers.cacheControl !== null) asStored.set("cache-control", merged.headers.cacheControl);
    const verdict = storability(200, asStored, policy);
    if (!verdict.ok) return { kind: "uncacheable", reason: verdict.reason };
    return { kind: "not-modified", headers: merged.headers, detail: "origin answered 304" };
  }
  if (cached !== null && (status === 404 || status === 410)) return { kind: "gone", reason: `origin answered ${status} on revalidation of ${url}` };
  if (status !== 200 && status !== 206) {
    if (isTransientStatus(status)) return { kind: "retry", reason: `origin answered ${status} for ${url}`, originDown: true, supersede: false };
    if (cached !== null) return { kind: "refused", reason: `origin answered ${status} on revalidation of ${url}` };
    return { kind: "uncacheable", reason: `origin answered ${status} for ${url}` };
  }
  // A 206 is a resume of a 200 we chose to store; its headers are held to the same rules.
  const verdict = storability(200, headers, policy);
  if (!verdict.ok) return { kind: "uncacheable", reason: verdict.reason };
  if (cached === null || status === 206) return { kind: "store", supersedes: false, detail: "" };
  const fresh = originHeadersOf(headers);
  const oldStrong = strong(cached.originHeaders?.etag ?? null);
  const newStrong = strong(fresh.etag);
  if (oldStrong !== null && newStrong !== null && oldStrong === newStrong) {
    return { kind: "same-version", headers: fresh, detail: "origin answered 200 with the same etag" };
  }
  const oldTag = cached.originHeaders?.etag ?? null;
  if (oldTag !== null && fresh.etag !== null && !sameEtagWeakly(oldTag, fresh.etag)) {
    return { kind: "store", supersedes: true, detail: `new version (etag ${oldTag.slice(0, 40)} → ${fresh.etag.slice(0, 40)})` };
  }
  const oldLm = cached.originHeaders?.lastModified ?? null;
  if (oldTag === null && oldLm !== null && fresh.lastModified !== null && oldLm !== fresh.lastModified) {
    return { kind: "store", supersedes: true, detail: `new version (last-modified ${oldLm} → ${fresh.lastModified})` };
  }
  // No validator to compare (or one side lacks it): refetch, and compare sha256 at the end.
  return { kind: "store", supersedes: false, detail: "refetched to compare bytes" };
}

function emptyHeaders(): OriginHeaders {
  return { date: null, cacheControl: null, expires: null, etag: null, lastModified: null, age: null };
}
