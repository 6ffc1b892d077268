// Fills against real (and deliberately broken) origins: redirects, statuses, retries, truncation,
// resume with Range + If-Range, gzip byte-exactness, one fill per key, cancel/retry/clear.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  blobFiles,
  blobUrl,
  cleanupsAfterEach,
  fillOnMiss,
  headerOf,
  jobFinished as finished,
  pollUntil,
  sendRestFrom,
  sha256Hex,
  startCleanedServer,
  startOrigin,
  startRawOrigin,
  tempReaches,
  type TestServer,
} from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();
const server = (overrides: Parameters<typeof startCleanedServer>[1] = {}): Promise<TestServer> => startCleanedServer(cleanups, overrides);

describe("fills", () => {
  test("redirects are followed (bounded) and the requested url stays the key", async () => {
    const origin = startOrigin((req) => {
      const p = new URL(req.url).pathname;
      if (p === "/start") return Response.redirect("/hop2", 302);
      if (p === "/hop2") return new Response(null, { status: 307, headers: { location: "/final.bin" } });
      if (p === "/final.bin") return new Response("final bytes\n");
      if (p === "/loop") return Response.redirect("/loop", 302);
      return new Response("no\n", { status: 404 });
    });
    cleanups.push(() => origin.stop());
    const s = await server({ maxRedirects: 3 });
    expect(await fillOnMiss(s, `${origin.url}/start`)).toMatchObject({ state: "completed" });
    const hit = await fetch(blobUrl(s.url, `${origin.url}/start`));
    expect(await hit.text()).toBe("final bytes\n");
    expect(s.running.ctx.store.metadata.getArtifact(`${origin.url}/final.bin`)).toBeNull();

    const loop = await fillOnMiss(s, `${origin.url}/loop`);
    expect(loop).toMatchObject({ state: "failed", error: `more than 3 redirects from ${origin.url}/loop` });
    expect(origin.hits.get("/loop")).toBe(4);
  });

  test("a 4xx fails at once with the origin's status; a 3xx/4xx body is never cached", async () => {
    const origin = startOrigin(() => new Response("forbidden page\n", { status: 403 }));
    cleanups.push(() => origin.stop());
    const s = await server();
    const job = await fillOnMiss(s, `${origin.url}/secret.tgz`);
    expect(job).toMatchObject({ state: "failed", error: `origin answered 403 for ${origin.url}/secret.tgz`, attempts: 1 });
    expect(origin.hits.get("/secret.tgz")).toBe(1);
    expect(blobFiles(s.dataDir)).toEqual([]);
    // Misses right after a failure do not send every client request on to the origin again.
    for (let i = 0; i < 3; i += 1) expect((await fetch(blobUrl(s.url, `${origin.url}/secret.tgz`))).status).toBe(404);
    expect(await s.running.ctx.fills.enqueue(`${origin.url}/secret.tgz`, { source: "auto" })).toMatchObject({ ok: false, status: 429 });
    expect(s.running.ctx.fills.listJobs().length).toBe(1);
    expect(origin.hits.get("/secret.tgz")).toBe(1);
    expect(s.running.ctx.store.metadata.getMiss(`${origin.url}/secret.tgz`)?.count).toBe(4);
    // An operator may retry at once.
    expect(await s.running.ctx.fills.enqueue(`${origin.url}/secret.tgz`, { source: "operator" })).toMatchObject({ ok: true });
  });

  test("5xx and connection failures retry with backoff, then succeed", async () => {
    let n = 0;
    const origin = startOrigin(() => (++n <= 2 ? new Response("busy\n", { status: 503 }) : new Response("third time lucky\n")));
    cleanups.push(() => origin.stop());
    const s = await server();
    expect(await fillOnMiss(s, `${origin.url}/flaky`)).toMatchObject({ state: "completed", attempts: 3 });
    expect(await (await fetch(blobUrl(s.url, `${origin.url}/flaky`))).text()).toBe("third time lucky\n");
    expect(s.logs.some((l) => l.includes("state=queued") && l.includes("retry_in_ms=") && l.includes("origin answered 503"))).toBe(true);
  });

  test("retries are bounded: an unreachable origin fails after --fill-attempts", async () => {
    const dead = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = dead.port;
    dead.stop(true);
    const s = await server({ fillAttempts: 3 });
    const job = await fillOnMiss(s, `http://127.0.0.1:${port}/gone`);
    expect(job.state).toBe("failed");
    expect(job.attempts).toBe(3);
    expect(job.error).toContain(`cannot reach origin http://127.0.0.1:${port}/gone`);
  });

  test("an origin that stalls mid-body is given up after --origin-idle-timeout", async () => {
    const raw = startRawOrigin((c) => {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "y".repeat(1000));
      // …and then nothing, with the connection left open.
    });
    cleanups.push(() => raw.stop());
    const s = await server({ fillAttempts: 1, originIdleTimeoutMs: 300 });
    const key = `${raw.url}/stall.bin`;
    const job = await fillOnMiss(s, key);
    expect(job.state).toBe("failed");
    expect(job.error).toContain("no bytes for 300 ms");
    expect(blobFiles(s.dataDir)).toEqual([]);
  });

  test("--max-artifact-size refuses a bigger artifact, by Content-Length or by counting", async () => {
    const origin = startOrigin((req) => {
      const body = new Uint8Array(10_000);
      if (new URL(req.url).pathname === "/chunked")
        return new Response(new ReadableStream({ start: (c) => (c.enqueue(body), c.close()) }));
      return new Response(body);
    });
    cleanups.push(() => origin.stop());
    const s = await server({ maxArtifactBytes: 5000 });
    for (const [path, error] of [
      ["/sized", "origin artifact is 10000 bytes, over --max-artifact-size 5000"],
      ["/chunked", "origin artifact exceeds --max-artifact-size 5000"],
    ] as const) {
      expect(await fillOnMiss(s, `${origin.url}${path}`)).toMatchObject({ state: "failed", error, attempts: 1 });
    }
    expect(blobFiles(s.dataDir)).toEqual([]);
  });

  test("a truncated body is never cached", async () => {
    const raw = startRawOrigin((c) => {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: application/octet-stream\r\n\r\n" + "x".repeat(400));
      c.end();
    });
    cleanups.push(() => raw.stop());
    const s = await server({ fillAttempts: 2 });
    const key = `${raw.url}/short.bin`;
    const job = await fillOnMiss(s, key);
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/origin body (ended at|broke off at) \d+/);
    expect(raw.connections.length).toBe(2);
    expect(blobFiles(s.dataDir)).toEqual([]);
    expect(readdirSync(join(s.dataDir, "tmp"))).toEqual([]);
    expect(s.running.ctx.store.metadata.getArtifact(key)).toBeNull();
    expect((await fetch(blobUrl(s.url, key))).status).toBe(404);
  });

  test("an interrupted fill resumes with Range + If-Range and the sha256 covers the whole file", async () => {
    const full = new Uint8Array(50_000).map((_, i) => (i * 31) % 256);
    let dataDir = "";
    const raw = startRawOrigin((c) => {
      if (c.index === 0) {
        c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${full.length}\r\nETag: "e1"\r\n\r\n`);
        c.write(full.subarray(0, 20_000));
        // Break the connection only once the fill has written the prefix (Bun drops buffered bytes on a reset).
        void tempReaches(() => dataDir, 20_000).then(() => c.end());
        return;
      }
      const range = headerOf(c.head, "range");
      const m = /^bytes=(\d+)-$/.exec(range ?? "");
      if (!m || headerOf(c.head, "if-range") !== '"e1"') {
        c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${full.length}\r\nETag: "e1"\r\n\r\n`);
        c.write(full);
        c.end();
        return;
      }
      const start = Number(m[1]);
      sendRestFrom(c, full, start, '"e1"');
    });
    cleanups.push(() => raw.stop());
    const s = await server();
    dataDir = s.dataDir;
    const key = `${raw.url}/resume.bin`;
    expect(await fillOnMiss(s, key)).toMatchObject({ state: "completed" });
    expect(raw.connections.length).toBe(2);
    expect(headerOf(raw.connections[1]!.head, "range")).toBe("bytes=20000-");
    expect(headerOf(raw.connections[1]!.head, "if-range")).toBe('"e1"');
    expect(headerOf(raw.connections[0]!.head, "accept-encoding")).toBe("identity");
    expect(s.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ sha256: sha256Hex(full), sizeBytes: full.length });
    const hit = new Uint8Array(await (await fetch(blobUrl(s.url, key))).arrayBuffer());
    expect(sha256Hex(hit)).toBe(sha256Hex(full));
  });

  test("an origin that ignores the resume range is refetched from zero", async () => {
    const full = new Uint8Array(30_000).map((_, i) => (i * 17) % 256);
    let dataDir = "";
    const raw = startRawOrigin((c) => {
      c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${full.length}\r\nETag: "e2"\r\n\r\n`);
      c.write(c.index === 0 ? full.subarray(0, 10_000) : full);
      if (c.index === 0) void tempReaches(() => dataDir, 10_000).then(() => c.end());
      else c.end();
    });
    cleanups.push(() => raw.stop());
    const s = await server();
    dataDir = s.dataDir;
    const key = `${raw.url}/norange.bin`;
    expect(await fillOnMiss(s, key)).toMatchObject({ state: "completed" });
    expect(headerOf(raw.connections[1]!.head, "range")).toBe("bytes=10000-");
    expect(s.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ sha256: sha256Hex(full), sizeBytes: full.length });
  });

  test("a chunked body without Content-Length is cached whole", async () => {
    const parts = ["alpha-", "beta-", "gamma\n"];
    const origin = startOrigin(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              for (const p of parts) controller.enqueue(new TextEncoder().encode(p));
              controller.close();
            },
          }),
        ),
    );
    cleanups.push(() => origin.stop());
    const s = await server();
    const key = `${origin.url}/streamed.txt`;
    expect(await fillOnMiss(s, key)).toMatchObject({ state: "completed", totalBytes: 17 });
    expect(await (await fetch(blobUrl(s.url, key))).text()).toBe(parts.join(""));
    expect(origin.requests[0]!.headers["accept-encoding"]).toBe("identity");
  });

  test("bytes are cached exactly as sent: identity requested, a gzip-encoded body is not decompressed", async () => {
    const plain = "plain text body\n".repeat(100);
    const gz = gzipSync(plain);
    const origin = startOrigin((req) => {
      const p = new URL(req.url).pathname;
      const acceptsGzip = (req.headers.get("accept-encoding") ?? "").includes("gzip");
      if (p === "/negotiated.txt") return acceptsGzip ? new Response(gz, { headers: { "content-encoding": "gzip" } }) : new Response(plain);
      return new Response(gz, { headers: { "content-encoding": "gzip", "content-type": "application/x-tar" } });
    });
    cleanups.push(() => origin.stop());
    const s = await server();
    for (const p of ["/negotiated.txt", "/always.tar.gz"]) {
      expect(await fillOnMiss(s, `${origin.url}${p}`)).toMatchObject({ state: "completed" });
    }
    expect(s.running.ctx.store.metadata.getArtifact(`${origin.url}/negotiated.txt`)!.sha256).toBe(sha256Hex(plain));
    expect(s.running.ctx.store.metadata.getArtifact(`${origin.url}/always.tar.gz`)!.sha256).toBe(sha256Hex(gz));
    const r = await fetch(blobUrl(s.url, `${origin.url}/always.tar.gz`), { decompress: false });
    expect(r.headers.get("content-encoding")).toBeNull();
    expect(sha256Hex(new Uint8Array(await r.arrayBuffer()))).toBe(sha256Hex(gz));
  });

  test("two concurrent misses of one key via different query strings → one fill, one blob", async () => {
    const body = new Uint8Array(200_000).map((_, i) => (i * 3) % 256);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const origin = startOrigin(async () => {
      await gate;
      return new Response(body as Uint8Array<ArrayBuffer>);
    });
    cleanups.push(() => origin.stop());
    const s = await server({ workers: 4 });
    const key = `${origin.url}/pkg.run`;
    const responses = await Promise.all(
      ["?token=aaa", "?token=bbb", "?token=ccc&x=1", ""].map((q) => fetch(blobUrl(s.url, `${key}${q}`)).then((r) => r.status)),
    );
    expect(responses).toEqual([404, 404, 404, 404]);
    await pollUntil(() => s.running.ctx.store.metadata.getMiss(key)?.count === 4);
    await pollUntil(() => origin.hits.get("/pkg.run") === 1, { what: "origin request" });
    expect(s.running.ctx.fills.listJobs().length).toBe(1);
    release();
    expect(await finished(s, key)).toMatchObject({ state: "completed" });
    expect(origin.hits.get("/pkg.run")).toBe(1);
    const files = blobFiles(s.dataDir);
    expect(files).toEqual([sha256Hex(body)]);
    const served = await Bun.file(join(s.dataDir, "blobs", files[0]!.slice(0, 2), files[0]!)).bytes();
    expect(sha256Hex(served)).toBe(files[0]!);
    expect(s.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ misses: 4, url: `${key}?token=aaa` });
  });

  test("cancel (queued and running), retry a failed job, clear finished", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let fail = true;
    const origin = startOrigin(async (req) => {
      const p = new URL(req.url).pathname;
      if (p === "/slow") {
        await gate;
        return new Response("slow\n");
      }
      if (p === "/flaky404") return fail ? new Response("no\n", { status: 404 }) : new Response("now here\n");
      return new Response("ok\n");
    });
    cleanups.push(() => origin.stop());
    const s = await server({ curate: true, workers: 1 });
    const fills = s.running.ctx.fills;
    const slow = await fills.enqueue(`${origin.url}/slow`, { source: "operator" });
    const queued = await fills.enqueue(`${origin.url}/later`, { source: "operator" });
    if (!slow.ok || !queued.ok) throw new Error("enqueue failed");
    await pollUntil(() => fills.getJob(slow.job.id)?.state === "running");
    expect(await fills.cancel(queued.job.id)).toMatchObject({ ok: true, job: { state: "cancelled" } });
    expect((await fills.cancel(slow.job.id)).ok).toBe(true);
    await pollUntil(() => fills.getJob(slow.job.id)?.state === "cancelled", { what: "running job cancelled" });
    release();
    expect(await fills.cancel(slow.job.id)).toMatchObject({ ok: false, status: 409 });
    expect(await fills.cancel(999)).toMatchObject({ ok: false, status: 404 });

    const bad = await fills.enqueue(`${origin.url}/flaky404`, { source: "operator" });
    if (!bad.ok) throw new Error("enqueue failed");
    await pollUntil(() => fills.getJob(bad.job.id)?.state === "failed");
    fail = false;
    expect(await fills.retry(bad.job.id)).toMatchObject({ ok: true, job: { state: "queued" } });
    await pollUntil(() => fills.getJob(bad.job.id)?.state === "completed");
    expect(await fills.retry(bad.job.id)).toMatchObject({ ok: false, status: 409 });
    expect(await fills.enqueue(`${origin.url}/flaky404`, { source: "operator" })).toMatchObject({ ok: false, status: 409, message: `${origin.url}/flaky404 is already cached and fresh` });

    expect(await fills.clearFinished()).toBe(3);
    expect(fills.listJobs()).toEqual([]);
  });

  test("progress of a stalled fill shows the bytes that arrived and a rate that falls to zero", async () => {
    const stalled = 256 * 1024;
    const raw = startRawOrigin((c) => {
      c.write(`HTTP/1.1 200 OK\r\ncontent-length: ${stalled * 4}\r\ncontent-type: application/octet-stream\r\n\r\n`);
      c.write(new Uint8Array(stalled)); // then nothing more: the origin stalls
    });
    cleanups.push(() => raw.stop());
    const s = await server({ originIdleTimeoutMs: 30_000 });
    const url = `${raw.url}/stall.iso`;
    await fetch(blobUrl(s.url, url)).then((r) => r.text());
    const job = await pollUntil(
      () => s.running.ctx.fills.listJobs().find((j) => j.key === url && j.state === "running" && j.bytesDone === stalled),
      { what: "progress to show the stalled bytes", timeoutMs: 3_000 },
    );
    expect(job.totalBytes).toBe(stalled * 4);
    await pollUntil(() => s.running.ctx.fills.getJob(job.id)?.rateBytesPerSec === 0, { what: "rate to fall to zero", timeoutMs: 5_000 });
    await s.running.ctx.fills.cancel(job.id);
  });
});
