import { describe, expect, test } from "bun:test";
import { planEviction, type EvictionCandidate } from "./eviction.ts";
import { diskGuard, minFreeBytes, parseMinFreeDisk } from "./size.ts";

const GiB = 1024 ** 3;

describe("--min-free-disk", () => {
  test("auto, sizes and percentages", () => {
    expect(parseMinFreeDisk("auto")).toEqual({ ok: true, value: { kind: "auto" } });
    expect(parseMinFreeDisk("2GiB")).toEqual({ ok: true, value: { kind: "bytes", bytes: 2 * GiB } });
    expect(parseMinFreeDisk("7.5%")).toEqual({ ok: true, value: { kind: "percent", percent: 7.5 } });
    expect(parseMinFreeDisk("0")).toEqual({ ok: true, value: { kind: "bytes", bytes: 0 } });
    expect(parseMinFreeDisk("101%")).toEqual({ ok: false, message: '"101%" is over 100%' });
    expect(parseMinFreeDisk("lots")).toEqual({ ok: false, message: '"lots" is not a size or a percentage; expected e.g. 2GiB or 5%' });
  });
  test("auto is 5% of the filesystem but at most 1 GiB", () => {
    expect(minFreeBytes({ kind: "auto" }, 10 * GiB)).toBe(GiB / 2);
    expect(minFreeBytes({ kind: "auto" }, 4000 * GiB)).toBe(GiB);
    expect(minFreeBytes({ kind: "percent", percent: 10 }, 4000 * GiB)).toBe(400 * GiB);
  });
  test("verdicts name the directory, the free space and the minimum", () => {
    const base = { totalBytes: 100 * GiB, promisedBytes: 0, rule: { kind: "bytes", bytes: GiB } as const, dir: "/data" };
    expect(diskGuard({ ...base, freeBytes: 5 * GiB, moreBytes: 3 * GiB, starting: true })).toBeNull();
    expect(diskGuard({ ...base, freeBytes: 5 * GiB, moreBytes: 4.5 * GiB, starting: true })).toBe(
      "fill not started: only 5.0 GiB free on /data and 4.5 GiB still to write (minimum 1.0 GiB free, --min-free-disk)",
    );
    expect(diskGuard({ ...base, freeBytes: 812 * 1024 ** 2, moreBytes: 0, starting: false })).toBe(
      "fill stopped: only 812 MiB free on /data (minimum 1.0 GiB free, --min-free-disk)",
    );
  });
  test("what other fills still write counts as used: two fills that each fit alone do not both start", () => {
    const base = { totalBytes: 100 * GiB, rule: { kind: "bytes", bytes: GiB } as const, dir: "/data", starting: true };
    expect(diskGuard({ ...base, freeBytes: 10 * GiB, promisedBytes: 0, moreBytes: 6 * GiB })).toBeNull();
    expect(diskGuard({ ...base, freeBytes: 10 * GiB, promisedBytes: 6 * GiB, moreBytes: 6 * GiB })).toBe(
      "fill not started: only 10 GiB free on /data, 6.0 GiB of it still to be written by other fills, and 6.0 GiB still to write (minimum 1.0 GiB free, --min-free-disk)",
    );
    expect(diskGuard({ ...base, freeBytes: 10 * GiB, promisedBytes: 6 * GiB, moreBytes: 3 * GiB })).toBeNull();
    expect(diskGuard({ ...base, freeBytes: 7 * GiB, promisedBytes: 6.5 * GiB, moreBytes: 0, starting: false })).toBe(
      "fill stopped: only 7.0 GiB free on /data, 6.5 GiB of it still to be written by other fills (minimum 1.0 GiB free, --min-free-disk)",
    );
  });
});

describe("planEviction", () => {
  const c = (key: string, sha256: string, sizeBytes: number, recencyMs: number): EvictionCandidate => ({ key, sha256, sizeBytes, recencyMs });
  test("least recent first until the distinct-blob total fits; kept keys are skipped", () => {
    const all = [c("new", "n", 50, 500), c("old", "o", 40, 100), c("mid", "m", 30, 300), c("keep", "k", 10, 1)];
    expect(planEviction(all, { capBytes: 100, keep: new Set(["keep"]) })).toEqual({ keys: ["old"], freedBytes: 40, totalAfterBytes: 90 });
    expect(planEviction(all, { capBytes: 200, keep: new Set() })).toEqual({ keys: [], freedBytes: 0, totalAfterBytes: 130 });
  });
  test("a shared blob is freed only with its last key", () => {
    const all = [c("a", "s", 60, 1), c("b", "s", 60, 2), c("x", "x", 60, 3)];
    expect(planEviction(all, { capBytes: 60, keep: new Set(["x"]) })).toEqual({ keys: ["a", "b"], freedBytes: 60, totalAfterBytes: 60 });
  });
  test("cannot fit: evicts everything but the kept keys", () => {
    expect(planEviction([c("a", "a", 10, 1), c("k", "k", 100, 2)], { capBytes: 50, keep: new Set(["k"]) })).toEqual({ keys: ["a"], freedBytes: 10, totalAfterBytes: 100 });
  });
});
