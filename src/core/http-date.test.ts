import { describe, expect, test } from "bun:test";
import { formatHttpDate, parseHttpDate } from "./http-date.ts";

// RFC 9110 §5.6.7's example instant, in all three forms.
const EXAMPLE_MS = Date.UTC(1994, 10, 6, 8, 49, 37);

describe("parseHttpDate", () => {
  test("IMF-fixdate", () => {
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(EXAMPLE_MS);
    expect(parseHttpDate("Thu, 01 Jan 2026 00:00:00 GMT")).toBe(Date.UTC(2026, 0, 1));
  });
  test("IMF-fixdate is matched case-insensitively and surrounding white space is ignored", () => {
    expect(parseHttpDate("sun, 06 nov 1994 08:49:37 gmt")).toBe(EXAMPLE_MS);
    expect(parseHttpDate("  Sun, 06 Nov 1994 08:49:37 GMT  ")).toBe(EXAMPLE_MS);
  });
  test("RFC 850 with a two-digit year in the past century", () => {
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(EXAMPLE_MS);
  });
  test("asctime with a space-padded day", () => {
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).toBe(EXAMPLE_MS);
  });
  test("asctime with a two-digit day", () => {
    expect(parseHttpDate("Thu Jan 15 12:00:00 2026")).toBe(Date.UTC(2026, 0, 15, 12));
  });
  test("a leap second is taken as second 59", () => {
    expect(parseHttpDate("Wed, 31 Dec 2025 23:59:60 GMT")).toBe(Date.UTC(2025, 11, 31, 23, 59, 59));
  });
  test("Feb 29 in a leap year is a date", () => {
    expect(parseHttpDate("Thu, 29 Feb 2024 00:00:00 GMT")).toBe(Date.UTC(2024, 1, 29));
  });
  test('"0" (Expires: 0) is not a date', () => {
    expect(parseHttpDate("0")).toBeNull();
  });
  test("empty, null and undefined are not dates", () => {
    expect(parseHttpDate("")).toBeNull();
    expect(parseHttpDate(null)).toBeNull();
    expect(parseHttpDate(undefined)).toBeNull();
  });
  test("garbage is not a date", () => {
    expect(parseHttpDate("garbage")).toBeNull();
    expect(parseHttpDate("-1")).toBeNull();
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37")).toBeNull();
  });
  test("Feb 31 is not rolled into March", () => {
    expect(parseHttpDate("Tue, 31 Feb 2026 00:00:00 GMT")).toBeNull();
    expect(parseHttpDate("Sun, 29 Feb 2026 00:00:00 GMT")).toBeNull();
  });
  test("out-of-range day and time fields are not dates", () => {
    expect(parseHttpDate("Thu, 00 Jan 2026 00:00:00 GMT")).toBeNull();
    expect(parseHttpDate("Thu, 32 Jan 2026 00:00:00 GMT")).toBeNull();
    expect(parseHttpDate("Thu, 01 Jan 2026 24:00:00 GMT")).toBeNull();
    expect(parseHttpDate("Thu, 01 Jan 2026 00:60:00 GMT")).toBeNull();
    expect(parseHttpDate("Thu, 01 Jan 2026 00:00:61 GMT")).toBeNull();
  });
  test("formats only Date.parse accepts are not dates", () => {
    expect(Date.parse("2026-01-01T00:00:00Z")).toBe(Date.UTC(2026, 0, 1));
    expect(parseHttpDate("2026-01-01T00:00:00Z")).toBeNull();
    expect(parseHttpDate("2026-01-01")).toBeNull();
    expect(parseHttpDate("Thu, 1 Jan 2026 00:00:00 GMT")).toBeNull();
    expect(parseHttpDate("Thu, 01 Jan 2026 00:00:00 +0000")).toBeNull();
    expect(parseHttpDate("Thu, 01 Jan 2026 00:00:00 UTC")).toBeNull();
    expect(parseHttpDate("January 1, 2026")).toBeNull();
    expect(parseHttpDate("1767225600000")).toBeNull();
  });
  test("a value longer than 64 characters is not a date, even a valid one padded", () => {
    const date = "Thu, 01 Jan 2026 00:00:00 GMT";
    expect(parseHttpDate(date.padEnd(64))).toBe(Date.UTC(2026, 0, 1));
    expect(parseHttpDate(date.padEnd(65))).toBeNull();
    expect(parseHttpDate("x".repeat(10_000))).toBeNull();
  });
});

describe("formatHttpDate", () => {
  test("IMF-fixdate", () => {
    expect(formatHttpDate(EXAMPLE_MS)).toBe("Sun, 06 Nov 1994 08:49:37 GMT");
  });
  test("round trip through parseHttpDate (whole seconds)", () => {
    const ms = Date.UTC(2026, 6, 4, 23, 5, 9);
    expect(parseHttpDate(formatHttpDate(ms))).toBe(ms);
  });
});

test("years below 100 are not moved into the 1900s (Go's zero time)", () => {
  expect(parseHttpDate("Mon, 01 Jan 0001 00:00:00 GMT")).toBe(-62135596800000);
});

test("RFC 850 two-digit years: 70-99 are 19xx, 00-69 are 20xx", () => {
  expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
  expect(parseHttpDate("Friday, 01-Jan-27 00:00:00 GMT")).toBe(Date.UTC(2027, 0, 1));
});
