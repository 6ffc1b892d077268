// A data dir written by the release before freshness (test/fixtures/datadir-v6, schema 6): it
// opens without error, its artifacts are stale with no validator on first use, refetched and
// compared by sha256; same bytes keep the entry and its counters, changed bytes are never served.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { blobUrl, cleanupsAfterEach, makeTempDir, sha256Hex, startTestServer } from "./helpers/index.ts";
import { mutableOrigin } from "./freshness-support.ts";
import { SCHEMA_VERSION } from "../src/store/sqlite-metadata.ts";

const cleanups = cleanupsAfterEach();
const FIXTURE = join(import.meta.dir, "fixtures/datadir-v6");
/** Where the previous release's origin listened when the fixture was made. */
const FIXTURE_ORIGIN = "http://127.0.0.1:18777";

describe("a data dir from the previous release", () => {
  test("opens, migrates to the current schema, and refetches-and-compares on first use", async () => {
    const origin = mutableOrigin();
    cleanups.push(() => origin.stop());
    const dir = makeTempDir("withcache-migrate-");
    cleanups.push(() => dir.cleanup());
    cpSync(join(FIXTURE, "blobs"), join(dir.path, "blobs"), { recursive: true });
    cpSync(join(FIXTURE, "withcache.db"), join(dir.path, "withcache.db"));
    // Point the rows at this test's origin; the schema stays the previous release's.
    const db = new Database(join(dir.path, "withcache.db"));
    expect(db.query("PRAGMA user_version").get()).toEqual({ user_version: 6 });
    db.query("UPDATE artifacts SET key = replace(key, $from, $to), url = replace(url, $from, $to)").run({ from: FIXTURE_ORIGIN, to: origin.url });
    const hitsBefore = db.query("SELECT key, hits FROM artifacts ORDER BY key").all() as Array<{ key: string; hits: number }>;
    db.close();

    const oldLatest = readFileSync(join(FIXTURE, "origin-latest.txt"));
    const oldTool = readFileSync(join(FIXTURE, "origin-tool.bin"));
    // latest.txt is unchanged upstream; tool.bin was replaced by a new build.
    origin.files.set("/latest.txt", { body: new Uint8Array(oldLatest), headers: { "cache-control": "max-age=3600" } });
    const newTool = new Uint8Array(oldTool.byteLength).fill(7);
    origin.files.set("/tool.bin", { body: newTool, headers: { "cache-control": "max-age=3600", etag: '"new-build"' } });

    const s = await startTestServer({}, { dataDir: { path: dir.path, cleanup: () => {} } });
    cleanups.push(() => s.stop({ keepDataDir: true }));
    const meta = s.running.ctx.store.metadata;
    const latestUrl = `${origin.url}/latest.txt`;
    const toolUrl = `${origin.url}/tool.bin`;
    expect(meta.getArtifact(latestUrl)).toMatchObject({ originHeaders: null, revalidation: null, superseded: false });

    const latest = await fetch(blobUrl(s.url, latestUrl));
    expect({ status: latest.status, sha: sha256Hex(new Uint8Array(await latest.arrayBuffer())) }).toEqual({ status: 200, sha: sha256Hex(oldLatest) });
    const latestRow = meta.getArtifact(latestUrl)!;
    expect(latestRow).toMatchObject({ revalidation: "same-bytes", superseded: false });
    expect(latestRow.hits).toBe(hitsBefore.find((h) => h.key === latestUrl)!.hits + 1);
    expect(latestRow.originHeaders?.cacheControl).toBe("max-age=3600");

    // The changed one: the old bytes never come back; the answer is the new build (or a miss while it fills).
    const tool = await fetch(blobUrl(s.url, toolUrl));
    const toolBytes = new Uint8Array(await tool.arrayBuffer());
    if (tool.status === 200) expect(sha256Hex(toolBytes)).toBe(sha256Hex(newTool));
    else expect(tool.status).toBe(404);
    expect(meta.getArtifact(toolUrl)).toMatchObject({ revalidation: "changed", sha256: sha256Hex(newTool) });
    // Each was asked once, unconditionally (no validator was stored before).
    expect(origin.seen.map((x) => [x.path, x.conditional, x.status])).toEqual([
      ["/latest.txt", false, 200],
      ["/tool.bin", false, 200],
    ]);
    const after = new Database(join(dir.path, "withcache.db"), { readonly: true });
    expect((after.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(SCHEMA_VERSION);
    // Migration 10 seeded the running totals from the rows it found; the triggers kept them since.
    const scanned = after.query("SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS logical FROM artifacts").get() as { n: number; logical: number };
    expect(after.query("SELECT artifact_count AS n, logical_bytes AS logical FROM artifact_totals").get()).toEqual(scanned);
    expect(scanned.n).toBeGreaterThan(0);
    after.close();
  });
});
