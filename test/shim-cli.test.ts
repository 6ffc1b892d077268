// `withcache install-shims` and `withcache doctor`, with the compiled binary and a real cache-host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../src/version.ts";
import { makeTempDir, startTestServer, type TempDir, type TestServer } from "./helpers/index.ts";
import { compileShim, runExact, type ShimBin } from "./shim-support.ts";

let bin: ShimBin;
let work: TempDir;
let cache: TestServer;

beforeAll(async () => {
  bin = await compileShim();
  work = makeTempDir("withcache-shim-cli-");
  cache = await startTestServer();
});

afterAll(async () => {
  await cache.stop();
  work.cleanup();
  bin.cleanup();
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const NAMES = ["curl", "wget", "curlwithcache", "wgetwithcache"];

describe("install-shims", () => {
  test("creates the four symlinks, prints the PATH line, is idempotent, and the links work", async () => {
    const dir = join(work.path, "a", "shims");
    const first = await runExact([bin.binary, "install-shims", dir], { env: { PATH: "/usr/bin:/bin" } });
    expect(first.stderr).toBe("");
    expect(first.exitCode).toBe(0);
    for (const name of NAMES) {
      expect(lstatSync(join(dir, name)).isSymbolicLink()).toBe(true);
      expect(realpathSync(join(dir, name))).toBe(realpathSync(bin.binary));
    }
    expect(text(first.stdout)).toContain(`export PATH="${dir}:$PATH"`);
    const again = await runExact([bin.binary, "install-shims", dir], { env: { PATH: "/usr/bin:/bin" } });
    expect(again.exitCode).toBe(0);
    expect(text(again.stdout).match(/^kept /gm)?.length).toBe(4);
    const version = await runExact([join(dir, "wget"), "--withcache-version"], { env: { PATH: `${dir}:/usr/bin:/bin` } });
    expect(text(version.stdout)).toBe(`${VERSION}\n`);
  });

  test("refuses to clobber a non-symlink and changes nothing; replaces a foreign symlink", async () => {
    const dir = join(work.path, "b");
    mkdirSync(dir);
    writeFileSync(join(dir, "curl"), "#!/bin/sh\necho mine\n");
    const ran = await runExact([bin.binary, "install-shims", dir], { env: { PATH: "/usr/bin:/bin" } });
    expect(ran.exitCode).not.toBe(0);
    expect(ran.stderr).toBe(`withcache: error: install-shims: ${join(dir, "curl")} exists and is not a symlink; not replacing it (move it away first)\n`);
    expect(existsSync(join(dir, "wget"))).toBe(false);
    const dir2 = join(work.path, "c");
    mkdirSync(dir2);
    symlinkSync("/usr/bin/wget", join(dir2, "wget"));
    expect((await runExact([bin.binary, "install-shims", dir2], { env: { PATH: "/usr/bin:/bin" } })).exitCode).toBe(0);
    expect(realpathSync(join(dir2, "wget"))).toBe(realpathSync(bin.binary));
  });

  test("--uninstall removes only withcache links", async () => {
    const dir = join(work.path, "d");
    expect((await runExact([bin.binary, "install-shims", dir], { env: { PATH: "/usr/bin:/bin" } })).exitCode).toBe(0);
    // Swap two of them for things that are not ours.
    const { unlinkSync } = await import("node:fs");
    unlinkSync(join(dir, "curlwithcache"));
    writeFileSync(join(dir, "curlwithcache"), "not a link\n");
    unlinkSync(join(dir, "wgetwithcache"));
    symlinkSync("/usr/bin/wget", join(dir, "wgetwithcache"));
    const ran = await runExact([bin.binary, "install-shims", "--uninstall", dir], { env: { PATH: "/usr/bin:/bin" } });
    expect(ran.exitCode).toBe(0);
    expect(existsSync(join(dir, "curl"))).toBe(false);
    expect(existsSync(join(dir, "wget"))).toBe(false);
    expect(existsSync(join(dir, "curlwithcache"))).toBe(true);
    expect(readlinkSync(join(dir, "wgetwithcache"))).toBe("/usr/bin/wget");
    expect(text(ran.stdout)).toContain(`left    ${join(dir, "curlwithcache")} (not a symlink)`);
  });
});

describe("doctor", () => {
  async function doctor(env: Record<string, string>) {
    const ran = await runExact([bin.binary, "doctor"], { env: { HOME: work.path, ...env } });
    return { code: ran.exitCode, out: text(ran.stdout), err: ran.stderr };
  }

  test("shims in effect and a live server: ok, exit 0", async () => {
    const r = await doctor({ PATH: `${bin.shimDir}:/usr/bin:/bin`, WITHCACHE_SERVER: cache.url });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`in effect:  ${join(bin.shimDir, "curl")} (withcache shim ${VERSION})`);
    expect(r.out).toContain("real tool:  /usr/bin/curl");
    expect(r.out).toContain("real tool:  /usr/bin/wget");
    expect(r.out).toContain(`server:     ${cache.url} (from WITHCACHE_SERVER)`);
    expect(r.out).toContain(`health:     ok ${VERSION}`);
    expect(r.out).toContain("verdict: ok, curl and wget use the cache");
  });

  test("tool-specific server, a dead one, and none", async () => {
    const dead = await doctor({ PATH: `${bin.shimDir}:/usr/bin:/bin`, WITHCACHE_SERVER: cache.url, WGETWITHCACHE_SERVER: "127.0.0.1:9" });
    expect(dead.code).toBe(1);
    expect(dead.out).toContain("server:     http://127.0.0.1:9 (from WGETWITHCACHE_SERVER)");
    expect(dead.out).toContain("verdict:    cache unreachable");
    expect(dead.out).toContain("verdict: wget not using the cache");
    const none = await doctor({ PATH: `${bin.shimDir}:/usr/bin:/bin` });
    expect(none.code).toBe(1);
    expect(none.out).toContain("verdict:    cache off: no CURLWITHCACHE_SERVER or WITHCACHE_SERVER set");
  });

  test("not shimmed, and a shim with no real tool behind it", async () => {
    const plain = await doctor({ PATH: "/usr/bin:/bin", WITHCACHE_SERVER: cache.url });
    expect(plain.code).toBe(1);
    expect(plain.out).toContain("in effect:  /usr/bin/curl (not a withcache shim)");
    expect(plain.out).toContain("verdict:    not shimmed");
    const lonely = await doctor({ PATH: bin.shimDir, WITHCACHE_SERVER: cache.url });
    expect(lonely.out).toContain("verdict:    broken: the shim finds no real curl");
  });
});
