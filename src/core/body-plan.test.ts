import { describe, expect, test } from "bun:test";
import { planBody, sameRepresentation, sizeLimitExceeded, strongValidator } from "./body-plan.ts";

const limits = { maxArtifactBytes: 0, maxCacheBytes: 0 };
const plan = (status: number, headers: Record<string, string>, offsetBytes = 0, validator: string | null = null, l = limits) =>
  planBody({ status, headers: new Headers(headers), offsetBytes, validator, url: "https://h/a", limits: l });

describe("planBody", () => {
  test("a 200 writes from byte 0 with its length and a strong validator", () => {
    expect(plan(200, { "content-length": "10", etag: '"v1"' })).toEqual({ kind: "write", offsetBytes: 0, totalBytes: 10, validator: '"v1"' });
    expect(plan(200, { "last-modified": "Wed, 25 Nov 2026 10:00:00 GMT" })).toEqual({ kind: "write", offsetBytes: 0, totalBytes: null, validator: "Wed, 25 Nov 2026 10:00:00 GMT" });
  });
  test("a 200 to a resume request starts over: the origin changed or ignores ranges", () => {
    expect(plan(200, { "content-length": "10", etag: '"v2"' }, 5, '"v1"')).toEqual({ kind: "write", offsetBytes: 0, totalBytes: 10, validator: '"v2"' });
  });
  test("a 206 resumes at the asked offset of the same version", () => {
    expect(plan(206, { "content-range": "bytes 5-9/10", etag: '"v1"' }, 5, '"v1"')).toEqual({ kind: "write", offsetBytes: 5, totalBytes: 10, validator: '"v1"' });
  });
  test("a 206 of another version, another offset, or unasked restarts", () => {
    expect(plan(206, { "content-range": "bytes 5-9/10", etag: '"v2"' }, 5, '"v1"').kind).toBe("restart");
    expect(plan(206, { "content-range": "bytes 4-9/10" }, 5, '"v1"').kind).toBe("restart");
    expect(plan(206, { "content-range": "bytes 0-9/10" }, 0, null).kind).toBe("restart");
    expect(plan(416, {}, 5, '"v1"')).toEqual({ kind: "restart", reason: "origin refused to resume https://h/a (416); restarting from zero" });
  });
  test("an invalid or too large length fails for good", () => {
    expect(plan(200, { "content-length": "12abc" })).toEqual({ kind: "fail", reason: 'origin sent an invalid content-length "12abc" for https://h/a' });
    expect(plan(200, { "content-length": "11" }, 0, null, { maxArtifactBytes: 10, maxCacheBytes: 0 })).toEqual({ kind: "fail", reason: "origin artifact is 11 bytes, over --max-artifact-size 10" });
  });
});

describe("validators and limits", () => {
  test("strongValidator prefers a strong ETag, then Last-Modified", () => {
    expect(strongValidator(new Headers({ etag: 'W/"weak"', "last-modified": "x" }))).toBe("x");
    expect(strongValidator(new Headers({ etag: '"s"' }))).toBe('"s"');
    expect(strongValidator(new Headers())).toBeNull();
  });
  test("sameRepresentation compares the ETag or the date a 206 names", () => {
    expect(sameRepresentation(new Headers({ etag: '"a"' }), '"a"')).toBe(true);
    expect(sameRepresentation(new Headers({ etag: '"b"' }), '"a"')).toBe(false);
    expect(sameRepresentation(new Headers({ "last-modified": "Wed, 25 Nov 2026 10:00:00 GMT" }), "Wed, 25 Nov 2026 10:00:00 GMT")).toBe(true);
    expect(sameRepresentation(new Headers(), null)).toBe(false);
  });
  test("sizeLimitExceeded names the first flag over", () => {
    expect(sizeLimitExceeded({ maxArtifactBytes: 5, maxCacheBytes: 3 }, 6)).toEqual({ flag: "--max-artifact-size", limitBytes: 5 });
    expect(sizeLimitExceeded({ maxArtifactBytes: 0, maxCacheBytes: 3 }, 4)).toEqual({ flag: "--max-cache-size", limitBytes: 3 });
    expect(sizeLimitExceeded({ maxArtifactBytes: 0, maxCacheBytes: 0 }, 4)).toBeNull();
  });
});
