// `withcache migrate` end to end: a real embedded data dir made by the real cache-host filling from
// a real origin (two keys with the same bytes, a token, a miss), then the real CLI (`bun
// src/main.ts migrate`) against a real PostgreSQL 15 and a real S3 server (versitygw). Rows,
// objects and sha256s arrive; the source dir is byte-identical afterwards; a second run copies
// nothing; a damaged blob is refused; a run killed mid-way completes when run again; bad targets,
// a running cache-host and an old schema are refused in one line.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { Database, constants } from "bun:sqlite";
import { readdirSync, readFileSync, statSync, writeFileSync, cpSync } from "node:fs";
import { join, relative } from "node:path";
import { blobUrl, cleanupsAfterEach, fillOnMiss, isStored, makeTempDir, pipeText, pollUntil, REPO_ROOT, run, sha256Hex, spawnServer, startOrigin, startTestServer, type Origin, type TestServer } from "./helpers/index.ts";
import { childEnv } from "./helpers/proc.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";
import { patternedBytes } from "./helpers/bytes.ts";
import { startS3Server, type S3Server } from "./helpers/s3.ts";
import { BLOB_LOCK_CLASS } from "../src/store/pg-schema.ts";

let pg: PostgresServer;
let s3: S3Server;
let origin: Origin;
const cleanups = cleanupsAfterEach();

/** Distinct bytes per path, the size in the name (/f/<name>-<bytes>.bin); /same/* all share one body. */
function bodyOf(path: string): Uint8Array<ArrayBuffer> {
  const size = Number(/-(\d+)\.bin$/.exec(path)?.[1] ?? "1000");
  const seed = path.startsWith("/same/") ? "/same" : path;
  return patternedBytes(seed, size);
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3Server()]);
  origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (!path.startsWith("/f/") && !path.startsWith("/same/")) return new Response("no\n", { status: 404 });
    return new Response(bodyOf(path), {
      headers: { "content-type": "application/octet-stream", "cache-control": "max-age=86400", etag: `"${sha256Hex(path).slice(0, 12)}"`, "last-modified": "Mon, 01 Jun 2026 10:00:00 GMT" },
    });
  });
}, 60_000);
afterAll(async () => {
  await origin?.stop();
  await s3?.stop();
  await pg?.stop();
});

let counter = 0;
async function freshTargets(): Promise<{ database: string; bucket: string; sql: SQL; client: Bun.S3Client }> {
  const n = ++counter;
  const name = `wc_migrate_${n}`;
  const admin = new SQL(pg.url, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.close();
  const database = pg.url.replace(/\/postgres$/, `/${name}`);
  const bucket = `wc-migrate-${process.pid}-${n}`;
  await s3.createBucket(bucket);
  const sql = new SQL(database, { max: 2 });
  cleanups.push(() => sql.close());
  const client = new Bun.S3Client({ bucket, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region });
  return { database, bucket, sql, client };
}

type Source = { dir: string; urls: string[]; token: string };

/** A stopped embedded cache-host's data dir: `files` filled from the origin, /same/a and /same/b (one blob), hits, a revalidation note, a token and a miss. */
async function buildSource(files: string[]): Promise<Source> {
  const dir = makeTempDir("withcache-migrate-src-");
  cleanups.push(() => dir.cleanup());
  const s: TestServer = await startTestServer({}, { dataDir: dir });
  try {
    const urls = [...files.map((f) => `${origin.url}/f/${f}`), `${origin.url}/same/a-5000.bin`, `${origin.url}/same/b-5000.bin`];
    for (const url of urls) {
      const job = await fillOnMiss(s, url, { timeoutMs: 30_000 });
      expect({ url, state: job.state, error: job.error }).toEqual({ url, state: "completed", error: null });
    }
    // Hits (counters and last hit), a revalidation note with superseded, a miss, a token.
    for (let i = 0; i < 3; i++) expect((await fetch(blobUrl(s.url, urls[0]!))).status).toBe(200);
    await s.running.ctx.store.metadata.noteRevalidation(urls[1]!, { atMs: 1_800_000_000_000, result: "changed", detail: "the origin has new bytes", superseded: true });
    await fetch(blobUrl(s.url, `${origin.url}/missing.bin`)).then((r) => r.arrayBuffer());
    const created = await fetch(`${s.url}/api/v1/tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "ci", scope: "read" }) });
    expect(created.status).toBe(201);
    const token = ((await created.json()) as { token: string }).token;
    await pollUntil(() => s.running.ctx.store.metadata.listMisses().some((m) => m.url.endsWith("/missing.bin")), { what: "the miss row", timeoutMs: 10_000 });
    await s.stop({ keepDataDir: true });
    return { dir: dir.path, urls, token };
  } catch (err) {
    await s.stop({ keepDataDir: true });
    throw err;
  }
}

/** Every file under `dir` (relative path → sha256 of its bytes). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out[`${relative(dir, p)}/`] = "dir";
        walk(p);
      } else out[relative(dir, p)] = sha256Hex(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function migrateArgs(src: string, t: { database: string; bucket: string }, extra: string[] = []): string[] {
  return [process.execPath, join(REPO_ROOT, "src/main.ts"), "migrate", "--from", src, "--database", t.database, "--blob-store", `s3://${t.bucket}/cache`, ...extra];
}

function migrate(src: string, t: { database: string; bucket: string }, extra: string[] = [], env: Record<string, string> = s3.env) {
  return run(migrateArgs(src, t, extra), { cwd: REPO_ROOT, env, timeoutMs: 120_000 });
}

/** The source's rows as PostgreSQL should hold them (booleans as 0/1, BIGINTs as numbers). */
function sourceRows(dir: string, table: string, order: string): Array<Record<string, unknown>> {
  // Immutable: a plain read-only open of a WAL database would leave -wal/-shm files in the dir.
  const db = new Database(`file:${join(dir, "withcache.db")}?immutable=1`, constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI);
  try {
    return db.query(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

function normalise(row: Record<string, unknown>, drop: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (drop.includes(k)) continue;
    out[k] = typeof v === "boolean" ? (v ? 1 : 0) : typeof v === "string" && /^-?\d+$/.test(v) && !["key", "url", "sha256", "token_sha256", "hint", "name"].includes(k) ? Number(v) : v;
  }
  return out;
}

/** Every object under the bucket's blob prefix hashes to its name; returns the names. */
async function verifiedObjects(client: Bun.S3Client): Promise<string[]> {
  const listed = await client.list({ prefix: "cache/sha256/", maxKeys: 1000 });
  const names: string[] = [];
  for (const item of listed.contents ?? []) {
    const name = item.key.slice("cache/sha256/".length);
    expect(sha256Hex(new Uint8Array(await client.file(item.key).arrayBuffer()))).toBe(name);
    names.push(name);
  }
  return names.sort();
}

test("migrate copies rows with every column, blobs once each, tokens and misses; the source stays byte-identical; a second run copies nothing", async () => {
  const src = await buildSource(["one-1000.bin", "two-70000.bin", "three-300000.bin"]);
  const t = await freshTargets();
  const rows = sourceRows(src.dir, "artifacts", "key");
  const misses = sourceRows(src.dir, "misses", "key");
  const tokens = sourceRows(src.dir, "api_tokens", "id");
  const before = snapshot(src.dir);
  expect(rows.length).toBe(5);
  expect(misses.length).toBe(1);
  expect(tokens.length).toBe(1);
  expect(rows.find((r) => r.key === src.urls[0])).toMatchObject({ hits: 3 });
  expect(rows.find((r) => r.key === src.urls[1])).toMatchObject({ superseded: 1, revalidation: "changed" });

  const first = await migrate(src.dir, t);
  expect({ code: first.exitCode, stderr: first.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(first.stderr).toMatch(/^migrate: 5\/5 artifacts, [\d.]+ KiB of [\d.]+ KiB, 5 copied, 0 already there$/m);
  expect(first.stdout).toContain("5 artifacts (");
  expect(first.stdout).toContain("5 copied, 0 already there, 0 refused; 4 blobs uploaded");
  expect(first.stdout).toContain("tokens: 1 copied");
  expect(first.stdout).toContain("misses: 1 copied");
  expect(first.stdout).not.toContain(s3.secretAccessKey);

  // Every column of every row, as the source has it.
  const pgRows = (await t.sql`SELECT * FROM artifacts ORDER BY key`) as Array<Record<string, unknown>>;
  expect(pgRows.map((r) => normalise(r))).toEqual(rows);
  expect(((await t.sql`SELECT * FROM misses ORDER BY key`) as Array<Record<string, unknown>>).map((r) => normalise(r))).toEqual(misses);
  const pgTokens = (await t.sql`SELECT * FROM api_tokens ORDER BY id`) as Array<Record<string, unknown>>;
  expect(pgTokens.map((r) => normalise(r, ["id"]))).toEqual(tokens.map((r) => normalise(r, ["id"])));
  expect(pgTokens[0]!.token_sha256).toBe(sha256Hex(src.token));
  // The triggers saw the inserts: a replica's view learns of them.
  const changed = (await t.sql`SELECT key FROM changes WHERE kind = 'artifacts' ORDER BY key`) as Array<{ key: string }>;
  expect(changed.map((c) => c.key)).toEqual(rows.map((r) => r.key as string));

  // One object per distinct blob (the two /same/ keys share one), each hashing to its name.
  const shas = [...new Set(rows.map((r) => r.sha256 as string))].sort();
  expect(shas.length).toBe(4);
  expect(await verifiedObjects(t.client)).toEqual(shas);

  expect(snapshot(src.dir)).toEqual(before);

  const second = await migrate(src.dir, t);
  expect(second.exitCode).toBe(0);
  expect(second.stdout.trim()).toMatch(/^migrate: nothing to copy: all 5 artifacts, 1 token and 1 miss of .* are already in postgres:\/\/postgres@127\.0\.0\.1:\d+\/wc_migrate_\d+ and s3:\/\/.*$/);
  expect(second.stderr).toMatch(/^migrate: 5\/5 artifacts, .*, 0 copied, 5 already there$/m);
  expect(snapshot(src.dir)).toEqual(before);
}, 120_000);

test("damaged blobs in the source are refused with their lines and exit 1; the others are copied, and nothing of the damaged ones reaches the targets", async () => {
  // 3 MB: one PUT; 7 MB: above Bun's 5 MiB part size, a multipart upload that must not complete.
  const sizes = [3_000_000, 7_000_000];
  const src = await buildSource(["good-2000.bin", ...sizes.map((n) => `bad-${n}.bin`)]);
  const t = await freshTargets();
  const rows = sourceRows(src.dir, "artifacts", "key");
  const expected: string[] = [];
  const badShas: string[] = [];
  for (const size of sizes) {
    const bad = rows.find((r) => (r.url as string).endsWith(`/bad-${size}.bin`))!;
    const sha = bad.sha256 as string;
    const path = join(src.dir, "blobs", sha.slice(0, 2), sha);
    const bytes = readFileSync(path);
    bytes[size - 1000] = bytes[size - 1000]! ^ 0xff; // same size, near the end: the upload is under way when the hash fails
    writeFileSync(path, bytes);
    expected.push(`migrate: ${origin.url}/f/bad-${size}.bin not copied: blob file ${path} hashes to ${sha256Hex(bytes)} (${size} bytes), not to its sha256; the file is damaged`);
    badShas.push(sha);
  }
  const r = await migrate(src.dir, t);
  expect(r.exitCode).toBe(1);
  const refusals = r.stderr.split("\n").filter((l) => l.includes("not copied"));
  expect(refusals.sort()).toEqual(expected.sort());
  expect(r.stderr).toMatch(/^migrate: 5\/5 artifacts, .*, 3 copied, 0 already there, 2 refused$/m);
  expect(r.stdout).toContain("3 copied, 0 already there, 2 refused");
  const keys = ((await t.sql`SELECT key FROM artifacts ORDER BY key`) as Array<{ key: string }>).map((k) => k.key);
  expect(keys).toEqual(rows.filter((x) => !badShas.includes(x.sha256 as string)).map((x) => x.key as string));
  for (const sha of badShas) expect(await t.client.file(`cache/sha256/${sha}`).exists()).toBe(false);
  expect((await verifiedObjects(t.client)).length).toBe(2);
}, 120_000);

test("a run killed with SIGKILL mid-way leaves only rows whose objects are complete; run again, it completes with every object verified", async () => {
  // 6 MB each: above Bun's 5 MiB part size, so uploads are multipart and a kill can land inside one.
  const files = Array.from({ length: 16 }, (_, i) => `big${String(i).padStart(2, "0")}-6000000.bin`);
  const src = await buildSource(files);
  const t = await freshTargets();
  const rows = sourceRows(src.dir, "artifacts", "key");
  const before = snapshot(src.dir);
  const proc = Bun.spawn(migrateArgs(src.dir, t, ["--batch-size", "2"]), { cwd: REPO_ROOT, env: childEnv(s3.env), stdout: "pipe", stderr: "pipe" });
  let stderr = "";
  const reading = pipeText(proc.stderr, (text) => {
    stderr += text;
  });
  await pollUntil(() => /^migrate: \d+\/18 artifacts/m.test(stderr), { what: "the first progress line", timeoutMs: 60_000 });
  // While migrate runs, its read lock on lock.db keeps a cache-host from starting on the dir.
  await expect(startTestServer({}, { dataDir: { path: src.dir, cleanup: () => {} } })).rejects.toThrow(`--data-dir: ${src.dir} is in use by another withcache`);
  proc.kill("SIGKILL");
  expect(await proc.exited).not.toBe(0);
  await reading;
  const partial = ((await t.sql`SELECT key, sha256, size_bytes FROM artifacts`) as Array<{ key: string; sha256: string; size_bytes: string }>);
  expect(partial.length).toBeGreaterThan(0);
  expect(partial.length).toBeLessThan(rows.length);
  // Row after blob: every row's object is there, whole.
  for (const row of partial) {
    const object = t.client.file(`cache/sha256/${row.sha256}`);
    expect(sha256Hex(new Uint8Array(await object.arrayBuffer()))).toBe(row.sha256);
  }

  const again = await migrate(src.dir, t, ["--batch-size", "2"]);
  expect({ code: again.exitCode, stderr: again.stderr.split("\n").filter((l) => !l.startsWith("migrate: ") || l.includes("not copied")) }).toEqual({ code: 0, stderr: [""] });
  expect(again.stdout).toContain(`${rows.length - partial.length} copied, ${partial.length} already there, 0 refused`);
  const all = (await t.sql`SELECT * FROM artifacts ORDER BY key`) as Array<Record<string, unknown>>;
  expect(all.map((r) => normalise(r))).toEqual(rows);
  expect(await verifiedObjects(t.client)).toEqual([...new Set(rows.map((r) => r.sha256 as string))].sort());
  expect(snapshot(src.dir)).toEqual(before);
}, 180_000);

test("a bad --database, a missing bucket, refused credentials, a missing --database, a running cache-host, an older or newer schema and a bad --batch-size are each refused in one line", async () => {
  const src = await buildSource(["x-100.bin"]);
  const t = await freshTargets();
  const before = snapshot(src.dir);
  const oneLine = (r: { exitCode: number; stdout: string; stderr: string }) => {
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.length).toBe(1);
    return lines[0]!;
  };
  const noDb = oneLine(await migrate(src.dir, { ...t, database: "postgres://wc:hunter2secret@127.0.0.1:1/withcache" }));
  expect(noDb).toBe("withcache: error: --database: cannot use postgres://wc:***@127.0.0.1:1/withcache: the database is unreachable (connection refused or closed)");
  const badDb = oneLine(await migrate(src.dir, { ...t, database: pg.url.replace(/\/postgres$/, "/no_such_db") }));
  expect(badDb).toMatch(/^withcache: error: --database: cannot use postgres:\/\/postgres@127\.0\.0\.1:\d+\/no_such_db: the database refused the request: .*no_such_db.*does not exist$/);
  const noBucket = oneLine(await migrate(src.dir, { ...t, bucket: "no-such-bucket" }));
  expect(noBucket).toBe(`withcache: error: --blob-store: bucket "no-such-bucket" does not exist at ${s3.endpoint}`);
  const wrongKey = oneLine(await migrate(src.dir, t, [], { ...s3.env, AWS_SECRET_ACCESS_KEY: "not-the-secret-key" }));
  expect(wrongKey).toMatch(/^withcache: error: --blob-store: http:\/\/127\.0\.0\.1:\d+ refused the credentials \(\w+\) to list in bucket/);
  expect(wrongKey).not.toContain("not-the-secret-key");
  const missing = oneLine(await run([process.execPath, join(REPO_ROOT, "src/main.ts"), "migrate", "--from", src.dir, "--blob-store", `s3://${t.bucket}/cache`], { cwd: REPO_ROOT, env: s3.env }));
  expect(missing).toBe("withcache: error: --database: migrate needs the PostgreSQL to copy into: --database postgres://user:password@host:port/db or WITHCACHE_DATABASE");
  // The env names the targets too.
  const viaEnv = await run([process.execPath, join(REPO_ROOT, "src/main.ts"), "migrate", "--from", src.dir], { cwd: REPO_ROOT, env: { ...s3.env, WITHCACHE_DATABASE: t.database, WITHCACHE_BLOB_STORE: `s3://${t.bucket}/cache` } });
  expect(viaEnv.exitCode).toBe(0);
  expect(viaEnv.stdout).toContain("3 copied");

  // A cache-host running on the dir.
  const dir = makeTempDir("withcache-migrate-live-");
  cleanups.push(() => dir.cleanup());
  cpSync(src.dir, dir.path, { recursive: true });
  const live = await startTestServer({}, { dataDir: { ...dir, cleanup: () => {} } });
  try {
    const held = oneLine(await migrate(dir.path, t));
    expect(held).toBe(`withcache: error: --from: ${dir.path} is in use by a running cache-host (pid ${process.pid}); stop it, then migrate`);
  } finally {
    await live.stop({ keepDataDir: true });
  }

  // A data dir of an older withcache: one line saying what to do.
  const old = makeTempDir("withcache-migrate-old-");
  cleanups.push(() => old.cleanup());
  cpSync(src.dir, old.path, { recursive: true });
  const db = new Database(join(old.path, "withcache.db"));
  db.run("PRAGMA user_version = 9");
  db.close();
  const older = oneLine(await migrate(old.path, t));
  expect(older).toMatch(/^withcache: error: --from: .*withcache\.db has schema 9, older than this withcache's \d+; run withcache serve once on it to upgrade, then migrate$/);
  const newer = new Database(join(old.path, "withcache.db"));
  newer.run("PRAGMA user_version = 99");
  newer.close();
  expect(oneLine(await migrate(old.path, t))).toMatch(/^withcache: error: --from: .*withcache\.db has schema 99, newer than this withcache knows \(\d+\); migrate with the withcache that wrote it$/);
  expect(oneLine(await migrate(src.dir, t, ["--batch-size", "0"]))).toBe('withcache: error: --batch-size: "0" is not a count; expected 1 to 1000');
  expect(snapshot(src.dir)).toEqual(before);
}, 120_000);

test("a data dir left by a cache-host killed with SIGKILL (rows only in withcache.db-wal) is read from a private copy; the dir stays byte-identical", async () => {
  const dir = makeTempDir("withcache-migrate-killed-");
  cleanups.push(() => dir.cleanup());
  const server = await spawnServer({ dataDir: dir.path, args: ["--allow-private-origins", "--first-byte-wait", "0"] });
  const url = `${origin.url}/f/wal-only-4000.bin`;
  try {
    await fetch(blobUrl(server.url, url)).then((r) => r.arrayBuffer());
    await pollUntil(() => isStored(fetch(blobUrl(server.url, url), { method: "HEAD" })), { what: "the fill to commit", timeoutMs: 15_000 });
  } finally {
    server.proc.kill("SIGKILL");
    await server.proc.exited;
  }
  // The committed row is in the write-ahead log, not yet in withcache.db.
  expect(statSync(join(dir.path, "withcache.db-wal")).size).toBeGreaterThan(0);
  const before = snapshot(dir.path);
  const t = await freshTargets();
  const r = await migrate(dir.path, t);
  expect({ code: r.exitCode, out: r.stdout }).toEqual({ code: 0, out: expect.stringContaining("1 copied") });
  const rows = (await t.sql`SELECT key, sha256 FROM artifacts`) as Array<{ key: string; sha256: string }>;
  expect(rows.map((x) => x.key)).toEqual([url]);
  expect(sha256Hex(new Uint8Array(await t.client.file(`cache/sha256/${rows[0]!.sha256}`).arrayBuffer()))).toBe(sha256Hex(bodyOf("/f/wal-only-4000.bin")));
  expect(snapshot(dir.path)).toEqual(before);
}, 60_000);

test("a token whose name the database gives another token is refused with its line and exit 1; the artifacts are copied all the same", async () => {
  const src = await buildSource(["t-100.bin"]);
  const t = await freshTargets();
  const first = await migrate(src.dir, t);
  expect(first.exitCode).toBe(0);
  // Someone made another "ci" token on the replicas; the source's one cannot take its name.
  await t.sql`DELETE FROM api_tokens`;
  await t.sql`INSERT INTO api_tokens (name, scope, token_sha256, hint, created_at_ms) VALUES ('ci', 'admin', ${sha256Hex("another token")}, 'wc_…xyz', 1)`;
  await t.sql`DELETE FROM artifacts WHERE key = ${src.urls[0]!}`;
  const r = await migrate(src.dir, t);
  expect(r.exitCode).toBe(1);
  expect(r.stderr.split("\n").filter((l) => l.includes("not copied"))).toEqual(['migrate: token "ci" not copied: the database has another token of that name; revoke one of them and run migrate again']);
  // The deleted row's object is still in the bucket: hashed there, not uploaded again.
  expect(r.stdout).toContain("1 copied, 2 already there, 0 refused; 0 blobs uploaded (0 B), 1 already in the bucket");
  expect(r.stdout).toContain("tokens: 0 copied, 0 already there, 1 refused");
  const tokens = (await t.sql`SELECT token_sha256 FROM api_tokens`) as Array<{ token_sha256: string }>;
  expect(tokens.map((x) => x.token_sha256)).toEqual([sha256Hex("another token")]);
}, 60_000);

test("an object already in the bucket at the right size but with other bytes is uploaded again, not trusted", async () => {
  const src = await buildSource(["w-50000.bin"]);
  const t = await freshTargets();
  const row = sourceRows(src.dir, "artifacts", "key").find((r) => (r.url as string).endsWith("/w-50000.bin"))!;
  await t.client.file(`cache/sha256/${row.sha256}`).write(new Uint8Array(50_000));
  const r = await migrate(src.dir, t);
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toContain("3 copied, 0 already there, 0 refused; 2 blobs uploaded");
  expect(await verifiedObjects(t.client)).toContain(row.sha256 as string);
}, 60_000);

test("an object a running cache-host deletes between its upload and its row gets no row: migrate says so, exit 1, and a second run copies it", async () => {
  const src = await buildSource(["held-2000.bin"]);
  const t = await freshTargets();
  const rows = sourceRows(src.dir, "artifacts", "key");
  const held = rows.find((r) => (r.url as string).endsWith("/held-2000.bin"))!;
  const sha = held.sha256 as string;
  // Stand in for a replica deleting the object: it holds the blob's lock (pg-schema.ts) while it does.
  const replica = new SQL(t.database, { max: 1 });
  cleanups.push(() => replica.close());
  await replica`SELECT pg_advisory_lock(${BLOB_LOCK_CLASS}::int4, hashtext(${sha}))`;
  const proc = Bun.spawn(migrateArgs(src.dir, t), { cwd: REPO_ROOT, env: childEnv(s3.env), stdout: "pipe", stderr: "pipe" });
  let stderr = "";
  const reading = pipeText(proc.stderr, (text) => {
    stderr += text;
  });
  const object = t.client.file(`cache/sha256/${sha}`);
  await pollUntil(async () => (await object.exists()) && Number(((await t.sql`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`) as [{ n: string }])[0].n) > 0, {
    what: "migrate uploaded the object and waits for its lock",
    timeoutMs: 60_000,
  });
  await object.delete();
  await replica`SELECT pg_advisory_unlock(${BLOB_LOCK_CLASS}::int4, hashtext(${sha}))`;
  expect(await proc.exited).toBe(1);
  await reading;
  expect(stderr).toContain(`migrate: ${held.url} not copied: a running cache-host deleted its object during the copy; run migrate again`);
  const keys = ((await t.sql`SELECT key FROM artifacts ORDER BY key`) as Array<{ key: string }>).map((k) => k.key);
  expect(keys).toEqual(rows.filter((r) => r.key !== held.key).map((r) => r.key as string));
  const again = await migrate(src.dir, t);
  expect(again.exitCode).toBe(0);
  expect(((await t.sql`SELECT key FROM artifacts ORDER BY key`) as Array<{ key: string }>).map((k) => k.key)).toEqual(rows.map((r) => r.key as string));
  expect(await object.exists()).toBe(true);
}, 120_000);
