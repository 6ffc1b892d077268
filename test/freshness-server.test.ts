// Freshness at the cache-host's HTTP edge, with hostile and odd origins: shared revalidations,
// the --revalidate-wait bound, a 304 naming another ETag, a 304 to a request without validators,
// 404 on revalidation, refetch-and-compare without validators, uncacheable answers aborted after
// the headers and not fetched again, and a bad --rule refused at start.
import { describe, expect, test } from "bun:test";
import { loadServeConfig } from "../src/config/schema.ts";
import { blobUrl, cleanupsAfterEach, pollUntil, startCleanedServer, type TestServer, isStored } from "./helpers/index.ts";
import { filled, mutableOrigin, type MutableOrigin } from "./freshness-support.ts";
import { FormClient } from "./ui-support.ts";

const cleanups = cleanupsAfterEach();
const PAST_LIFETIME_MS = 1500;

function originFor(): MutableOrigin {
  const o = mutableOrigin();
  cleanups.push(() => o.stop());
  return o;
}

const get = async (s: TestServer, url: string) => {
  const r = await fetch(blobUrl(s.url, url));
  return { status: r.status, body: await r.text() };
};

describe("shared and bounded revalidation", () => {
  test("32 concurrent probes of one stale key: one conditional request, every probe a hit", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups);
    const url = `${o.url}/shared.bin`;
    o.files.set("/shared.bin", { body: "shared\n", headers: { "cache-control": "max-age=1", etag: '"s"' } });
    await filled(s, url);
    await Bun.sleep(PAST_LIFETIME_MS);
    const before = o.seenOf("/shared.bin").length;
    const statuses = await Promise.all(Array.from({ length: 32 }, () => fetch(blobUrl(s.url, url), { method: "HEAD" }).then((r) => r.status)));
    expect(statuses).toEqual(Array(32).fill(200));
    expect(o.seenOf("/shared.bin").slice(before)).toEqual([{ path: "/shared.bin", conditional: true, status: 304, bodyBytes: 0, ifNoneMatch: '"s"' }]);
  });

  test("past --revalidate-wait the probe is a miss at once; the revalidation finishes in the background and then hits", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { revalidateWaitMs: 200 });
    const url = `${o.url}/slow.txt`;
    o.files.set("/slow.txt", { body: "slow\n", headers: { "cache-control": "max-age=1", etag: '"w"' } });
    await filled(s, url);
    let release = (): void => {};
    o.files.set("/slow.txt", { body: "slow\n", headers: { "cache-control": "max-age=1", etag: '"w"' }, hold: new Promise<void>((r) => (release = r)) });
    await Bun.sleep(PAST_LIFETIME_MS);
    const started = performance.now();
    const probe = await fetch(blobUrl(s.url, url), { method: "HEAD" });
    const tookMs = performance.now() - started;
    expect(probe.status).toBe(404);
    expect(tookMs).toBeGreaterThanOrEqual(190);
    expect(tookMs).toBeLessThan(1000); // the shim's probe gives up after 1 s
    release();
    await pollUntil(async () => await isStored(fetch(blobUrl(s.url, url), { method: "HEAD" })), { what: "hit after the background revalidation" });
    expect(s.logs.some((l) => l.includes("result=miss-revalidating"))).toBe(true);
  });
});

describe("hostile and odd origins", () => {
  test("an origin that stops answering (timeout) while revalidating: the stale copy with the marker, first probe and later", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { originIdleTimeoutMs: 200, fillAttempts: 3 });
    const url = `${o.url}/hangs.txt`;
    o.files.set("/hangs.txt", { body: "last good\n", headers: { "cache-control": "max-age=1", etag: '"h"' } });
    await filled(s, url);
    let release = (): void => {};
    o.files.set("/hangs.txt", { body: "last good\n", headers: { "cache-control": "max-age=1", etag: '"h"' }, hold: new Promise<void>((r) => (release = r)) });
    cleanups.push(() => release());
    await Bun.sleep(PAST_LIFETIME_MS);
    for (let i = 0; i < 3; i += 1) {
      const r = await fetch(blobUrl(s.url, url));
      expect({ status: r.status, stale: r.headers.get("x-withcache-stale"), body: await r.text() }).toEqual({ status: 200, stale: "1", body: "last good\n" });
    }
    expect(s.running.ctx.store.metadata.getArtifact(url)).toMatchObject({ revalidation: "origin-down" });
  });

  test("a 304 that now says no-store withdraws the copy (judged like a 200) and marks the url uncacheable", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups);
    const url = `${o.url}/turned.txt`;
    o.files.set("/turned.txt", { body: "was public\n", headers: { "cache-control": "max-age=1", etag: '"p"' } });
    await filled(s, url);
    o.files.set("/turned.txt", { body: "was public\n", headers: { "cache-control": "private, no-store, max-age=600", etag: '"p"' } });
    await Bun.sleep(PAST_LIFETIME_MS);
    expect((await get(s, url)).status).toBe(404);
    expect(o.seenOf("/turned.txt").at(-1)).toMatchObject({ conditional: true, status: 304 });
    expect(s.running.ctx.store.metadata.getArtifact(url)).toBeNull();
    expect(s.running.ctx.store.metadata.uncacheableMark(url)?.reason).toBe("origin sent cache-control: no-store");
  });

  test("a revalidation does not wait behind big downloads: with every worker busy a stale copy still gets its 304 at once", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { workers: 1 });
    const url = `${o.url}/small.txt`;
    o.files.set("/small.txt", { body: "small\n", headers: { "cache-control": "max-age=1", etag: '"q"' } });
    await filled(s, url);
    let release = (): void => {};
    o.files.set("/huge.bin", { body: "x", hold: new Promise<void>((r) => (release = r)) });
    cleanups.push(() => release());
    await fetch(blobUrl(s.url, `${o.url}/huge.bin`), { method: "HEAD" });
    await pollUntil(() => s.running.ctx.fills.listJobs({ states: ["running"] }).some((j) => j.key.endsWith("/huge.bin")), { what: "the one worker busy" });
    await Bun.sleep(PAST_LIFETIME_MS);
    expect((await fetch(blobUrl(s.url, url), { method: "HEAD" })).status).toBe(200);
    expect(o.seenOf("/small.txt").at(-1)).toMatchObject({ conditional: true, status: 304 });
  });

  test("a 304 naming another ETag is taken as a change: the old bytes are withdrawn and the new ones fetched", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups);
    const url = `${o.url}/liar.txt`;
    o.files.set("/liar.txt", { body: "old\n", headers: { "cache-control": "max-age=1", etag: '"a"' } });
    await filled(s, url);
    o.files.set("/liar.txt", { body: "new\n", headers: { "cache-control": "max-age=1", etag: '"b"' }, always304: { etag: '"b"' } });
    await Bun.sleep(PAST_LIFETIME_MS);
    // The first answer is a miss or (after the refetch) the new bytes, never "old".
    const first = await get(s, url);
    expect(first.body).not.toBe("old\n");
    expect(s.running.ctx.store.metadata.getArtifact(url)).toMatchObject({ superseded: true });
    o.files.set("/liar.txt", { body: "new\n", headers: { "cache-control": "max-age=60", etag: '"b"' } });
    await pollUntil(async () => (await get(s, url)).body === "new\n", { what: "the new bytes", timeoutMs: 10_000 });
  });

  test("an origin answering 304 to a request without validators: never stored, never served", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { fillAttempts: 1 });
    const url = `${o.url}/always304`;
    o.files.set("/always304", { body: "", always304: {} });
    await fetch(blobUrl(s.url, url), { method: "HEAD" });
    const mark = await pollUntil(() => s.running.ctx.store.metadata.uncacheableMark(url), { what: "uncacheable mark" });
    expect(mark.reason).toBe(`origin answered 304 for ${url}`);
    expect((await fetch(blobUrl(s.url, url), { method: "HEAD" })).status).toBe(404);
  });

  test("404 on revalidation: the artifact is removed, the reason shown on the miss, and it is not served", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups);
    const url = `${o.url}/gone.txt`;
    o.files.set("/gone.txt", { body: "soon gone\n", headers: { "cache-control": "max-age=1", etag: '"g"' } });
    await filled(s, url);
    o.files.delete("/gone.txt");
    await Bun.sleep(PAST_LIFETIME_MS);
    expect((await get(s, url)).status).toBe(404);
    const meta = s.running.ctx.store.metadata;
    expect(meta.getArtifact(url)).toBeNull();
    expect(meta.uncacheableMark(url)?.reason).toBe(`origin answered 404 on revalidation of ${url}; the cached copy was removed`);
  });

  test("403 on revalidation (an expired signature) keeps the copy but does not serve it; a later 304 serves it again", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { fillAttempts: 1 });
    const url = `${o.url}/signed.bin`;
    const good = { body: "signed\n", headers: { "cache-control": "max-age=1", etag: '"z"' } };
    o.files.set("/signed.bin", good);
    await filled(s, url);
    o.files.set("/signed.bin", { ...good, status: 403 });
    await Bun.sleep(PAST_LIFETIME_MS);
    expect((await get(s, url)).status).toBe(404);
    expect(s.running.ctx.store.metadata.getArtifact(url)).toMatchObject({ revalidation: "refused", superseded: false });
    o.files.set("/signed.bin", good);
    // The failed job holds automatic refills off for a while; the operator's Revalidate now does not wait.
    const again = await s.running.ctx.fills.enqueue(url, { source: "operator", revalidate: true });
    expect(again.ok).toBe(true);
    await pollUntil(() => s.running.ctx.store.metadata.getArtifact(url)?.revalidation === "not-modified", { what: "the 304" });
    expect(await get(s, url)).toEqual({ status: 200, body: "signed\n" });
  });

  test("--curate: an approved artifact that goes stale is still revalidated (new urls still wait for approval)", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { curate: true });
    const url = `${o.url}/approved.txt`;
    o.files.set("/approved.txt", { body: "approved v1\n", headers: { "cache-control": "max-age=1", etag: '"1"' } });
    const queued = await s.running.ctx.fills.enqueue(url, { source: "operator" });
    expect(queued.ok).toBe(true);
    await pollUntil(() => s.running.ctx.store.metadata.getArtifact(url), { what: "approved fill" });
    o.files.set("/approved.txt", { body: "approved v2\n", headers: { "cache-control": "max-age=60", etag: '"2"' } });
    await Bun.sleep(PAST_LIFETIME_MS);
    await pollUntil(async () => (await get(s, url)).body === "approved v2\n", { what: "the refreshed bytes", timeoutMs: 10_000 });
    expect((await get(s, `${o.url}/unapproved.txt`)).status).toBe(404);
    expect(o.seenOf("/unapproved.txt")).toEqual([]);
  });

  test("no validators: after the lifetime the body is refetched and compared; same bytes keep the entry and its counters", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups);
    const url = `${o.url}/plain.txt`;
    o.files.set("/plain.txt", { body: "same bytes\n", headers: { "cache-control": "max-age=1" } });
    await filled(s, url);
    expect((await get(s, url)).body).toBe("same bytes\n");
    const hitsBefore = s.running.ctx.store.metadata.getArtifact(url)!.hits;
    await Bun.sleep(PAST_LIFETIME_MS);
    expect(await get(s, url)).toEqual({ status: 200, body: "same bytes\n" });
    const row = s.running.ctx.store.metadata.getArtifact(url)!;
    expect(row).toMatchObject({ revalidation: "same-bytes" });
    expect(row.hits).toBe(hitsBefore + 1);
    const unconditional = o.seenOf("/plain.txt").filter((x) => !x.conditional && x.status === 200);
    expect(unconditional.length).toBe(2); // the fill and the refetch
  });

  test("an uncacheable 4 MiB answer costs one header exchange: the body is aborted and misses within --uncacheable-retry fetch nothing", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups);
    const url = `${o.url}/private.bin`;
    o.files.set("/private.bin", { body: new Uint8Array(4 * 1024 * 1024), headers: { "cache-control": "private, max-age=600" } });
    await fetch(blobUrl(s.url, url), { method: "HEAD" });
    await pollUntil(() => s.running.ctx.store.metadata.uncacheableMark(url), { what: "uncacheable mark" });
    for (let i = 0; i < 5; i += 1) expect((await fetch(blobUrl(s.url, url), { method: "HEAD" })).status).toBe(404);
    await Bun.sleep(100);
    expect(o.seenOf("/private.bin").length).toBe(1);
    const job = s.running.ctx.fills.listJobs().find((j) => j.key === url)!;
    expect(job).toMatchObject({ state: "failed", error: "origin sent cache-control: private", bytesDone: 0 });
  });
});

describe("the operator view", () => {
  test("Artifacts shows fresh until, the policy and the last check; Revalidate now asks the origin at once (a 304: no body)", async () => {
    const o = originFor();
    const s = await startCleanedServer(cleanups, { rules: ["**/ruled/**=max-age=1h"] });
    const url = `${o.url}/ruled/a.txt`;
    o.files.set("/ruled/a.txt", { body: "a\n", headers: { "cache-control": "no-cache", etag: '"r"' } });
    await filled(s, url);
    const ui = new FormClient(s.url);
    const page = await ui.get("/admin/artifacts");
    expect(page.text).toContain("state-completed\">fresh</span>");
    expect(page.text).toContain("rule **/ruled/**=max-age=1h");
    expect(page.text).toContain("not revalidated yet");
    const before = o.seenOf("/ruled/a.txt").length;
    const posted = await ui.post("/admin/artifacts/revalidate", { key: url, q: "", sort: "lastHit" }, { csrfFrom: "/admin/artifacts" });
    expect(posted.status).toBe(303);
    await pollUntil(() => s.running.ctx.store.metadata.getArtifact(url)?.revalidation === "not-modified", { what: "the revalidation" });
    expect(o.seenOf("/ruled/a.txt").slice(before)).toEqual([{ path: "/ruled/a.txt", conditional: true, status: 304, bodyBytes: 0, ifNoneMatch: '"r"' }]);
    expect((await ui.get("/admin/artifacts")).text).toMatch(/checked just now: not-modified/);
    const missing = await ui.post("/admin/artifacts/revalidate", { key: "https://nowhere.example/x", q: "", sort: "lastHit" }, { csrfFrom: "/admin/artifacts" });
    expect(missing.status).toBe(303);
    const shown = await ui.get(missing.headers.get("location")!);
    expect(shown.text).toContain("https://nowhere.example/x is not cached");
  });
});

describe("operator rules at start", () => {
  test("a bad --rule stops the configuration with one line naming it", () => {
    const loaded = loadServeConfig({ flags: { rules: ["https://h/**=forever"] }, env: {} });
    expect(loaded).toEqual({ ok: false, message: '--rule: "https://h/**=forever" is not a rule; expected PATTERN=POLICY with POLICY origin, immutable, revalidate, never or max-age=DURATION (with a unit: 300s, 5m, 1h)' });
    const fromEnv = loadServeConfig({ flags: {}, env: { WITHCACHE_RULES: "**/latest/**=revalidate **.txt=max-age" } });
    expect(fromEnv).toMatchObject({ ok: false, message: 'WITHCACHE_RULES: "**.txt=max-age" is not a rule; expected PATTERN=POLICY with POLICY origin, immutable, revalidate, never or max-age=DURATION (with a unit: 300s, 5m, 1h)' });
    expect(loadServeConfig({ flags: { rules: ["**/latest/**=max-age=5m"] }, env: {} })).toMatchObject({ ok: true, config: { rules: ["**/latest/**=max-age=5m"] } });
  });
});
