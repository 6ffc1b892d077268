import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOUR_MS } from "../core/traffic.ts";
import { openCacheStore, type CacheStore } from "./store.ts";
import { TrafficRecorder } from "./traffic.ts";

const dirs: string[] = [];
function freshStore(): { store: CacheStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "withcache-ops-"));
  dirs.push(dir);
  return { store: openCacheStore(dir), dir };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("ops store (sqlite)", () => {
  test("tokens: created, found by sha256, touched, listed, revoked", async () => {
    const { store } = freshStore();
    const t = await store.ops.createToken({ name: "ci", scope: "read", tokenSha256: "a".repeat(64), hint: "wc_abcd…", nowMs: 1000 });
    expect(t).toEqual({ id: t.id, name: "ci", scope: "read", hint: "wc_abcd…", createdAtMs: 1000, lastUsedMs: null });
    expect(await store.ops.tokenBySha256("a".repeat(64))).toEqual(t);
    expect(await store.ops.tokenBySha256("b".repeat(64))).toBeNull();
    await expect(store.ops.createToken({ name: "ci", scope: "admin", tokenSha256: "c".repeat(64), hint: "x", nowMs: 1 })).rejects.toThrow();
    await store.ops.touchTokens(new Map([[t.id, 5000]]));
    await store.ops.touchTokens(new Map([[t.id, 4000]])); // an older use never moves it back
    expect((await store.ops.listTokens())[0]!.lastUsedMs).toBe(5000);
    expect(await store.ops.revokeToken("ci")).toBe(true);
    expect(await store.ops.revokeToken("ci")).toBe(false);
    expect(await store.ops.tokenBySha256("a".repeat(64))).toBeNull();
    await store.close();
  });

  test("events: newest first, paged by id, filtered by kind, pruned by age", async () => {
    const { store } = freshStore();
    const base = { actor: "session", client: "127.0.0.1", outcome: "ok" as const, detail: "" };
    await store.ops.recordEvents([1, 2, 3, 4].map((i) => ({ ...base, atMs: i * 1000, kind: i % 2 ? "login" : "add", detail: `e${i}` })));
    const all = await store.ops.listEvents({ limit: 10 });
    expect(all.map((e) => e.detail)).toEqual(["e4", "e3", "e2", "e1"]);
    expect((await store.ops.listEvents({ limit: 2, beforeId: all[1]!.id })).map((e) => e.detail)).toEqual(["e2", "e1"]);
    expect((await store.ops.listEvents({ limit: 10, kind: "login" })).map((e) => e.detail)).toEqual(["e3", "e1"]);
    expect(await store.ops.pruneEvents(2500)).toBe(2);
    expect((await store.ops.listEvents({ limit: 10 })).map((e) => e.detail)).toEqual(["e4", "e3"]);
    await store.close();
  });

  test("traffic: recorder counts in memory, writes hourly buckets, survives reopening", async () => {
    const { store, dir } = freshStore();
    let now = 5 * HOUR_MS + 10;
    const rec = new TrafficRecorder(store.ops, () => now, 60_000);
    rec.hit();
    rec.servedFromCache(100);
    rec.miss();
    now += HOUR_MS;
    rec.hit();
    rec.fetchedFromOrigin(40);
    expect(rec.totalsSinceStart()).toEqual({ hits: 2, misses: 1, bytesFromCache: 100, bytesFromOrigin: 40 });
    expect(await store.ops.trafficSince(0)).toEqual([]);
    await rec.close();
    rec.hit();
    await rec.flush();
    await store.close();
    const again = openCacheStore(dir);
    expect(await again.ops.trafficSince(0)).toEqual([
      { hourMs: 5 * HOUR_MS, hits: 1, misses: 1, bytesFromCache: 100, bytesFromOrigin: 0 },
      { hourMs: 6 * HOUR_MS, hits: 2, misses: 0, bytesFromCache: 0, bytesFromOrigin: 40 },
    ]);
    expect(await again.ops.trafficSince(6 * HOUR_MS)).toHaveLength(1);
    expect(await again.ops.trafficTotal()).toEqual({ hits: 3, misses: 1, bytesFromCache: 100, bytesFromOrigin: 40 });
    await again.close();
  });
});

describe("top artifacts by bytes saved", () => {
  test("hits × size, largest first; unhit artifacts are not listed", async () => {
    const { store } = freshStore();
    const add = (key: string, sizeBytes: number, sha: string) =>
      store.metadata.commitArtifact({ key, url: key, sha256: sha.repeat(64), sizeBytes, contentType: "application/octet-stream", contentDisposition: null, fetchedAtMs: 1 });
    await add("https://h/big", 1000, "a");
    await add("https://h/small", 10, "b");
    await add("https://h/never", 5000, "c");
    store.metadata.recordHit("https://h/big", 2);
    for (let i = 0; i < 50; i += 1) store.metadata.recordHit("https://h/small", 2);
    expect(await store.ops.topArtifactsBySaved(10)).toEqual([
      { key: "https://h/big", url: "https://h/big", sizeBytes: 1000, hits: 1, bytesSaved: 1000 },
      { key: "https://h/small", url: "https://h/small", sizeBytes: 10, hits: 50, bytesSaved: 500 },
    ]);
    await store.close();
  });
});
