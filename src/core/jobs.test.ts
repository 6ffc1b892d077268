import { expect, test } from "bun:test";
import { backoffMs, canTransition, isTransientStatus } from "./jobs.ts";

test("transitions", () => {
  expect(canTransition("queued", "running")).toBe(true);
  expect(canTransition("running", "queued")).toBe(true);
  expect(canTransition("completed", "queued")).toBe(false);
  expect(canTransition("failed", "queued")).toBe(true);
  expect(canTransition("queued", "completed")).toBe(false);
});

test("backoff grows and is capped", () => {
  const o = { baseMs: 1000, maxMs: 60_000 };
  expect([1, 2, 3, 4].map((a) => backoffMs(a, o))).toEqual([1000, 2000, 4000, 8000]);
  expect(backoffMs(100, o)).toBe(60_000);
});

test("transient statuses", () => {
  expect(isTransientStatus(503)).toBe(true);
  expect(isTransientStatus(429)).toBe(true);
  expect(isTransientStatus(404)).toBe(false);
  expect(isTransientStatus(403)).toBe(false);
});
