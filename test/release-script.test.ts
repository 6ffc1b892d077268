// scripts/release, run for real: every artefact for every architecture, SHA256SUMS that verify,
// and the ones this x86_64 box can execute report package.json's version.
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PACKAGE_VERSION, ROOT, run } from "./deploy-support.ts";

const DIST = path.join(ROOT, "dist");

/** artefact → what `file` must say about it. */
const ARTEFACTS: Record<string, RegExp[]> = {
  "withcache-linux-x64": [/x86-64/, /interpreter \/lib64\/ld-linux-x86-64\.so\.2/],
  "withcache-linux-arm64": [/ARM aarch64/, /interpreter \/lib\/ld-linux-aarch64\.so\.1/],
  "withcache-linux-x64-musl": [/x86-64/, /interpreter \/lib\/ld-musl-x86_64\.so\.1/],
  "withcache-linux-arm64-musl": [/ARM aarch64/, /interpreter \/lib\/ld-musl-aarch64\.so\.1/],
  "withcache-shim-x86_64-linux-musl": [/x86-64/, /statically linked/],
  "withcache-shim-aarch64-linux-musl": [/ARM aarch64/, /statically linked/],
};
const SHIM_SIZE_BYTES_MAX = 250 * 1000;

describe("scripts/release", () => {
  test(
    "builds every artefact, writes SHA256SUMS that verify, and the x86_64 ones report the version",
    async () => {
      const release = await run([path.join(ROOT, "scripts/release")], { timeoutMs: 280_000 });
      expect(release.stderr).toContain("release: dist/SHA256SUMS:");
      expect(release.code).toBe(0);

      const sums = fs.readFileSync(path.join(DIST, "SHA256SUMS"), "utf8");
      const listed = sums
        .trim()
        .split("\n")
        .map((line) => {
          const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
          expect(m, `SHA256SUMS line ${JSON.stringify(line)}`).not.toBeNull();
          return m![2]!;
        });
      expect(listed.sort()).toEqual(Object.keys(ARTEFACTS).sort());
      const check = await run(["sha256sum", "--check", "--strict", "SHA256SUMS"], { cwd: DIST, timeoutMs: 60_000 });
      expect(check.stdout.trim().split("\n").every((l) => l.endsWith(": OK"))).toBe(true);
      expect(check.code).toBe(0);

      for (const [name, patterns] of Object.entries(ARTEFACTS)) {
        const file = await run(["file", "--brief", path.join(DIST, name)]);
        for (const p of patterns) expect(`${name}: ${file.stdout}`).toMatch(p);
      }
      for (const arch of ["x86_64", "aarch64"]) {
        expect(fs.statSync(path.join(DIST, `withcache-shim-${arch}-linux-musl`)).size).toBeLessThanOrEqual(SHIM_SIZE_BYTES_MAX);
      }

      if (os.arch() === "x64") {
        const cli = await run([path.join(DIST, "withcache-linux-x64"), "--version"]);
        expect(cli.stdout).toBe(`${PACKAGE_VERSION}\n`);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-release-script-"));
        try {
          fs.symlinkSync(path.join(DIST, "withcache-shim-x86_64-linux-musl"), path.join(dir, "curl"));
          const shim = await run([path.join(dir, "curl"), "--withcache-version"], { cwd: dir });
          expect(shim.stdout).toBe(`${PACKAGE_VERSION}\n`);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    },
    300_000,
  );

  test("rejects an unknown argument with a one-line message", async () => {
    const res = await run([path.join(ROOT, "scripts/release"), "--bogus"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('release: unknown argument "--bogus"; expected --no-zig\n');
  });
});
