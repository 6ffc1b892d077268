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
    expect(text(first.stdout)).toContain(`export PATH="$PATH:${dir}"`); // the by-name way
    expect(text(first.stdout)).toContain("export WITHCACHE_SERVER=cache-host:3000");
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
    const replaced = await runExact([bin.binary, "install-shims", dir2], { env: { PATH: "/usr/bin:/bin" } });
    expect(replaced.exitCode).toBe(0);
    expect(realpathSync(join(dir2, "wget"))).toBe(realpathSync(bin.binary));
    expect(text(replaced.stdout)).toContain(`linked  ${join(dir2, "wget")} -> ${realpathSync(bin.binary)} (replaced a symlink to /usr/bin/wget)\n`);
  });

  test("next steps fit the shell: no PATH line when DIR already wins, no server line when one is set", async () => {
    const dir = join(work.path, "first");
    const ran = await runExact([bin.binary, "install-shims", dir], { env: { PATH: `${dir}:/usr/bin:/bin`, WITHCACHE_SERVER: cache.url } });
    expect(ran.exitCode).toBe(0);
    expect(text(ran.stdout)).toContain(`${dir} is already first on PATH for curl and wget.`);
    expect(text(ran.stdout)).not.toContain("export PATH");
    expect(text(ran.stdout)).not.toContain("WITHCACHE_SERVER");
    expect(text(ran.stdout)).toContain("then check with `withcache doctor`.");
  });

  test("a directory that cannot be made is one line naming the reason; --help shows each default once", async () => {
    const file = join(work.path, "plain-file");
    writeFileSync(file, "x");
    const ran = await runExact([bin.binary, "install-shims", join(file, "shims")], { env: { PATH: "/usr/bin:/bin" } });
    expect(ran.exitCode).toBe(1);
    expect(ran.stderr).toBe(`withcache: error: install-shims: cannot create ${join(file, "shims")}: a path component is not a directory\n`);
    const help = text((await runExact([bin.binary, "install-shims", "--help"], { env: { PATH: "/usr/bin:/bin" } })).stdout);
    expect(help.match(/\(default:/g)?.length).toBe(1);
    expect(help).toContain("(default: this binary)");
    expect(help).not.toContain(bin.binary);
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
    // Files are left in DIR: no advice to take it off PATH (it may be /usr/local/bin).
    expect(text(ran.stdout)).not.toContain("PATH");
    const emptied = join(work.path, "e");
    expect((await runExact([bin.binary, "install-shims", emptied], { env: { PATH: "/usr/bin:/bin" } })).exitCode).toBe(0);
    const all = await runExact([bin.binary, "install-shims", "--uninstall", emptied], { env: { PATH: "/usr/bin:/bin" } });
    expect(text(all.stdout)).toContain(`${emptied} is empty now: remove it from PATH if you added it for the shims`);
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
    expect(r.out).toContain(`in effect:  ${join(bin.shimDir, "curl")} -> ${realpathSync(bin.binary)} (withcache shim ${VERSION})`);
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
    expect(dead.out).toContain("health:     no answer: connection refused (nothing listens there) (GET http://127.0.0.1:9/healthz)");
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

  test("by name: shims at the end of PATH, curlwithcache and wgetwithcache through a live cache: ok, exit 0", async () => {
    const r = await doctor({ PATH: `/usr/bin:/bin:${bin.shimDir}`, WITHCACHE_SERVER: cache.url });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("curl (by name: curlwithcache)\n");
    expect(r.out).toContain(`verdict:    ok (by name): curlwithcache downloads go through the cache at ${cache.url}; plain curl is /usr/bin/curl, untouched\n`);
    expect(r.out).toContain("verdict: ok, curlwithcache and wgetwithcache use the cache\n");
  });

  test("a shim of another version is pointed out", async () => {
    const dir = join(work.path, "old-shim");
    mkdirSync(dir);
    // Stands in for a shim from an older release: answers --withcache-version like one.
    writeFileSync(join(dir, "curl"), '#!/bin/sh\n[ "$1" = --withcache-version ] && { echo 0.0.1; exit 0; }\nexec /usr/bin/curl "$@"\n', { mode: 0o755 });
    const r = await doctor({ PATH: `${dir}:/usr/bin:/bin`, WITHCACHE_SERVER: cache.url });
    expect(r.out).toContain(`in effect:  ${join(dir, "curl")} (withcache shim 0.0.1; this withcache is ${VERSION}: upgrade the shim)`);
    expect(r.out).not.toContain(`(withcache shim ${VERSION}; this`);
  });

  test("a shim hidden behind the plain tool is named, with the fix", async () => {
    const dir = join(work.path, "hidden");
    mkdirSync(dir);
    symlinkSync(bin.binary, join(dir, "curl"));
    const r = await doctor({ PATH: `/usr/bin:/bin:${dir}`, WITHCACHE_SERVER: cache.url });
    expect(r.code).toBe(1);
    expect(r.out).toContain(`verdict:    not shimmed: curl is /usr/bin/curl; a withcache shim is on PATH at ${join(dir, "curl")}, but /usr/bin/curl comes first; put that directory first on PATH`);
  });

  test("server settings the shim cannot use, an empty per-tool variable, and a host that is not a cache-host", async () => {
    const PATH = `${bin.shimDir}:/usr/bin:/bin`;
    const empty = await doctor({ PATH, WITHCACHE_SERVER: cache.url, CURLWITHCACHE_SERVER: "" });
    expect(empty.out).toContain("server:     (off: CURLWITHCACHE_SERVER is set but empty)");
    expect(empty.out).toContain("verdict:    cache off: CURLWITHCACHE_SERVER is set but empty, which turns the cache off for curl (WITHCACHE_SERVER is not used)");
    expect(empty.out).toContain(`verdict:    ok: wget downloads go through the cache at ${cache.url}`);
    const ftp = await doctor({ PATH, WITHCACHE_SERVER: "ftp://127.0.0.1:9" });
    expect(ftp.code).toBe(1);
    expect(ftp.out).toContain('server:     unusable: WITHCACHE_SERVER="ftp://127.0.0.1:9" is not http or https; expected host, host:port or http(s)://host:port[/prefix]');
    expect(ftp.out).toContain("health:     not checked (the server setting is not usable)");
    const port = await doctor({ PATH, WITHCACHE_SERVER: "127.0.0.1:99999" });
    expect(port.out).toContain('server:     unusable: WITHCACHE_SERVER="127.0.0.1:99999" is not a server address');
    const other = await doctor({ PATH, WITHCACHE_SERVER: `${cache.url}/not-a-prefix` });
    expect(other.out).toContain(`health:     answered 404, expected 200 (GET ${cache.url}/not-a-prefix/healthz`);
    expect(other.out).toContain("is that a withcache cache-host? check the host, port and any /prefix");
  });

  test("output into a closed pipe ends quietly with 141, as a tool killed by SIGPIPE would", async () => {
    // `:` exits at once, long before doctor has asked anything, so every write meets a closed pipe.
    const ran = await runExact(["bash", "-c", `"$0" doctor | :; exit "\${PIPESTATUS[0]}"`, bin.binary], { env: { PATH: `${bin.shimDir}:/usr/bin:/bin`, HOME: work.path } });
    expect(ran.stderr).toBe("");
    expect(ran.exitCode).toBe(141);
  });
});
