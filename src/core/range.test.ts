import { describe, expect, test } from "bun:test";
import { decideRange, decideStreamRange, ifNoneMatchHits, notModifiedSince, parseContentRange } from "./range.ts";

const v = { sizeBytes: 1000, etag: '"abc"', lastModified: "Wed, 25 Nov 2026 10:00:00 GMT" };

describe("decideRange", () => {
  test("single ranges", () => {
    expect(decideRange("bytes=0-9", null, v)).toEqual({ kind: "partial", start: 0, endInclusive: 9 });
    expect(decideRange("bytes=990-", null, v)).toEqual({ kind: "partial", start: 990, endInclusive: 999 });
    expect(decideRange("bytes=-5", null, v)).toEqual({ kind: "partial", start: 995, endInclusive: 999 });
    expect(decideRange("bytes=990-5000", null, v)).toEqual({ kind: "partial", start: 990, endInclusive: 999 });
    expect(decideRange("bytes=-5000", null, v)).toEqual({ kind: "partial", start: 0, endInclusive: 999 });
    expect(decideRange("bytes= 0-9", null, v)).toEqual({ kind: "partial", start: 0, endInclusive: 9 });
  });
  test("unsatisfiable", () => {
    expect(decideRange("bytes=1000-", null, v)).toEqual({ kind: "unsatisfiable" });
    expect(decideRange("bytes=-0", null, v)).toEqual({ kind: "unsatisfiable" });
    expect(decideRange("bytes=0-", null, { ...v, sizeBytes: 0 })).toEqual({ kind: "unsatisfiable" });
  });
  test("ignored: malformed, other units, multiple, inverted", () => {
    for (const r of ["bytes=abc", "items=0-1", "bytes=0-9,20-29", "bytes=5-2", "bytes=-", "garbage"]) {
      expect(decideRange(r, null, v)).toEqual({ kind: "full" });
    }
  });
  test("several Range lines (joined by ', ') are decided by the first, as Bun's sendfile path does", () => {
    expect(decideRange("bytes=1-2, bytes=3-4", null, v)).toEqual({ kind: "partial", start: 1, endInclusive: 2 });
    expect(decideRange("bytes=1-2, items=3-4", null, v)).toEqual({ kind: "partial", start: 1, endInclusive: 2 });
    expect(decideRange("bytes=1000-, bytes=1-2", null, v)).toEqual({ kind: "unsatisfiable" });
    expect(decideRange("bytes=1-2,3-4, bytes=5-6", null, v)).toEqual({ kind: "full" });
    expect(decideRange("items=1-2, bytes=5-6", null, v)).toEqual({ kind: "full" });
  });
  test("if-range", () => {
    expect(decideRange("bytes=0-9", '"abc"', v).kind).toBe("partial");
    expect(decideRange("bytes=0-9", '"zzz"', v).kind).toBe("full");
    expect(decideRange("bytes=0-9", 'W/"abc"', v).kind).toBe("full");
    expect(decideRange("bytes=0-9", "Wed, 25 Nov 2026 10:00:00 GMT", v).kind).toBe("partial");
    expect(decideRange("bytes=0-9", "Thu, 26 Nov 2026 10:00:00 GMT", v).kind).toBe("full");
    expect(decideRange("bytes=0-9", "garbage", v).kind).toBe("full");
  });
});

test("ifNoneMatchHits", () => {
  expect(ifNoneMatchHits('"abc"', '"abc"')).toBe(true);
  expect(ifNoneMatchHits('W/"abc", "x"', '"abc"')).toBe(true);
  expect(ifNoneMatchHits("*", '"abc"')).toBe(true);
  expect(ifNoneMatchHits('"x"', '"abc"')).toBe(false);
  expect(ifNoneMatchHits(null, '"abc"')).toBe(false);
});

test("parseContentRange", () => {
  expect(parseContentRange("bytes 10-99/100")).toEqual({ start: 10, endInclusive: 99, sizeBytes: 100 });
  expect(parseContentRange("bytes 10-99/*")).toEqual({ start: 10, endInclusive: 99, sizeBytes: null });
  expect(parseContentRange("bytes 10-100/100")).toBeNull();
  expect(parseContentRange("bytes */100")).toBeNull();
  expect(parseContentRange(null)).toBeNull();
});

test("If-Modified-Since: 304 when not newer, ignored with If-None-Match or a bad date", () => {
  expect(notModifiedSince("Wed, 25 Nov 2026 10:00:00 GMT", null, v.lastModified)).toBe(true);
  expect(notModifiedSince("Thu, 26 Nov 2026 10:00:00 GMT", null, v.lastModified)).toBe(true);
  expect(notModifiedSince("Wed, 25 Nov 2026 09:59:59 GMT", null, v.lastModified)).toBe(false);
  expect(notModifiedSince("Thu, 26 Nov 2026 10:00:00 GMT", '"x"', v.lastModified)).toBe(false);
  expect(notModifiedSince("yesterday", null, v.lastModified)).toBe(false);
  expect(notModifiedSince(null, null, v.lastModified)).toBe(false);
});

describe("decideStreamRange", () => {
  test("a known length takes ranges like a stored artifact, beyond what has arrived too", () => {
    expect(decideStreamRange("bytes=500-", null, 1000)).toEqual({ kind: "partial", start: 500, endInclusive: 999 });
    expect(decideStreamRange("bytes=10-19", null, 1000)).toEqual({ kind: "partial", start: 10, endInclusive: 19 });
    expect(decideStreamRange("bytes=1000-", null, 1000)).toEqual({ kind: "unsatisfiable" });
    expect(decideStreamRange(null, null, 1000)).toEqual({ kind: "full" });
  });
  test("an unknown length or an If-Range (no validator to check yet) gets the whole body", () => {
    expect(decideStreamRange("bytes=500-", null, null)).toEqual({ kind: "full" });
    expect(decideStreamRange("bytes=500-", '"abc"', 1000)).toEqual({ kind: "full" });
  });
});
