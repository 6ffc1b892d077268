// Redirected hits stay invisible, end to end, through both shims (the compiled TypeScript shim and
// the Zig shim) with real curl and wget: the origin answers 302 for /moved.tgz, the cache-host's
// fill followed it (X-Withcache-Redirected: 1). A tool that would not follow the redirect (curl
// without -L, wget --max-redirect=0) gets exactly what it gets from the origin; one that would
// (curl -L, wget by default) is served from the cache without asking the origin.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { blobUrl, makeTempDir, pollUntil, sha256Hex, startOrigin, startTestServer, type Origin, type TempDir, type TestServer, isStored } from "./helpers/index.ts";
import { freshDir, plainEnv, savedFiles } from "./invisibility-support.ts";
import { compileShim, runExact, shimPath, type ShimBin } from "./shim-support.ts";
import { buildZigShim, zigShimDir, type ZigShims } from "./zig-support.ts";

const FINAL = new Uint8Array(50_000).map((_, i) => (i * 13 + 5) % 251);
const REDIRECT_BODY = "<html><body>moved to /final.tgz</body></html>\n";

let ts: ShimBin;
let zig: ZigShims;
let origin: Origin;
let cache: TestServer;
let work: TempDir;
let url = "";

beforeAll(async () => {
  buildZigShim();
  zig = zigShimDir();
  ts = await compileShim();
  work = makeTempDir("withcache-redirect-e2e-");
  origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/moved.tgz") return new Response(REDIRECT_BODY, { status: 302, headers: { location: "/final.tgz", "content-type": "text/html" } });
    if (path === "/final.tgz") return new Response(FINAL as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/gzip" } });
    return new Response("not here\n", { status: 404 });
  });
  cache = await startTestServer();
  url = `${origin.url}/moved.tgz`;
  await (await fetch(blobUrl(cache.url, url))).text();
  await pollUntil(async () => await isStored(fetch(blobUrl(cache.url, url), { method: "HEAD" })), { what: "fill of the redirected url" });
  const head = await fetch(blobUrl(cache.url, url), { method: "HEAD" });
  expect(head.headers.get("x-withcache-redirected")).toBe("1");
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await origin?.stop();
  work?.cleanup();
  ts?.cleanup();
  zig?.cleanup();
});

type Observed = { exitCode: number; stdout: string; files: Record<string, string> };

/** Run `tool args…` plainly (PATH without the shim) or through a shim; report exit, stdout and saved files. */
async function observe(how: "plain" | ShimKind, tool: "curl" | "wget", args: string[]): Promise<Observed> {
  const cwd = freshDir(work.path, "run");
  const env: Record<string, string> =
    how === "plain"
      ? plainEnv(work.path)
      : { PATH: shimPath(how === "ts" ? ts.shimDir : zig.shimDir), HOME: work.path, WITHCACHE_SERVER: cache.url };
  const ran = await runExact([tool, ...args], { env, cwd, timeoutMs: 20_000 });
  return { exitCode: ran.exitCode, stdout: Buffer.from(ran.stdout).toString("latin1"), files: savedFiles(cwd) };
}

type ShimKind = "ts" | "zig";
const originRequests = (): number => (origin.hits.get("/moved.tgz") ?? 0) + (origin.hits.get("/final.tgz") ?? 0);

describe.each(["ts", "zig"] as const)("%s shim, a cached url whose fill followed a redirect", (shim) => {
  test("curl -sS -O (no -L) saves the origin's redirect body, as plain curl does, from the origin", async () => {
    const plain = await observe("plain", "curl", ["-sS", "-O", url]);
    expect(plain.files).toEqual({ "moved.tgz": sha256Hex(new TextEncoder().encode(REDIRECT_BODY)) });
    const before = origin.hits.get("/moved.tgz") ?? 0;
    expect(await observe(shim, "curl", ["-sS", "-O", url])).toEqual(plain);
    expect(origin.hits.get("/moved.tgz")).toBe(before + 1); // passed through to the origin
  });

  test("curl -f -w %{http_code} without -L: exit 0 and 302, as plain", async () => {
    const args = ["-sS", "-f", "-o", "/dev/null", "-w", "%{http_code}", url];
    const plain = await observe("plain", "curl", args);
    expect(plain).toMatchObject({ exitCode: 0, stdout: "302" });
    expect(await observe(shim, "curl", args)).toEqual(plain);
  });

  test("curl -fsSLO is served from the cache: same file as plain, no origin request", async () => {
    const plain = await observe("plain", "curl", ["-fsSLO", url]);
    expect(plain.files).toEqual({ "moved.tgz": sha256Hex(FINAL) });
    const before = originRequests();
    expect(await observe(shim, "curl", ["-fsSLO", url])).toEqual(plain);
    expect(originRequests()).toBe(before);
  });

  test("wget (follows by default) is served from the cache: same file as plain, no origin request", async () => {
    const plain = await observe("plain", "wget", ["-q", url]);
    expect(plain.files).toEqual({ "moved.tgz": sha256Hex(FINAL) });
    const before = originRequests();
    expect(await observe(shim, "wget", ["-q", url])).toEqual(plain);
    expect(originRequests()).toBe(before);
  });

  test("wget --max-redirect=0 does what plain wget does (it asks the origin)", async () => {
    const plain = await observe("plain", "wget", ["-q", "--max-redirect=0", url]);
    expect(plain.files["moved.tgz"]).not.toBe(sha256Hex(FINAL));
    const before = origin.hits.get("/moved.tgz") ?? 0;
    expect(await observe(shim, "wget", ["-q", "--max-redirect=0", url])).toEqual(plain);
    expect(origin.hits.get("/moved.tgz")).toBe(before + 1);
  });
});
