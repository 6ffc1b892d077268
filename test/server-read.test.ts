// The read path end to end: a real cache-host in process, a real origin on loopback, real curl.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { encodeToken } from "../src/core/token.ts";
import { blobUrl, makeTempDir, pollUntil, run, sha256Hex, startOrigin, startTestServer, type Origin, type TempDir, type TestServer, isStored } from "./helpers/index.ts";

const BODY = new Uint8Array(300_000).map((_, i) => (i * 7 + 3) % 251);
const BODY_SHA = sha256Hex(BODY);

let origin: Origin;
let cache: TestServer;
let work: TempDir;

beforeAll(async () => {
  origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/pkg/tool.tar.gz" || path === "/other/same-bytes.bin") {
      return new Response(BODY as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/gzip", etag: '"v1"' } });
    }
    if (path === "/named") return new Response("named\n", { headers: { "content-disposition": 'attachment; filename="real-name.txt"' } });
    return new Response("nope\n", { status: 404 });
  });
  cache = await startTestServer();
  work = makeTempDir("withcache-read-");
});

afterAll(async () => {
  await cache.stop();
  await origin.stop();
  work.cleanup();
});

async function fill(originUrl: string): Promise<void> {
  const first = await fetch(blobUrl(cache.url, originUrl));
  await first.text();
  await pollUntil(async () => await isStored(fetch(blobUrl(cache.url, originUrl), { method: "HEAD" })), { what: `fill of ${originUrl}` });
}

const headersOf = (r: Response): Record<string, string> => {
  const h = r.headers.toJSON();
  delete h.date;
  return h;
};

describe("miss → fill → hit", () => {
  test("first GET is a recorded miss, then the fill makes it a hit with the origin's bytes", async () => {
    const url = `${origin.url}/pkg/tool.tar.gz`;
    const miss = await fetch(blobUrl(cache.url, url));
    expect(miss.status).toBe(404);
    expect(await miss.text()).toBe("cache miss (recorded)\n");
    expect(cache.running.ctx.store.metadata.getMiss(`${origin.url}/pkg/tool.tar.gz`)).toMatchObject({ count: 1 });
    await pollUntil(() => cache.running.ctx.store.metadata.getArtifact(url), { what: "artifact row" });

    const out = join(work.path, "tool.tar.gz");
    const r = await run(["/usr/bin/curl", "-sS", "-f", "-D", join(work.path, "h.txt"), "-o", out, blobUrl(cache.url, url)]);
    expect(r.exitCode).toBe(0);
    expect(sha256Hex(readFileSync(out))).toBe(BODY_SHA);
    const headers = readFileSync(join(work.path, "h.txt"), "utf8").toLowerCase();
    expect(headers).toContain("http/1.1 200");
    expect(headers).toContain(`x-withcache-sha256: ${BODY_SHA}`);
    expect(headers).toContain(`etag: "${BODY_SHA}"`);
    expect(headers).toContain("content-type: application/gzip");
    expect(headers).toContain("accept-ranges: bytes");
    expect(headers).toContain(`content-length: ${BODY.length}`);
    expect(headers).toMatch(/last-modified: \w{3}, \d\d \w{3} \d{4}/);
    // Served from the UI's origin: a cached HTML page must not be able to script it.
    expect(headers).toContain("content-security-policy: default-src 'none'; sandbox");
    expect(headers).toContain("x-content-type-options: nosniff");
    const a = cache.running.ctx.store.metadata.getArtifact(url)!;
    expect(a).toMatchObject({ hits: 1, misses: 1, sizeBytes: BODY.length, sha256: BODY_SHA });
    expect(cache.running.ctx.store.metadata.getMiss(url)).toBeNull();
    expect(origin.hits.get("/pkg/tool.tar.gz")).toBe(1);
  });

  test("/blob?url= is the same lookup; HEAD has GET's headers and counts no hit", async () => {
    const url = `${origin.url}/pkg/tool.tar.gz`;
    await fill(url);
    const before = cache.running.ctx.store.metadata.getArtifact(url)!.hits;
    const viaQuery = `${cache.url}/blob?url=${encodeURIComponent(url)}`;
    const head = await fetch(viaQuery, { method: "HEAD" });
    const get = await fetch(viaQuery);
    const bytes = new Uint8Array(await get.arrayBuffer());
    expect(head.status).toBe(200);
    expect(get.status).toBe(200);
    expect(headersOf(head)).toEqual(headersOf(get));
    expect(sha256Hex(bytes)).toBe(BODY_SHA);
    expect(cache.running.ctx.store.metadata.getArtifact(url)!.hits).toBe(before + 1);
    const head2 = await fetch(blobUrl(cache.url, url), { method: "HEAD" });
    expect(headersOf(head2)).toEqual(headersOf(get));
    expect(cache.running.ctx.store.metadata.getArtifact(url)!.hits).toBe(before + 1);
  });

  test("two URLs with identical bytes share one blob; query strings share one key", async () => {
    await fill(`${origin.url}/pkg/tool.tar.gz`);
    await fill(`${origin.url}/other/same-bytes.bin`);
    const signed = await fetch(blobUrl(cache.url, `${origin.url}/pkg/tool.tar.gz?token=abc&expires=1`));
    expect(signed.status).toBe(200);
    await signed.arrayBuffer();
    const t = cache.running.ctx.store.metadata.totals();
    expect(t.bytes).toBe(BODY.length);
    expect(t.logicalBytes).toBe(2 * BODY.length);
  });

  test("the origin's content-disposition is replayed; without one curl -OJ keeps the url name", async () => {
    await fill(`${origin.url}/named`);
    const r = await run(["/usr/bin/curl", "-sS", "-f", "-O", "-J", blobUrl(cache.url, `${origin.url}/named`, "named")], { cwd: work.path });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(work.path, "real-name.txt"), "utf8")).toBe("named\n");
    const r2 = await run(["/usr/bin/curl", "-sS", "-f", "-O", "-J", blobUrl(cache.url, `${origin.url}/pkg/tool.tar.gz`)], { cwd: work.path });
    expect(r2.exitCode).toBe(0);
    expect(sha256Hex(readFileSync(join(work.path, "tool.tar.gz")))).toBe(BODY_SHA);
  });

  test("if-none-match → 304, no body, no hit", async () => {
    const url = `${origin.url}/pkg/tool.tar.gz`;
    await fill(url);
    const before = cache.running.ctx.store.metadata.getArtifact(url)!.hits;
    const r = await fetch(blobUrl(cache.url, url), { headers: { "if-none-match": `"${BODY_SHA}"` } });
    expect(r.status).toBe(304);
    expect(r.headers.get("etag")).toBe(`"${BODY_SHA}"`);
    expect((await r.arrayBuffer()).byteLength).toBe(0);
    const other = await fetch(blobUrl(cache.url, url), { headers: { "if-none-match": '"something-else"' } });
    expect(other.status).toBe(200);
    await other.arrayBuffer();
    expect(cache.running.ctx.store.metadata.getArtifact(url)!.hits).toBe(before + 1);
  });
});

describe("HEAD misses (the shims probe with HEAD)", () => {
  test("a HEAD miss is recorded and queues the fill, like a GET; the job log names the request", async () => {
    const url = `${origin.url}/other/same-bytes.bin?via=head`;
    const key = `${origin.url}/other/same-bytes.bin`;
    await cache.running.ctx.store.deleteArtifact(key);
    const before = cache.running.ctx.store.metadata.getMiss(key)?.count ?? 0;
    const r = await fetch(blobUrl(cache.url, url), { method: "HEAD" });
    expect(r.status).toBe(404);
    expect(cache.running.ctx.store.metadata.getMiss(key)?.count).toBe(before + 1);
    await pollUntil(() => cache.running.ctx.store.metadata.getArtifact(key), { what: "fill after HEAD miss" });
    const requestLine = cache.logs.findLast((l) => l.includes("method=HEAD") && l.includes(`key=${key}`) && l.includes("status=404"))!;
    const requestId = / id=([0-9a-f]+) /.exec(requestLine)![1];
    expect(cache.logs.some((l) => / job id=\d+ state=queued /.test(l) && l.includes(`request=${requestId}`))).toBe(true);
  });
});

/** Delete the blob file of `key`'s artifact behind the server's back; its sha256. */
function removeBlobOf(key: string): string {
  const sha = cache.running.ctx.store.metadata.getArtifact(key)!.sha256;
  rmSync(join(cache.dataDir, "blobs", sha.slice(0, 2), sha));
  return sha;
}

/** The miss refilled `key`, and `url` is a hit with the origin's bytes again. */
async function expectRefilled(url: string, key: string): Promise<void> {
  await pollUntil(() => cache.running.ctx.store.metadata.getArtifact(key), { what: "refill" });
  const r = await fetch(blobUrl(cache.url, url));
  expect(r.status).toBe(200);
  expect(sha256Hex(new Uint8Array(await r.arrayBuffer()))).toBe(BODY_SHA);
}

describe("a blob removed behind the server's back", () => {
  test("is noticed within a second: the row is dropped, the request is a miss and refills", async () => {
    const url = `${origin.url}/other/same-bytes.bin?lost=1`;
    const key = `${origin.url}/other/same-bytes.bin`;
    await fill(url);
    const shared = cache.running.ctx.store.metadata.countArtifactsWithSha(cache.running.ctx.store.metadata.getArtifact(key)!.sha256);
    const sha = removeBlobOf(key);
    await pollUntil(async () => (await fetch(blobUrl(cache.url, url), { method: "HEAD" })).status === 404, { what: "missing blob noticed", timeoutMs: 5000 });
    expect(cache.logs.some((l) => l.includes("blob-missing") && l.includes(sha))).toBe(true);
    await expectRefilled(url, key);
    expect(shared).toBeGreaterThan(0);
  });
});

describe("a blob removed right after a probe", () => {
  test("the download that follows never gets a 500: a GET looks at the blob itself, so it is a miss and refills", async () => {
    const url = `${origin.url}/other/same-bytes.bin?probed=1`;
    const key = `${origin.url}/other/same-bytes.bin`;
    await fill(url);
    expect((await fetch(blobUrl(cache.url, url), { method: "HEAD" })).status).toBe(200); // the probe
    removeBlobOf(key);
    const r = await fetch(blobUrl(cache.url, url)); // the tool's GET, well within a second
    expect(r.status).toBe(404);
    expect(await r.text()).toBe("cache miss (recorded)\n");
    await expectRefilled(url, key);
  });
});

describe("curate mode", () => {
  test("a miss is recorded but nothing is fetched until an operator queues it", async () => {
    const curated = await startTestServer({ curate: true });
    try {
      const url = `${origin.url}/pkg/tool.tar.gz?curated=1`;
      for (let i = 0; i < 3; i += 1) {
        const r = await fetch(blobUrl(curated.url, url));
        expect(r.status).toBe(404);
        expect(await r.text()).toBe("cache miss (recorded)\n");
      }
      const key = `${origin.url}/pkg/tool.tar.gz`;
      expect(curated.running.ctx.store.metadata.getMiss(key)).toMatchObject({ count: 3 });
      expect(curated.running.ctx.fills.listJobs()).toEqual([]);
      const queued = await curated.running.ctx.fills.enqueue(url, { source: "operator" });
      expect(queued.ok).toBe(true);
      await pollUntil(() => curated.running.ctx.store.metadata.getArtifact(key), { what: "operator fill" });
      expect(curated.running.ctx.store.metadata.getArtifact(key)).toMatchObject({ misses: 3, hits: 0, url });
      const hit = await fetch(blobUrl(curated.url, url));
      expect(hit.status).toBe(200);
      expect(sha256Hex(new Uint8Array(await hit.arrayBuffer()))).toBe(BODY_SHA);
    } finally {
      await curated.stop();
    }
  });
});

describe("--keep-query and --trust-proxy", () => {
  test("with --keep-query different queries are different artifacts; logs still hide the query", async () => {
    const s = await startTestServer({ keepQuery: true, trustProxy: true });
    try {
      const v1 = `${origin.url}/pkg/tool.tar.gz?v=1`;
      const v2 = `${origin.url}/pkg/tool.tar.gz?v=2`;
      for (const u of [v1, v2]) {
        await (await fetch(blobUrl(s.url, u), { headers: { "x-forwarded-for": "6.6.6.6, 10.9.8.7" } })).text();
        await pollUntil(() => s.running.ctx.store.metadata.getArtifact(u), { what: `fill of ${u}` });
      }
      expect(s.running.ctx.store.metadata.totals()).toMatchObject({ artifactCount: 2, bytes: BODY.length });
      expect(s.running.ctx.store.metadata.getArtifact(`${origin.url}/pkg/tool.tar.gz`)).toBeNull();
      expect(s.logs.join("\n")).not.toContain("v=1");
      // The entry the trusted proxy appended (last) is the client; a client-written first entry is not.
      expect(s.logs.some((l) => l.includes("client=10.9.8.7"))).toBe(true);
      expect(s.logs.some((l) => l.includes("client=6.6.6.6"))).toBe(false);
    } finally {
      await s.stop();
    }
  });
  test("without --trust-proxy X-Forwarded-For is ignored", async () => {
    await (await fetch(`${cache.url}/healthz`, { headers: { "x-forwarded-for": "10.1.1.1" } })).text();
    expect(cache.logs.some((l) => l.includes("client=10.1.1.1"))).toBe(false);
  });
});

describe("bad requests", () => {
  test("malformed tokens → 400 with a reason", async () => {
    for (const [token, reason] of [
      ["abc+def", "token is not url-safe base64"],
      ["abcde", "token has an impossible length for base64"],
      [encodeToken("not a url"), "is not an absolute url"],
    ] as const) {
      const r = await fetch(`${cache.url}/b/${token}/x`);
      expect(r.status).toBe(400);
      const text = await r.text();
      expect(text).toContain(reason);
      expect(text.startsWith("/b/<token>: ")).toBe(true);
      expect(text.endsWith("\n")).toBe(true);
    }
  });
  test("file:, ftp:, data: origins → 400 and nothing is recorded", async () => {
    for (const bad of ["file:///etc/passwd", "ftp://h/x", "data:text/plain,hi"]) {
      const r = await fetch(blobUrl(cache.url, bad, "x"));
      expect(r.status).toBe(400);
      expect(await r.text()).toContain("is not allowed; expected http or https");
      const q = await fetch(`${cache.url}/blob?url=${encodeURIComponent(bad)}`);
      expect(q.status).toBe(400);
      await q.text();
    }
    expect(cache.running.ctx.store.metadata.listMisses().some((m) => !m.url.startsWith("http"))).toBe(false);
  });
  test("oversize urls → 414", async () => {
    const long = `${origin.url}/${"a".repeat(9000)}`;
    const r = await fetch(blobUrl(cache.url, long, "x"));
    expect(r.status).toBe(414);
    expect(await r.text()).toContain("url is longer than 8192 bytes");
    const r2 = await fetch(`${cache.url}/blob?url=${encodeURIComponent(long)}`);
    expect(r2.status).toBe(414);
    await r2.text();
    const r3 = await fetch(`${cache.url}/b/${"A".repeat(15_500)}/x`);
    expect(r3.status).toBe(414);
    expect(await r3.text()).toContain("request target is longer than");
    // Past ~16 KiB of request head Bun itself answers 431 before our code runs.
    const r4 = await fetch(`${cache.url}/b/${"A".repeat(40_000)}/x`);
    expect([414, 431]).toContain(r4.status);
    await r4.text();
  });
  test("unknown path → 404, wrong method → 405 with Allow, missing url → 400, big body → 413", async () => {
    const r = await fetch(`${cache.url}/nope`);
    expect(r.status).toBe(404);
    expect(await r.text()).toBe('not found: "/nope"\n');
    const p = await fetch(blobUrl(cache.url, `${origin.url}/pkg/tool.tar.gz`), { method: "POST", body: "x" });
    expect(p.status).toBe(405);
    expect(p.headers.get("allow")).toBe("GET, HEAD");
    await p.text();
    const d = await fetch(`${cache.url}/healthz`, { method: "DELETE" });
    expect(d.status).toBe(405);
    await d.text();
    const m = await fetch(`${cache.url}/blob`);
    expect(m.status).toBe(400);
    expect(await m.text()).toContain("missing url parameter");
    const huge = await fetch(`${cache.url}/login`, { method: "POST", body: new Uint8Array(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
  });
  test("nothing in the data dir is reachable over http", async () => {
    for (const p of ["/withcache.db", "/data/withcache.db", "/blobs/", "/../withcache.db", "/static/../withcache.db", "/b/../withcache.db"]) {
      const r = await run(["/usr/bin/curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", `${cache.url}${p}`]);
      expect(["400", "404"]).toContain(r.stdout);
    }
  });
  test("healthz answers ok with the version, json when asked", async () => {
    const t = await fetch(`${cache.url}/healthz`);
    expect(t.status).toBe(200);
    expect(await t.text()).toMatch(/^ok \d+\.\d+\.\d+/);
    const j = await fetch(`${cache.url}/healthz`, { headers: { accept: "application/json" } });
    expect(await j.json()).toMatchObject({ status: "ok", mode: "auto" });
  });
  test("an unexpected failure answers 500 internal error (request <id>) and logs the details", async () => {
    const broken = await startTestServer();
    try {
      await broken.running.ctx.store.metadata.close(); // the database goes away under a live server
      const r = await fetch(blobUrl(broken.url, `${origin.url}/pkg/tool.tar.gz`));
      expect(r.status).toBe(500);
      const body = await r.text();
      const id = /^internal error \(request ([0-9a-f]+)\)\n$/.exec(body)?.[1];
      expect(id).toBeDefined();
      expect(body).not.toContain("at ");
      expect(broken.logs.some((l) => l.includes("internal-error") && l.includes(`request=${id}`))).toBe(true);
    } finally {
      await broken.stop();
    }
  });
  test("log lines never carry the origin query or the token", async () => {
    await fetch(blobUrl(cache.url, `${origin.url}/pkg/tool.tar.gz?token=SECRET123`)).then((r) => r.arrayBuffer());
    await fetch(`${cache.url}/blob?url=${encodeURIComponent(`${origin.url}/x?token=SECRET456`)}`).then((r) => r.arrayBuffer());
    const all = cache.logs.join("\n");
    expect(all).not.toContain("SECRET");
    expect(all).not.toContain(encodeToken(`${origin.url}/pkg/tool.tar.gz?token=SECRET123`));
    expect(all).toContain("method=GET path=/b/…");
  });
});
