import { describe, expect, test } from "bun:test";
import { classifyRead, hitRatio, hourStart, HOUR_MS } from "./traffic.ts";

describe("traffic vocabulary", () => {
  test("hourStart floors to the hour", () => {
    expect(hourStart(3 * HOUR_MS + 59_999)).toBe(3 * HOUR_MS);
    expect(hourStart(3 * HOUR_MS)).toBe(3 * HOUR_MS);
  });
  test("a GET served from the cache is a hit; its HEAD probe is not", () => {
    expect(classifyRead({ method: "GET", status: 200, result: "hit" })).toBe("hit");
    expect(classifyRead({ method: "GET", status: 206, result: "hit-stale" })).toBe("hit");
    expect(classifyRead({ method: "GET", status: 200, result: "stream" })).toBe("hit");
    expect(classifyRead({ method: "HEAD", status: 200, result: "hit" })).toBeNull();
    expect(classifyRead({ method: "GET", status: 416, result: "hit" })).toBeNull();
  });
  test("every miss counts, probe or GET; never-rules and errors count as nothing", () => {
    expect(classifyRead({ method: "HEAD", status: 404, result: "miss-fill" })).toBe("miss");
    expect(classifyRead({ method: "GET", status: 404, result: "miss" })).toBe("miss");
    expect(classifyRead({ method: "HEAD", status: 200, result: "miss-stream" })).toBe("miss");
    expect(classifyRead({ method: "GET", status: 404, result: "never" })).toBeNull();
    expect(classifyRead({ method: "GET", status: 400, result: null })).toBeNull();
  });
  test("hit ratio", () => {
    expect(hitRatio({ hits: 0, misses: 0 })).toBeNull();
    expect(hitRatio({ hits: 3, misses: 1 })).toBe(0.75);
  });
});
