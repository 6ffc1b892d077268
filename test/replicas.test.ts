// Several cache-hosts as one cache: the compiled binary started twice (or three times) over one
// real PostgreSQL and one real S3 server (versitygw), each with its own data dir, driven by the
// real curl through the shim. A fill on one is a hit on the other; concurrent misses on all of
// them make one origin GET; a replica killed mid-fill loses its lease and another finishes the
// job; a login on one is valid on the other; PostgreSQL restarted mid-test.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { VALIDATED_USE_MS } from "../src/core/freshness.ts";
import { encodeToken } from "../src/core/token.ts";
import { cleanupsAfterEach, ensureBuilt, makeTempDir, pollUntil, run, sha256Hex, spawnServer, type SpawnedServer } from "./helpers/index.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";
import { patternedBytes } from "./helpers/bytes.ts";
import { startS3Server, type S3Server } from "./helpers/s3.ts";
import { csrfOf, FormClient } from "./ui-support.ts";

let pg: PostgresServer;
let s3: S3Server;
let binary: string;
let origin: ReturnType<typeof Bun.serve>;
let shimDir: string;
const originGets = new Map<string, number>();
/** Paths whose slow body the client stopped reading before its end. */
const originAborted = new Set<string>();
const cleanups = cleanupsAfterEach();
const PASSWORD = "replica-test-password";

/** Distinct bytes per path; /slow/… paths are sent in 64 KiB pieces 25 ms apart; /stale/… paths are stale at once (max-age=0, 304 to a matching If-None-Match). */
function bodyOf(path: string): Uint8Array<ArrayBuffer> {
  const size = Number(/-(\d+)\.bin$/.exec(path)?.[1] ?? "1000");
  return patternedBytes(path, size);
}

/** /versioned/… paths: the version the test sets, paced like /slow/, with an ETag per version and Range under a matching If-Range. */
let currentVersion = 1;
const versionedRequests: Array<{ range: string | null; ifRange: string | null; version: number }> = [];
function versionedBody(path: string, version: number): Uint8Array<ArrayBuffer> {
  return patternedBytes(`${path}#v${version}`, bodyOf(path).byteLength);
}
function versionedAnswer(req: Request, path: string): Response {
  const version = currentVersion;
  const body = versionedBody(path, version);
  const etag = `"v${version}"`;
  const range = req.headers.get("range");
  const ifRange = req.headers.get("if-range");
  if (req.method === "GET") versionedRequests.push({ range, ifRange, version });
  const from = /^bytes=(\d+)-$/.exec(range ?? "")?.[1];
  const start = from !== undefined && (ifRange === null || ifRange === etag) ? Number(from) : 0;
  const headers: Record<string, string> = { "content-type": "application/octet-stream", "content-length": String(body.length - start), "cache-control": "max-age=86400", etag };
  if (start > 0) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
  if (req.method === "HEAD") return new Response(null, { headers });
  let offset = start;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (offset >= body.length) return controller.close();
      await Bun.sleep(25);
      controller.enqueue(body.subarray(offset, Math.min(body.length, offset + 65536)));
      offset += 65536;
    },
  });
  return new Response(stream, { status: start > 0 ? 206 : 200, headers });
}

/** /cut-once/… paths: paced, with an ETag and Range; the first GET of each breaks off after 1 MB. */
const cutOnce = new Set<string>();
function cutOnceAnswer(req: Request, path: string): Response {
  const body = bodyOf(path);
  const etag = `"${sha256Hex(body).slice(0, 16)}"`;
  const from = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "")?.[1];
  const start = from !== undefined && req.headers.get("if-range") === etag ? Number(from) : 0;
  const headers: Record<string, string> = { "content-type": "application/octet-stream", "content-length": String(body.length - start), "cache-control": "max-age=86400", etag };
  if (start > 0) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
  if (req.method === "HEAD") return new Response(null, { headers });
  const breaks = !cutOnce.has(path);
  cutOnce.add(path);
  let offset = start;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (offset >= body.length) return controller.close();
      if (breaks && offset >= 1_000_000) return controller.error(new Error("the origin broke off"));
      await Bun.sleep(25);
      controller.enqueue(body.subarray(offset, Math.min(body.length, offset + 65536)));
      offset += 65536;
    },
  });
  return new Response(stream, { status: start > 0 ? 206 : 200, headers });
}

beforeAll(async () => {
  [pg, s3, binary] = await Promise.all([startPostgres(), startS3Server(), ensureBuilt()]);
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/versioned/")) return versionedAnswer(req, path);
      if (path.startsWith("/cut-once/")) return cutOnceAnswer(req, path);
      if (!path.startsWith("/f/") && !path.startsWith("/slow/") && !path.startsWith("/stale/")) return new Response("no\n", { status: 404 });
      if (req.method === "GET") originGets.set(path, (originGets.get(path) ?? 0) + 1);
      const body = bodyOf(path);
      const etag = `"${sha256Hex(body).slice(0, 16)}"`;
      const maxAge = path.startsWith("/stale/") ? "max-age=0" : "max-age=86400";
      const headers = { "content-type": "application/octet-stream", "content-length": String(body.length), "cache-control": maxAge, etag };
      if (path.startsWith("/stale/") && req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag, "cache-control": maxAge } });
      if (!path.startsWith("/slow/") || req.method === "HEAD") return new Response(req.method === "HEAD" ? null : body, { headers });
      let offset = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (offset >= body.length) return controller.close();
          await Bun.sleep(25);
          controller.enqueue(body.subarray(offset, offset + 65536));
          offset += 65536;
        },
        cancel() {
          originAborted.add(path);
        },
      });
      return new Response(stream, { headers });
    },
  });
  const dir = makeTempDir("withcache-replica-shims-");
  shimDir = dir.path;
  symlinkSync(binary, join(shimDir, "curl"));
}, 120_000);
afterAll(async () => {
  origin?.stop(true);
  await Promise.all([pg?.stop(), s3?.stop()]);
});

let counter = 0;
type Cluster = { database: string; bucket: string; sql: SQL; replicas: SpawnedServer[]; dataDirs: string[] };

async function cluster(n: number, extraArgs: string[] = []): Promise<Cluster> {
  const id = ++counter;
  const database = await pg.createDatabase("wc_replicas");
  const bucket = `wc-replicas-${process.pid}-${id}`;
  await s3.createBucket(bucket);
  const replicas: SpawnedServer[] = [];
  const dataDirs: string[] = [];
  for (let i = 0; i < n; i++) {
    const dir = makeTempDir(`withcache-replica-${i}-`);
    cleanups.push(() => dir.cleanup());
    dataDirs.push(dir.path);
    const r = await spawnServer({
      binary,
      dataDir: dir.path,
      args: ["--allow-private-origins", "--job-lease", "2s", ...extraArgs],
      env: { ...s3.env, WITHCACHE_DATABASE: database, WITHCACHE_BLOB_STORE: `s3://${bucket}/cache`, WITHCACHE_ADMIN_PASSWORD: PASSWORD },
      timeoutMs: 30_000,
    });
    replicas.push(r);
    cleanups.push(async () => {
      r.proc.kill("SIGTERM");
      await Promise.race([r.proc.exited, Bun.sleep(10_000)]);
      r.proc.kill(9);
    });
  }
  const sql = new SQL(database, { max: 1 });
  cleanups.push(() => sql.close());
  return { database, bucket, sql, replicas, dataDirs };
}

/** curl through the shim (first on PATH) against one replica; the saved bytes and exit code. */
async function shimCurl(server: string, url: string): Promise<{ exitCode: number; bytes: Uint8Array; stderr: string }> {
  const dir = makeTempDir("withcache-replica-out-");
  cleanups.push(() => dir.cleanup());
  const out = join(dir.path, "out.bin");
  const r = await run(["curl", "-fsS", "-o", out, url], { env: { PATH: `${shimDir}:/usr/bin:/bin`, WITHCACHE_SERVER: server }, timeoutMs: 60_000 });
  return { exitCode: r.exitCode, bytes: existsSync(out) ? new Uint8Array(readFileSync(out)) : new Uint8Array(), stderr: r.stderr };
}

function cacheUrl(server: string, originUrl: string): string {
  return `${server}/b/${encodeToken(originUrl)}/${originUrl.split("/").pop()}`;
}

/** The running fill's job id and where its lease holder answers (waits until one runs). */
function runningFill(c: Cluster): Promise<{ id: string; url: string }> {
  return pollUntil(async () => {
    const rows = (await c.sql`SELECT j.id, r.url FROM jobs j JOIN replicas r ON r.id = j.lease_owner WHERE j.state = 'running'`) as Array<{ id: string; url: string }>;
    return rows[0] ?? null;
  }, { timeoutMs: 20_000, what: "a replica runs the fill" });
}

async function stored(server: string, originUrl: string): Promise<boolean> {
  const r = await fetch(cacheUrl(server, originUrl), { method: "HEAD", headers: { "x-withcache-hop": "test" } }).catch(() => null);
  return r?.status === 200 && r.headers.get("x-withcache") !== "stream";
}

test("a fill through one replica is a hit on the other, through the real curl shim", async () => {
  const c = await cluster(2);
  const [a, b] = c.replicas as [SpawnedServer, SpawnedServer];
  const url = `http://127.0.0.1:${origin.port}/f/tool-300000.bin`;
  const miss = await shimCurl(a.url, url);
  expect(miss.exitCode).toBe(0);
  expect(sha256Hex(miss.bytes)).toBe(sha256Hex(bodyOf("/f/tool-300000.bin")));
  await pollUntil(() => stored(b.url, url), { timeoutMs: 20_000, what: "the fill on a is a hit on b" });
  const hit = await shimCurl(b.url, url);
  expect(hit.exitCode).toBe(0);
  expect(sha256Hex(hit.bytes)).toBe(sha256Hex(bodyOf("/f/tool-300000.bin")));
  // One origin download in all: b served a's object from the bucket (it never saw it uploaded).
  expect(originGets.get("/f/tool-300000.bin")).toBe(1);
  expect(b.output()).toMatch(/\bresult=hit\b/);
  expect(b.output()).not.toContain("blob-missing");
}, 90_000);

test("20 concurrent misses spread over three replicas make one origin GET; every client gets exact bytes", async () => {
  // Every client must be answered by the cache: on 2 cores shared by three replicas, PostgreSQL
  // and versitygw, the default 500 ms first-byte wait can pass before the fill's first byte, and
  // that client (correctly) goes to the origin itself — a second origin GET this test counts.
  const c = await cluster(3, ["--first-byte-wait", "5s"]);
  const path = "/slow/big-3000000.bin";
  const url = `http://127.0.0.1:${origin.port}${path}`;
  const want = sha256Hex(bodyOf(path));
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => shimCurl(c.replicas[i % 3]!.url, url)));
  for (const r of results) {
    expect(r.exitCode).toBe(0);
    expect(sha256Hex(r.bytes)).toBe(want);
  }
  expect(originGets.get(path)).toBe(1);
  // Clients of the replicas that did not run the fill were streamed it through the one that did.
  expect(c.replicas.some((r) => /stream-via-/.test(r.output()))).toBe(true);
  const jobs = (await c.sql`SELECT count(*)::int AS n FROM jobs WHERE key LIKE ${`%${path}`}`) as Array<{ n: number }>;
  expect(jobs[0]!.n).toBe(1);
}, 120_000);

test("16 probes at once of a stale copy queue one revalidation with one job insert, not one insert each", async () => {
  const c = await cluster(1);
  const [a] = c.replicas as [SpawnedServer];
  const path = "/stale/probed-5000.bin";
  const url = `http://127.0.0.1:${origin.port}${path}`;
  expect((await fetch(cacheUrl(a.url, url))).status).toBeOneOf([200, 404]);
  const idle = async () => {
    const rows = (await c.sql`SELECT (SELECT count(*)::int FROM artifacts) AS artifacts, (SELECT count(*)::int FROM jobs WHERE state IN ('queued', 'running')) AS active`) as Array<{ artifacts: number; active: number }>;
    return rows[0]!.artifacts === 1 && rows[0]!.active === 0 ? true : null;
  };
  await pollUntil(idle, { timeoutMs: 20_000, what: "the fill is committed" });
  // Every insert takes a job id, also one that finds the key's job already queued and inserts nothing.
  const ids = async () => ((await c.sql`SELECT (SELECT last_value::int FROM jobs_id_seq) AS used, (SELECT count(*)::int FROM jobs) AS jobs`) as Array<{ used: number; jobs: number }>)[0]!;
  expect(await ids()).toEqual({ used: 1, jobs: 1 });
  // A copy is a hit for VALIDATED_USE_MS after its fetch (the shim's probe, then its download).
  const [{ at }] = (await c.sql`SELECT coalesce(response_at_ms, fetched_at_ms)::float8 AS at FROM artifacts`) as [{ at: number }];
  await pollUntil(async () => (Date.now() - at > VALIDATED_USE_MS + 50 ? true : null), { timeoutMs: 5000, what: "the copy needs a revalidation" });
  const probes = await Promise.all(Array.from({ length: 16 }, () => fetch(cacheUrl(a.url, url), { method: "HEAD" })));
  for (const r of probes) expect([200, 404]).toContain(r.status);
  await pollUntil(idle, { timeoutMs: 20_000, what: "the revalidation is done" });
  const after = await ids();
  expect(after.jobs).toBeGreaterThan(1);
  expect(after.used).toBe(after.jobs);
}, 60_000);

test("kill -9 of the replica holding a fill's lease: another replica finishes the job, bytes exact", async () => {
  const c = await cluster(2);
  const path = "/slow/killed-6000000.bin";
  const url = `http://127.0.0.1:${origin.port}${path}`;
  const [a] = c.replicas as [SpawnedServer, SpawnedServer];
  // Queue the fill (a HEAD probe is a miss in auto mode) and find which replica leased it.
  await fetch(cacheUrl(a.url, url), { method: "HEAD" });
  const owner = await runningFill(c);
  const victim = c.replicas.find((r) => r.url === owner.url)!;
  const survivor = c.replicas.find((r) => r !== victim)!;
  await pollUntil(async () => {
    const rows = (await c.sql`SELECT bytes_done FROM jobs WHERE state = 'running'`) as Array<{ bytes_done: string }>;
    return Number(rows[0]?.bytes_done ?? 0) > 500_000;
  }, { timeoutMs: 20_000, what: "the fill is under way" });
  victim.proc.kill(9);
  await victim.proc.exited;
  const done = await pollUntil(async () => {
    const rows = (await c.sql`SELECT state, lease_owner, attempts FROM jobs ORDER BY id DESC LIMIT 1`) as Array<{ state: string; attempts: number }>;
    return rows[0]?.state === "completed" ? rows[0] : null;
  }, { timeoutMs: 60_000, what: "the survivor completes the job" });
  expect(done).toBeTruthy();
  // The survivor had no temp file of the victim's: it fetched again from the start.
  expect(originGets.get(path)).toBe(2);
  const got = await fetch(cacheUrl(survivor.url, url));
  expect(got.status).toBe(200);
  expect(sha256Hex(new Uint8Array(await got.arrayBuffer()))).toBe(sha256Hex(bodyOf(path)));
  const [row] = (await c.sql`SELECT sha256 FROM artifacts`) as Array<{ sha256: string }>;
  expect(row!.sha256).toBe(sha256Hex(bodyOf(path)));
}, 120_000);

test("a job that ran on another replica since is never resumed from this one's older temp file (the origin changed between): the bytes are the new version's", async () => {
  const c = await cluster(0);
  const path = "/versioned/moved-8000000.bin";
  const url = `http://127.0.0.1:${origin.port}${path}`;
  const dirA = makeTempDir("withcache-replica-a-");
  const dirB = makeTempDir("withcache-replica-b-");
  cleanups.push(() => dirA.cleanup(), () => dirB.cleanup());
  const start = async (dataDir: string) => {
    const r = await spawnServer({
      binary,
      dataDir,
      args: ["--allow-private-origins", "--job-lease", "2s"],
      env: { ...s3.env, WITHCACHE_DATABASE: c.database, WITHCACHE_BLOB_STORE: `s3://${c.bucket}/cache`, WITHCACHE_ADMIN_PASSWORD: PASSWORD },
      timeoutMs: 30_000,
    });
    cleanups.push(async () => {
      r.proc.kill(9);
      await r.proc.exited;
    });
    return r;
  };
  const killAfter = async (r: SpawnedServer, bytes: number) => {
    await pollUntil(async () => {
      const rows = (await c.sql`SELECT bytes_done FROM jobs WHERE state = 'running'`) as Array<{ bytes_done: string }>;
      return Number(rows[0]?.bytes_done ?? 0) > bytes;
    }, { timeoutMs: 30_000, what: `the fill past ${bytes} bytes` }).catch(async (e: unknown) => {
      console.log(JSON.stringify(await c.sql`SELECT state, bytes_done, error, attempts FROM jobs`), JSON.stringify(versionedRequests), r.output());
      throw e;
    });
    r.proc.kill(9);
    await r.proc.exited;
  };
  currentVersion = 1;
  versionedRequests.length = 0;
  // A writes a prefix of version 1 into its temp file and dies.
  const a = await start(dirA.path);
  await fetch(cacheUrl(a.url, url), { method: "HEAD" });
  await killAfter(a, 1_000_000);
  // The origin changes; B takes the job over (lease lapsed), writes more of version 2, and dies.
  currentVersion = 2;
  const b = await start(dirB.path);
  await killAfter(b, 2_500_000);
  // A is back with its old temp file: the job's bytes are B's now, so A starts over.
  const again = await start(dirA.path);
  const done = await pollUntil(async () => {
    const rows = (await c.sql`SELECT state FROM jobs ORDER BY id DESC LIMIT 1`) as Array<{ state: string }>;
    return rows[0]?.state === "completed" ? true : null;
  }, { timeoutMs: 60_000, what: "A completes the job" });
  expect(done).toBe(true);
  const got = await fetch(cacheUrl(again.url, url));
  expect(got.status).toBe(200);
  expect(sha256Hex(new Uint8Array(await got.arrayBuffer()))).toBe(sha256Hex(versionedBody(path, 2)));
  const [row] = (await c.sql`SELECT sha256 FROM artifacts`) as Array<{ sha256: string }>;
  expect(row!.sha256).toBe(sha256Hex(versionedBody(path, 2)));
  // Its last request was a whole one (B's bytes are on B's disk; A's are another version).
  expect(versionedRequests.at(-1)).toEqual({ range: null, ifRange: null, version: 2 });
}, 120_000);

/** Two replicas, a fill of `path` (a slow one) queued through the first: the replica running it and the other. */
async function slowFillOnTwo(path: string): Promise<{ url: string; owner: SpawnedServer; other: SpawnedServer }> {
  const c = await cluster(2);
  const url = `http://127.0.0.1:${origin.port}${path}`;
  await fetch(cacheUrl(c.replicas[0]!.url, url), { method: "HEAD" });
  const running = await runningFill(c);
  return { url, owner: c.replicas.find((r) => r.url === running.url)!, other: c.replicas.find((r) => r.url !== running.url)! };
}

test("a probe relayed to the replica running the fill carries the same markers as one asked there (X-Withcache-Filling)", async () => {
  const { url, owner, other } = await slowFillOnTwo("/slow/marked-4000000.bin");
  const there = await fetch(cacheUrl(owner.url, url), { method: "HEAD" });
  const relayed = await fetch(cacheUrl(other.url, url), { method: "HEAD" });
  const markers = (r: Response) => ({ status: r.status, filling: r.headers.get("x-withcache-filling"), type: r.headers.get("content-type"), csp: r.headers.get("content-security-policy"), nosniff: r.headers.get("x-content-type-options") });
  expect(markers(there)).toEqual({ status: 200, filling: "1", type: "application/octet-stream", csp: expect.stringContaining("sandbox"), nosniff: "nosniff" });
  expect(markers(relayed)).toEqual(markers(there));
  await pollUntil(() => /result=stream-via-/.test(other.output()), { timeoutMs: 5000, what: "the relayed request's log line" });
}, 60_000);

test("a client streaming a fill whose retry runs on another replica is cut soon after, not left waiting", async () => {
  const c = await cluster(0);
  const env = { ...s3.env, WITHCACHE_DATABASE: c.database, WITHCACHE_BLOB_STORE: `s3://${c.bucket}/cache`, WITHCACHE_ADMIN_PASSWORD: PASSWORD };
  const start = async (args: string[]) => {
    const dir = makeTempDir("withcache-replica-");
    cleanups.push(() => dir.cleanup());
    const r = await spawnServer({ binary, dataDir: dir.path, args: ["--allow-private-origins", "--job-lease", "2s", "--fill-backoff", "1s", ...args], env, timeoutMs: 30_000 });
    cleanups.push(async () => {
      r.proc.kill(9);
      await r.proc.exited;
    });
    return Object.assign(r, { dataDir: dir.path });
  };
  // A has one worker: once the fill breaks off, a long fill keeps it busy, so B runs the retry.
  const a = await start(["--workers", "1", "--first-byte-wait", "5s"]);
  const path = "/cut-once/moving-3000000.bin";
  const url = `http://127.0.0.1:${origin.port}${path}`;
  const t0 = performance.now();
  const client = fetch(cacheUrl(a.url, url)).then(
    (r) => r.arrayBuffer().then((b) => `whole: ${b.byteLength} bytes`, (e: unknown) => `cut: ${String(e)}`),
    (e: unknown) => `refused: ${String(e)}`,
  );
  await pollUntil(async () => {
    const rows = (await c.sql`SELECT state, error FROM jobs WHERE key LIKE ${`%${path}`}`) as Array<{ state: string; error: string | null }>;
    return rows[0]?.state === "queued" && rows[0].error !== null;
  }, { timeoutMs: 20_000, what: "the fill broke off and waits for its retry" });
  await fetch(cacheUrl(a.url, `http://127.0.0.1:${origin.port}/slow/blocker-20000000.bin`), { method: "HEAD" });
  await start([]);
  const outcome = await Promise.race([client, Bun.sleep(25_000).then(() => "still waiting after 25 s")]);
  expect(outcome).toStartWith("cut: ");
  expect(performance.now() - t0).toBeLessThan(25_000);
  // The retry on B completed the fill: A serves the exact bytes.
  await pollUntil(() => stored(a.url, url), { timeoutMs: 30_000, what: "the fill completed on B" });
  const got = await fetch(cacheUrl(a.url, url));
  expect(sha256Hex(new Uint8Array(await got.arrayBuffer()))).toBe(sha256Hex(bodyOf(path)));
  // A's temp file of the broken-off attempt is gone too (it would never be resumed now).
  const [job] = (await c.sql`SELECT id FROM jobs WHERE key LIKE ${`%${path}`}`) as Array<{ id: string }>;
  await pollUntil(() => !existsSync(join(a.dataDir, "tmp", `fill-${job!.id}.part`)), { timeoutMs: 10_000, what: "A's temp file removed" });
}, 90_000);

test("a client streaming through a replica whose fill runs on a replica that stops (SIGSTOP) is cut once the lease moves, not left waiting", async () => {
  const path = "/slow/frozen-40000000.bin";
  const { url, owner: runner, other } = await slowFillOnTwo(path);
  const res = await fetch(cacheUrl(other.url, url));
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let received = 0;
  const outcome = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return `whole: ${received} bytes`;
        received += value.byteLength;
      }
    } catch (e) {
      return `cut: ${String(e)}`;
    }
  })();
  await pollUntil(() => received > 0, { timeoutMs: 10_000, what: "the relayed stream's first bytes" });
  runner.proc.kill("SIGSTOP");
  try {
    const t0 = performance.now();
    const got = await Promise.race([outcome, Bun.sleep(20_000).then(() => "still waiting after 20 s")]);
    expect(got).toStartWith("cut: ");
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(received).toBeLessThan(40_000_000);
  } finally {
    runner.proc.kill("SIGCONT");
  }
  // The fill is finished by a replica that runs: the bytes are exact.
  await pollUntil(() => stored(other.url, url), { timeoutMs: 60_000, what: "the fill completed" });
  const whole = await fetch(cacheUrl(other.url, url));
  expect(sha256Hex(new Uint8Array(await whole.arrayBuffer()))).toBe(sha256Hex(bodyOf(path)));
}, 120_000);

test("a login on one replica is valid on the other; a logout on the other ends it on both", async () => {
  const c = await cluster(2);
  const [a, b] = c.replicas as [SpawnedServer, SpawnedServer];
  const onA = new FormClient(a.url);
  const login = await onA.login(PASSWORD);
  expect(login.status).toBe(303);
  expect(onA.cookie).not.toBeNull();
  const onB = new FormClient(b.url);
  onB.cookie = onA.cookie;
  const page = await onB.get("/admin/misses");
  expect(page.status).toBe(200);
  // The CSRF token of a page from b is good for a post on a (one secret, shared).
  const out = await onB.request("POST", "/logout", { form: { _csrf: csrfOf(page.text) } });
  expect(out.status).toBe(303);
  const revoked = (await c.sql`SELECT count(*)::int AS n FROM revoked_sessions`) as Array<{ n: number }>;
  expect(revoked[0]!.n).toBe(1);
  const after = onA.cookie;
  const stale = new FormClient(a.url);
  stale.cookie = after ?? login.headers.get("set-cookie")!.split(";")[0]!.split("=")[1]!;
  await pollUntil(async () => {
    const r = await stale.get("/admin/misses");
    return r.status === 303;
  }, { timeoutMs: 5000, what: "a refuses the logged-out session" });
}, 60_000);

test("PostgreSQL restarted mid-test: hits go on, /healthz says degraded and why, the replica reconnects by itself", async () => {
  const c = await cluster(2);
  const [a, b] = c.replicas as [SpawnedServer, SpawnedServer];
  const url = `http://127.0.0.1:${origin.port}/f/outage-200000.bin`;
  await fetch(cacheUrl(a.url, url), { method: "HEAD" });
  await pollUntil(() => stored(b.url, url), { timeoutMs: 20_000, what: "stored" });
  // b has it locally after one whole download.
  expect(sha256Hex(new Uint8Array(await (await fetch(cacheUrl(b.url, url))).arrayBuffer()))).toBe(sha256Hex(bodyOf("/f/outage-200000.bin")));
  await pg.halt();
  try {
    const hit = await shimCurl(b.url, url);
    expect(hit.exitCode).toBe(0);
    expect(sha256Hex(hit.bytes)).toBe(sha256Hex(bodyOf("/f/outage-200000.bin")));
    // A new URL: the replica cannot queue it and says so (503, one line); the shim goes to the
    // origin and still gets the file.
    const missUrl = `http://127.0.0.1:${origin.port}/f/during-1000.bin`;
    const refused = await pollUntil(async () => {
      const r = await fetch(cacheUrl(b.url, missUrl), { method: "GET" });
      const text = await r.text();
      return r.status === 503 ? text : null;
    }, { timeoutMs: 10_000, what: "a miss answered 503 while the database is down" });
    expect(refused).toMatch(/^not cached here, and no fill can be queued: database: the database is unreachable[^\n]*\n$/);
    const miss = await shimCurl(b.url, missUrl);
    expect(miss.exitCode).toBe(0);
    expect(miss.bytes.length).toBe(1000);
    const health = await pollUntil(async () => {
      const t = await (await fetch(`${b.url}/healthz`)).text();
      return t.startsWith("degraded") ? t : null;
    }, { timeoutMs: 10_000, what: "healthz says degraded" });
    expect(health).toMatch(/^degraded \S+: database: the database is unreachable/);
    expect(health).not.toContain(c.database.split("@")[0]!);
  } finally {
    await pg.start();
  }
  await pollUntil(async () => (await (await fetch(`${b.url}/healthz`)).text()).startsWith("ok"), { timeoutMs: 30_000, what: "healthz ok again" });
  const later = `http://127.0.0.1:${origin.port}/f/after-5000.bin`;
  await fetch(cacheUrl(b.url, later), { method: "HEAD" });
  await pollUntil(() => stored(a.url, later), { timeoutMs: 20_000, what: "a fill after the restart is a hit on a" });
  expect(a.proc.exitCode).toBeNull();
  expect(b.proc.exitCode).toBeNull();
}, 120_000);

test("S3 server stopped mid-test: local copies still served, a hit with none answers 503 so the shim goes to the origin, /healthz says degraded; back up, all is as before", async () => {
  // Local copies of at most 100 kB: the big file lives only in the bucket.
  // Two attempts per fill: a fill that used them up while the bucket was down would fail.
  const c = await cluster(2, ["--local-cache-bytes", "100000", "--fill-attempts", "2", "--fill-backoff", "200ms"]);
  const [a, b] = c.replicas as [SpawnedServer, SpawnedServer];
  const big = `http://127.0.0.1:${origin.port}/f/s3-outage-200000.bin`;
  const small = `http://127.0.0.1:${origin.port}/f/s3-outage-small-50000.bin`;
  const bigSha = sha256Hex(bodyOf("/f/s3-outage-200000.bin"));
  const smallSha = sha256Hex(bodyOf("/f/s3-outage-small-50000.bin"));
  for (const url of [big, small]) {
    await fetch(cacheUrl(a.url, url), { method: "HEAD" });
    await pollUntil(() => stored(b.url, url), { timeoutMs: 20_000, what: "stored" });
  }
  // b reads the small one once, which leaves it a local copy.
  expect(sha256Hex(new Uint8Array(await (await fetch(cacheUrl(b.url, small))).arrayBuffer()))).toBe(smallSha);
  const bDir = c.dataDirs[1]!;
  await pollUntil(() => existsSync(join(bDir, "blobs", smallSha.slice(0, 2), smallSha)), { timeoutMs: 10_000, what: "b's local copy" });
  expect(existsSync(join(bDir, "blobs", bigSha.slice(0, 2), bigSha))).toBe(false);
  const fresh = `http://127.0.0.1:${origin.port}/f/s3-outage-new-30000.bin`;
  await s3.halt();
  try {
    const health = await pollUntil(async () => {
      const t = await (await fetch(`${b.url}/healthz`)).text();
      return t.startsWith("degraded") ? t : null;
    }, { timeoutMs: 15_000, what: "healthz says degraded" });
    expect(health).toMatch(/^degraded \S+: blob store: s3:\/\/wc-replicas-[^ ]+ at http:\/\/127\.0\.0\.1:\d+ does not answer \(since [^)]+\): connection refused\n$/);
    expect(health).not.toContain(s3.secretAccessKey);
    const probe = await fetch(cacheUrl(b.url, big), { method: "HEAD" });
    expect(probe.status).toBe(503);
    const body = await fetch(cacheUrl(b.url, big));
    expect(await body.text()).toMatch(/^cached, but no copy here can be read now: blob store: s3:\/\/[^\n]+\n$/);
    const before = originGets.get("/f/s3-outage-200000.bin") ?? 0;
    const viaOrigin = await shimCurl(b.url, big);
    expect(viaOrigin.exitCode).toBe(0);
    expect(sha256Hex(viaOrigin.bytes)).toBe(bigSha);
    expect(originGets.get("/f/s3-outage-200000.bin")).toBe(before + 1);
    // The local copy needs no bucket: a hit, no origin GET.
    const smallGets = originGets.get("/f/s3-outage-small-50000.bin");
    const local = await shimCurl(b.url, small);
    expect(local.exitCode).toBe(0);
    expect(sha256Hex(local.bytes)).toBe(smallSha);
    expect(originGets.get("/f/s3-outage-small-50000.bin")).toBe(smallGets);
    // A new URL is a plain miss (a stream of a fill that cannot commit would be cut at its end).
    const miss = await shimCurl(b.url, fresh);
    expect(miss.exitCode).toBe(0);
    expect(sha256Hex(miss.bytes)).toBe(sha256Hex(bodyOf("/f/s3-outage-new-30000.bin")));
    // The log line may land a moment after curl is done: polled.
    await pollUntil(() => b.output().includes("miss-blob-store-down"), { timeoutMs: 5000, what: "the miss logged as miss-blob-store-down" });
    // Its fill does not fetch the origin for nothing while the bucket is down (only the shim did).
    await Bun.sleep(2500);
    expect(originGets.get("/f/s3-outage-new-30000.bin")).toBe(1);
    expect(b.output()).toContain("fill waits: blob store: s3://");
  } finally {
    await s3.start();
  }
  await pollUntil(async () => (await (await fetch(`${b.url}/healthz`)).text()).startsWith("ok"), { timeoutMs: 15_000, what: "healthz ok again" });
  const again = await fetch(cacheUrl(b.url, big));
  expect(again.status).toBe(200);
  expect(sha256Hex(new Uint8Array(await again.arrayBuffer()))).toBe(bigSha);
  expect(b.output()).toMatch(/blob-store[^\n]*state=ok/);
  // The new URL's fill waited out the outage without using up its attempts, then completed.
  await pollUntil(() => stored(a.url, fresh), { timeoutMs: 20_000, what: "the fill queued during the outage completed" });
  expect(originGets.get("/f/s3-outage-new-30000.bin")).toBe(2);
  for (const r of [a, b]) expect(r.output()).not.toMatch(/state=failed[^\n]*s3-outage-new/);
}, 120_000);

test("withcache verify --database checks the replicas' rows against the bucket; --repair beside live replicas removes a bad object and its rows", async () => {
  const c = await cluster(2);
  const [a, b] = c.replicas as [SpawnedServer, SpawnedServer];
  const good = `http://127.0.0.1:${origin.port}/f/verify-good-40000.bin`;
  const bad = `http://127.0.0.1:${origin.port}/f/verify-bad-40000.bin`;
  for (const url of [good, bad]) {
    await fetch(cacheUrl(a.url, url), { method: "HEAD" });
    await pollUntil(() => stored(b.url, url), { timeoutMs: 20_000, what: "stored" });
  }
  // Its own data dir: the replicas' are theirs (and locked).
  const dir = makeTempDir("withcache-verify-");
  cleanups.push(() => dir.cleanup());
  const env = { ...s3.env, WITHCACHE_DATABASE: c.database, WITHCACHE_BLOB_STORE: `s3://${c.bucket}/cache` };
  const verify = (extra: string[] = []) => run([binary, "verify", "--data-dir", join(dir.path, "d"), ...extra], { env, timeoutMs: 30_000 });
  const clean = await verify();
  expect({ code: clean.exitCode, out: clean.stdout, err: clean.stderr }).toEqual({ code: 0, out: "verified 2 blobs (78 KiB): 0 bad\n", err: "" });
  const badSha = sha256Hex(bodyOf("/f/verify-bad-40000.bin"));
  const bucket = new Bun.S3Client({ bucket: c.bucket, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region });
  await bucket.file(`cache/sha256/${badSha}`).write("short");
  const found = await verify();
  expect(found.exitCode).toBe(1);
  expect(found.stdout).toContain(`bad ${badSha}: blob object is 5 bytes, expected 40000 (${bad})`);
  expect(found.stderr).toContain("(with the same --database and --blob-store)");
  expect(found.stderr).not.toContain(c.database);
  const repaired = await verify(["--repair"]);
  expect(repaired.exitCode).toBe(1);
  expect(repaired.stdout).toContain("; removed");
  expect(await bucket.file(`cache/sha256/${badSha}`).exists()).toBe(false);
  // The live replicas see the row gone: the next request is a miss that fills the key again.
  expect(originGets.get("/f/verify-bad-40000.bin")).toBe(1);
  await pollUntil(async () => {
    const r = await fetch(cacheUrl(b.url, bad)).catch(() => null);
    const bytes = r?.status === 200 ? new Uint8Array(await r.arrayBuffer()) : null;
    return bytes !== null && sha256Hex(bytes) === badSha && (originGets.get("/f/verify-bad-40000.bin") ?? 0) >= 2;
  }, { timeoutMs: 20_000, what: "the bad key filled again from the origin" });
  await pollUntil(() => bucket.file(`cache/sha256/${badSha}`).exists(), { timeoutMs: 20_000, what: "the refilled object" });
  const after = await verify();
  expect({ code: after.exitCode, out: after.stdout }).toEqual({ code: 0, out: "verified 2 blobs (78 KiB): 0 bad\n" });
  // Without the bucket it cannot check a replica, and says so.
  const noBucket = await run([binary, "verify", "--data-dir", dir.path], { env: { ...s3.env, WITHCACHE_DATABASE: c.database }, timeoutMs: 30_000 });
  expect({ code: noBucket.exitCode, err: noBucket.stderr }).toEqual({ code: 1, err: "withcache: error: --database: a PostgreSQL replica keeps its blobs in a bucket; give its --blob-store s3://… too\n" });
  // A wrong database that exists is not given withcache's tables and passed as "0 bad".
  const other = await pg.createDatabase("wc_not_replicas");
  const wrong = await run([binary, "verify", "--data-dir", dir.path], { env: { ...env, WITHCACHE_DATABASE: other }, timeoutMs: 30_000 });
  expect({ code: wrong.exitCode, out: wrong.stdout }).toEqual({ code: 1, out: "" });
  expect(wrong.stderr).toMatch(/^withcache: error: --database: database "wc_not_replicas\w*" at 127\.0\.0\.1:\d+ holds no withcache tables; give the replicas' --database\n$/);
  const otherSql = new SQL(other, { max: 1 });
  cleanups.push(() => otherSql.close());
  expect(await otherSql`SELECT to_regclass('artifacts') AS t`).toEqual([{ t: null }]);
  const mysql = await run([binary, "verify", "--data-dir", dir.path], { env: { ...env, WITHCACHE_DATABASE: "mysql://u@db/x" }, timeoutMs: 30_000 });
  expect(mysql.stderr).toMatch(/^withcache: error: --database: expected postgres:\/\/[^\n]+, not a mysql:\/\/ URL\n$/);
}, 120_000);

test("start-up with a bad --database stops in one line naming the server, never the password", async () => {
  const dir = makeTempDir("withcache-replica-bad-");
  cleanups.push(() => dir.cleanup());
  mkdirSync(dir.path, { recursive: true });
  const cases: Array<[string, RegExp]> = [
    [pg.url.replace(/\/postgres$/, "/no_such_db").replace("postgres@", "postgres:hunter2@"), /^withcache: error: --database: database "no_such_db" does not exist at 127\.0\.0\.1:\d+; create it \(createdb\) or fix the URL$/],
    ["postgres://u:hunter2@127.0.0.1:1/x", /^withcache: error: --database: cannot reach PostgreSQL at 127\.0\.0\.1:1 \(/],
    ["mysql://u:hunter2@h/x", /^withcache: error: WITHCACHE_DATABASE: expected postgres:\/\//],
  ];
  for (const [database, pattern] of cases) {
    const r = await run([binary, "serve", "--data-dir", dir.path, "--host", "127.0.0.1", "--port", "0"], { env: { WITHCACHE_DATABASE: database }, timeoutMs: 30_000 });
    expect(r.exitCode).not.toBe(0);
    const line = r.stderr.trim();
    expect(line.split("\n")).toHaveLength(1);
    expect(line).toMatch(pattern);
    expect(line).not.toContain("hunter2");
  }
}, 60_000);

test("a fill cancelled on the replica that does not run it stops on the one that does", async () => {
  const c = await cluster(2);
  const path = "/slow/cancelled-8000000.bin";
  const url = `http://127.0.0.1:${origin.port}${path}`;
  const token = `wc_${"c".repeat(43)}`;
  await c.sql`INSERT INTO api_tokens (name, scope, token_sha256, hint, created_at_ms) VALUES ('ops', 'admin', ${sha256Hex(token)}, 'wc_cccc', 1)`;
  await fetch(cacheUrl(c.replicas[0]!.url, url), { method: "HEAD" });
  const job = await runningFill(c);
  const owner = c.replicas.find((r) => r.url === job.url)!;
  const other = c.replicas.find((r) => r !== owner)!;
  const res = await fetch(`${other.url}/api/v1/fills/${job.id}/cancel`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  // The owner stops reading the origin (without it, the fill would run on for ~3 s and commit).
  await pollUntil(() => originAborted.has(path), { timeoutMs: 10_000, what: "the owner stops the fill" });
  const [row] = (await c.sql`SELECT state, bytes_done FROM jobs WHERE id = ${job.id}`) as Array<{ state: string; bytes_done: string }>;
  expect(row!.state).toBe("cancelled");
  expect(Number(row!.bytes_done)).toBeLessThan(8_000_000);
  expect(((await c.sql`SELECT count(*)::int AS n FROM artifacts`) as Array<{ n: number }>)[0]!.n).toBe(0);
}, 60_000);

test("--max-cache-size is one cap over every replica's fills: the least recently used go first", async () => {
  const c = await cluster(2, ["--max-cache-size", "250000"]);
  const urls = ["one", "two", "three"].map((n) => `http://127.0.0.1:${origin.port}/f/cap-${n}-100000.bin`);
  for (const [i, url] of urls.entries()) {
    const via = c.replicas[i % 2]!;
    await fetch(cacheUrl(via.url, url), { method: "HEAD" });
    await pollUntil(async () => ((await c.sql`SELECT 1 FROM artifacts WHERE key = ${url}`) as unknown[]).length === 1, { timeoutMs: 20_000, what: `${url} stored` });
  }
  const rows = await pollUntil(async () => {
    const r = (await c.sql`SELECT key, size_bytes FROM artifacts ORDER BY key`) as Array<{ key: string; size_bytes: string }>;
    return r.reduce((sum, x) => sum + Number(x.size_bytes), 0) <= 250_000 ? r : null;
  }, { timeoutMs: 10_000, what: "the total under the cap" });
  expect(rows.map((r) => r.key)).toEqual([urls[2]!, urls[1]!].sort());
  // The evicted blob's object goes too; the others stay.
  const bucket = new Bun.S3Client({ bucket: c.bucket, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region });
  await pollUntil(async () => !(await bucket.file(`cache/sha256/${sha256Hex(bodyOf("/f/cap-one-100000.bin"))}`).exists()), { timeoutMs: 10_000, what: "the evicted object deleted" });
  expect(await bucket.file(`cache/sha256/${sha256Hex(bodyOf("/f/cap-three-100000.bin"))}`).exists()).toBe(true);
}, 60_000);
