// SQLite-only details of the embedded OpsStore. The behaviour both backends share (tokens, events,
// traffic buckets, the bytes-saved ranking) is one contract in test/ops-contract.test.ts.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOUR_MS } from "../core/traffic.ts";
import { openCacheStore } from "./store.ts";
import { TrafficRecorder } from "./traffic.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("ops store (sqlite)", () => {
  test("traffic: buckets and tokens live in the data dir and survive reopening", async () => {
    const dir = mkdtempSync(join(tmpdir(), "withcache-ops-"));
    dirs.push(dir);
    const store = openCacheStore(dir);
    let now = 5 * HOUR_MS + 10;
    const rec = new TrafficRecorder(store.ops, () => now, 60_000);
    rec.hit();
    rec.servedFromCache(100);
    rec.miss();
    now += HOUR_MS;
    rec.hit();
    rec.fetchedFromOrigin(40);
    expect(rec.totalsSinceStart()).toEqual({ hits: 2, misses: 1, bytesFromCache: 100, bytesFromOrigin: 40 });
    await rec.close();
    rec.hit();
    await rec.flush();
    await store.ops.createToken({ name: "ci", scope: "read", tokenSha256: "a".repeat(64), hint: "wc_abcd…", nowMs: 1000 });
    await store.close();
    const again = openCacheStore(dir);
    expect(await again.ops.trafficSince(0)).toEqual([
      { hourMs: 5 * HOUR_MS, hits: 1, misses: 1, bytesFromCache: 100, bytesFromOrigin: 0 },
      { hourMs: 6 * HOUR_MS, hits: 2, misses: 0, bytesFromCache: 0, bytesFromOrigin: 40 },
    ]);
    expect(await again.ops.trafficTotal()).toEqual({ hits: 3, misses: 1, bytesFromCache: 100, bytesFromOrigin: 40 });
    expect((await again.ops.tokenBySha256("a".repeat(64)))?.name).toBe("ci");
    await again.close();
  });
});
