// scripts/release, run for real: every artefact for every architecture, SHA256SUMS that verify.
// Then each glibc build, alone in an empty directory, serves /healthz and an embedded asset: the x64
// one on an emulated pre-AVX2 CPU (qemu-user, Nehalem), the arm64 one under qemu-user with Debian's
// arm64 glibc; both native shims report package.json's version. The musl Bun builds need Alpine's
// libstdc++, which Debian does not ship: they are checked by `file` only.
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, PACKAGE_VERSION, ROOT, run, startServe } from "./deploy-support.ts";

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
/** On x86_64 the arm64 artefacts run under qemu-user with Debian's arm64 glibc (scripts/setup --test). */
const QEMU_ARM64 = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"];
/** The x64 artefacts must run on a pre-AVX2 CPU (Nehalem, 2008): qemu-user emulates one. */
const QEMU_NEHALEM = ["qemu-x86_64", "-cpu", "Nehalem"];

/** How this x86_64 host runs an artefact of `arch`. */
function runnerFor(arch: "x64" | "arm64"): string[] | null {
  if (os.arch() !== "x64") return null;
  return arch === "x64" ? QEMU_NEHALEM : QEMU_ARM64;
}

/** Copy one release binary alone into an empty dir, serve, and compare /healthz and an asset. */
async function serveAlone(name: string, runner: string[]): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `withcache-release-${name}-`));
  try {
    fs.copyFileSync(path.join(DIST, name), path.join(dir, name));
    fs.chmodSync(path.join(dir, name), 0o755);
    const port = freePort();
    const argv = [...runner, `./${name}`, "serve", "--data-dir", "./data", "--host", "127.0.0.1", "--port", String(port)];
    // Emulated, on a busy 2-core box, startup can take many seconds.
    const served = await startServe(argv[0]!, argv.slice(1), port, { cwd: dir, readyTimeoutMs: 90_000 });
    try {
      const health = await fetch(`${served.baseUrl}/healthz`);
      expect(`${name}: ${await health.text()}`).toBe(`${name}: ok ${PACKAGE_VERSION}\n`);
      const asset = new Uint8Array(await (await fetch(`${served.baseUrl}/static/htmx.min.js`)).arrayBuffer());
      const source = new Uint8Array(fs.readFileSync(path.join(ROOT, "node_modules/htmx.org/dist/htmx.min.js")));
      expect(`${name}: ${Bun.hash(asset)}`).toBe(`${name}: ${Bun.hash(source)}`);
    } finally {
      await served.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("scripts/release", () => {
  test(
    "builds every artefact for both architectures and libcs, with SHA256SUMS that verify",
    async () => {
      const release = await run([path.join(ROOT, "scripts/release")], { timeoutMs: 280_000 });
      expect(release.stderr).toContain("release: dist/SHA256SUMS:");
      expect(release.code).toBe(0);
      expect(release.stderr).not.toContain("build: dist/withcache"); // not an artefact: release does not rebuild it

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
    },
    300_000,
  );

  test(
    "the glibc builds serve their embedded assets alone in an empty dir (x64 on an emulated pre-AVX2 cpu, arm64 under qemu); both shims report the version",
    async () => {
      for (const arch of ["x64", "arm64"] as const) {
        const runner = runnerFor(arch);
        expect(runner, `no way to run the ${arch} build on this ${os.arch()} host`).not.toBeNull();
        const cli = await run([...runner!, path.join(DIST, `withcache-linux-${arch}`), "--version"], { timeoutMs: 60_000 });
        expect(`${arch}: ${cli.stdout}${cli.stderr}`).toBe(`${arch}: ${PACKAGE_VERSION}\n`);
        await serveAlone(`withcache-linux-${arch}`, runner!);

        const shimArch = arch === "x64" ? "x86_64" : "aarch64";
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-release-shim-"));
        try {
          for (const tool of ["curl", "wget"]) {
            fs.symlinkSync(path.join(DIST, `withcache-shim-${shimArch}-linux-musl`), path.join(dir, tool));
            // qemu-user keeps the symlink's name as the program's argv[0], so the shim sees `curl`.
            const shim = await run([...runner!, path.join(dir, tool), "--withcache-version"], { cwd: dir });
            expect(`${shimArch} ${tool}: ${shim.stdout}${shim.stderr}`).toBe(`${shimArch} ${tool}: ${PACKAGE_VERSION}\n`);
          }
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
