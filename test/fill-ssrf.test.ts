// The cache-host must not be a hole in the lab: without --allow-private-origins, fills never
// reach loopback/private/link-local origins (checked after DNS and on every redirect hop), and
// --allow-host restricts what unauthenticated misses may fetch. Refusals are recorded.
import { afterEach, describe, expect, test } from "bun:test";
import { startServer } from "../src/server/server.ts";
import { blobUrl, makeTempDir, memoryLogger, pollUntil, startOrigin, startTestServer, testConfig, type TestServer } from "./helpers/index.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(overrides: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const s = await startTestServer(overrides);
  cleanups.push(() => s.stop());
  return s;
}

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

  test("a name that resolves to loopback (localhost) is refused after dns", async () => {
    const o = origin();
    const s = await server({ allowPrivateOrigins: false });
    const key = `http://localhost:${o.port}/secret`;
    await fetch(blobUrl(s.url, key)).then((r) => r.text());
    const miss = await pollUntil(() => s.running.ctx.store.metadata.getMiss(key)?.refusal);
    expect(miss).toMatch(/^origin host localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
    expect(o.requests.length).toBe(0);
  });

  test("every redirect hop is checked: a public-looking first hop cannot bounce into loopback", async () => {
    const o = origin();
    // Pin DNS: pretend "localhost" is a public address so the first hop passes the check (the
    // socket still goes to the loopback origin); the redirect to 127.0.0.1 must then be refused.
    const dir = makeTempDir("withcache-ssrf-");
    const running = await startServer(testConfig(dir.path, { allowPrivateOrigins: false }), { log: memoryLogger([]), resolve: async () => ["93.184.216.34"] });
    cleanups.push(async () => {
      await running.stop();
      dir.cleanup();
    });
    const key = `http://localhost:${o.port}/to-loopback`;
    await fetch(blobUrl(running.url, key)).then((r) => r.text());
    const job = await pollUntil(() => running.ctx.fills.listJobs().find((j) => j.state === "failed"), { what: "refused job" });
    expect(job.error).toBe("origin host 127.0.0.1 is a loopback address; refused without --allow-private-origins");
    expect(o.hits.get("/to-loopback")).toBe(1);
    expect(o.hits.get("/secret")).toBeUndefined();
    expect(running.ctx.store.metadata.getMiss(key)?.refusal).toBe(job.error);
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
