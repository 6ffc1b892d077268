// Ranges and resumes against a hit: every Range case, If-Range, and real `curl -C -` / `wget -c`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blobUrl, makeTempDir, pollUntil, run, sha256Hex, startOrigin, startTestServer, type Origin, type TempDir, type TestServer } from "./helpers/index.ts";

const SIZE = 1_000_000;
const BODY = new Uint8Array(SIZE).map((_, i) => (i * 13 + 5) % 253);
const SHA = sha256Hex(BODY);

let origin: Origin;
let cache: TestServer;
let work: TempDir;
let url: string;
let originUrl: string;

beforeAll(async () => {
  origin = startOrigin(() => new Response(BODY as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/x-test" } }));
  cache = await startTestServer();
  work = makeTempDir("withcache-range-");
  originUrl = `${origin.url}/dist/big.bin`;
  url = blobUrl(cache.url, originUrl);
  await fetch(url).then((r) => r.arrayBuffer());
  await pollUntil(() => cache.running.ctx.store.metadata.getArtifact(originUrl), { what: "fill" });
});

afterAll(async () => {
  await cache.stop();
  await origin.stop();
  work.cleanup();
});

const hits = (): number => cache.running.ctx.store.metadata.getArtifact(originUrl)!.hits;

async function get(headers: Record<string, string>, method = "GET"): Promise<{ status: number; headers: Headers; bytes: Uint8Array }> {
  const r = await fetch(url, { headers, method });
  return { status: r.status, headers: r.headers, bytes: new Uint8Array(await r.arrayBuffer()) };
}

describe("Range", () => {
  test("bytes=a-b, a-, -n → 206 with Content-Range and the right bytes", async () => {
    const cases: Array<[string, number, number]> = [
      ["bytes=0-9", 0, 9],
      ["bytes=100-199", 100, 199],
      ["bytes=999990-", 999_990, 999_999],
      ["bytes=-5", 999_995, 999_999],
      ["bytes=999990-5000000", 999_990, 999_999],
      ["bytes=-5000000", 0, 999_999],
    ];
    for (const [range, start, end] of cases) {
      const r = await get({ range });
      expect(r.status).toBe(206);
      expect(r.headers.get("content-range")).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(r.headers.get("content-length")).toBe(String(end - start + 1));
      expect(r.headers.get("x-withcache-sha256")).toBe(SHA);
      expect(Buffer.from(r.bytes).equals(Buffer.from(BODY.subarray(start, end + 1)))).toBe(true);
    }
  });
  test("unsatisfiable → 416 with bytes */size", async () => {
    for (const range of ["bytes=1000000-", "bytes=2000000-3000000", "bytes=-0"]) {
      const r = await get({ range });
      expect(r.status).toBe(416);
      expect(r.headers.get("content-range")).toBe(`bytes */${SIZE}`);
    }
  });
  test("malformed, multiple or foreign-unit ranges → full 200", async () => {
    for (const range of ["bytes=abc", "bytes=0-1,5-6", "items=0-1", "bytes=9-2"]) {
      const r = await get({ range });
      expect(r.status).toBe(200);
      expect(r.bytes.length).toBe(SIZE);
    }
  });
  test("two Range lines: what is sent, logged and counted all follow the first line", async () => {
    const { port, pathname } = new URL(url);
    const exchange = (rangeLines: string[]) =>
      new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const timer = setTimeout(() => reject(new Error("no close within 5 s")), 5000);
        void Bun.connect({
          hostname: "127.0.0.1",
          port: Number(port),
          socket: {
            open: (sock) => void sock.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\n${rangeLines.map((l) => `Range: ${l}\r\n`).join("")}Connection: close\r\n\r\n`),
            data: (_sock, chunk) => void chunks.push(Buffer.from(chunk)),
            close: () => {
              clearTimeout(timer);
              resolve(Buffer.concat(chunks));
            },
          },
        });
      });
    const split = (raw: Buffer) => {
      const end = raw.indexOf("\r\n\r\n");
      return { head: raw.subarray(0, end).toString("latin1"), body: raw.subarray(end + 4) };
    };
    const before = hits();
    const partial = split(await exchange(["bytes=10-19", "bytes=30-39"]));
    expect(partial.head.split("\r\n")[0]).toBe("HTTP/1.1 206 Partial Content");
    expect(partial.head.toLowerCase()).toContain(`content-range: bytes 10-19/${SIZE}`);
    expect(Buffer.from(partial.body).equals(Buffer.from(BODY.subarray(10, 20)))).toBe(true);
    const unsatisfiable = split(await exchange([`bytes=${SIZE}-`, "bytes=0-9"]));
    expect(unsatisfiable.head.split("\r\n")[0]).toBe("HTTP/1.1 416 Range Not Satisfiable");
    expect(unsatisfiable.head.toLowerCase()).toContain(`content-range: bytes */${SIZE}`);
    expect(unsatisfiable.body.toString()).toBe(`range not satisfiable; the artifact is ${SIZE} bytes\n`);
    // A resume-like first line (not from byte 0) counts no hit, whatever the log said before.
    expect(hits()).toBe(before);
    const lines = await pollUntil(() => {
      const l = cache.logs.filter((x) => / request id=/.test(x) && x.includes("method=GET")).slice(-2);
      return l.length === 2 && l[1]!.includes("status=416") ? l : null;
    }, { what: "both request lines" });
    expect(lines[0]).toContain("status=206 bytes=10 ");
    expect(lines[1]).toContain("status=416 bytes=0 ");
  });

  test("If-Range: current validator → 206, stale → full 200", async () => {
    const lastModified = (await get({}, "HEAD")).headers.get("last-modified")!;
    expect((await get({ range: "bytes=0-9", "if-range": `"${SHA}"` })).status).toBe(206);
    expect((await get({ range: "bytes=0-9", "if-range": lastModified })).status).toBe(206);
    const stale = await get({ range: "bytes=0-9", "if-range": '"0000"' });
    expect(stale.status).toBe(200);
    expect(sha256Hex(stale.bytes)).toBe(SHA);
    const staleDate = await get({ range: "bytes=0-9", "if-range": "Mon, 01 Jan 2001 00:00:00 GMT" });
    expect(staleDate.status).toBe(200);
    expect(staleDate.bytes.length).toBe(SIZE);
  });
  test("HEAD with a Range has the GET's headers (206 and 416)", async () => {
    const strip = (x: Headers): Record<string, string> => {
      const o = x.toJSON();
      delete o.date;
      return o;
    };
    for (const [range, status] of [["bytes=10-19", 206], ["bytes=5000000-", 416]] as const) {
      const g = await get({ range });
      const h = await get({ range }, "HEAD");
      expect(h.status).toBe(status);
      expect(h.bytes.length).toBe(0);
      expect(strip(h.headers)).toEqual(strip(g.headers));
    }
  });
  test("a range from byte 0 counts a hit, a resume from later does not", async () => {
    const before = hits();
    await get({ range: "bytes=500-" });
    await get({ range: "bytes=-10" });
    expect(hits()).toBe(before);
    await get({ range: "bytes=0-99" });
    expect(hits()).toBe(before + 1);
    await get({}, "HEAD");
    expect(hits()).toBe(before + 1);
  });
});

describe("resume with real clients", () => {
  test("curl -C - completes a partial file", async () => {
    const out = join(work.path, "curl-partial.bin");
    writeFileSync(out, BODY.subarray(0, 123_457));
    const before = hits();
    const r = await run(["/usr/bin/curl", "-sS", "-f", "-C", "-", "-o", out, url]);
    expect(r.exitCode).toBe(0);
    expect(sha256Hex(readFileSync(out))).toBe(SHA);
    expect(hits()).toBe(before);
  });
  test("wget -c completes a partial file", async () => {
    const dir = makeTempDir("withcache-wget-");
    try {
      const out = join(dir.path, "big.bin");
      writeFileSync(out, BODY.subarray(0, 654_321));
      const r = await run(["/usr/bin/wget", "-q", "-c", "-O", out, url], { cwd: dir.path });
      expect(r.exitCode).toBe(0);
      expect(sha256Hex(readFileSync(out))).toBe(SHA);
      // bare `wget -c` with the saved name from the url, too
      const again = await run(["/usr/bin/wget", "-q", "-c", url], { cwd: dir.path });
      expect(again.exitCode).toBe(0);
      expect(sha256Hex(readFileSync(out))).toBe(SHA);
    } finally {
      dir.cleanup();
    }
  });
  test("resuming a complete file behaves as against an origin (416: curl 0, wget 0)", async () => {
    const out = join(work.path, "curl-full.bin");
    writeFileSync(out, BODY);
    const r = await run(["/usr/bin/curl", "-sS", "-C", "-", "-o", out, url]);
    expect(r.exitCode).toBe(0);
    expect(sha256Hex(readFileSync(out))).toBe(SHA);
    const w = await run(["/usr/bin/wget", "-c", "-O", out, url]);
    expect(w.exitCode).toBe(0);
    expect(w.stderr).toContain("already fully retrieved");
    expect(sha256Hex(readFileSync(out))).toBe(SHA);
  });
});
