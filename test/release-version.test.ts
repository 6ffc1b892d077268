// One version, in package.json only: the CLI's --version, the TypeScript shim's and the Zig
// shim's --withcache-version (a spelling neither curl nor wget will ever have) all print it.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PACKAGE_VERSION, requireBinary, ROOT, run } from "./deploy-support.ts";

const ZIG_SHIM = path.join(ROOT, "zig/zig-out/bin/withcache-shim");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-release-version-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Symlink `target` as `name` in a fresh dir and run `name --withcache-version` through it. */
async function selfReport(target: string, name: string, env: Record<string, string | undefined> = {}) {
  const dir = fs.mkdtempSync(path.join(tmp, `${name}-`));
  const link = path.join(dir, name);
  fs.symlinkSync(target, link);
  return run([link, "--withcache-version"], { cwd: dir, env });
}

describe("version", () => {
  test("package.json holds a semver version; src/ and zig/src/ hard-code none", () => {
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    const sources = [...new Bun.Glob("src/**/*.ts").scanSync(ROOT), ...new Bun.Glob("zig/src/**/*.zig").scanSync(ROOT)];
    const hits = sources.filter(
      (f) => !f.endsWith(".test.ts") && fs.readFileSync(path.join(ROOT, f), "utf8").includes(`"${PACKAGE_VERSION}"`),
    );
    expect(hits).toEqual([]);
  });

  test("withcache --version and -V print package.json's version", async () => {
    const bin = (await requireBinary());
    for (const flag of ["--version", "-V"]) {
      const res = await run([bin, flag]);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe(`${PACKAGE_VERSION}\n`);
    }
  });

  test("the compiled binary as curl and wget: --withcache-version prints the same", async () => {
    const bin = (await requireBinary());
    for (const name of ["curl", "wget"]) {
      // With a server set, too: the self report never probes or hands over to the real tool.
      for (const env of [{}, { WITHCACHE_SERVER: "http://127.0.0.1:9" }]) {
        const res = await selfReport(bin, name, env);
        expect(`${name}: ${res.stdout}${res.stderr}`).toBe(`${name}: ${PACKAGE_VERSION}\n`);
        expect(res.code).toBe(0);
      }
    }
  });

  test("the native Zig shim as curl and wget: --withcache-version prints the same (stamped at build)", async () => {
    expect(fs.existsSync(ZIG_SHIM), `${ZIG_SHIM} (built by scripts/test via zig build)`).toBe(true);
    for (const name of ["curl", "wget"]) {
      const res = await selfReport(ZIG_SHIM, name);
      expect(`${name}: ${res.stdout}${res.stderr}`).toBe(`${name}: ${PACKAGE_VERSION}\n`);
      expect(res.code).toBe(0);
    }
  });

  test("neither curl nor wget knows --withcache-version (the spelling cannot collide)", async () => {
    const curl = await run(["/usr/bin/curl", "--help", "all"]);
    expect(curl.stdout).toContain("--version");
    expect(curl.stdout).not.toContain("withcache");
    const wget = await run(["/usr/bin/wget", "--help"]);
    expect(wget.stdout).toContain("--version");
    expect(wget.stdout).not.toContain("withcache");
  });
});
