// The CLI over /api/v1, as a user runs it: the compiled binary against the real server and a real
// origin on loopback; hits made with real curl.
import { beforeAll, describe, expect, test } from "bun:test";
import * as S from "../src/server/api/schemas.ts";
import { blobUrl, cleanupsAfterEach, ensureBuilt, run, sha256Hex, startCleanedServer, startOrigin, type TestServer } from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();
let binary = "";
beforeAll(async () => {
  binary = await ensureBuilt();
}, 180_000);

function cli(s: TestServer | string, args: string[], env: Record<string, string> = {}) {
  const url = typeof s === "string" ? s : s.url;
  return run([binary, ...args], { env: { WITHCACHE_URL: url, ...env }, timeoutMs: 30_000 });
}

function startFiles() {
  const body = new Uint8Array(300_000).map((_, i) => (i * 13) % 256);
  const origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/files/")) return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    return new Response("gone", { status: 404 });
  });
  cleanups.push(() => origin.stop());
  return { origin, body };
}

describe("withcache CLI over the API", () => {
  test("token create/ls/revoke; add --wait (one fails → exit 1); ls, jobs, misses, stats, rm", async () => {
    const { origin, body } = startFiles();
    const s = await startCleanedServer(cleanups, { curate: true });
    const created = await cli(s, ["token", "create", "ci-bot", "--scope", "admin"]);
    expect(created.exitCode).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^wc_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain("shown only this once");
    const env = { WITHCACHE_TOKEN: token };

    const good = `${origin.url}/files/very-long-directory-name-for-a-vendor-release/${"sub/".repeat(20)}cuda_12.4.0_550.54.14_linux.run`;
    const bad = `${origin.url}/missing/tool.bin`;
    const added = await cli(s, ["add", "--wait", good, bad], env);
    expect(added.exitCode).toBe(1);
    expect(added.stdout).toMatch(/^completed +fill \d+ /m);
    expect(added.stdout).toMatch(/^failed +fill \d+ .*missing\/tool\.bin/m);
    expect(added.stderr.trim().split("\n").at(-1)).toBe("withcache: error: 1 of 2 urls did not make it into the cache");
    // Already cached and fresh: nothing to do, exit 0.
    const again = await cli(s, ["add", "--wait", good], env);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("cached");

    // Two hits through real curl: the stats count them.
    for (let i = 0; i < 2; i += 1) {
      const got = await run(["curl", "-sS", "-o", "-", "-w", "", blobUrl(s.url, good)]);
      expect(got.exitCode).toBe(0);
    }
    await fetch(blobUrl(s.url, `${origin.url}/files/never-asked-before.bin`), { method: "HEAD" });
    const stats = await cli(s, ["stats"], env);
    expect(stats.exitCode).toBe(0);
    expect(stats.stdout).toMatch(/^Hits +2 +2 +2$/m);
    expect(stats.stdout).toMatch(/^Misses +1 +1 +1$/m);
    expect(stats.stdout).toContain("Stored                1 artifacts");
    const statsJson = S.Stats.parse(JSON.parse((await cli(s, ["stats", "--json"], env)).stdout));
    expect(statsJson.windows.all.bytesFromCache).toBe(2 * body.byteLength);

    const ls = JSON.parse((await cli(s, ["ls", "--json"], env)).stdout) as { items: S.ArtifactJson[] };
    expect(ls.items.map((a) => [a.key, a.sha256, a.hits])).toEqual([[good, sha256Hex(body), 2]]);
    for (const columns of ["60", "200"]) {
      const table = await cli(s, ["ls"], { ...env, COLUMNS: columns });
      expect(table.exitCode).toBe(0);
      const lines = table.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^ *SIZE +HITS +SAVED/);
      for (const line of lines) expect([...line].length).toBeLessThanOrEqual(Number(columns));
      expect(lines[1]).toContain("linux.run");
    }
    const jobs = await cli(s, ["jobs", "--state", "failed"], { ...env, COLUMNS: "100" });
    expect(jobs.stdout.trimEnd().split("\n").length).toBe(2);
    expect(jobs.stdout).toContain("failed");
    const misses = await cli(s, ["misses"], env);
    expect(misses.stdout).toContain("never-asked-before.bin");
    const tokens = await cli(s, ["token", "ls"], env);
    expect(tokens.stdout).toMatch(/^ci-bot +admin +wc_/m);
    expect(tokens.stdout).not.toContain(token);

    const rm = await cli(s, ["rm", good, "0".repeat(64)], env);
    expect(rm.exitCode).toBe(1);
    expect(rm.stdout).toContain(`deleted  ${good}`);
    expect(rm.stderr).toContain(`no artifact has sha256 ${"0".repeat(64)}`);
    expect(s.running.ctx.store.metadata.getArtifact(good)).toBeNull();

    const revoked = await cli(s, ["token", "revoke", "ci-bot"], env);
    expect(revoked).toMatchObject({ exitCode: 0, stdout: "revoked ci-bot\n" });
    const refused = await cli(s, ["ls"], env);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr.trim().split("\n")).toEqual(["withcache: error: /api/v1/artifacts: the bearer token is not valid (revoked, or never issued by this cache-host)"]);
  });

  test("add --wait on a terminal draws a progress bar per URL, redrawn in place", async () => {
    const { origin } = startFiles();
    const s = await startCleanedServer(cleanups, { curate: true });
    const urls = [`${origin.url}/files/a.bin`, `${origin.url}/files/b.bin`];
    // util-linux `script` gives the CLI a pseudo-terminal, as an operator's shell would.
    const command = [binary, "add", "--wait", ...urls].map((a) => `'${a}'`).join(" ");
    const tty = await run(["script", "-qec", command, "/dev/null"], { env: { WITHCACHE_URL: s.url, COLUMNS: "100" }, timeoutMs: 30_000 });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).toContain("\x1b[2K");
    const finalBars = tty.stdout.split("\x1b[2K").slice(-2).map((l) => l.trim());
    for (const [i, line] of finalBars.entries()) {
      expect(line).toMatch(/^\[#+\] 100% +completed  /);
      expect(line).toEndWith(urls[i]!);
    }
  });

  test("an unreachable server and a password without a token: one line, exit 2", async () => {
    const down = await cli("http://127.0.0.1:9", ["stats"]);
    expect(down.exitCode).toBe(2);
    expect(down.stderr.trim().split("\n")).toEqual(["withcache: error: cannot reach the cache-host at http://127.0.0.1:9: connection refused (is withcache serve running there?) (set --url or WITHCACHE_URL)"]);
    const s = await startCleanedServer(cleanups, { adminPassword: "pw" });
    const locked = await cli(s, ["jobs"]);
    expect(locked.exitCode).toBe(2);
    expect(locked.stderr).toContain("(set WITHCACHE_TOKEN or --token)");
    const malformed = await cli(s, ["jobs"], { WITHCACHE_TOKEN: "hunter2" });
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).not.toContain("hunter2");
  });
});
