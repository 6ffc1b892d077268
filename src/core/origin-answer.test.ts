import { describe, expect, test } from "bun:test";
import { decideOriginAnswer, type CachedCopy } from "./origin-answer.ts";
import type { OriginHeaders } from "./freshness.ts";

const URL = "https://h/x.tgz";
const ORIGIN = { kind: "origin" } as const;
const stored = (over: Partial<OriginHeaders> = {}): OriginHeaders => ({ date: null, cacheControl: "max-age=60", expires: null, etag: '"a"', lastModified: null, age: null, ...over });
const copy = (over: Partial<CachedCopy> = {}): CachedCopy => ({ originHeaders: stored(), sentEtag: '"a"', sentLastModified: null, ...over });
const decide = (status: number, headers: Record<string, string>, cached: CachedCopy | null) => decideOriginAnswer({ status, headers: new Headers(headers), url: URL, policy: ORIGIN, cached });

describe("decideOriginAnswer", () => {
  test("a 304 about our etag keeps the bytes and merges headers", () => {
    expect(decide(304, { etag: '"a"', "cache-control": "max-age=5" }, copy())).toMatchObject({ kind: "not-modified", headers: { cacheControl: "max-age=5", etag: '"a"' } });
  });
  test("a 304 about another etag is a change: retry unconditionally with the copy superseded", () => {
    expect(decide(304, { etag: '"b"' }, copy())).toMatchObject({ kind: "retry", supersede: true, originDown: false });
  });
  test("a 304 to a request without validators: an origin error with a copy, uncacheable without", () => {
    expect(decide(304, {}, copy({ sentEtag: null }))).toMatchObject({ kind: "retry", originDown: true, supersede: false });
    expect(decide(304, {}, null)).toEqual({ kind: "uncacheable", reason: `origin answered 304 for ${URL}` });
  });
  test("404/410 on revalidation are gone; 403 is refused (copy kept); 503 is the origin down", () => {
    expect(decide(404, {}, copy())).toEqual({ kind: "gone", reason: `origin answered 404 on revalidation of ${URL}` });
    expect(decide(410, {}, copy()).kind).toBe("gone");
    expect(decide(403, {}, copy())).toEqual({ kind: "refused", reason: `origin answered 403 on revalidation of ${URL}` });
    expect(decide(503, {}, copy())).toMatchObject({ kind: "retry", originDown: true });
    expect(decide(404, {}, null)).toEqual({ kind: "uncacheable", reason: `origin answered 404 for ${URL}` });
  });
  test("a 200 with the same strong etag needs no body; another etag supersedes; no validators refetch to compare", () => {
    expect(decide(200, { etag: '"a"' }, copy()).kind).toBe("same-version");
    expect(decide(200, { etag: '"b"' }, copy())).toMatchObject({ kind: "store", supersedes: true });
    expect(decide(200, {}, copy({ originHeaders: stored({ etag: null }), sentEtag: null }))).toEqual({ kind: "store", supersedes: false, detail: "refetched to compare bytes" });
    expect(decide(200, { "last-modified": "Tue, 01 Dec 2026 00:00:00 GMT" }, copy({ originHeaders: stored({ etag: null, lastModified: "Mon, 30 Nov 2026 00:00:00 GMT" }), sentEtag: null }))).toMatchObject({ kind: "store", supersedes: true });
  });
  test("a 200 that may not be stored is uncacheable, also for a cached key (the copy goes)", () => {
    expect(decide(200, { "cache-control": "no-store" }, copy())).toEqual({ kind: "uncacheable", reason: "origin sent cache-control: no-store" });
    expect(decide(200, { "set-cookie": "a=1" }, null)).toEqual({ kind: "uncacheable", reason: "origin sent set-cookie" });
  });
});
