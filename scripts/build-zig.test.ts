// scripts/build-zig on a machine without zig: a hint naming the way to get it, not "zig: command
// not found" (exit 127). The script runs from a copy of scripts/ whose root has no .tools/bin, with
// a PATH that has no zig, so the real checkout's zig is out of reach.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const ZIG_VERSION = /ZIG_VERSION="([^"]+)"/.exec(readFileSync(join(ROOT, "scripts/env.sh"), "utf8"))![1]!;
const temp = mkdtempSync(join(tmpdir(), "withcache-build-zig-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function runScript(args: string[], cwd: string, env: Record<string, string>) {
  const proc = Bun.spawnSync(args, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  return { exitCode: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

describe("scripts/build-zig without zig", () => {
  test("exits 1 with one line saying how to get zig", () => {
    mkdirSync(join(temp, "scripts"));
    for (const name of ["build-zig", "env.sh"]) copyFileSync(join(ROOT, "scripts", name), join(temp, "scripts", name));
    const path = ["/usr/local/bin", "/usr/bin", "/bin"].filter((d) => !existsSync(join(d, "zig"))).join(":");
    const ran = runScript(["bash", join(temp, "scripts", "build-zig")], temp, { PATH: path, HOME: temp });
    expect(ran.stderr).toBe(
      `build-zig: zig is not on PATH nor in .tools/bin; run scripts/setup --zig --no-build (installs zig ${ZIG_VERSION} from PyPI into .tools/), or put zig ${ZIG_VERSION} on PATH\n`,
    );
    expect(ran.exitCode).toBe(1);
  });
  test("scripts/setup names --zig among its arguments", () => {
    const ran = runScript(["bash", join(ROOT, "scripts", "setup"), "--bogus"], ROOT, { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: temp });
    expect(ran.stderr).toBe('setup: unknown argument "--bogus"; expected --test, --bench, --zig or --no-build\n');
    expect(ran.exitCode).toBe(2);
  });
});
