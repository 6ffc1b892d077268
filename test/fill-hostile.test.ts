// Fills against origins that misbehave in ways the happy-path tests do not: a resume answered with
// a different version (If-Range ignored), 200 + Content-Range to a resume, redirects to file:,
// odd statuses (204, 304), more bytes than Content-Length, and secrets in job messages.
import { describe, expect, test } from "bun:test";
import {
  blobUrl,
  cleanupsAfterEach,
  fillOnMiss,
  headerOf,
  sendRestFrom,
  sha256Hex,
  startCleanedServer,
  startOrigin,
  startRawOrigin,
  tempReaches,
  type RawConnection,
  type TestServer,
} from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();
const server = (overrides: Parameters<typeof startCleanedServer>[1] = {}): Promise<TestServer> => startCleanedServer(cleanups, overrides);

/** Ask the cache for `url` (a miss queues its fill) and wait for the job of its key (the url without the query). */
function finished(s: TestServer, url: string) {
  return fillOnMiss(s, url, { key: url.split("?")[0]! });
}

const v1 = new Uint8Array(40_000).map((_, i) => (i * 3) % 256);
const v2 = new Uint8Array(40_000).map((_, i) => (i * 5 + 1) % 256);

/** The first answer: 200 with ETag "v1" and 15 000 of v1's bytes, cut once the fill's temp file holds them. */
function sendV1Prefix(c: RawConnection, dataDir: () => string): void {
  c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${v1.length}\r\nETag: "v1"\r\n\r\n`);
  c.write(v1.subarray(0, 15_000));
  void tempReaches(dataDir, 15_000).then(() => c.end());
}

describe("resume never splices two versions", () => {
  test("a 206 naming another ETag (the origin ignored If-Range) is refused; the fill restarts and stores one version", async () => {
    let dataDir = "";
    const raw = startRawOrigin((c) => {
      if (c.index === 0) return sendV1Prefix(c, () => dataDir);
      const m = /^bytes=(\d+)-$/.exec(headerOf(c.head, "range") ?? "");
      if (m) {
        // Changed upstream, and If-Range ignored: the rest of *another* version.
        const start = Number(m[1]);
        sendRestFrom(c, v2, start, '"v2"');
        return;
      }
      c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${v2.length}\r\nETag: "v2"\r\n\r\n`);
      c.write(v2);
      c.end();
    });
    cleanups.push(() => raw.stop());
    const s = await server();
    dataDir = s.dataDir;
    const key = `${raw.url}/changing.bin`;
    expect(await finished(s, key)).toMatchObject({ state: "completed" });
    expect(headerOf(raw.connections[1]!.head, "if-range")).toBe('"v1"');
    expect(headerOf(raw.connections.at(-1)!.head, "range")).toBeNull();
    const a = s.running.ctx.store.metadata.getArtifact(key)!;
    expect(a.sha256).toBe(sha256Hex(v2));
    const hit = new Uint8Array(await (await fetch(blobUrl(s.url, key))).arrayBuffer());
    expect(sha256Hex(hit)).toBe(sha256Hex(v2));
    expect(s.logs.some((l) => l.includes("origin answered a range we did not ask for"))).toBe(true);
  });

  test("a 200 carrying a Content-Range to a resume request is taken as the whole new body", async () => {
    let dataDir = "";
    const raw = startRawOrigin((c) => {
      if (c.index === 0) return sendV1Prefix(c, () => dataDir);
      c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${v2.length}\r\nContent-Range: bytes 15000-39999/40000\r\nETag: "v2"\r\n\r\n`);
      c.write(v2);
      c.end();
    });
    cleanups.push(() => raw.stop());
    const s = await server();
    dataDir = s.dataDir;
    const key = `${raw.url}/odd200.bin`;
    expect(await finished(s, key)).toMatchObject({ state: "completed" });
    expect(s.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ sha256: sha256Hex(v2), sizeBytes: v2.length });
  });
});

describe("odd origin answers", () => {
  test("redirects to file: and ftp: fail the job; a relative Location is resolved against the hop", async () => {
    const origin = startOrigin((req) => {
      const p = new URL(req.url).pathname;
      if (p === "/to-file") return new Response(null, { status: 302, headers: { location: "file:///etc/passwd" } });
      if (p === "/to-ftp") return new Response(null, { status: 301, headers: { location: "ftp://example.com/x" } });
      if (p === "/dir/rel") return new Response(null, { status: 302, headers: { location: "../final.txt" } });
      if (p === "/final.txt") return new Response("final\n");
      return new Response("no\n", { status: 404 });
    });
    cleanups.push(() => origin.stop());
    const s = await server();
    expect(await finished(s, `${origin.url}/to-file`)).toMatchObject({ state: "failed", error: "redirect to a file url is not allowed" });
    expect(await finished(s, `${origin.url}/to-ftp`)).toMatchObject({ state: "failed", error: "redirect to a ftp url is not allowed" });
    expect(await finished(s, `${origin.url}/dir/rel`)).toMatchObject({ state: "completed" });
    expect(await (await fetch(blobUrl(s.url, `${origin.url}/dir/rel`))).text()).toBe("final\n");
  });

  test("204 and 304 from the origin are not artifacts: the job fails with the status, nothing is stored", async () => {
    const origin = startOrigin((req) => new Response(null, { status: new URL(req.url).pathname === "/nc" ? 204 : 304 }));
    cleanups.push(() => origin.stop());
    const s = await server();
    expect(await finished(s, `${origin.url}/nc`)).toMatchObject({ state: "failed", error: `origin answered 204 for ${origin.url}/nc`, attempts: 1 });
    expect(await finished(s, `${origin.url}/nm`)).toMatchObject({ state: "failed", error: `origin answered 304 for ${origin.url}/nm`, attempts: 1 });
    expect(s.running.ctx.store.metadata.totals().artifactCount).toBe(0);
  });

  test("more bytes than Content-Length are never cached as the artifact", async () => {
    const raw = startRawOrigin((c) => {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789EXTRA-BYTES");
      c.end();
    });
    cleanups.push(() => raw.stop());
    const s = await server({ fillAttempts: 1 });
    const key = `${raw.url}/over.bin`;
    const job = await finished(s, key);
    // Either the client stops at Content-Length (10 bytes stored) or the excess is detected.
    if (job.state === "completed") expect(s.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ sizeBytes: 10, sha256: sha256Hex("0123456789") });
    else expect(job.error).toContain("more than its content-length 10");
  });

  test("an origin that accepts the connection and never answers is given up after --origin-idle-timeout", async () => {
    const raw = startRawOrigin(() => {
      // Read the request, say nothing.
    });
    cleanups.push(() => raw.stop());
    const s = await server({ fillAttempts: 2, originIdleTimeoutMs: 200 });
    const job = await finished(s, `${raw.url}/silent.bin`);
    expect(job).toMatchObject({ state: "failed", attempts: 2, error: `origin sent no bytes for 200 ms for ${raw.url}/silent.bin` });
    expect(raw.connections.length).toBe(2);
  });

  test("signed query strings never reach job messages or logs, even on failure", async () => {
    const origin = startOrigin(() => new Response("denied\n", { status: 403 }));
    cleanups.push(() => origin.stop());
    const s = await server();
    const job = await finished(s, `${origin.url}/signed.bin?X-Amz-Signature=topsecret&token=hunter2`);
    expect(job.state).toBe("failed");
    expect(job.error).toBe(`origin answered 403 for ${origin.url}/signed.bin?…`);
    expect(s.logs.join("\n")).not.toMatch(/topsecret|hunter2/);
  });
});
