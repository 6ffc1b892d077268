// The compiled binary serves the UI offline: htmx and Pico are embedded (the binary runs from a
// directory without node_modules), the login works, and without a password it warns at start
// and shows the banner.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureBuilt, makeTempDir, REPO_ROOT, spawnServer, type TempDir } from "./helpers/index.ts";
import { csrfOf, FormClient } from "./ui-support.ts";

let work: TempDir;
let binary: string;


beforeAll(async () => {
  work = makeTempDir("withcache-ui-bin-");
  const dist = await ensureBuilt();
  binary = join(work.path, "withcache"); // a private copy: others may rebuild dist/ meanwhile
  copyFileSync(dist, binary);
}, 200_000);

afterAll(() => work?.cleanup());

describe("compiled binary", () => {
  test("embedded assets, login and a page, with a password", async () => {
    const server = await spawnServer({ binary, dataDir: join(work.path, "with-pw"), env: { WITHCACHE_ADMIN_PASSWORD: "binary-pw" } });
    try {
      expect(server.output()).not.toContain("WITHCACHE_ADMIN_PASSWORD is not set");
      for (const [name, file] of [
        ["htmx.min.js", "node_modules/htmx.org/dist/htmx.min.js"],
        ["pico.min.css", "node_modules/@picocss/pico/css/pico.min.css"],
        ["app.css", "src/ui/assets/app.css"],
        ["app.js", "src/ui/assets/app.js"],
      ] as const) {
        const res = await fetch(`${server.url}/static/${name}`);
        expect(res.status).toBe(200);
        expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array(readFileSync(join(REPO_ROOT, file))));
      }
      const c = new FormClient(server.url);
      expect((await c.get("/admin/misses")).status).toBe(303);
      expect((await c.login("binary-pw")).status).toBe(303);
      const page = await c.get("/admin/misses");
      expect(page.status).toBe(200);
      expect(page.text).toContain("No misses recorded");
      expect(csrfOf(page.text).length).toBeGreaterThan(20);
      const secret = statSync(join(work.path, "with-pw", "session-secret"));
      expect(secret.mode & 0o777).toBe(0o600);
      expect(server.output()).not.toContain("binary-pw");
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  });

  test("without a password: a warning at start and a banner in the UI", async () => {
    const server = await spawnServer({ binary, dataDir: join(work.path, "open") });
    try {
      expect(server.output()).toContain("WITHCACHE_ADMIN_PASSWORD is not set");
      const page = await fetch(`${server.url}/admin/misses`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("No password set");
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  });
});
