// /api/v1 end to end: the real server on loopback, a real origin, fetch and real curl.
import { describe, expect, test } from "bun:test";
import { ROUTES } from "../src/server/api/routes.ts";
import * as S from "../src/server/api/schemas.ts";
import { blobUrl, cleanupsAfterEach, pollUntil, run, sha256Hex, startCleanedServer, startOrigin, type TestServer } from "./helpers/index.ts";
import { FormClient, csrfOf } from "./ui-support.ts";

const cleanups = cleanupsAfterEach();
const JSON_HEADERS = { "content-type": "application/json" };

async function api(s: TestServer, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(options.body !== undefined ? JSON_HEADERS : {}), ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const r = await fetch(`${s.url}${path}`, { method, headers, body: options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body) });
  const text = await r.text();
  return { status: r.status, json: JSON.parse(text) as any, headers: r.headers };
}

async function createToken(s: TestServer, name: string, scope: "read" | "admin"): Promise<string> {
  const r = await api(s, "POST", "/api/v1/tokens", { body: { name, scope } });
  expect(r.status).toBe(201);
  expect(S.CreatedToken.parse(r.json).token).toMatch(/^wc_/);
  return r.json.token;
}

/** 250 artifact rows with many ties in size and hits (keyset pagination must not skip or repeat). */
async function seed(s: TestServer, count = 250): Promise<string[]> {
  const meta = s.running.ctx.store.metadata;
  const keys: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const key = `https://dl-${i % 7}.example.com/pkg/${i % 2 === 0 ? "even" : "odd"}-${String(i).padStart(4, "0")}.tar.gz`;
    await meta.commitArtifact({ key, url: key, sha256: sha256Hex(key), sizeBytes: 1000 * (i % 5), contentType: "application/gzip", contentDisposition: null, fetchedAtMs: 1_700_000_000_000 + (i % 11) * 1000 });
    for (let h = 0; h < i % 4; h += 1) meta.recordHit(key, 1_700_000_100_000 + (i % 3));
    keys.push(key);
  }
  return keys;
}

async function walk(s: TestServer, token: string, query: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const q: string = `${query}&limit=${limit}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    const r = await api(s, "GET", `/api/v1/artifacts?${q}`, { token });
    expect(r.status).toBe(200);
    const body = S.ArtifactPage.parse(r.json);
    expect(body.items.length).toBeLessThanOrEqual(limit);
    seen.push(...body.items.map((a) => a.key));
    cursor = body.nextCursor;
    if (cursor === null) return seen;
  }
  throw new Error("more than 100 pages");
}

describe("/api/v1/artifacts", () => {
  test("every sort and direction pages through all rows with no duplicate or gap, in the listing's order; the filter narrows", async () => {
    const s = await startCleanedServer(cleanups);
    const keys = await seed(s);
    const token = await createToken(s, "reader", "read");
    const meta = s.running.ctx.store.metadata;
    for (const sort of S.ARTIFACT_SORTS) {
      for (const direction of ["asc", "desc"] as const) {
        const got = await walk(s, token, `sort=${sort}&direction=${direction}`, 37);
        expect(got.length).toBe(keys.length);
        expect(new Set(got).size).toBe(keys.length);
        expect(got).toEqual(meta.listArtifacts({ sort, direction, limit: 1000 }).map((a) => a.key));
      }
    }
    const even = await walk(s, token, "sort=size&filter=EVEN-", 10);
    expect(even.length).toBe(125);
    expect(even.every((k) => k.includes("/even-"))).toBe(true);
    const first = S.ArtifactPage.parse((await api(s, "GET", "/api/v1/artifacts?sort=hits&limit=1", { token })).json).items[0]!;
    expect(first).toMatchObject({ hits: 3, bytesSaved: 3 * first.sizeBytes, fresh: false, superseded: false });
  });

  test("bad queries: 400 naming the parameter; tampered or foreign cursors refused", async () => {
    const s = await startCleanedServer(cleanups);
    await seed(s, 30);
    const token = await createToken(s, "reader", "read");
    const bad = async (query: string) => {
      const r = await api(s, "GET", `/api/v1/artifacts?${query}`, { token });
      expect(r.status).toBe(400);
      expect(Object.keys(r.json)).toEqual(["error"]);
      expect(r.json.error).not.toContain("\n");
      return r.json.error as string;
    };
    expect(await bad("limit=501")).toContain('query parameter "limit"');
    expect(await bad("limit=abc")).toContain('query parameter "limit"');
    expect(await bad("sort=color")).toContain('query parameter "sort"');
    expect(await bad("colour=red")).toBe('/api/v1/artifacts: unknown query parameter "colour"');
    expect(await bad("limit=1&limit=2")).toContain("more than once");
    const page = S.ArtifactPage.parse((await api(s, "GET", "/api/v1/artifacts?sort=size&limit=5", { token })).json);
    const cursor = page.nextCursor!;
    expect(await bad(`sort=size&limit=5&cursor=${encodeURIComponent(cursor.slice(0, -2) + (cursor.endsWith("AA") ? "BB" : "AA"))}`)).toContain("altered");
    expect(await bad(`sort=hits&limit=5&cursor=${encodeURIComponent(cursor)}`)).toContain("another listing");
    expect(await bad(`sort=size&filter=x&limit=5&cursor=${encodeURIComponent(cursor)}`)).toContain("another listing");
    expect(await bad(`token=${token}`)).toContain("only in the Authorization header");
    expect((await api(s, "GET", `/api/v1/artifacts?access_token=${token}`)).status).toBe(400);
    expect(s.logs.join("\n")).not.toContain(token);
  });

  test("one artifact by URL and by sha256; delete by URL and by sha256", async () => {
    const s = await startCleanedServer(cleanups);
    const keys = await seed(s, 4);
    const admin = await createToken(s, "ops", "admin");
    const one = await api(s, "GET", `/api/v1/artifact?url=${encodeURIComponent(keys[1]!)}`, { token: admin });
    expect(one.status).toBe(200);
    expect(S.Artifact.parse(one.json)).toMatchObject({ key: keys[1], sha256: sha256Hex(keys[1]!) });
    const bySha = await api(s, "GET", `/api/v1/artifacts/${sha256Hex(keys[2]!)}`, { token: admin });
    expect(S.ArtifactList.parse(bySha.json).items.map((a) => a.key)).toEqual([keys[2]!]);
    expect((await api(s, "GET", `/api/v1/artifacts/${"0".repeat(64)}`, { token: admin })).status).toBe(404);
    // Upper-case hex is the same sha256; anything else is a bad request, not a missing artifact.
    const upper = await api(s, "GET", `/api/v1/artifacts/${sha256Hex(keys[2]!).toUpperCase()}`, { token: admin });
    expect(S.ArtifactList.parse(upper.json).items.map((a) => a.key)).toEqual([keys[2]!]);
    for (const method of ["GET", "DELETE"]) {
      expect(await api(s, method, "/api/v1/artifacts/nothex", { token: admin })).toMatchObject({ status: 400, json: { error: '"nothex" is not a sha256; expected 64 hex digits' } });
    }
    const missing = await api(s, "GET", `/api/v1/artifact?url=${encodeURIComponent("https://nowhere.example/x")}`, { token: admin });
    expect(missing).toMatchObject({ status: 404, json: { error: "no artifact for https://nowhere.example/x" } });
    expect((await api(s, "DELETE", `/api/v1/artifact?url=${encodeURIComponent(keys[1]!)}`, { token: admin })).json).toEqual({ deleted: 1, freedBytes: 0 });
    expect((await api(s, "DELETE", `/api/v1/artifacts/${sha256Hex(keys[2]!)}`, { token: admin })).json).toEqual({ deleted: 1, freedBytes: 0 });
    expect(s.running.ctx.store.metadata.getArtifact(keys[1]!)).toBeNull();
    expect(s.running.ctx.store.metadata.getArtifact(keys[2]!)).toBeNull();
    expect((await api(s, "DELETE", `/api/v1/artifact?url=${encodeURIComponent(keys[1]!)}`, { token: admin })).status).toBe(404);
  });
});

describe("tokens", () => {
  test("read tokens read, cannot write; revoked and malformed tokens get 401; the events name the token", async () => {
    const s = await startCleanedServer(cleanups);
    const reader = await createToken(s, "reader", "read");
    const admin = await createToken(s, "ops", "admin");
    expect((await api(s, "GET", "/api/v1/stats", { token: reader })).status).toBe(200);
    const refused = await api(s, "POST", "/api/v1/fills", { token: reader, body: { urls: ["https://example.com/x"] } });
    expect(refused).toMatchObject({ status: 403, json: { error: expect.stringContaining("scope read") } });
    const list = S.TokenList.parse((await api(s, "GET", "/api/v1/tokens", { token: admin })).json);
    expect(list.items.map((t) => [t.name, t.scope])).toEqual([["ops", "admin"], ["reader", "read"]]);
    expect(JSON.stringify(list)).not.toContain(reader.slice(8));
    expect((await api(s, "POST", "/api/v1/tokens", { token: admin, body: { name: "reader", scope: "read" } })).status).toBe(409);
    expect((await api(s, "POST", "/api/v1/tokens", { token: admin, body: { name: "bad name", scope: "read" } })).json.error).toContain('field "name"');
    expect((await api(s, "DELETE", "/api/v1/tokens/reader", { token: admin })).json).toEqual({ revoked: true });
    const revoked = await api(s, "GET", "/api/v1/stats", { token: reader });
    expect(revoked).toMatchObject({ status: 401, json: { error: expect.stringContaining("not valid") } });
    expect((await api(s, "GET", "/api/v1/stats", { headers: { authorization: "Bearer nope" } })).status).toBe(401);
    expect((await api(s, "DELETE", "/api/v1/tokens/reader", { token: admin })).status).toBe(404);
    const events = S.EventPage.parse((await api(s, "GET", "/api/v1/events?limit=50", { token: admin })).json).items;
    const kinds = events.map((e) => `${e.kind} ${e.actor} ${e.outcome}`);
    expect(kinds).toContain("token-create open ok");
    expect(kinds).toContain("token-revoke token:ops ok");
    expect(kinds).toContain("token-refused anonymous refused");
    expect(JSON.stringify(events)).not.toContain(reader);
    expect(s.logs.join("\n")).not.toContain(reader);
    // Pages of events: the cursor walks back without repeats.
    const firstTwo = S.EventPage.parse((await api(s, "GET", "/api/v1/events?limit=2", { token: admin })).json);
    const next = S.EventPage.parse((await api(s, "GET", `/api/v1/events?limit=2&cursor=${encodeURIComponent(firstTwo.nextCursor!)}`, { token: admin })).json);
    expect(next.items[0]!.id).toBeLessThan(firstTwo.items[1]!.id);
  });

  test("bodies: unknown field, wrong type, not JSON, not a JSON content type", async () => {
    const s = await startCleanedServer(cleanups);
    const admin = await createToken(s, "ops", "admin");
    const post = (body: string, headers: Record<string, string> = JSON_HEADERS) => api(s, "POST", "/api/v1/fills", { token: admin, body, headers });
    expect((await post(JSON.stringify({ urls: ["https://example.com/a"], priority: 1 }))).json).toEqual({ error: '/api/v1/fills: unknown field "priority"' });
    expect((await post(JSON.stringify({ urls: "https://example.com/a" }))).json.error).toStartWith('/api/v1/fills: field "urls": invalid input: expected array');
    expect((await post(JSON.stringify({ urls: [] }))).json.error).toContain('field "urls"');
    expect((await post("{nope")).json).toEqual({ error: "/api/v1/fills: the body is not valid JSON" });
    expect((await post("urls=x", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
    expect((await api(s, "PUT", "/api/v1/fills", { token: admin })).status).toBe(405);
    expect((await api(s, "GET", "/api/v1/nothing", { token: admin })).status).toBe(404);
    // Past the server's body cap (refused before routing): still the API's JSON error.
    const hugeBody = JSON.stringify({ urls: ["https://example.com/a"], pad: "x".repeat(2 * 1024 * 1024) });
    const huge = await post(hugeBody);
    expect(huge.status).toBe(413);
    expect(huge.json).toEqual({ error: `request body of ${hugeBody.length} bytes is larger than 1048576 bytes` });
  });
});

describe("fills and misses", () => {
  test("queue with real curl and a Bearer token, watch it complete, then the artifact is there; cancel and retry", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const body = new Uint8Array(200_000).map((_, i) => (i * 7) % 251);
    const origin = startOrigin(async (req) => {
      if (new URL(req.url).pathname === "/slow.bin") {
        await gate;
        return new Response(body);
      }
      return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    });
    cleanups.push(() => origin.stop());
    const s = await startCleanedServer(cleanups, { curate: true });
    cleanups.push(() => release());
    const admin = await createToken(s, "ops", "admin");
    const url = `${origin.url}/tool.bin`;
    const queued = await run(["curl", "-sS", "-X", "POST", "-H", `Authorization: Bearer ${admin}`, "-H", "Content-Type: application/json", "--data", JSON.stringify({ urls: [url, "ftp://nope/x"] }), `${s.url}/api/v1/fills`]);
    expect(queued.exitCode).toBe(0);
    const result = S.QueueResult.parse(JSON.parse(queued.stdout));
    expect(result.items[1]).toMatchObject({ url: "ftp://nope/x", ok: false });
    const item = result.items[0]!;
    if (!item.ok) throw new Error(item.error);
    const done = await pollUntil(async () => {
      const f = S.Fill.parse((await api(s, "GET", `/api/v1/fills/${item.fill.id}`, { token: admin })).json);
      return f.state === "completed" ? f : null;
    }, { what: "fill to complete", timeoutMs: 10_000 });
    expect(done.bytesDone).toBe(body.byteLength);
    const artifact = S.Artifact.parse((await api(s, "GET", `/api/v1/artifact?url=${encodeURIComponent(url)}`, { token: admin })).json);
    expect(artifact.sha256).toBe(sha256Hex(body));
    expect((await api(s, "POST", `/api/v1/fills/${item.fill.id}/retry`, { token: admin })).status).toBe(409);

    const slow = S.QueueResult.parse((await api(s, "POST", "/api/v1/fills", { token: admin, body: { urls: [`${origin.url}/slow.bin`] } })).json).items[0]!;
    if (!slow.ok) throw new Error(slow.error);
    await pollUntil(() => s.running.ctx.fills.getJob(slow.fill.id)?.state === "running", { what: "slow fill to run", timeoutMs: 5000 });
    const cancelled = await api(s, "POST", `/api/v1/fills/${slow.fill.id}/cancel`, { token: admin });
    expect(cancelled.status).toBe(200);
    await pollUntil(() => s.running.ctx.fills.getJob(slow.fill.id)?.state === "cancelled", { what: "cancel", timeoutMs: 5000 });
    const retried = S.Fill.parse((await api(s, "POST", `/api/v1/fills/${slow.fill.id}/retry`, { token: admin })).json);
    expect(retried.state).toBe("queued");
    release();
    await pollUntil(() => s.running.ctx.fills.getJob(slow.fill.id)?.state === "completed", { what: "retried fill", timeoutMs: 10_000 });
    const running = S.FillList.parse((await api(s, "GET", "/api/v1/fills?state=completed", { token: admin })).json);
    expect(running.items.map((f) => f.id).sort()).toEqual([item.fill.id, slow.fill.id].sort());
    expect((await api(s, "GET", "/api/v1/fills?state=done", { token: admin })).json.error).toContain('query parameter "state"');
    const events = S.EventPage.parse((await api(s, "GET", "/api/v1/events?kind=cancel", { token: admin })).json).items;
    expect(events.map((e) => [e.kind, e.actor, e.outcome])).toEqual([["cancel", "token:ops", "ok"]]);
  });

  test("misses are listed in pages and dismissed by URL", async () => {
    const s = await startCleanedServer(cleanups, { curate: true });
    const admin = await createToken(s, "ops", "admin");
    const urls = Array.from({ length: 5 }, (_, i) => `https://vendor.example.com/driver-${i}.run`);
    for (const u of urls) expect((await fetch(blobUrl(s.url, u), { method: "HEAD" })).status).toBe(404);
    const first = S.MissPage.parse((await api(s, "GET", "/api/v1/misses?limit=3", { token: admin })).json);
    const rest = S.MissPage.parse((await api(s, "GET", `/api/v1/misses?limit=3&cursor=${encodeURIComponent(first.nextCursor!)}`, { token: admin })).json);
    expect([...first.items, ...rest.items].map((m) => m.url).sort()).toEqual([...urls].sort());
    expect(rest.nextCursor).toBeNull();
    expect((await api(s, "POST", "/api/v1/misses/dismiss", { token: admin, body: { urls: urls.slice(0, 2) } })).json).toEqual({ dismissed: 2 });
    expect(S.MissPage.parse((await api(s, "GET", "/api/v1/misses", { token: admin })).json).items.length).toBe(3);
  });
});

describe("without a token", () => {
  test("no password: the rebinding guard applies; writes must be same-site JSON", async () => {
    const s = await startCleanedServer(cleanups);
    const rebound = await api(s, "GET", "/api/v1/stats", { headers: { host: "evil.example.com" } });
    expect(rebound).toMatchObject({ status: 403, json: { error: expect.stringContaining("dns rebinding guard") } });
    expect((await api(s, "GET", "/api/v1/stats")).status).toBe(200);
    const crossSite = await api(s, "POST", "/api/v1/misses/dismiss", { body: { urls: ["https://h/x"] }, headers: { origin: "https://evil.example.com" } });
    expect(crossSite.status).toBe(403);
    const form = await api(s, "POST", "/api/v1/misses/dismiss", { body: "urls=x", headers: { "content-type": "text/plain" } });
    expect(form.status).toBe(415);
    expect((await api(s, "POST", "/api/v1/misses/dismiss", { body: { urls: ["https://h/x"] } })).json).toEqual({ dismissed: 0 });
  });

  test("with a password: 401 without credentials; a session cookie reads, and writes with its CSRF token", async () => {
    const s = await startCleanedServer(cleanups, { adminPassword: "pw" });
    expect((await api(s, "GET", "/api/v1/stats")).status).toBe(401);
    const c = new FormClient(s.url);
    await c.login("pw");
    expect(c.cookie).not.toBeNull();
    const cookie = { cookie: `withcache_session=${c.cookie}` };
    expect((await api(s, "GET", "/api/v1/stats", { headers: cookie })).status).toBe(200);
    const noCsrf = await api(s, "POST", "/api/v1/tokens", { headers: cookie, body: { name: "ci", scope: "read" } });
    expect(noCsrf).toMatchObject({ status: 403, json: { error: expect.stringContaining("csrf") } });
    const csrf = csrfOf((await c.get("/admin/add")).text);
    const ok = await api(s, "POST", "/api/v1/tokens", { headers: { ...cookie, "x-csrf-token": csrf }, body: { name: "ci", scope: "read" } });
    expect(ok.status).toBe(201);
    expect((await api(s, "GET", "/api/v1/stats", { token: ok.json.token })).status).toBe(200);
  });
});

describe("/api/v1/openapi.json", () => {
  test("is OpenAPI 3.1, lists every route, and every $ref resolves", async () => {
    const s = await startCleanedServer(cleanups);
    const doc = (await api(s, "GET", "/api/v1/openapi.json")).json;
    expect(doc.openapi).toBe("3.1.0");
    for (const r of ROUTES) expect(doc.paths[r.path]?.[r.method.toLowerCase()]).toBeDefined();
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const id of refs) expect(doc.components.schemas[id]).toBeDefined();
    expect(doc.components.schemas.Artifact.required).toContain("sha256");
    expect(doc.paths["/api/v1/artifacts"].get.parameters.map((p: { name: string }) => p.name)).toEqual(["filter", "sort", "direction", "limit", "cursor"]);
  });
});
