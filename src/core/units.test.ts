import { describe, expect, test } from "bun:test";
import { formatSize, parseSize } from "./size.ts";
import { parseDuration } from "./duration.ts";

describe("parseSize", () => {
  test("binary and decimal units", () => {
    expect(parseSize("50GiB")).toEqual({ ok: true, bytes: 50 * 1024 ** 3 });
    expect(parseSize("1.5 MiB")).toEqual({ ok: true, bytes: 1572864 });
    expect(parseSize("20GB")).toEqual({ ok: true, bytes: 20e9 });
    expect(parseSize("100")).toEqual({ ok: true, bytes: 100 });
  });
  test("refuses garbage with the expected form", () => {
    expect(parseSize("twenty")).toEqual({ ok: false, message: '"twenty" is not a size; expected e.g. 20GiB' });
    expect(parseSize("5 parsecs").ok).toBe(false);
    expect(parseSize("-1").ok).toBe(false);
  });
  test("formats", () => {
    expect(formatSize(200)).toBe("200 B");
    expect(formatSize(1536)).toBe("1.5 KiB");
  });
});

describe("parseDuration", () => {
  test("units", () => {
    expect(parseDuration("30s")).toEqual({ ok: true, ms: 30000 });
    expect(parseDuration("250ms")).toEqual({ ok: true, ms: 250 });
    expect(parseDuration("2h")).toEqual({ ok: true, ms: 7_200_000 });
    expect(parseDuration("15")).toEqual({ ok: false, message: '"15" has no unit; expected e.g. 5s or 500ms' });
    expect(parseDuration("0")).toEqual({ ok: true, ms: 0 });
  });
  test("refuses garbage", () => {
    expect(parseDuration("soon")).toEqual({ ok: false, message: '"soon" is not a duration; expected e.g. 30s' });
  });
});
