// The S3 blob store end to end: a real S3 server (versitygw on loopback), the real cache-host with
// --blob-store s3://…, a real origin and real curl. Blobs land in the bucket before their rows,
// hits are served from the local copy or streamed (ranged) from the bucket, a wrong object is
// never served whole, outages of the S3 server keep local copies serving and fills retrying.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { blobFiles, blobUrl, cleanupsAfterEach, ensureBuilt, isStored, jobFinished, makeTempDir, pollUntil, run, sha256Hex, startOrigin, startTestServer, type Origin, type TestServer } from "./helpers/index.ts";
import { patternedBytes } from "./helpers/bytes.ts";
import { startS3Forwarder, startS3Server, type S3Forwarder, type S3Server } from "./helpers/s3.ts";
import { HEARTBEAT_MS, ORPHAN_GRACE_MS } from "../src/store/s3-blobs.ts";

let s3: S3Server;
let origin: Origin;
const cleanups = cleanupsAfterEach();
/** Bodies by path: distinct bytes per file, sizes given in the name (/f/<name>-<bytes>.bin). */
function bodyOf(path: string): Uint8Array<ArrayBuffer> {
  const size = Number(/-(\d+)\.bin$/.exec(path)?.[1] ?? "1000");
  // /r/twin<N>/name: the same bytes under several URLs.
  return patternedBytes(path.replace(/\/twin\d+\//, "/"), size);
}
/** Runs (once) when the origin is asked for this path, before it answers. */
const beforeAnswer = new Map<string, () => Promise<void>>();

beforeAll(async () => {
  s3 = await startS3Server();
  origin = startOrigin(async (req) => {
    const path = new URL(req.url).pathname;
    const hook = beforeAnswer.get(path);
    beforeAnswer.delete(path);
    await hook?.();
    // /r/…: with an ETag, answering Range under a matching If-Range (206, or 416 past the end).
    if (path.startsWith("/r/")) return rangedAnswer(req, bodyOf(path));
    if (!path.startsWith("/f/")) return new Response("no\n", { status: 404 });
    return new Response(bodyOf(path), { headers: { "content-type": "application/octet-stream", "cache-control": "max-age=86400" } });
  });
});
afterAll(async () => {
  await origin?.stop();
  await s3?.stop();
});

function rangedAnswer(req: Request, body: Uint8Array<ArrayBuffer>): Response {
  const headers = { "content-type": "application/x-tar", "cache-control": "max-age=86400", etag: `"${sha256Hex(body).slice(0, 16)}"`, "accept-ranges": "bytes" };
  const from = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "")?.[1];
  const ifRange = req.headers.get("if-range");
  if (from === undefined || (ifRange !== null && ifRange !== headers.etag)) return new Response(body, { headers });
  const start = Number(from);
  if (start >= body.byteLength) return new Response(null, { status: 416, headers: { "content-range": `bytes */${body.byteLength}` } });
  return new Response(body.subarray(start), { status: 206, headers: { ...headers, "content-range": `bytes ${start}-${body.byteLength - 1}/${body.byteLength}` } });
}

let bucketCounter = 0;
async function freshBucket(): Promise<string> {
  const name = `wc-test-${process.pid}-${++bucketCounter}`;
  await s3.createBucket(name);
  return name;
}

function client(bucket: string): Bun.S3Client {
  return new Bun.S3Client({ bucket, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region });
}

async function startS3Cache(bucket: string, overrides: Parameters<typeof startTestServer>[0] = {}, dataDir = makeTempDir("withcache-data-"), env = s3.env): Promise<TestServer> {
  const s = await startTestServer({ blobStore: `s3://${bucket}/cache`, ...overrides }, { dataDir, start: { env } });
  cleanups.push(() => s.stop());
  return s;
}

/** A cache-host whose requests to the S3 server go through a forwarder the test controls. */
async function startForwardedCache(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<{ forwarder: S3Forwarder; bucket: string; s: TestServer }> {
  const forwarder = startS3Forwarder(s3);
  cleanups.push(() => forwarder.stop());
  const bucket = await freshBucket();
  const s = await startS3Cache(bucket, overrides, makeTempDir("withcache-data-"), forwarder.env);
  return { forwarder, bucket, s };
}

async function fill(s: TestServer, url: string): Promise<void> {
  await fetch(blobUrl(s.url, url)).then((r) => r.arrayBuffer()).catch(() => null);
  const job = await jobFinished(s, url);
  expect({ state: job.state, error: job.error }).toEqual({ state: "completed", error: null });
}

async function curlBytes(url: string, args: string[] = []): Promise<{ exitCode: number; bytes: Uint8Array; stderr: string }> {
  const dir = makeTempDir("withcache-out-");
  cleanups.push(() => dir.cleanup());
  const out = join(dir.path, "out");
  const r = await run(["curl", "-sS", "-o", out, ...args, url], { timeoutMs: 30_000 });
  const bytes = existsSync(out) ? new Uint8Array(await Bun.file(out).arrayBuffer()) : new Uint8Array();
  return { exitCode: r.exitCode, bytes, stderr: r.stderr };
}

test("start-up refuses a missing bucket, refused credentials, no credentials and a bad URL, each in one line", async () => {
  const dir = makeTempDir();
  cleanups.push(() => dir.cleanup());
  const start = (blobStore: string, env: Record<string, string>) => startTestServer({ blobStore }, { dataDir: dir, start: { env } });
  await expect(start("s3://no-such-bucket/x", s3.env)).rejects.toThrow(`--blob-store: bucket "no-such-bucket" does not exist at ${s3.endpoint}`);
  await expect(start(`s3://${await freshBucket()}`, { ...s3.env, AWS_SECRET_ACCESS_KEY: "wrong" })).rejects.toThrow(/^--blob-store: http:\/\/127\.0\.0\.1:\d+ refused the credentials \(\w+\) to list in bucket/);
  // An unknown access key id is a refused credential too (versitygw answers XAdminUserNotFound, AWS InvalidAccessKeyId).
  await expect(start(`s3://${await freshBucket()}`, { ...s3.env, AWS_ACCESS_KEY_ID: "no-such-key" })).rejects.toThrow(/^--blob-store: http:\/\/127\.0\.0\.1:\d+ refused the credentials \(\w+\) to list in bucket .*; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY$/);
  await expect(start("s3://some-bucket", { AWS_ENDPOINT_URL: s3.endpoint })).rejects.toThrow("--blob-store: s3://some-bucket needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
  await expect(start("s3://some-bucket", { ...s3.env, AWS_ENDPOINT_URL: "http://127.0.0.1:1" })).rejects.toThrow("--blob-store: cannot reach http://127.0.0.1:1: connection refused (is AWS_ENDPOINT_URL right, is the S3 server up?)");
  // The secret never appears in a message.
  const err = await start("s3://no-such-bucket/x", s3.env).catch((e: Error) => e);
  expect(String(err)).not.toContain(s3.secretAccessKey);
});

test("a fill lands in the bucket before its row; hits come from the local copy, byte-exact", async () => {
  const bucket = await freshBucket();
  const s = await startS3Cache(bucket);
  const url = `${origin.url}/f/driver-300000.bin`;
  await fill(s, url);
  const body = bodyOf("/f/driver-300000.bin");
  const sha = sha256Hex(body);
  const object = client(bucket).file(`cache/sha256/${sha}`);
  expect(await object.exists()).toBe(true);
  expect(sha256Hex(await object.bytes())).toBe(sha);
  // The local copy is in the data dir's blobs/ like the directory store's.
  expect(existsSync(join(s.dataDir, "blobs", sha.slice(0, 2), sha))).toBe(true);
  const got = await curlBytes(blobUrl(s.url, url));
  expect(got.exitCode).toBe(0);
  expect(sha256Hex(got.bytes)).toBe(sha);
  const health = await (await fetch(`${s.url}/healthz`)).text();
  expect(health).not.toContain(s3.secretAccessKey);
});

test("a blob without a local copy streams from the bucket (whole and ranged), then gets its copy back", async () => {
  const bucket = await freshBucket();
  // Room for one local copy of these two: the second fill pushes the first one out.
  const s = await startS3Cache(bucket, { localCacheBytes: 250_000 });
  const first = `${origin.url}/f/first-200000.bin`;
  const second = `${origin.url}/f/second-200000.bin`;
  await fill(s, first);
  await fill(s, second);
  const sha1 = sha256Hex(bodyOf("/f/first-200000.bin"));
  const local1 = join(s.dataDir, "blobs", sha1.slice(0, 2), sha1);
  expect(existsSync(local1)).toBe(false);
  const originGets = origin.hits.get("/f/first-200000.bin");
  // A range first (only those bytes), then the whole file.
  const part = await curlBytes(blobUrl(s.url, first), ["-r", "1000-1999"]);
  expect(part.exitCode).toBe(0);
  expect(part.bytes).toEqual(bodyOf("/f/first-200000.bin").subarray(1000, 2000));
  const whole = await curlBytes(blobUrl(s.url, first));
  expect(whole.exitCode).toBe(0);
  expect(sha256Hex(whole.bytes)).toBe(sha1);
  expect(origin.hits.get("/f/first-200000.bin")).toBe(originGets);
  // The background copy brings the blob back to the local disk (and pushes the other one out).
  await pollUntil(() => existsSync(local1), { what: "local copy of the first blob", timeoutMs: 10_000 });
  const again = await curlBytes(blobUrl(s.url, first));
  expect(sha256Hex(again.bytes)).toBe(sha1);
});

test("local copies being made count under --local-cache-bytes, and none is made that would break --min-free-disk; the hits are served from the bucket", async () => {
  const bucket = await freshBucket();
  const data = makeTempDir("withcache-data-");
  cleanups.push(() => data.cleanup());
  const keep = { path: data.path, cleanup: () => {} };
  const path = { a: "/f/copy-a-5000000.bin", b: "/f/copy-b-5000000.bin", c: "/f/copy-c-300000.bin", d: "/f/copy-d-300000.bin" };
  const url = (p: string) => `${origin.url}${p}`;
  const localCopy = (s: TestServer, p: string) => {
    const sha = sha256Hex(bodyOf(p));
    return join(s.dataDir, "blobs", sha.slice(0, 2), sha);
  };
  // Filled without local copies: the next start has none.
  const filler = await startS3Cache(bucket, { localCacheBytes: 0 }, keep);
  for (const p of Object.values(path)) await fill(filler, url(p));
  await filler.running.stop();

  // Room for one 5 MB copy besides a small one (c, copied first).
  const s = await startS3Cache(bucket, { localCacheBytes: 7_500_000 }, keep);
  expect(sha256Hex((await curlBytes(blobUrl(s.url, url(path.c)))).bytes)).toBe(sha256Hex(bodyOf(path.c)));
  await pollUntil(() => existsSync(localCopy(s, path.c)), { what: "the local copy of c", timeoutMs: 10_000 });
  // Two first hits at once start one copy; the other is skipped (before, both were copied and
  // one removed after: the disk held twice the bound).
  const [ra, rb] = await Promise.all([curlBytes(blobUrl(s.url, url(path.a))), curlBytes(blobUrl(s.url, url(path.b)))]);
  expect(sha256Hex(ra.bytes)).toBe(sha256Hex(bodyOf(path.a)));
  expect(sha256Hex(rb.bytes)).toBe(sha256Hex(bodyOf(path.b)));
  await pollUntil(() => s.logs.some((l) => l.includes("local_copy_skipped=") && l.includes("--local-cache-bytes 7500000 is taken by copies being made")), { what: "a skipped copy", timeoutMs: 10_000 });
  await pollUntil(() => existsSync(localCopy(s, path.a)) || existsSync(localCopy(s, path.b)), { what: "a local copy of a or b", timeoutMs: 10_000 });
  // 5.3 MB held fit the bound: c stays. (A skipped copy removed copies for nothing, and a
  // finished one was counted twice, so c went.)
  expect(existsSync(localCopy(s, path.c))).toBe(true);
  expect(blobFiles(s.dataDir).length).toBe(2);
  await s.running.stop();

  // A copy that would leave less free than --min-free-disk is not made; the hit still is.
  const full = await startS3Cache(bucket, { localCacheBytes: 7_500_000, minFreeDisk: "100%" }, keep);
  const rd = await curlBytes(blobUrl(full.url, url(path.d)));
  expect(rd.exitCode).toBe(0);
  expect(sha256Hex(rd.bytes)).toBe(sha256Hex(bodyOf(path.d)));
  await pollUntil(() => full.logs.some((l) => l.includes("local_copy_skipped=") && l.includes("(minimum") && l.includes("--min-free-disk")), { what: "a copy refused by the disk guard", timeoutMs: 10_000 });
  expect(existsSync(localCopy(full, path.d))).toBe(false);
  // Both copies of before are still there: the refused one removed none.
  expect(blobFiles(full.dataDir).length).toBe(2);
});

test("a first hit while the local copy is made reads the object once, byte-exact; an S3 failure or wrong bytes end the client's download with an error", async () => {
  // Room for one local copy: each fill pushes the one before out.
  const { forwarder, bucket, s } = await startForwardedCache({ localCacheBytes: 7_500_000 });
  const names = ["once-5000000.bin", "cut-5000000.bin", "bad-5000000.bin", "last-5000000.bin"];
  for (const name of names) await fill(s, `${origin.url}/f/${name}`);
  const objectOf = (name: string) => `${bucket}/cache/sha256/${sha256Hex(bodyOf(`/f/${name}`))}`;
  const localOf = (name: string) => {
    const sha = sha256Hex(bodyOf(`/f/${name}`));
    return join(s.dataDir, "blobs", sha.slice(0, 2), sha);
  };
  expect(existsSync(localOf("once-5000000.bin"))).toBe(false);

  // One GET of the object serves the client and makes the local copy.
  const before = forwarder.gets(objectOf("once-5000000.bin"));
  const whole = await curlBytes(blobUrl(s.url, `${origin.url}/f/once-5000000.bin`));
  expect(whole.exitCode).toBe(0);
  expect(sha256Hex(whole.bytes)).toBe(sha256Hex(bodyOf("/f/once-5000000.bin")));
  await pollUntil(() => existsSync(localOf("once-5000000.bin")), { what: "local copy", timeoutMs: 10_000 });
  expect(forwarder.gets(objectOf("once-5000000.bin")) - before).toBe(1);

  // The object's GET breaks off: the client's download fails (no short 200), no copy is kept.
  forwarder.cutNextGet(objectOf("cut-5000000.bin"), 2_000_000);
  const cut = await curlBytes(blobUrl(s.url, `${origin.url}/f/cut-5000000.bin`));
  expect(cut.exitCode).not.toBe(0);
  expect(cut.bytes.byteLength).toBeLessThan(5_000_000);
  await pollUntil(() => s.logs.some((l) => l.includes("local_copy_error")), { what: "local copy error", timeoutMs: 10_000 });
  expect(existsSync(localOf("cut-5000000.bin"))).toBe(false);

  // Other bytes of the same length in the bucket: never served whole, never kept.
  const body = bodyOf("/f/bad-5000000.bin");
  const other = body.slice();
  other[4_999_000] = other[4_999_000]! ^ 0xff;
  await client(bucket).file(`cache/sha256/${sha256Hex(body)}`).write(other);
  const bad = await curlBytes(blobUrl(s.url, `${origin.url}/f/bad-5000000.bin`));
  expect(bad.exitCode).not.toBe(0);
  expect(bad.bytes.byteLength).toBeLessThan(5_000_000);
  await pollUntil(() => s.logs.some((l) => l.includes("local_copy_error") && l.includes("hashing to")), { what: "local copy mismatch", timeoutMs: 10_000 });
  expect(existsSync(localOf("bad-5000000.bin"))).toBe(false);
});

test("a ranged read from the bucket that ends early without an error is never served as a complete 206", async () => {
  const { forwarder, bucket, s } = await startForwardedCache({ localCacheBytes: 0 });
  const url = `${origin.url}/f/ranged-400000.bin`;
  await fill(s, url);
  const body = bodyOf("/f/ranged-400000.bin");
  forwarder.shortNextRangedGet(`${bucket}/cache/sha256/${sha256Hex(body)}`, 50_000);
  const short = await curlBytes(blobUrl(s.url, url), ["-r", "100000-299999"]);
  expect(short.exitCode).not.toBe(0);
  expect(short.bytes.byteLength).toBeLessThan(200_000);
  // The next one is whole.
  const whole = await curlBytes(blobUrl(s.url, url), ["-r", "100000-299999"]);
  expect({ code: whole.exitCode, ok: Buffer.from(whole.bytes).equals(Buffer.from(body.subarray(100_000, 300_000))) }).toEqual({ code: 0, ok: true });
});

test("a miss streamed through its fill ends with exact bytes before the upload to the bucket does; the row follows the upload", async () => {
  const { forwarder, s } = await startForwardedCache({ firstByteWaitMs: 5000 });
  const url = `${origin.url}/f/streamed-300000.bin`;
  const release = forwarder.holdUploads();
  let released = false;
  cleanups.push(() => {
    if (!released) release();
  });
  // The miss waits for the origin's first byte and streams the fill.
  const streamed = await curlBytes(blobUrl(s.url, url));
  expect(streamed.exitCode).toBe(0);
  expect(sha256Hex(streamed.bytes)).toBe(sha256Hex(bodyOf("/f/streamed-300000.bin")));
  // The upload is still held: no row yet, so the client did not wait for it.
  expect(s.running.ctx.store.metadata.getArtifact(url)).toBeNull();
  release();
  released = true;
  const job = await jobFinished(s, url);
  expect(job.state).toBe("completed");
  expect(await isStored(fetch(blobUrl(s.url, url), { method: "HEAD" }))).toBe(true);
});

test("an object that does not match its row is never served whole", async () => {
  const bucket = await freshBucket();
  const s = await startS3Cache(bucket, { localCacheBytes: 0 });
  const url = `${origin.url}/f/tampered-5000000.bin`;
  await fill(s, url);
  const body = bodyOf("/f/tampered-5000000.bin");
  const sha = sha256Hex(body);
  expect(existsSync(join(s.dataDir, "blobs", sha.slice(0, 2), sha))).toBe(false);
  // Someone rewrites the object with other bytes of the same length.
  const other = body.slice();
  other[140_000] = other[140_000]! ^ 0xff;
  await client(bucket).file(`cache/sha256/${sha}`).write(other);
  const got = await curlBytes(blobUrl(s.url, url));
  expect(got.exitCode).not.toBe(0);
  expect(got.bytes.byteLength).toBeLessThan(body.byteLength);
  await pollUntil(() => s.logs.some((l) => l.includes("blob-mismatch")), { what: "blob-mismatch log line", timeoutMs: 5000 });
});

test("the S3 server down: local copies still served, a new fill that meets the outage at its upload waits (no attempt spent) and completes once it is back; a delete meanwhile waits too", async () => {
  const bucket = await freshBucket();
  // One attempt: a fill that spent it on the outage would fail for good.
  const s = await startS3Cache(bucket, { fillAttempts: 1, fillBackoffMs: 100, fillBackoffMaxMs: 300 });
  const cached = `${origin.url}/f/cached-100000.bin`;
  await fill(s, cached);
  const removed = `${origin.url}/f/removed-during-outage-30000.bin`;
  await fill(s, removed);
  await s3.halt();
  let restarted = false;
  cleanups.push(async () => {
    if (!restarted) await s3.start();
  });
  const hit = await curlBytes(blobUrl(s.url, cached));
  expect(hit.exitCode).toBe(0);
  expect(sha256Hex(hit.bytes)).toBe(sha256Hex(bodyOf("/f/cached-100000.bin")));
  const fresh = `${origin.url}/f/during-outage-100000.bin`;
  await fetch(blobUrl(s.url, fresh)).then((r) => r.arrayBuffer()).catch(() => null);
  await pollUntil(() => s.logs.some((l) => l.includes("queued") && l.includes("cannot upload to s3://")), { what: "a failed upload, queued again", timeoutMs: 15_000 });
  // It waits while the bucket is down (each later attempt ends before asking the origin).
  await Bun.sleep(1000);
  const waiting = s.running.ctx.fills.listJobs().find((j) => j.key === fresh);
  expect({ state: waiting?.state === "failed" ? "failed" : "waiting", error: waiting?.error }).toEqual({ state: "waiting", error: expect.stringContaining("fill waits:") });
  // Deleted while the bucket is known down: the object's delete waits instead of failing (an
  // object left behind would wait for the next start's orphan sweep).
  expect(await s.running.ctx.store.deleteArtifact(removed)).toMatchObject({ deleted: true });
  await Bun.sleep(500);
  await s3.start();
  restarted = true;
  const job = await jobFinished(s, fresh, { timeoutMs: 20_000 });
  expect(job.state).toBe("completed");
  expect(await isStored(fetch(blobUrl(s.url, fresh), { method: "HEAD" }))).toBe(true);
  const removedKey = `cache/sha256/${sha256Hex(bodyOf("/f/removed-during-outage-30000.bin"))}`;
  await pollUntil(async () => !(await client(bucket).file(removedKey).exists()), { what: "the object deleted once the bucket is back", timeoutMs: 10_000 });
  expect(s.logs.some((l) => l.includes("delete_error"))).toBe(false);
}, 60_000);

test("a fill whose upload met an outage keeps its verified temp file: once the bucket is back it asks the origin for one byte, not the whole file again", async () => {
  const bucket = await freshBucket();
  const s = await startS3Cache(bucket, { fillAttempts: 1, fillBackoffMs: 100, fillBackoffMaxMs: 300 });
  await s3.halt();
  let restarted = false;
  cleanups.push(async () => {
    if (!restarted) await s3.start();
  });
  const path = "/r/kept-300000.bin";
  const url = `${origin.url}${path}`;
  await fetch(blobUrl(s.url, url), { method: "HEAD" }).catch(() => null);
  await pollUntil(() => s.logs.some((l) => l.includes("queued") && l.includes("cannot upload to s3://")), { what: "a failed upload, queued again", timeoutMs: 15_000 });
  await s3.start();
  restarted = true;
  const job = await jobFinished(s, url, { timeoutMs: 20_000 });
  expect({ state: job.state, error: job.error }).toEqual({ state: "completed", error: null });
  const asked = origin.requests.filter((r) => r.path === path).map((r) => r.headers["range"] ?? "whole");
  expect(asked).toEqual(["whole", "bytes=299999-"]);
  // The row has the origin's headers (from the one-byte 206), the bytes are exact.
  const hit = await fetch(blobUrl(s.url, url));
  expect({ status: hit.status, type: hit.headers.get("content-type"), sha: sha256Hex(new Uint8Array(await hit.arrayBuffer())) }).toEqual({ status: 200, type: "application/x-tar", sha: sha256Hex(bodyOf(path)) });
}, 60_000);

test("an outage met by the row commit's check of the object: the fill waits (no attempt spent, temp kept) and commits once the bucket is back", async () => {
  const bucket = await freshBucket();
  const s = await startS3Cache(bucket, { fillAttempts: 1, fillBackoffMs: 100, fillBackoffMaxMs: 300 });
  // The first URL's bytes go into the bucket; the second URL has the same bytes, so its fill skips
  // the upload and goes straight to the row commit, which checks the object: the S3 server stops
  // while the origin answers, before this cache-host's heartbeat can notice.
  await fill(s, `${origin.url}/r/twin1/shared-200000.bin`);
  const path = "/r/twin2/shared-200000.bin";
  const url = `${origin.url}${path}`;
  let restarted = true;
  beforeAnswer.set(path, async () => {
    restarted = false;
    await s3.halt();
  });
  cleanups.push(async () => {
    if (!restarted) await s3.start();
  });
  await fetch(blobUrl(s.url, url), { method: "HEAD" }).catch(() => null);
  await pollUntil(() => s.logs.some((l) => l.includes("queued") && l.includes("cannot check")), { what: "the row commit's check failed, queued again", timeoutMs: 15_000 });
  expect(s.running.ctx.fills.listJobs().find((j) => j.key === url)?.state).not.toBe("failed");
  await s3.start();
  restarted = true;
  const job = await jobFinished(s, url, { timeoutMs: 20_000 });
  expect({ state: job.state, error: job.error }).toEqual({ state: "completed", error: null });
  expect(origin.requests.filter((r) => r.path === path).map((r) => r.headers["range"] ?? "whole")).toEqual(["whole", "bytes=199999-"]);
  const hit = await fetch(blobUrl(s.url, url));
  expect(sha256Hex(new Uint8Array(await hit.arrayBuffer()))).toBe(sha256Hex(bodyOf(path)));
}, 60_000);

test("a bucket that hangs: /healthz says degraded within seconds, a late heartbeat is given up (never two open), and the answer ends the outage", async () => {
  const { forwarder, s } = await startForwardedCache();
  const health = async () => (await fetch(`${s.url}/healthz`)).text();
  expect(await health()).toStartWith("ok");
  const hung = forwarder.hold("heartbeats");
  cleanups.push(() => hung.release());
  await pollUntil(async () => (await health()).startsWith("degraded"), { what: "healthz says degraded", timeoutMs: 10_000 });
  expect(await health()).toContain("does not answer");
  // Three more heartbeat periods: each look is a new HEAD, and the late one before it was given up.
  await Bun.sleep(3 * HEARTBEAT_MS + 500);
  expect(hung.arrived()).toBeGreaterThanOrEqual(3);
  expect(hung.mostOpen()).toBe(1);
  expect(await health()).toContain(`no answer within ${HEARTBEAT_MS / 1000} s`);
  hung.release();
  await pollUntil(async () => (await health()).startsWith("ok"), { what: "healthz ok again", timeoutMs: 10_000 });
  // One heartbeat lost for good (never answered, connection kept): the next look answers.
  const lost = forwarder.hold("heartbeats", 1);
  cleanups.push(() => lost.release());
  await pollUntil(() => lost.arrived() === 1, { what: "the lost heartbeat", timeoutMs: 5000 });
  await Bun.sleep(2 * HEARTBEAT_MS + 500);
  expect({ open: lost.open(), health: (await health()).split(" ")[0] }).toEqual({ open: 0, health: "ok" });
}, 40_000);

test("a bucket whose deletes hang holds at most two of them (each holds the blob's lock); the rest follow once they answer", async () => {
  const { forwarder, bucket, s } = await startForwardedCache();
  const names = ["d1-20000.bin", "d2-20000.bin", "d3-20000.bin", "d4-20000.bin", "d5-20000.bin"];
  for (const name of names) await fill(s, `${origin.url}/f/${name}`);
  const hung = forwarder.hold("deletes");
  cleanups.push(() => hung.release());
  for (const name of names) expect(await s.running.ctx.store.deleteArtifact(`${origin.url}/f/${name}`)).toMatchObject({ deleted: true });
  await pollUntil(() => hung.arrived() >= 2, { what: "two deletes at the bucket", timeoutMs: 5000 });
  await Bun.sleep(1000);
  expect({ arrived: hung.arrived(), mostOpen: hung.mostOpen() }).toEqual({ arrived: 2, mostOpen: 2 });
  hung.release();
  const objects = client(bucket);
  for (const name of names) {
    const key = `cache/sha256/${sha256Hex(bodyOf(`/f/${name}`))}`;
    await pollUntil(async () => !(await objects.file(key).exists()), { what: `object of ${name} deleted`, timeoutMs: 10_000 });
  }
}, 30_000);

test("deleting an artifact deletes its object; the start-up sweep deletes orphan objects", async () => {
  const bucket = await freshBucket();
  const dataDir = makeTempDir("withcache-data-");
  const s = await startS3Cache(bucket, {}, dataDir);
  const url = `${origin.url}/f/gone-50000.bin`;
  await fill(s, url);
  const sha = sha256Hex(bodyOf("/f/gone-50000.bin"));
  const objects = client(bucket);
  expect(await s.running.ctx.store.deleteArtifact(url)).toMatchObject({ deleted: true });
  await pollUntil(async () => !(await objects.file(`cache/sha256/${sha}`).exists()), { what: "object deleted", timeoutMs: 5000 });
  // An object no row references (a crash between upload and row commit leaves one).
  const orphan = "ab".repeat(32);
  await objects.file(`cache/sha256/${orphan}`).write("orphan bytes");
  s3.backdate(bucket, `cache/sha256/${orphan}`, ORPHAN_GRACE_MS + 60_000);
  // A young object without a row may be another cache-host's fill between upload and row commit.
  const young = "cd".repeat(32);
  await objects.file(`cache/sha256/${young}`).write("in flight elsewhere");
  await s.stop({ keepDataDir: true });
  cleanups.pop();
  const again = await startS3Cache(bucket, {}, dataDir);
  await pollUntil(async () => !(await objects.file(`cache/sha256/${orphan}`).exists()), { what: "orphan object swept", timeoutMs: 5000 });
  await pollUntil(() => again.logs.some((l) => l.includes("orphan_blobs_removed")), { what: "sweep log line", timeoutMs: 5000 });
  expect(await objects.file(`cache/sha256/${young}`).exists()).toBe(true);
  rmSync(dataDir.path, { recursive: true, force: true });
});

test("the compiled binary: `withcache serve --blob-store` says which bucket is missing, then serves from a real one", async () => {
  const binary = await ensureBuilt();
  const dir = makeTempDir();
  cleanups.push(() => dir.cleanup());
  const missing = await run([binary, "serve", "--data-dir", dir.path, "--host", "127.0.0.1", "--port", "0", "--blob-store", "s3://not-there/x"], { env: s3.env, timeoutMs: 20_000 });
  expect(missing.exitCode).not.toBe(0);
  expect(missing.stderr.trim()).toBe(`withcache: error: --blob-store: bucket "not-there" does not exist at ${s3.endpoint}`);
  const badUrl = await run([binary, "serve", "--data-dir", dir.path, "--port", "0", "--blob-store", "/srv/blobs"], { env: s3.env, timeoutMs: 20_000 });
  expect(badUrl.exitCode).not.toBe(0);
  expect(badUrl.stderr).toContain('--blob-store: "/srv/blobs" is not a blob store; expected s3://bucket/prefix');
  // A real bucket: the start line names it (never the secret).
  const bucket = await freshBucket();
  const proc = Bun.spawn([binary, "serve", "--data-dir", dir.path, "--host", "127.0.0.1", "--port", "0", "--blob-store", `s3://${bucket}/ci`], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir.path, ...s3.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanups.push(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 15_000;
  while (!out.includes("\n") && Date.now() < deadline) {
    const { done, value } = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => ({ done: true, value: undefined }))]);
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  expect(out).toContain(`blobs in s3://${bucket}/ci/ at ${s3.endpoint}`);
  expect(out).not.toContain(s3.secretAccessKey);
}, 120_000);

test("withcache verify hashes the bucket's objects (and local copies); --repair removes a bad one", async () => {
  const binary = await ensureBuilt();
  const bucket = await freshBucket();
  const dataDir = makeTempDir("withcache-data-");
  cleanups.push(() => dataDir.cleanup());
  const s = await startS3Cache(bucket, {}, dataDir);
  const good = `${origin.url}/f/good-40000.bin`;
  const bad = `${origin.url}/f/bad-40000.bin`;
  await fill(s, good);
  await fill(s, bad);
  await s.stop({ keepDataDir: true });
  cleanups.pop();
  const verify = (extra: string[] = []) => run([binary, "verify", "--data-dir", dataDir.path, "--blob-store", `s3://${bucket}/cache`, ...extra], { env: s3.env, timeoutMs: 30_000 });
  const clean = await verify();
  expect({ code: clean.exitCode, out: clean.stdout }).toEqual({ code: 0, out: "verified 2 blobs (78 KiB): 0 bad\n" });
  const badSha = sha256Hex(bodyOf("/f/bad-40000.bin"));
  await client(bucket).file(`cache/sha256/${badSha}`).write("short");
  const found = await verify();
  expect(found.exitCode).toBe(1);
  expect(found.stdout).toContain(`bad ${badSha}: blob object is 5 bytes, expected 40000`);
  const repaired = await verify(["--repair"]);
  expect(repaired.exitCode).toBe(1);
  expect(repaired.stdout).toContain("; removed");
  expect(await client(bucket).file(`cache/sha256/${badSha}`).exists()).toBe(false);
  const after = await verify();
  expect({ code: after.exitCode, out: after.stdout }).toEqual({ code: 0, out: "verified 1 blobs (39 KiB): 0 bad\n" });
}, 120_000);
