// The README's fleet recipe, literally: install the native shim as withcache-shim in a bin dir first
// on PATH, symlink curl and wget to it, set WITHCACHE_SERVER from deploy/profile.d-withcache.sh, then
// a login-ish `sh` downloads through the plain names: miss (origin), hit (cache), the version self
// report, and an empty WITHCACHE_SERVER turning the shims into the plain tools.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeToken } from "../src/core/token.ts";
import { freePort, PACKAGE_VERSION, requireBinary, ROOT, run, startServe, type Served } from "./deploy-support.ts";

const ZIG_SHIM = path.join(ROOT, "zig/zig-out/bin/withcache-shim");
const PROFILE_SNIPPET = path.join(ROOT, "deploy/profile.d-withcache.sh");
const BODY = new Uint8Array(300_000).map((_, i) => (i * 7 + 3) & 0xff);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-deploy-fleet-"));
const binDir = path.join(tmp, "usr-local-bin");
const work = path.join(tmp, "work");
let originHits = 0;
let origin: ReturnType<typeof Bun.serve>;
let served: Served;

beforeAll(async () => {
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      if (new URL(req.url).pathname !== "/pkg/tool-1.2.tgz") return new Response("no\n", { status: 404 });
      if (req.method === "GET") originHits++;
      return new Response(BODY, { headers: { "content-type": "application/gzip" } });
    },
  });
  const port = freePort();
  served = await startServe(
    (await requireBinary()),
    ["serve", "--data-dir", path.join(tmp, "data"), "--host", "127.0.0.1", "--port", String(port), "--allow-private-origins"],
    port,
  );

  // The README's commands, with /usr/local/bin and /etc/profile.d swapped for temp paths.
  fs.mkdirSync(binDir);
  fs.mkdirSync(work);
  expect(fs.existsSync(ZIG_SHIM), `${ZIG_SHIM} (built by scripts/test via zig build)`).toBe(true);
  const install = await run(["install", "-m", "0755", ZIG_SHIM, path.join(binDir, "withcache-shim")]);
  expect(install.code).toBe(0);
  for (const tool of ["curl", "wget"]) fs.symlinkSync("withcache-shim", path.join(binDir, tool));
  const snippet = fs.readFileSync(PROFILE_SNIPPET, "utf8");
  const exported = /^export WITHCACHE_SERVER="([^"]+)"$/m.exec(snippet);
  expect(exported, "the snippet exports WITHCACHE_SERVER").not.toBeNull();
  fs.writeFileSync(path.join(tmp, "withcache.sh"), snippet.replace(exported![1]!, served.baseUrl));
});

afterAll(async () => {
  await served?.stop();
  origin?.stop(true);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `sh -c '. profile; <script>'` with the bin dir first on PATH, as a login shell would have it. */
function shell(script: string, profile = path.join(tmp, "withcache.sh")) {
  return run(["/bin/sh", "-c", `. "${profile}" && ${script}`], {
    cwd: work,
    env: { PATH: `${binDir}:/usr/bin:/bin`, HOME: tmp },
    timeoutMs: 30_000,
  });
}

async function waitForHit(originUrl: string): Promise<void> {
  const url = `${served.baseUrl}/b/${encodeToken(originUrl)}/tool-1.2.tgz`;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const res = await fetch(url, { method: "HEAD" });
    if (res.status === 200) return;
    await Bun.sleep(50);
  }
  throw new Error(`${originUrl} was not filled within 20s`);
}

function savedBytesEqual(name: string): boolean {
  const saved = fs.readFileSync(path.join(work, name));
  return saved.length === BODY.length && Bun.hash(saved) === Bun.hash(BODY);
}

describe("fleet recipe: native shim as curl/wget first on PATH, server from /etc/profile.d", () => {
  test("the snippet is valid sh and the shim is the curl in effect", async () => {
    const res = await shell('command -v curl && curl --withcache-version && echo "$WITHCACHE_SERVER"');
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe(`${path.join(binDir, "curl")}\n${PACKAGE_VERSION}\n${served.baseUrl}\n`);
  });

  test("miss goes to the origin, the fill lands, then curl and wget are served from the cache", async () => {
    const originUrl = `http://127.0.0.1:${origin.port}/pkg/tool-1.2.tgz`;
    const miss = await shell(`curl -fsSO ${originUrl}`);
    expect(miss.stderr).toBe("");
    expect(miss.code).toBe(0);
    expect(savedBytesEqual("tool-1.2.tgz")).toBe(true);
    await waitForHit(originUrl);
    const originAfterFill = originHits;
    fs.rmSync(path.join(work, "tool-1.2.tgz"));

    const hit = await shell(`curl -fsSO ${originUrl}`);
    expect(hit.code).toBe(0);
    expect(savedBytesEqual("tool-1.2.tgz")).toBe(true);
    fs.rmSync(path.join(work, "tool-1.2.tgz"));

    const wget = await shell(`wget -q ${originUrl}`);
    expect(wget.code).toBe(0);
    expect(savedBytesEqual("tool-1.2.tgz")).toBe(true);
    fs.rmSync(path.join(work, "tool-1.2.tgz"));
    expect(originHits, "hits never reach the origin").toBe(originAfterFill);

    // Turned off: an empty WITHCACHE_SERVER makes the shim the plain tool (the origin sees it).
    const off = await shell(`WITHCACHE_SERVER= curl -fsSO ${originUrl}`);
    expect(off.code).toBe(0);
    expect(savedBytesEqual("tool-1.2.tgz")).toBe(true);
    expect(originHits).toBe(originAfterFill + 1);
  });
});
