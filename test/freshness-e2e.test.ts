// Freshness end to end: real curl and wget, through the compiled TypeScript shim and the Zig
// shim, against the real cache-host and an origin on loopback whose bytes and headers change
// while the test runs. Lifetimes are short (max-age=1) and the tests wait them out.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { blobUrl, makeTempDir, pollUntil, startTestServer, type TempDir, type TestServer } from "./helpers/index.ts";
import { fetchWith, filled as filledIn, mutableOrigin, SHIM_VIAS, text, TOOLS, type MutableOrigin, type Via } from "./freshness-support.ts";
import { compileShim, type ShimBin } from "./shim-support.ts";
import { buildZigShim, zigShimDir, type ZigShims } from "./zig-support.ts";

let ts: ShimBin;
let zig: ZigShims;
let origin: MutableOrigin;
let cache: TestServer;
let work: TempDir;

/** A lifetime of 1 s is over after this wait. */
const PAST_LIFETIME_MS = 1500;

beforeAll(async () => {
  buildZigShim();
  zig = zigShimDir();
  ts = await compileShim();
  work = makeTempDir("withcache-fresh-e2e-");
  origin = mutableOrigin();
  cache = await startTestServer({ rules: ["**/imm/**=immutable", "**/never/**=never"] });
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await origin?.stop();
  work?.cleanup();
  ts?.cleanup();
  zig?.cleanup();
});

function run(via: Via, tool: "curl" | "wget", url: string, server: TestServer = cache) {
  return fetchWith({ via, tool, url, shimDirs: { ts: ts.shimDir, zig: zig.shimDir }, cacheUrl: server.url, home: work.path });
}

/** Every shim × tool combination. */
const COMBOS = SHIM_VIAS.flatMap((via) => TOOLS.map((tool) => ({ via, tool })));
const filled = (url: string, server: TestServer = cache) => filledIn(server, url);

describe("a URL that changes upstream", () => {
  test("latest.txt: cached bytes while fresh, the origin's new bytes once the lifetime is over, through both shims and both tools", async () => {
    const url = `${origin.url}/latest.txt`;
    origin.files.set("/latest.txt", { body: "v1\n", headers: { "cache-control": "max-age=1", etag: '"v1"' } });
    await filled(url);
    const before = origin.seenOf("/latest.txt").length;
    for (const { via, tool } of COMBOS) expect({ via, tool, out: text(await run(via, tool, url)) }).toEqual({ via, tool, out: "v1\n" });
    // All four came from the cache (the lifetime had not run out).
    expect(origin.seenOf("/latest.txt").length).toBe(before);

    origin.files.set("/latest.txt", { body: "v2 is longer\n", headers: { "cache-control": "max-age=1", etag: '"v2"' } });
    await Bun.sleep(PAST_LIFETIME_MS);
    expect(text(await run("plain", "curl", url))).toBe("v2 is longer\n");
    for (const { via, tool } of COMBOS) expect({ via, tool, out: text(await run(via, tool, url)) }).toEqual({ via, tool, out: "v2 is longer\n" });
    // The cache now holds v2 (the revalidation refilled it); v1 is gone from the row.
    const row = cache.running.ctx.store.metadata.getArtifact(url);
    expect(row).toMatchObject({ sizeBytes: 13, superseded: false, revalidation: "changed" });
  }, 60_000);

  test("no-store and Set-Cookie answers: every run equals the origin's answer and nothing is stored", async () => {
    let n = 0;
    for (const [path, headers] of [["/nostore.txt", { "cache-control": "no-store" }], ["/cookie.txt", { "set-cookie": "s=1; Path=/" }]] as const) {
      const url = `${origin.url}${path}`;
      origin.files.set(path, { body: "first\n", headers });
      await fetch(blobUrl(cache.url, url), { method: "HEAD" });
      await pollUntil(() => cache.running.ctx.store.metadata.uncacheableMark(url), { what: `${path} marked uncacheable` });
      for (const { via, tool } of COMBOS) {
        n += 1;
        origin.files.set(path, { body: `answer ${n}\n`, headers });
        const seenBefore = origin.seenOf(path).length;
        expect({ via, tool, out: text(await run(via, tool, url)) }).toEqual({ via, tool, out: `answer ${n}\n` });
        expect(origin.seenOf(path).length).toBe(seenBefore + 1);
      }
      expect(cache.running.ctx.store.metadata.getArtifact(url)).toBeNull();
      // The uncacheable answer's body was never read: the fill aborted after the headers.
      const mark = cache.running.ctx.store.metadata.uncacheableMark(url)!;
      expect(mark.reason).toBe(path === "/nostore.txt" ? "origin sent cache-control: no-store" : "origin sent set-cookie");
    }
  }, 60_000);
});

describe("revalidation", () => {
  test("a stale artifact answered 304 is a hit: one conditional request, no body bytes, per shim run", async () => {
    const body = "x".repeat(200_000);
    const url = `${origin.url}/cond.bin`;
    origin.files.set("/cond.bin", { body, headers: { "cache-control": "max-age=1", etag: '"c1"' } });
    await filled(url);
    for (const { via, tool } of COMBOS) {
      await Bun.sleep(PAST_LIFETIME_MS);
      const before = origin.seenOf("/cond.bin").length;
      const out = text(await run(via, tool, url));
      expect({ via, tool, same: out === body }).toEqual({ via, tool, same: true });
      const asked = origin.seenOf("/cond.bin").slice(before);
      expect({ via, tool, asked }).toEqual({ via, tool, asked: [{ path: "/cond.bin", conditional: true, status: 304, bodyBytes: 0, ifNoneMatch: '"c1"' }] });
    }
    expect(cache.running.ctx.store.metadata.getArtifact(url)).toMatchObject({ revalidation: "not-modified" });
  }, 60_000);

  test("the origin stopped: the stale copy is served with the marker, then not once --max-stale is over", async () => {
    const down = mutableOrigin();
    // The origin's Date has 1 s granularity (and Bun caches it for a second): its apparent age can
    // shorten the lifetime by up to ~2 s, so --max-stale leaves room for that.
    const server = await startTestServer({ maxStaleMs: 4000, fillAttempts: 1 });
    try {
      const url = `${down.url}/down.txt`;
      down.files.set("/down.txt", { body: "kept for the outage\n", headers: { "cache-control": "max-age=1", etag: '"d"' } });
      await filled(url, server);
      await down.stop();
      await Bun.sleep(PAST_LIFETIME_MS);
      const plain = await run("plain", "curl", url, server);
      expect(plain.exitCode).toBe(7); // connection refused
      for (const { via, tool } of COMBOS) {
        const ran = await run(via, tool, url, server);
        // On a failure, what the cache-host logged says which way the read path went.
        const logs = ran.exitCode === 0 ? [] : server.logs.slice(-12);
        expect({ via, tool, exit: ran.exitCode, out: text(ran), logs }).toEqual({ via, tool, exit: 0, out: "kept for the outage\n", logs: [] });
      }
      const head = await fetch(blobUrl(server.url, url), { method: "HEAD" });
      expect({ status: head.status, stale: head.headers.get("x-withcache-stale"), warning: head.headers.get("warning") }).toEqual({ status: 200, stale: "1", warning: '110 - "Response is Stale"' });
      expect(server.logs.some((l) => / stale .*reason=/.test(l))).toBe(true);
      // Past --max-stale (lifetime 1 s + 4 s from the fill): no stale copy; the tools fail as the plain one does.
      await Bun.sleep(4000);
      for (const { via, tool } of COMBOS) {
        const ran = await run(via, tool, url, server);
        const plainRan = await run("plain", tool, url, server);
        expect({ via, tool, exit: ran.exitCode, out: text(ran) }).toEqual({ via, tool, exit: plainRan.exitCode, out: "" });
      }
    } finally {
      await server.stop();
    }
  }, 60_000);

  test("an immutable rule: the origin is never asked again, even when it says no-cache", async () => {
    const url = `${origin.url}/imm/tool.tgz`;
    origin.files.set("/imm/tool.tgz", { body: "immutable bytes\n", headers: { "cache-control": "no-cache", etag: '"i"' } });
    await filled(url);
    const before = origin.seenOf("/imm/tool.tgz").length;
    await Bun.sleep(PAST_LIFETIME_MS);
    for (const { via, tool } of COMBOS) expect({ via, tool, out: text(await run(via, tool, url)) }).toEqual({ via, tool, out: "immutable bytes\n" });
    expect(origin.seenOf("/imm/tool.tgz").length).toBe(before);
  }, 60_000);

  test("a never rule: nothing is stored, fetched or recorded; every run goes to the origin", async () => {
    const url = `${origin.url}/never/api.json`;
    origin.files.set("/never/api.json", { body: '{"a":1}\n', headers: { "cache-control": "max-age=3600" } });
    for (const { via, tool } of COMBOS) expect({ via, tool, out: text(await run(via, tool, url)) }).toEqual({ via, tool, out: '{"a":1}\n' });
    expect(origin.seenOf("/never/api.json").length).toBe(COMBOS.length);
    const meta = cache.running.ctx.store.metadata;
    expect(meta.getArtifact(url)).toBeNull();
    expect(meta.getMiss(url)).toBeNull();
    expect(cache.running.ctx.fills.listJobs().filter((j) => j.key === url)).toEqual([]);
  }, 60_000);
});
