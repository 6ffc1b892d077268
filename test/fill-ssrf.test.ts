// The cache-host must not be a hole in the lab: without --allow-private-origins, fills never
// reach loopback/private/link-local origins (checked after DNS and on every redirect hop), and
// --allow-host restricts what unauthenticated misses may fetch. Refusals are recorded.
import { describe, expect, test } from "bun:test";
import { startServer } from "../src/server/server.ts";
import {
  blobUrl,
  cleanupsAfterEach,
  makeTempDir,
  memoryLogger,
  pollUntil,
  startCleanedServer,
  startOrigin,
  testConfig,
  type TestServer,
} from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();

const server = (overrides: Parameters<typeof startCleanedServer>[1]): Promise<TestServer> => startCleanedServer(cleanups, overrides);

function origin() {
  const o = startOrigin((req) => {
    const p = new URL(req.url).pathname;
    if (p === "/to-loopback") return Response.redirect(`http://127.0.0.1:${o.port}/secret`, 302);
    return new Response("internal secret\n");
  });
  cleanups.push(() => o.stop());
  return o;
}

describe("private origins in auto mode", () => {
  test("a loopback origin is refused, the refusal recorded, the origin never contacted", async () => {
    const o = origin();
    const s = await server({ allowPrivateOrigins: false });
    const key = `${o.url}/secret`;
    const r = await fetch(blobUrl(s.url, key));
    expect(r.status).toBe(404);
    expect(await r.text()).toBe("cache miss (recorded)\n");
    const miss = await pollUntil(() => s.running.ctx.store.metadata.getMiss(key)?.refusal ? s.running.ctx.store.metadata.getMiss(key) : null);
    expect(miss.refusal).toBe("origin host 127.0.0.1 is a loopback address; refused without --allow-private-origins");
    expect(miss.count).toBe(1);
    expect(s.running.ctx.fills.listJobs()).toEqual([]);
    expect(o.requests.length).toBe(0);
    expect(s.logs.some((l) => l.includes(" refused ") && l.includes("loopback"))).toBe(true);
  });

  test("loopback and private addresses in any spelling are refused: decimal, octal, hex, short, trailing dot, mapped, translated, NAT64", async () => {
    const o = origin();
    const s = await server({ allowPrivateOrigins: false });
    const cases: Array<[string, string]> = [
      [`http://2130706433:${o.port}/secret`, "origin host 127.0.0.1 is a loopback address"],
      [`http://0x7f.1:${o.port}/secret`, "origin host 127.0.0.1 is a loopback address"],
      [`http://0177.0.0.1:${o.port}/secret`, "origin host 127.0.0.1 is a loopback address"],
      [`http://127.1:${o.port}/secret`, "origin host 127.0.0.1 is a loopback address"],
      [`http://127.0.0.1.:${o.port}/secret`, "origin host 127.0.0.1 is a loopback address"],
      [`http://0:${o.port}/secret`, "origin host 0.0.0.0 is an unspecified address"],
      [`http://[::ffff:127.0.0.1]:${o.port}/secret`, "origin host ::ffff:7f00:1 is a loopback address"],
      [`http://[::ffff:0:127.0.0.1]:${o.port}/secret`, "origin host ::ffff:0:7f00:1 is a loopback address"],
      [`http://[64:ff9b::10.0.0.1]:${o.port}/secret`, "origin host 64:ff9b::a00:1 is a private address"],
      [`http://[64:ff9b:1::7f00:1]:${o.port}/secret`, "origin host 64:ff9b:1::7f00:1 is a private address"],
    ];
    for (const [url] of cases) expect((await fetch(blobUrl(s.url, url))).status).toBe(404);
    for (const [url, reason] of cases) {
      const key = new URL(url).href;
      const refusal = await pollUntil(() => s.running.ctx.store.metadata.getMiss(key)?.refusal, { what: `refusal of ${url}` });
      expect(refusal).toBe(`${reason}; refused without --allow-private-origins`);
    }
    expect(s.running.ctx.fills.listJobs()).toEqual([]);
    expect(o.requests.length).toBe(0);
  });

  test("a name that resolves to loopback (localhost) is refused after dns", async () => {
    const o = origin();
    const s = await server({ allowPrivateOrigins: false });
    const key = `http://localhost:${o.port}/secret`;
    await fetch(blobUrl(s.url, key)).then((r) => r.text());
    const miss = await pollUntil(() => s.running.ctx.store.metadata.getMiss(key)?.refusal);
    expect(miss).toMatch(/^origin host localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
    expect(o.requests.length).toBe(0);
  });

  test("every redirect hop is checked; connections go to the address that was checked (no rebinding)", async () => {
    const o = startOrigin((req) => {
      const p = new URL(req.url).pathname;
      if (p === "/to-v6-loopback") return Response.redirect(`http://[::1]:${o.port}/secret`, 302);
      if (p === "/to-private-name") return Response.redirect(`http://intranet.test:${o.port}/secret`, 302);
      return new Response(`served for host ${req.headers.get("host")}\n`);
    });
    cleanups.push(() => o.stop());
    // The policy stands in for "public": only 127.0.0.1 counts as reachable here, because the
    // test origin can only live on loopback. Names resolve through our own table only, so a
    // fill of pinned.test can succeed only by connecting to the address we checked.
    const dns: Record<string, string[]> = { "pinned.test": ["127.0.0.1"], "intranet.test": ["10.1.2.3"] };
    const dir = makeTempDir("withcache-ssrf-");
    const running = await startServer(testConfig(dir.path, { allowPrivateOrigins: false }), {
      log: memoryLogger([]),
      resolve: async (host) => {
        const answer = dns[host];
        if (!answer) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
        return answer;
      },
      addressAllowed: (ip) => ip === "127.0.0.1",
    });
    cleanups.push(async () => {
      await running.stop();
      dir.cleanup();
    });

    const pinnedKey = `http://pinned.test:${o.port}/file.bin`;
    await fetch(blobUrl(running.url, pinnedKey)).then((r) => r.text());
    await pollUntil(() => running.ctx.store.metadata.getArtifact(pinnedKey), { what: "pinned fill" });
    expect(await (await fetch(blobUrl(running.url, pinnedKey))).text()).toBe(`served for host pinned.test:${o.port}\n`);

    for (const [path, error] of [
      ["/to-v6-loopback", "origin host ::1 is a loopback address; refused without --allow-private-origins"],
      ["/to-private-name", "origin host intranet.test resolves to 10.1.2.3, which is a private address; refused without --allow-private-origins"],
    ] as const) {
      const key = `http://127.0.0.1:${o.port}${path}`;
      await fetch(blobUrl(running.url, key)).then((r) => r.text());
      const job = await pollUntil(() => running.ctx.fills.listJobs().find((j) => j.key === key && j.state === "failed"), { what: `refused job ${path}` });
      expect(job.error).toBe(error);
      expect(running.ctx.store.metadata.getMiss(key)?.refusal).toBe(error);
    }
    expect(o.hits.get("/secret")).toBeUndefined();
  });

  test("a miss whose DNS check outlasts another miss's whole fill does not fetch the artifact again", async () => {
    const o = startOrigin(() => new Response("artifact bytes\n"));
    cleanups.push(() => o.stop());
    // The first lookup of slow.test hangs until released; later ones answer at once.
    let release: () => void = () => {};
    const firstLookupHeld = new Promise<void>((resolve) => (release = resolve));
    let lookups = 0;
    const dir = makeTempDir("withcache-ssrf-");
    const logs: string[] = [];
    const running = await startServer(testConfig(dir.path, { allowPrivateOrigins: false }), {
      log: memoryLogger(logs),
      resolve: async () => {
        lookups += 1;
        if (lookups === 1) await firstLookupHeld;
        return ["127.0.0.1"];
      },
      addressAllowed: (ip) => ip === "127.0.0.1",
    });
    cleanups.push(async () => {
      release();
      await running.stop();
      dir.cleanup();
    });
    const key = `http://slow.test:${o.port}/tool.bin`;
    expect((await fetch(blobUrl(running.url, key))).status).toBe(404);
    await pollUntil(() => lookups === 1, { what: "the first lookup to start" });
    expect((await fetch(blobUrl(running.url, key))).status).toBe(404);
    await pollUntil(() => running.ctx.store.metadata.getArtifact(key), { what: "the second miss's fill" });
    release();
    // Request ids count up: sorted by id, the lines are the first miss's, then the second's.
    const missLines = () => logs.filter((l) => / request id=/.test(l) && l.includes("status=404")).sort((a, b) => (/ id=(\w+)/.exec(a)![1]! < / id=(\w+)/.exec(b)![1]! ? -1 : 1));
    const [first, second] = await pollUntil(() => (missLines().length === 2 ? missLines() : null), { what: "both misses' request lines" });
    expect(first).toContain(`result=miss-not-queued reason="${key} is already cached and fresh"`);
    expect(second).toContain("result=miss-fill job=");
    expect(running.ctx.fills.listJobs().filter((j) => j.key === key).length).toBe(1);
    expect(o.requests.length).toBe(1);
  });

  test("operators cannot fetch private origins either unless allowed; --allow-private-origins lifts it", async () => {
    const o = origin();
    const closed = await server({ allowPrivateOrigins: false, curate: true });
    expect(await closed.running.ctx.fills.enqueue(`${o.url}/secret`, { source: "operator" })).toMatchObject({ ok: false, status: 403 });
    const open = await server({ allowPrivateOrigins: true });
    await fetch(blobUrl(open.url, `${o.url}/secret`)).then((r) => r.text());
    await pollUntil(() => open.running.ctx.store.metadata.getArtifact(`${o.url}/secret`));
  });
});

describe("--allow-host", () => {
  test("auto-fetch only from listed hosts; operators may still queue others", async () => {
    const o = origin();
    const s = await server({ allowHosts: ["mirror.example.org", "*.vendor.example"] });
    const key = `${o.url}/secret`;
    await fetch(blobUrl(s.url, key)).then((r) => r.text());
    const refusal = await pollUntil(() => s.running.ctx.store.metadata.getMiss(key)?.refusal);
    expect(refusal).toBe("origin host 127.0.0.1 is not in --allow-host; not fetched automatically");
    expect(o.requests.length).toBe(0);
    const queued = await s.running.ctx.fills.enqueue(key, { source: "operator" });
    expect(queued.ok).toBe(true);
    await pollUntil(() => s.running.ctx.store.metadata.getArtifact(key));
  });
});
