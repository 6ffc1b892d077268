// The read path against a hostile or unlucky client: credentials in URLs, odd tokens and
// queries, conditionals and ranges on the edges (empty artifact, If-Modified-Since), a delete
// while a client downloads, and floods of unique misses (the queue and the misses are capped).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { encodeToken } from "../src/core/token.ts";
import { blobUrl, fillThroughCache, pollUntil, sha256Hex, startOrigin, startTestServer, type Origin, type TestServer } from "./helpers/index.ts";

const BIG = new Uint8Array(24 * 1024 * 1024).map((_, i) => (i * 13 + 5) % 253);

let origin: Origin;
let cache: TestServer;

beforeAll(async () => {
  origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/empty.bin") return new Response(new Uint8Array(0), { headers: { "content-type": "application/octet-stream" } });
    if (path === "/small.txt") return new Response("0123456789\n", { headers: { "content-type": "text/plain" } });
    if (path === "/big.bin") return new Response(BIG as Uint8Array<ArrayBuffer>);
    return new Response("nope\n", { status: 404 });
  });
  cache = await startTestServer();
});

afterAll(async () => {
  await cache.stop();
  await origin.stop();
});

const fill = (originUrl: string): Promise<void> => fillThroughCache(cache.url, originUrl, { timeoutMs: 15_000 });

const headersOf = (r: Response): Record<string, string> => {
  const h = r.headers.toJSON();
  delete h.date;
  return h;
};

describe("hostile urls", () => {
  test("a url with credentials is refused (400) by token and by /blob, nothing is recorded or logged", async () => {
    const secretUrl = `${origin.url.replace("http://", "http://alice:s3cret@")}/small.txt`;
    for (const [u, where] of [
      [`${cache.url}/b/${encodeToken(secretUrl)}/small.txt`, "/b/<token>"],
      [`${cache.url}/blob?url=${encodeURIComponent(secretUrl)}`, "/blob?url="],
    ] as const) {
      const r = await fetch(u);
      expect(r.status).toBe(400);
      expect(await r.text()).toBe(`${where}: url carries credentials (user:password@); they are never stored, so such a url is not cached\n`);
    }
    expect(cache.running.ctx.store.metadata.listMisses().filter((m) => m.url.includes("alice"))).toEqual([]);
    expect(cache.running.ctx.fills.listJobs().filter((j) => j.url.includes("alice"))).toEqual([]);
    expect(cache.logs.join("\n")).not.toContain("s3cret");
    expect(cache.logs.join("\n")).not.toContain(encodeToken(secretUrl));
  });

  test("/blob?url= given twice is ambiguous → 400; empty → 400", async () => {
    const twice = await fetch(`${cache.url}/blob?url=${encodeURIComponent(`${origin.url}/a`)}&url=${encodeURIComponent(`${origin.url}/b`)}`);
    expect(twice.status).toBe(400);
    expect(await twice.text()).toBe("/blob: url parameter given more than once; expected exactly one\n");
    expect((await fetch(`${cache.url}/blob?url=`)).status).toBe(400);
  });

  test("/blob?url= with an unencoded url keeps its own & + and %xx: the fill asks the origin for exactly that url", async () => {
    const seen: string[] = [];
    const signed = startOrigin((req) => {
      const u = new URL(req.url);
      seen.push(u.pathname + u.search);
      const ok = u.pathname === "/a+b%20c.run" && u.search === "?Expires=1&Signature=x+y/z";
      return ok ? new Response("signed bytes\n") : new Response("bad signature\n", { status: 403 });
    });
    try {
      const typed = `${signed.url}/a+b%20c.run?Expires=1&Signature=x+y/z`;
      const miss = await fetch(`${cache.url}/blob?url=${typed}`);
      expect(miss.status).toBe(404);
      await miss.text();
      const key = `${signed.url}/a+b%20c.run`;
      await pollUntil(() => cache.running.ctx.store.metadata.getArtifact(key), { what: "fill of the typed url" });
      expect(seen).toEqual(["/a+b%20c.run?Expires=1&Signature=x+y/z"]);
      // The same url percent-encoded as one parameter is the same artifact.
      const hit = await fetch(`${cache.url}/blob?url=${encodeURIComponent(typed)}`);
      expect(hit.status).toBe(200);
      expect(await hit.text()).toBe("signed bytes\n");
    } finally {
      await signed.stop();
    }
  });

  test("padded tokens, no name, and odd names reach the same artifact; an empty token is 400", async () => {
    const u = `${origin.url}/small.txt`;
    await fill(u);
    const token = encodeToken(u);
    const padded = token + "=".repeat((4 - (token.length % 4)) % 4);
    for (const path of [`/b/${padded}/small.txt`, `/b/${token}`, `/b/${token}/`, `/b/${token}/a%00b`, `/b/${token}/${"n".repeat(3000)}`]) {
      const r = await fetch(cache.url + path);
      expect({ path: path.slice(0, 60), status: r.status, body: await r.text() }).toEqual({ path: path.slice(0, 60), status: 200, body: "0123456789\n" });
    }
    // Dot segments (also as %2e%2e) are resolved by the URL parser before routing, as in any
    // WHATWG URL: they can climb out of /b/ but only into other routes, never into the data dir.
    const climbed = await fetch(`${cache.url}/b/${token}/%2e%2e/%2e%2e/withcache.db`);
    expect(climbed.status).toBe(404);
    expect(await climbed.text()).toBe('not found: "/withcache.db"\n');
    const empty = await fetch(`${cache.url}/b//small.txt`);
    expect(empty.status).toBe(400);
    expect(await empty.text()).toBe("/b/<token>: token is empty\n");
  });
});

describe("logs", () => {
  test("no Authorization, Cookie, token or query in any log line, on hits, misses and errors", async () => {
    const u = `${origin.url}/small.txt`;
    await fill(u);
    const secretHeaders = { authorization: "Bearer tok-AUTHSECRET", cookie: "session=COOKIESECRET" };
    const signed = `${origin.url}/small.txt?sig=QUERYSECRET`;
    const missSigned = `${origin.url}/absent.bin?sig=QUERYSECRET`;
    const targets = [blobUrl(cache.url, signed), blobUrl(cache.url, missSigned), `${cache.url}/blob?url=${encodeURIComponent(signed)}`, `${cache.url}/b/!!QUERYSECRET/x`, `${cache.url}/nope?x=QUERYSECRET`, `${cache.url}//b/${encodeToken(signed)}/x`, `${cache.url}/B/${encodeToken(signed)}/x`];
    for (const t of targets) for (const method of ["GET", "HEAD", "POST"]) await (await fetch(t, { method, headers: secretHeaders })).arrayBuffer();
    await pollUntil(() => cache.running.ctx.fills.listJobs().some((j) => j.key === `${origin.url}/absent.bin` && j.state === "failed"), { what: "failed fill of the absent url" });
    const all = cache.logs.join("\n");
    expect(all).toContain("/absent.bin?…");
    for (const secret of ["AUTHSECRET", "COOKIESECRET", "QUERYSECRET", encodeToken(signed)]) expect(all).not.toContain(secret);
    const job = cache.running.ctx.fills.listJobs().find((j) => j.key === `${origin.url}/absent.bin`)!;
    expect(job.error).toBe(`origin answered 404 for ${origin.url}/absent.bin?…`);
  });
});

describe("conditionals and ranges at the edges", () => {
  test("If-Modified-Since: not modified since → 304 (HEAD the same); older date → 200; If-None-Match wins", async () => {
    const u = `${origin.url}/small.txt`;
    await fill(u);
    const a = cache.running.ctx.store.metadata.getArtifact(u)!;
    const later = new Date(a.fetchedAtMs + 5000).toUTCString();
    const earlier = new Date(a.fetchedAtMs - 86_400_000).toUTCString();
    const get = await fetch(blobUrl(cache.url, u), { headers: { "if-modified-since": later } });
    const head = await fetch(blobUrl(cache.url, u), { method: "HEAD", headers: { "if-modified-since": later } });
    expect(get.status).toBe(304);
    expect(await get.text()).toBe("");
    expect(headersOf(head)).toEqual(headersOf(get));
    expect(get.headers.get("etag")).toBe(`"${a.sha256}"`);
    expect((await fetch(blobUrl(cache.url, u), { headers: { "if-modified-since": earlier } })).status).toBe(200);
    // RFC 9110 §13.1.3: with If-None-Match present, If-Modified-Since is ignored.
    expect((await fetch(blobUrl(cache.url, u), { headers: { "if-modified-since": later, "if-none-match": '"other"' } })).status).toBe(200);
    expect((await fetch(blobUrl(cache.url, u), { headers: { "if-none-match": `"x", "${a.sha256}"` } })).status).toBe(304);
    expect((await fetch(blobUrl(cache.url, u), { headers: { "if-none-match": "*" } })).status).toBe(304);
    expect((await fetch(blobUrl(cache.url, u), { headers: { "if-modified-since": "not a date" } })).status).toBe(200);
  });

  test("a 206 carries every hit header; bytes=0-0 and bytes=-0; If-Range with the Last-Modified date", async () => {
    const u = `${origin.url}/small.txt`;
    await fill(u);
    const a = cache.running.ctx.store.metadata.getArtifact(u)!;
    const r = await fetch(blobUrl(cache.url, u), { headers: { range: "bytes=0-0" } });
    expect(r.status).toBe(206);
    expect(await r.text()).toBe("0");
    expect(r.headers.get("content-range")).toBe("bytes 0-0/11");
    for (const h of ["etag", "last-modified", "x-withcache-sha256", "content-security-policy", "x-content-type-options", "accept-ranges"]) expect(r.headers.get(h)).not.toBeNull();
    expect(r.headers.get("content-type")).toBe("text/plain");
    const zero = await fetch(blobUrl(cache.url, u), { headers: { range: "bytes=-0" } });
    expect(zero.status).toBe(416);
    expect(zero.headers.get("content-range")).toBe("bytes */11");
    const lm = new Date(a.fetchedAtMs).toUTCString();
    const viaDate = await fetch(blobUrl(cache.url, u), { headers: { range: "bytes=5-", "if-range": lm } });
    expect(viaDate.status).toBe(206);
    expect(await viaDate.text()).toBe("56789\n");
    const staleDate = await fetch(blobUrl(cache.url, u), { headers: { range: "bytes=5-", "if-range": new Date(a.fetchedAtMs - 60_000).toUTCString() } });
    expect(staleDate.status).toBe(200);
    expect(await staleDate.text()).toBe("0123456789\n");
  });

  test("an empty artifact: 200 with length 0; any range is 416 bytes */0; HEAD matches GET", async () => {
    const u = `${origin.url}/empty.bin`;
    await fill(u);
    const get = await fetch(blobUrl(cache.url, u));
    expect(get.status).toBe(200);
    expect(get.headers.get("content-length")).toBe("0");
    expect(get.headers.get("x-withcache-sha256")).toBe(sha256Hex(""));
    expect(await get.text()).toBe("");
    for (const range of ["bytes=0-", "bytes=-1", "bytes=0-0"]) {
      const g = await fetch(blobUrl(cache.url, u), { headers: { range } });
      const h = await fetch(blobUrl(cache.url, u), { method: "HEAD", headers: { range } });
      expect(g.status).toBe(416);
      expect(g.headers.get("content-range")).toBe("bytes */0");
      await g.text();
      expect(headersOf(h)).toEqual(headersOf(g));
    }
  });
});

describe("concurrency", () => {
  test("deleting an artifact while a client downloads it: the download completes with the right bytes", async () => {
    const u = `${origin.url}/big.bin`;
    await fill(u);
    const a = cache.running.ctx.store.metadata.getArtifact(u)!;
    const r = await fetch(blobUrl(cache.url, u));
    const reader = r.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(await cache.running.ctx.store.deleteArtifact(u)).toMatchObject({ deleted: true });
    expect(await cache.running.ctx.store.deleteArtifact(u)).toEqual({ deleted: false, freedBytes: 0 });
    expect(existsSync(`${cache.dataDir}/blobs/${a.sha256.slice(0, 2)}/${a.sha256}`)).toBe(false);
    const hasher = new Bun.CryptoHasher("sha256").update(first.value!);
    let n = first.value!.byteLength;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hasher.update(value);
      n += value.byteLength;
    }
    expect(n).toBe(BIG.byteLength);
    expect(hasher.digest("hex")).toBe(a.sha256);
    // The next request is a miss again.
    expect((await fetch(blobUrl(cache.url, u), { method: "HEAD" })).status).toBe(404);
  });
});

describe("many clients missing one url at once", () => {
  test("exactly one fill, one origin request; every miss's log line names that job; then all hits carry the bytes", async () => {
    let answer!: () => void;
    const dns = new Promise<void>((r) => (answer = r));
    let lookups = 0;
    const s = await startTestServer(
      { allowPrivateOrigins: false },
      { start: { resolve: async () => (lookups++, await dns, ["127.0.0.1"]), addressAllowed: (ip) => ip === "127.0.0.1" } },
    );
    try {
      const url = (i: number) => `http://mirror.test:${origin.port}/small.txt?sig=${i}`;
      const key = `http://mirror.test:${origin.port}/small.txt`;
      const clients = 40;
      // Every client's check is held at DNS, so all of them pass the "already queued?" test first.
      const answers = await Promise.all(Array.from({ length: clients }, (_, i) => fetch(blobUrl(s.url, url(i)), { method: i % 2 === 0 ? "GET" : "HEAD" }).then(async (r) => (await r.text(), r.status))));
      expect(answers).toEqual(new Array(clients).fill(404));
      await pollUntil(() => lookups === clients, { what: `${clients} lookups waiting` });
      answer();
      await pollUntil(() => s.running.ctx.store.metadata.getArtifact(key), { what: "the one fill" });
      expect(s.running.ctx.fills.listJobs().filter((j) => j.key === key).map((j) => j.state)).toEqual(["completed"]);
      expect(origin.requests.filter((r) => r.path === "/small.txt" && r.headers.host === `mirror.test:${origin.port}`).length).toBe(1);
      const lines = await pollUntil(() => {
        const l = s.logs.filter((x) => / request id=/.test(x) && x.includes(`key=${key}`) && x.includes("status=404"));
        return l.length === clients ? l : null;
      }, { what: "every miss's request line" });
      const jobId = s.running.ctx.fills.listJobs().find((j) => j.key === key)!.id;
      for (const line of lines) expect(line).toEndWith(` result=miss-fill job=${jobId}`);
      const hits = await Promise.all(Array.from({ length: clients }, (_, i) => fetch(blobUrl(s.url, url(i))).then(async (r) => `${r.status} ${await r.text()}`)));
      expect(new Set(hits)).toEqual(new Set(["200 0123456789\n"]));
    } finally {
      answer();
      await s.stop();
    }
  });
});

describe("floods of unique misses", () => {
  test("the auto-fill queue is capped: misses past it are recorded but not queued; operators are not capped", async () => {
    const s = await startTestServer({}, { start: { startFills: false, maxQueuedAutoJobs: 3 } });
    try {
      for (let i = 0; i < 8; i += 1) {
        const r = await fetch(blobUrl(s.url, `${origin.url}/flood-${i}.bin`));
        expect(r.status).toBe(404);
        await r.text();
      }
      await pollUntil(() => s.running.ctx.store.metadata.listMisses().length === 8, { what: "8 misses" });
      await pollUntil(() => s.logs.filter((l) => l.includes(" queue-full ")).length === 5, { what: "5 queue-full lines" });
      expect(s.running.ctx.fills.listJobs({ states: ["queued"] }).length).toBe(3);
      const operator = await s.running.ctx.fills.enqueue(`${origin.url}/operator.bin`, { source: "operator" });
      expect(operator.ok).toBe(true);
      const refused = await s.running.ctx.fills.enqueue(`${origin.url}/flood-9.bin`, { source: "auto" });
      expect(refused).toMatchObject({ ok: false, status: 503, message: expect.stringContaining("the fill queue is full (4 jobs queued)") });
    } finally {
      await s.stop();
    }
  });

  test("automatic enqueues waiting on DNS are capped too (a flood of unique hosts)", async () => {
    let answer!: () => void;
    const dns = new Promise<void>((r) => (answer = r));
    const s = await startTestServer({ allowPrivateOrigins: false }, { start: { resolve: async () => (await dns, ["127.0.0.1"]) } });
    try {
      for (let i = 0; i < 70; i += 1) await (await fetch(blobUrl(s.url, `http://host-${i}.example/x.bin`), { method: "HEAD" })).text();
      await pollUntil(() => s.logs.filter((l) => l.includes(" queue-full ") && l.includes("checking=64")).length === 6, { what: "6 refusals at 64 lookups" });
      expect(s.running.ctx.store.metadata.listMisses().length).toBe(70);
    } finally {
      answer();
      await s.stop();
    }
  });

  test("recorded misses are capped: the least recently seen are pruned", async () => {
    const s = await startTestServer({ curate: true }, { start: { storeLimits: { missesMax: 10 } } });
    try {
      for (let i = 0; i < 1100; i += 1) await (await fetch(blobUrl(s.url, `${origin.url}/m-${i}.bin`), { method: "HEAD" })).text();
      const misses = s.running.ctx.store.metadata.listMisses({ limit: 10_000 });
      // Pruned every 1024 inserts down to the cap: never more than cap + 1024.
      expect(misses.length).toBeLessThan(1100 - 1000);
      expect(misses.length).toBeGreaterThanOrEqual(10);
      expect(misses.some((m) => m.url.endsWith("/m-1099.bin"))).toBe(true);
      expect(misses.some((m) => m.url.endsWith("/m-0.bin"))).toBe(false);
    } finally {
      await s.stop();
    }
  });
});
