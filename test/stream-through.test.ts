// Stream-through, end to end: a fleet that asks for one new file at once downloads it from the
// origin once. A paced raw origin on loopback (Content-Length, optional ETag and Range, optional
// cut mid-body), the real cache-host, the real curl and wget through the compiled TS shim and the
// Zig shim, and plain GETs of /b/…. Every output is compared byte for byte with the origin's body;
// a stream that is cut must leave the client with an error and a strict prefix, never a wrong byte.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { blobUrl, cleanupsAfterEach, headerOf, isStored, makeTempDir, pollUntil, sha256Hex, startCleanedServer, startRawOrigin, startTestServer, type RawConnection, type TempDir, type TestServer } from "./helpers/index.ts";
import { bytesOf } from "./invisibility-support.ts";
import { compileShim, runExact, shimPath, type Ran, type ShimBin } from "./shim-support.ts";
import { buildZigShim, zigShimDir, type ZigShims } from "./zig-support.ts";

let bin: ShimBin;
let zig: ZigShims;
let work: TempDir;
const cleanups = cleanupsAfterEach();
/** The cache-host's own default (test servers answer a cold miss at once unless told). */
const STREAM = { firstByteWaitMs: 500 };

beforeAll(async () => {
  bin = await compileShim();
  buildZigShim();
  zig = zigShimDir();
  work = makeTempDir("withcache-stream-");
}, 180_000); // a cold zig build alone takes longer than the default 5 s

afterAll(() => {
  bin.cleanup();
  zig.cleanup();
  work.cleanup();
});

type PacedOptions = {
  /** Body bytes written per tick, and the tick. */
  chunkBytes?: number;
  intervalMs?: number;
  /** Send Content-Length (default) or a close-delimited body. */
  contentLength?: boolean;
  /** A strong ETag: the origin answers Range requests under it (resume); none = no validator. */
  etag?: string | null;
  /** The first GET's connection is closed after this many body bytes. */
  cutFirstAfter?: number;
};

type PacedOrigin = { url: string; gets: () => number; ranges: () => string[]; stop(): void };

/** A raw origin serving `body` at a steady pace (so clients surely overlap the fill). */
function pacedOrigin(body: Uint8Array, options: PacedOptions = {}): PacedOrigin {
  const chunk = options.chunkBytes ?? 64 * 1024;
  const every = options.intervalMs ?? 10;
  const etag = options.etag === undefined ? '"v1"' : options.etag;
  let gets = 0;
  const ranges: string[] = [];
  const timers = new Set<ReturnType<typeof setInterval>>();
  const origin = startRawOrigin((c: RawConnection) => {
    const method = c.head.split(" ")[0];
    if (method === "GET") gets++;
    const range = headerOf(c.head, "range");
    if (range !== null) ranges.push(range);
    const m = range !== null && etag !== null ? /^bytes=(\d+)-$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    const status = m ? "206 Partial Content" : "200 OK";
    const headers = [
      `HTTP/1.1 ${status}`,
      "Content-Type: application/x-test",
      ...(options.contentLength === false ? [] : [`Content-Length: ${body.length - start}`]),
      ...(m ? [`Content-Range: bytes ${start}-${body.length - 1}/${body.length}`] : []),
      ...(etag !== null ? [`ETag: ${etag}`] : []),
      "Connection: close",
    ];
    c.write(headers.join("\r\n") + "\r\n\r\n");
    if (method === "HEAD") return c.end();
    const cutAt = gets === 1 && options.cutFirstAfter !== undefined ? options.cutFirstAfter : body.length;
    let at = start;
    const timer = setInterval(() => {
      const end = Math.min(at + chunk, cutAt);
      if (end > at) c.write(body.subarray(at, end));
      at = end;
      if (at >= cutAt) {
        clearInterval(timer);
        timers.delete(timer);
        c.end();
      }
    }, every);
    timers.add(timer);
  });
  return {
    url: origin.url,
    gets: () => gets,
    ranges: () => ranges,
    stop() {
      for (const t of timers) clearInterval(t);
      origin.stop();
    },
  };
}

function withOrigin(body: Uint8Array, options: PacedOptions = {}): PacedOrigin {
  const o = pacedOrigin(body, options);
  cleanups.push(() => o.stop());
  return o;
}

type Client = { name: string; cmd: string[]; env: Record<string, string>; output: string };

function shimEnv(shimDir: string, server: string): Record<string, string> {
  return { PATH: shimPath(shimDir), HOME: work.path, WITHCACHE_SERVER: server };
}

let clientCount = 0;
function outputPath(name: string): string {
  return join(work.path, `${name}-${++clientCount}.out`);
}

/** curl or wget through one of the shims, saving to its own file. */
function toolClient(tool: "curl" | "wget", shim: "ts" | "zig", server: string, url: string, extra: string[] = []): Client {
  const output = outputPath(`${shim}-${tool}`);
  const cmd = tool === "curl" ? ["curl", "-sS", "-o", output, ...extra, url] : ["wget", "-q", "--tries=1", "-O", output, ...extra, url];
  return { name: `${shim} ${tool}`, cmd, env: shimEnv(shim === "ts" ? bin.shimDir : zig.shimDir, server), output };
}

async function runClient(c: Client, timeoutMs = 60_000): Promise<Ran & { bytes: Uint8Array }> {
  const ran = await runExact(c.cmd, { env: c.env, cwd: work.path, timeoutMs });
  let bytes = new Uint8Array(0);
  try {
    bytes = new Uint8Array(readFileSync(c.output));
  } catch {
    // no file: an error before the first byte
  }
  return { ...ran, bytes };
}

function isPrefixOf(part: Uint8Array, whole: Uint8Array): boolean {
  return part.length <= whole.length && Buffer.from(whole.subarray(0, part.length)).equals(Buffer.from(part));
}

async function getBytes(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Uint8Array; headers: Headers }> {
  const r = await fetch(url, { headers });
  return { status: r.status, bytes: new Uint8Array(await r.arrayBuffer()), headers: r.headers };
}

function liveWritten(s: TestServer, key: string): number {
  return s.running.ctx.fills.liveFill(key)?.written ?? 0;
}

describe("a herd of cold clients downloads from the origin once", () => {
  test("16 concurrent clients (shim curl and wget, TS and Zig, plus plain GETs) of a slow origin: every output byte-equal, 1 origin GET", async () => {
    const body = bytesOf(101, 6 * 1024 * 1024);
    const o = withOrigin(body); // ~6.5 MB/s: about a second
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/driver-1.2.run`;
    const clients: Client[] = [
      ...Array.from({ length: 4 }, () => toolClient("curl", "ts", s.url, url)),
      ...Array.from({ length: 4 }, () => toolClient("wget", "ts", s.url, url)),
      ...Array.from({ length: 3 }, () => toolClient("curl", "zig", s.url, url)),
      ...Array.from({ length: 3 }, () => toolClient("wget", "zig", s.url, url)),
    ];
    let sawStreaming = false;
    const watch = pollUntil(
      async () => {
        const page = await (await fetch(`${s.url}/admin/downloads`)).text();
        sawStreaming ||= / clients? streaming/.test(page);
        return sawStreaming;
      },
      { what: "the Downloads page counting streaming clients", timeoutMs: 20_000, intervalMs: 50 },
    ).catch(() => false);
    const [ran, plain] = await Promise.all([Promise.all(clients.map((c) => runClient(c))), Promise.all([getBytes(blobUrl(s.url, url)), getBytes(blobUrl(s.url, url))])]);
    await watch;
    for (const [i, r] of ran.entries()) {
      expect({ client: clients[i]!.name, exit: r.exitCode, stderr: r.stderr, sha: sha256Hex(r.bytes) }).toEqual({ client: clients[i]!.name, exit: 0, stderr: "", sha: sha256Hex(body) });
    }
    for (const p of plain) expect({ status: p.status, sha: sha256Hex(p.bytes) }).toEqual({ status: 200, sha: sha256Hex(body) });
    expect(o.gets()).toBe(1);
    expect(sawStreaming).toBe(true);
    // The log says which requests streamed, and how each stream ended.
    expect(s.logs.some((l) => l.includes("result=miss-stream"))).toBe(true);
    expect(s.logs.filter((l) => l.startsWith("stream ") || / stream /.test(l)).some((l) => l.includes("outcome=complete"))).toBe(true);
    expect(await isStored(fetch(blobUrl(s.url, url), { method: "HEAD" }))).toBe(true);
  }, 90_000);

  test("64 concurrent GETs of one cold key: one origin GET, 64 complete bodies", async () => {
    const body = bytesOf(102, 2 * 1024 * 1024);
    const o = withOrigin(body, { chunkBytes: 128 * 1024 });
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/fw.bin`;
    const all = await Promise.all(Array.from({ length: 64 }, () => getBytes(blobUrl(s.url, url))));
    for (const r of all) expect({ status: r.status, sha: sha256Hex(r.bytes) }).toEqual({ status: 200, sha: sha256Hex(body) });
    expect(o.gets()).toBe(1);
  }, 60_000);

  test("a probe of a new key answers 200 with the origin's length and type and X-Withcache-Filling, before the body is in", async () => {
    const body = bytesOf(103, 4 * 1024 * 1024);
    const o = withOrigin(body, { chunkBytes: 32 * 1024, intervalMs: 20 });
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/probe.bin`;
    const t0 = performance.now();
    const head = await fetch(blobUrl(s.url, url), { method: "HEAD" });
    const ms = performance.now() - t0;
    if (process.env.DEBUG_ST) console.log(s.logs.join("\n"));
    expect({ status: head.status, length: head.headers.get("content-length"), type: head.headers.get("content-type"), filling: head.headers.get("x-withcache-filling"), ranges: head.headers.get("accept-ranges") }).toEqual({
      status: 200,
      length: String(body.length),
      type: "application/x-test",
      filling: "1",
      ranges: "bytes",
    });
    expect(ms).toBeLessThan(1000);
    expect(await isStored(fetch(blobUrl(s.url, url), { method: "HEAD" }))).toBe(false);
  }, 30_000);

  test("--curate: nothing is fetched or streamed before approval", async () => {
    const body = bytesOf(104, 256 * 1024);
    const o = withOrigin(body);
    const s = await startCleanedServer(cleanups, { ...STREAM, curate: true });
    const r = await fetch(blobUrl(s.url, `${o.url}/wait.bin`), { method: "HEAD" });
    expect(r.status).toBe(404);
    await Bun.sleep(100);
    expect(o.gets()).toBe(0);
  });

  test("--first-byte-wait 0: a cold probe is a plain miss (the fill goes on in the background)", async () => {
    const body = bytesOf(105, 256 * 1024);
    const o = withOrigin(body);
    const s = await startCleanedServer(cleanups, { ...STREAM, firstByteWaitMs: 0 });
    const url = `${o.url}/nowait.bin`;
    expect((await fetch(blobUrl(s.url, url), { method: "HEAD" })).status).toBe(404);
    await pollUntil(() => isStored(fetch(blobUrl(s.url, url), { method: "HEAD" })), { what: "the background fill", timeoutMs: 10_000 });
  });
});

describe("joining a fill that is under way", () => {
  test("a client that joins at 50 % gets the right bytes, its first byte at once", async () => {
    const body = bytesOf(110, 8 * 1024 * 1024);
    const o = withOrigin(body, { chunkBytes: 64 * 1024, intervalMs: 10 });
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/half.iso`;
    const first = getBytes(blobUrl(s.url, url));
    await pollUntil(() => liveWritten(s, url) >= body.length / 2, { what: "half the fill", timeoutMs: 20_000, intervalMs: 5 });
    const t0 = performance.now();
    const r = await fetch(blobUrl(s.url, url));
    const reader = r.body!.getReader();
    const firstChunk = await reader.read();
    const ttfbMs = performance.now() - t0;
    const parts: Uint8Array[] = [firstChunk.value!];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    expect(ttfbMs).toBeLessThan(500);
    expect(sha256Hex(Buffer.concat(parts))).toBe(sha256Hex(body));
    expect(sha256Hex((await first).bytes)).toBe(sha256Hex(body));
    const joined = toolClient("curl", "ts", s.url, url);
    expect((await runClient(joined)).exitCode).toBe(0);
    expect(o.gets()).toBe(1);
  }, 60_000);

  test("Range beyond the arrived bytes waits for them; curl -C - through the shim resumes mid-fill", async () => {
    const body = bytesOf(111, 6 * 1024 * 1024);
    const o = withOrigin(body, { chunkBytes: 32 * 1024, intervalMs: 10 });
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/ranged.bin`;
    void getBytes(blobUrl(s.url, url));
    await pollUntil(() => liveWritten(s, url) > 0, { what: "the fill under way", timeoutMs: 10_000, intervalMs: 5 });
    const from = Math.floor(body.length * 0.75);
    expect(liveWritten(s, url)).toBeLessThan(from);
    const ranged = await getBytes(blobUrl(s.url, url), { range: `bytes=${from}-` });
    expect({ status: ranged.status, range: ranged.headers.get("content-range"), sha: sha256Hex(ranged.bytes) }).toEqual({
      status: 206,
      range: `bytes ${from}-${body.length - 1}/${body.length}`,
      sha: sha256Hex(body.subarray(from)),
    });
    // A partial file from an earlier, interrupted download, resumed with curl -C - (a new fill of another key).
    const url2 = `${o.url}/resume-me.bin`;
    void getBytes(blobUrl(s.url, url2));
    await pollUntil(() => liveWritten(s, url2) > 0, { what: "the second fill under way", timeoutMs: 10_000, intervalMs: 5 });
    const c = toolClient("curl", "ts", s.url, url2, ["-C", "-"]);
    writeFileSync(c.output, body.subarray(0, Math.floor(body.length * 0.6)));
    const r = await runClient(c);
    expect({ exit: r.exitCode, sha: sha256Hex(r.bytes) }).toEqual({ exit: 0, sha: sha256Hex(body) });
    const past = await getBytes(blobUrl(s.url, `${o.url}/ranged.bin`), { range: `bytes=${body.length}-` });
    expect(past.status).toBe(416);
  }, 60_000);

  test("an origin without Content-Length is streamed chunked; the probe has no length, the body is exact", async () => {
    const body = bytesOf(112, 3 * 1024 * 1024);
    const o = withOrigin(body, { contentLength: false, etag: null });
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/nolength.bin`;
    const head = await fetch(blobUrl(s.url, url), { method: "HEAD" });
    expect({ status: head.status, length: head.headers.get("content-length"), filling: head.headers.get("x-withcache-filling") }).toEqual({ status: 200, length: null, filling: "1" });
    expect(head.headers.get("transfer-encoding")).toBe("chunked");
    const [a, b] = await Promise.all([runClient(toolClient("curl", "ts", s.url, url)), runClient(toolClient("wget", "zig", s.url, url))]);
    expect({ a: a.exitCode, b: b.exitCode, sa: sha256Hex(a.bytes), sb: sha256Hex(b.bytes) }).toEqual({ a: 0, b: 0, sa: sha256Hex(body), sb: sha256Hex(body) });
    expect(o.gets()).toBe(1);
  }, 60_000);
});

describe("never a wrong byte", () => {
  test("the origin closes mid-body and cannot resume (no validator): every stream is cut short with an error, a strict prefix", async () => {
    const body = bytesOf(120, 4 * 1024 * 1024);
    const o = withOrigin(body, { etag: null, cutFirstAfter: 2 * 1024 * 1024 });
    const s = await startCleanedServer(cleanups, { ...STREAM, fillAttempts: 3 });
    const url = `${o.url}/cut.bin`;
    const clients = [toolClient("curl", "ts", s.url, url), toolClient("curl", "zig", s.url, url), toolClient("curl", "ts", s.url, url)];
    const [ran, plain] = await Promise.all([Promise.all(clients.map((c) => runClient(c))), fetch(blobUrl(s.url, url)).then(async (r) => ({ status: r.status, read: await r.arrayBuffer().then((b) => ({ ok: true, n: b.byteLength }), () => ({ ok: false, n: -1 })) }))]);
    for (const r of ran) {
      expect(r.exitCode).not.toBe(0);
      expect(r.bytes.length).toBeLessThan(body.length);
      expect(isPrefixOf(r.bytes, body)).toBe(true);
    }
    expect(plain.read.ok).toBe(false);
    expect(s.logs.some((l) => l.includes("outcome=cut"))).toBe(true);
    // The retry starts over and completes: later clients get the whole file.
    await pollUntil(() => isStored(fetch(blobUrl(s.url, url), { method: "HEAD" })), { what: "the refill", timeoutMs: 20_000 });
    expect(sha256Hex((await getBytes(blobUrl(s.url, url))).bytes)).toBe(sha256Hex(body));
  }, 60_000);

  test("the origin closes mid-body but resumes with Range + If-Range: every stream completes with the right bytes", async () => {
    const body = bytesOf(121, 4 * 1024 * 1024);
    const o = withOrigin(body, { cutFirstAfter: 2 * 1024 * 1024 + 12345 });
    const s = await startCleanedServer(cleanups, { ...STREAM, fillAttempts: 3 });
    const url = `${o.url}/resumed.bin`;
    const clients = [toolClient("curl", "ts", s.url, url), toolClient("wget", "ts", s.url, url), toolClient("curl", "zig", s.url, url), toolClient("wget", "zig", s.url, url)];
    const ran = await Promise.all(clients.map((c) => runClient(c)));
    for (const [i, r] of ran.entries()) expect({ client: clients[i]!.name, exit: r.exitCode, sha: sha256Hex(r.bytes) }).toEqual({ client: clients[i]!.name, exit: 0, sha: sha256Hex(body) });
    expect(o.gets()).toBe(2);
    // One resume, from what had arrived (Bun's fetch may drop the tail that raced the close).
    expect(o.ranges()).toHaveLength(1);
    const from = Number(/^bytes=(\d+)-$/.exec(o.ranges()[0]!)?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(2 * 1024 * 1024 + 12345);
  }, 60_000);

  test("restart mid-fill: streams are cut, the persisted fill resumes and completes on the next start", async () => {
    const body = bytesOf(122, 6 * 1024 * 1024);
    const o = withOrigin(body, { chunkBytes: 32 * 1024, intervalMs: 10 });
    const dir = makeTempDir("withcache-stream-restart-");
    cleanups.push(() => dir.cleanup());
    const first = await startTestServer({ ...STREAM, drainTimeoutMs: 200 }, { dataDir: dir });
    const url = `${o.url}/restart.bin`;
    const c = toolClient("curl", "ts", first.url, url);
    const running = runClient(c);
    await pollUntil(() => liveWritten(first, url) > 1024 * 1024, { what: "a MiB streamed", timeoutMs: 20_000, intervalMs: 5 });
    await first.stop({ keepDataDir: true });
    const r = await running;
    expect(r.exitCode).not.toBe(0);
    expect(isPrefixOf(r.bytes, body)).toBe(true);
    const second = await startTestServer(STREAM, { dataDir: dir });
    cleanups.push(() => second.stop({ keepDataDir: true }));
    await pollUntil(() => isStored(fetch(blobUrl(second.url, url), { method: "HEAD" })), { what: "the resumed fill", timeoutMs: 30_000 });
    expect(sha256Hex((await getBytes(blobUrl(second.url, url))).bytes)).toBe(sha256Hex(body));
    expect(o.ranges().length).toBe(1);
  }, 60_000);
});

describe("slow and dead consumers", () => {
  test("a client at 100 KiB/s, one that stops reading and one that disconnects never slow the fill or a fast client", async () => {
    const body = bytesOf(130, 16 * 1024 * 1024);
    const o = withOrigin(body, { chunkBytes: 256 * 1024, intervalMs: 10 }); // ~25 MB/s: under a second
    const s = await startCleanedServer(cleanups, STREAM);
    const url = `${o.url}/consumers.bin`;
    const cacheUrl = blobUrl(s.url, url);
    // The probe starts the fill and waits for its headers; then the consumers join.
    expect((await fetch(cacheUrl, { method: "HEAD" })).status).toBe(200);
    const t0 = performance.now();
    const slow = toolClient("curl", "ts", s.url, url, ["--limit-rate", "100K"]);
    const slowProc = Bun.spawn(slow.cmd, { env: slow.env, cwd: work.path, stdin: "ignore", stdout: "ignore", stderr: "ignore", timeout: 60_000 });
    cleanups.push(() => slowProc.kill());
    // Stalled: asks, then never reads a byte.
    const stalled: Socket<undefined> = await Bun.connect({
      hostname: "127.0.0.1",
      port: new URL(s.url).port ? Number(new URL(s.url).port) : 80,
      socket: {
        open(sock) {
          sock.write(`GET ${new URL(cacheUrl).pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        },
        data() {},
      },
    });
    stalled.pause();
    cleanups.push(() => stalled.end());
    // Disconnects after its first chunk.
    const quitter = new AbortController();
    const quit = fetch(cacheUrl, { signal: quitter.signal }).then(async (r) => {
      const reader = r.body!.getReader();
      await reader.read();
      quitter.abort();
    });
    const fast = await getBytes(cacheUrl);
    const fastMs = performance.now() - t0;
    await quit.catch(() => {});
    expect(sha256Hex(fast.bytes)).toBe(sha256Hex(body));
    await pollUntil(() => isStored(fetch(cacheUrl, { method: "HEAD" })), { what: "the commit", timeoutMs: 10_000 });
    // The origin alone takes ~0.7 s; the fast client must not have waited on the slow ones.
    expect(fastMs).toBeLessThan(5_000);
    const fill = s.running.ctx.fills.listJobs({ limit: 1 })[0]!;
    expect(fill.state).toBe("completed");
    await pollUntil(() => s.logs.some((l) => l.includes("outcome=client-gone")), { what: "the disconnect logged", timeoutMs: 5_000 });
    // The slow client is still going, and what it has so far is right.
    await Bun.sleep(300);
    const partial = new Uint8Array(readFileSync(slow.output));
    expect(partial.length).toBeLessThan(body.length);
    expect(isPrefixOf(partial, body)).toBe(true);
    expect(slowProc.exitCode).toBeNull();
    expect(o.gets()).toBe(1);
  }, 90_000);
});
