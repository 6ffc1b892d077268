// The single binary is the whole program: copied alone into an empty directory (no node_modules,
// no sources anywhere up the tree) it serves /healthz and every static asset byte for byte, and a
// stray .env or bunfig.toml in its working directory changes nothing.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, PACKAGE_VERSION, requireBinary, ROOT, startServe, type Served } from "./deploy-support.ts";

/** URL path under the server → the file in the source tree it must equal byte for byte. */
const ASSETS: Record<string, string> = {
  "/static/htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
  "/static/pico.min.css": "node_modules/@picocss/pico/css/pico.min.css",
  "/static/app.css": "src/ui/assets/app.css",
  "/static/app.js": "src/ui/assets/app.js",
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-release-assets-"));
let served: Served | null = null;
afterAll(async () => {
  await served?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function hasNodeModulesAbove(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "node_modules"))) return true;
    if (path.dirname(d) === d) return false;
  }
}

describe("the binary alone in an empty directory", () => {
  test("serves /healthz and every /static asset with the source bytes", async () => {
    expect(hasNodeModulesAbove(tmp), `${tmp} must have no node_modules above it`).toBe(false);
    const bin = path.join(tmp, "withcache");
    fs.copyFileSync((await requireBinary()), bin);
    fs.chmodSync(bin, 0o755);
    // Traps: if the binary autoloaded these, the server would refuse to start (bad workers value)
    // or the preload would leave a marker file.
    fs.writeFileSync(path.join(tmp, ".env"), "WITHCACHE_WORKERS=not-a-number\nHTTP_PROXY=http://127.0.0.1:9\n");
    fs.writeFileSync(path.join(tmp, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    fs.writeFileSync(path.join(tmp, "preload.ts"), 'require("node:fs").writeFileSync("preloaded", "x");\n');

    const port = freePort();
    served = await startServe("./withcache", ["serve", "--data-dir", "./data", "--host", "127.0.0.1", "--port", String(port)], port, {
      cwd: tmp,
    });
    expect(fs.existsSync(path.join(tmp, "preloaded")), "bunfig.toml preload ran").toBe(false);
    expect(fs.statSync(path.join(tmp, "data")).isDirectory()).toBe(true);

    // /healthz reports the same version as --version: `ok <version>`, or JSON when asked.
    const health = await fetch(`${served.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe(`ok ${PACKAGE_VERSION}\n`);
    const healthJson = await fetch(`${served.baseUrl}/healthz`, { headers: { accept: "application/json" } });
    expect(((await healthJson.json()) as { version: string }).version).toBe(PACKAGE_VERSION);

    for (const [urlPath, source] of Object.entries(ASSETS)) {
      const res = await fetch(`${served.baseUrl}${urlPath}`);
      expect(`${urlPath} ${res.status}`).toBe(`${urlPath} 200`);
      const got = new Uint8Array(await res.arrayBuffer());
      const want = new Uint8Array(fs.readFileSync(path.join(ROOT, source)));
      expect(got.length, `${urlPath} length`).toBe(want.length);
      expect(Bun.hash(got), `${urlPath} bytes`).toBe(Bun.hash(want));
    }

    const missing = await fetch(`${served.baseUrl}/static/no-such-asset.js`);
    await missing.body?.cancel();
    expect(missing.status).toBe(404);
  });
});
