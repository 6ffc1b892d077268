// A fill that followed a redirect is marked: hits (GET, HEAD, 206, 304) send
// `X-Withcache-Redirected: 1`, so the shims can serve it only to a tool that follows redirects.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { openCacheStore } from "../src/store/store.ts";
import { blobUrl, fillThroughCache, makeTempDir, pollUntil, startOrigin, startTestServer, type Origin, type TestServer } from "./helpers/index.ts";

let origin: Origin;
let cache: TestServer;

beforeAll(async () => {
  origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/moved.bin") return new Response("see /final.bin\n", { status: 302, headers: { location: "/final.bin" } });
    if (path === "/final.bin" || path === "/plain.bin") return new Response("final bytes\n");
    return new Response("nope\n", { status: 404 });
  });
  cache = await startTestServer();
});

afterAll(async () => {
  await cache.stop();
  await origin.stop();
});

const fill = (originUrl: string): Promise<void> => fillThroughCache(cache.url, originUrl);

describe("X-Withcache-Redirected", () => {
  test("a redirected fill says so on GET, HEAD, 206 and 304; the bytes are the final file's", async () => {
    const url = `${origin.url}/moved.bin`;
    await fill(url);
    expect(cache.running.ctx.store.metadata.getArtifact(url)).toMatchObject({ redirected: true });
    const get = await fetch(blobUrl(cache.url, url));
    expect(get.status).toBe(200);
    expect(get.headers.get("x-withcache-redirected")).toBe("1");
    expect(await get.text()).toBe("final bytes\n");
    const head = await fetch(blobUrl(cache.url, url), { method: "HEAD" });
    expect(head.headers.get("x-withcache-redirected")).toBe("1");
    const partial = await fetch(blobUrl(cache.url, url), { headers: { range: "bytes=0-4" } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get("x-withcache-redirected")).toBe("1");
    await partial.text();
    const etag = get.headers.get("etag")!;
    const notModified = await fetch(blobUrl(cache.url, url), { headers: { "if-none-match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("x-withcache-redirected")).toBe("1");
  });

  test("a direct fill sends no such header", async () => {
    const url = `${origin.url}/plain.bin`;
    await fill(url);
    expect(cache.running.ctx.store.metadata.getArtifact(url)).toMatchObject({ redirected: false });
    for (const method of ["GET", "HEAD"]) {
      const r = await fetch(blobUrl(cache.url, url), { method });
      expect(r.status).toBe(200);
      expect(r.headers.has("x-withcache-redirected")).toBe(false);
      await r.text();
    }
  });

  test("rows written before the migration read back as not redirected", async () => {
    const dir = makeTempDir("withcache-redirect-migration-");
    try {
      await openCacheStore(dir.path).close();
      // Turn the fresh database back into schema 4 with one artifact row, then reopen it.
      const db = new Database(join(dir.path, "withcache.db"));
      db.run("ALTER TABLE artifacts DROP COLUMN redirected");
      for (const column of ["origin_headers", "request_at_ms", "response_at_ms", "revalidated_at_ms", "revalidation", "revalidation_detail", "superseded"]) db.run(`ALTER TABLE artifacts DROP COLUMN ${column}`);
      db.run("ALTER TABLE misses DROP COLUMN uncacheable_until_ms");
      for (const table of ["api_tokens", "events", "traffic_hourly"]) db.run(`DROP TABLE ${table}`);
      for (const trigger of ["artifact_totals_insert", "artifact_totals_delete", "artifact_totals_update"]) db.run(`DROP TRIGGER ${trigger}`);
      db.run("DROP TABLE artifact_totals");
      db.run("PRAGMA user_version = 4");
      db.run(`INSERT INTO artifacts (key, url, sha256, size_bytes, content_type, fetched_at_ms) VALUES ('https://h/x', 'https://h/x', '${"a".repeat(64)}', 1, 'x', 1)`);
      db.close();
      const store = openCacheStore(dir.path);
      try {
        expect(store.metadata.getArtifact("https://h/x")).toMatchObject({ redirected: false });
      } finally {
        await store.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});

